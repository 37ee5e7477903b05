//! RAR archives, through an unpacker found on PATH (`unrar`, 7-Zip's `7z`
//! or `7zz`, or libarchive's `bsdtar`): RAR's compression has no maintained
//! Rust decoder. The entry names are listed and checked first, the unpacker
//! writes into the staging directory only, and every link it made is checked
//! afterwards, so a hostile archive is refused like any other.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::InstallError;
use super::payload::Item;
use super::staging::{EntryPath, Staging, bytes_under};

/// The unpackers tried, in order.
const UNPACKERS: &[(&str, Tool)] =
    &[("unrar", Tool::Unrar), ("7z", Tool::SevenZip), ("7zz", Tool::SevenZip), ("bsdtar", Tool::Bsdtar)];
/// Unpacker error output shown to the user is cut to this many bytes.
const MAX_ERROR_TEXT: usize = 400;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    Unrar,
    SevenZip,
    Bsdtar,
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let file = format!("{program}{}", std::env::consts::EXE_SUFFIX);
    std::env::split_paths(&path).map(|dir| dir.join(&file)).find(|candidate| candidate.is_file())
}

/// The first unpacker found on PATH.
fn unpacker(item: &Item) -> Result<(PathBuf, Tool), InstallError> {
    UNPACKERS
        .iter()
        .find_map(|(name, tool)| find_on_path(name).map(|path| (path, *tool)))
        .ok_or_else(|| InstallError::NoUnpacker { archive: item.rel.clone() })
}

/// Bytes the RAR set unpacks to, from the unpacker's listing; its packed
/// size, with a warning, when the listing is in a form this does not read.
pub fn rar_unpacked_size(item: &Item) -> Result<u64, InstallError> {
    let (program, tool) = unpacker(item)?;
    let listing = run(item, &program, &size_list_args(tool, item.volumes[0].as_os_str()))?;
    match unpacked_bytes(tool, &String::from_utf8_lossy(&listing.stdout)) {
        Some(bytes) => Ok(bytes),
        None => {
            tracing::warn!(
                "{}: could not read unpacked sizes from {}; counting the packed size",
                item.rel,
                program.display()
            );
            Ok(item.size)
        }
    }
}

/// Unpacks the RAR set `item`, which unpacks to `unpacked` bytes.
pub fn unpack_rar(item: &Item, unpacked: u64, staging: &mut Staging<'_>) -> Result<(), InstallError> {
    let (program, tool) = unpacker(item)?;
    let archive = item.volumes[0].as_os_str();
    let listing = run(item, &program, &list_args(tool, archive))?;
    let listing = String::from_utf8_lossy(&listing.stdout);
    for name in entry_names(tool, &listing) {
        EntryPath::parse(name).map_err(|why| InstallError::UnsafeEntry {
            archive: item.rel.clone(),
            entry: name.to_owned(),
            why: why.to_owned(),
        })?;
    }
    let before = bytes_under(staging.dir());
    run(item, &program, &extract_args(tool, archive, staging.dir()))?;
    // What the unpacker really wrote counts against the budget, whatever
    // its listing said.
    let written = bytes_under(staging.dir()).saturating_sub(before);
    if written > unpacked {
        tracing::warn!("{}: the unpacker wrote {written} bytes where its listing said {unpacked}", item.rel);
    }
    staging.advance(written)
}

fn list_args(tool: Tool, archive: &std::ffi::OsStr) -> Vec<OsString> {
    let fixed: &[&str] = match tool {
        Tool::Unrar => &["lb", "-p-"],
        Tool::SevenZip => &["l", "-ba", "-slt", "-p-"],
        Tool::Bsdtar => &["-tf"],
    };
    fixed.iter().map(OsString::from).chain([archive.to_owned()]).collect()
}

/// A listing with each entry's unpacked size.
fn size_list_args(tool: Tool, archive: &std::ffi::OsStr) -> Vec<OsString> {
    let fixed: &[&str] = match tool {
        Tool::Unrar => &["lt", "-p-"],
        Tool::SevenZip => &["l", "-ba", "-slt", "-p-"],
        Tool::Bsdtar => &["-tvf"],
    };
    fixed.iter().map(OsString::from).chain([archive.to_owned()]).collect()
}

fn extract_args(tool: Tool, archive: &std::ffi::OsStr, dir: &Path) -> Vec<OsString> {
    match tool {
        Tool::Unrar => {
            // unrar takes the destination as a folder only with a trailing separator.
            let mut dest = dir.as_os_str().to_owned();
            dest.push(std::path::MAIN_SEPARATOR_STR);
            ["x", "-o+", "-y", "-p-", "-idq"].iter().map(OsString::from).chain([archive.to_owned(), dest]).collect()
        }
        Tool::SevenZip => {
            let mut out = OsString::from("-o");
            out.push(dir);
            ["x", "-y", "-bd", "-p-"].iter().map(OsString::from).chain([out, archive.to_owned()]).collect()
        }
        Tool::Bsdtar => {
            vec!["-xf".into(), archive.to_owned(), "-C".into(), dir.as_os_str().to_owned()]
        }
    }
}

/// Entry names from a listing.
fn entry_names(tool: Tool, listing: &str) -> Vec<&str> {
    match tool {
        Tool::SevenZip => listing.lines().filter_map(|l| l.strip_prefix("Path = ")).collect(),
        Tool::Unrar | Tool::Bsdtar => listing.lines().filter(|l| !l.is_empty()).collect(),
    }
}

/// The sum of the entries' unpacked sizes in a size listing; `None` when
/// the listing does not read as expected.
fn unpacked_bytes(tool: Tool, listing: &str) -> Option<u64> {
    let sizes: Option<Vec<u64>> = match tool {
        // `Size = N` per entry (empty for some folders); `Packed Size = ` differs.
        Tool::SevenZip => listing
            .lines()
            .filter_map(|l| l.strip_prefix("Size = "))
            .map(|v| if v.trim().is_empty() { Some(0) } else { v.trim().parse().ok() })
            .collect(),
        // Technical listing: `        Size: N` per entry, beside ` Packed size: `.
        Tool::Unrar => listing
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix("Size: "))
            .map(|v| v.trim().parse().ok())
            .collect(),
        // `ls -l` style: mode, links, owner, group, size, date…, name.
        Tool::Bsdtar => listing
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.split_whitespace().nth(4)?.parse().ok())
            .collect(),
    };
    sizes.filter(|s| !s.is_empty()).map(|s| s.into_iter().fold(0, u64::saturating_add))
}

fn run(item: &Item, program: &Path, args: &[OsString]) -> Result<Output, InstallError> {
    let output = Command::new(program).args(args).stdin(Stdio::null()).output().map_err(|e| InstallError::Archive {
        archive: item.rel.clone(),
        message: format!("{}: {e}", program.display()),
    })?;
    if output.status.success() {
        return Ok(output);
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let mut text = stderr.trim().to_owned();
    if text.len() > MAX_ERROR_TEXT {
        let cut = (0..=MAX_ERROR_TEXT).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        text.truncate(cut);
    }
    Err(InstallError::Archive {
        archive: item.rel.clone(),
        message: format!("{} failed ({}): {text}", program.display(), output.status),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_give_entry_names() {
        let sevenzip = "Path = a/b.txt\nSize = 3\n\nPath = ../evil\nSize = 1\n";
        assert_eq!(entry_names(Tool::SevenZip, sevenzip), ["a/b.txt", "../evil"]);
        assert_eq!(entry_names(Tool::Bsdtar, "a\nb/c\n\n"), ["a", "b/c"]);
    }

    #[test]
    fn size_listings_give_the_unpacked_total() {
        let sevenzip = "Path = d\nSize = \nPacked Size = \n\nPath = d/a\nSize = 300000\nPacked Size = 9000\n";
        assert_eq!(unpacked_bytes(Tool::SevenZip, sevenzip), Some(300_000));
        let unrar = "Archive: x.rar\nDetails: RAR 5\n\n        Name: a b\n        Type: File\n        Size: 300000\n Packed size: 9000\n\n        Name: c\n        Size: 4\n";
        assert_eq!(unpacked_bytes(Tool::Unrar, unrar), Some(300_004));
        let bsdtar = "-rw-r--r--  0 0      0      300000 Jan  1  2024 data/big file.bin\n\
                      -rw-r--r--  0 0      0           4 Jan  1  2024 readme.txt\n";
        assert_eq!(unpacked_bytes(Tool::Bsdtar, bsdtar), Some(300_004));
        assert_eq!(unpacked_bytes(Tool::Bsdtar, "garbled\n"), None);
        assert_eq!(unpacked_bytes(Tool::Unrar, "no sizes here\n"), None);
    }
}
