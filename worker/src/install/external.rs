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
use super::staging::{EntryPath, Staging, check_links};

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

pub fn unpack_rar(item: &Item, staging: &mut Staging<'_>) -> Result<(), InstallError> {
    let (program, tool) = UNPACKERS
        .iter()
        .find_map(|(name, tool)| find_on_path(name).map(|path| (path, *tool)))
        .ok_or_else(|| InstallError::NoUnpacker { archive: item.rel.clone() })?;
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
    run(item, &program, &extract_args(tool, archive, staging.dir()))?;
    check_links(staging.dir()).map_err(|why| InstallError::Archive {
        archive: item.rel.clone(),
        message: format!("refused a link: {why}; nothing was installed"),
    })?;
    staging.advance(item.size)
}

fn list_args(tool: Tool, archive: &std::ffi::OsStr) -> Vec<OsString> {
    let fixed: &[&str] = match tool {
        Tool::Unrar => &["lb", "-p-"],
        Tool::SevenZip => &["l", "-ba", "-slt", "-p-"],
        Tool::Bsdtar => &["-tf"],
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
}
