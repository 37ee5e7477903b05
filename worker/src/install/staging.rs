//! Writing unpacked entries into `.local.installing/` and nowhere else.
//!
//! Every archive format feeds the same [`Staging`] writer, which checks each
//! entry's path before touching the disk: no `..`, no absolute path, no drive
//! prefix, no NUL; links must point inside the staging directory; and no
//! entry is written through a link or a file that an earlier entry made.
//! The writer also keeps a byte budget, the total the archives declared
//! (and the free-space check allowed), or the room on the disk where a
//! compressed tarball declares nothing: an archive that unpacks to more is
//! stopped as soon as it passes it. Once everything is unpacked,
//! [`check_links`] follows every link as the filesystem would, through the
//! links already there, and refuses the install if one leads outside.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use lanspread_proto::names::check_component;

use super::payload::ArchiveReads;
use super::{InstallError, io_at};

/// Copy buffer; progress is reported once per buffer.
const COPY_BUFFER: usize = 256 * 1024;
/// An unpacked file at least this large is flushed as soon as it is written.
const FLUSH_NOW: u64 = 8 * 1024 * 1024;
/// Entry paths deeper than this are refused (no real game needs them).
const MAX_ENTRY_DEPTH: usize = 64;

/// An entry path checked to stay inside the staging directory: its
/// components, none of them empty, `.` or `..`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryPath(Vec<String>);

impl EntryPath {
    /// Checks an archive entry name. `/` and `\` both separate components
    /// (archives made on Windows use `\`); a trailing separator is allowed.
    pub fn parse(name: &str) -> Result<EntryPath, &'static str> {
        if name.contains('\0') {
            return Err("the name contains a NUL byte");
        }
        if name.starts_with('/') || name.starts_with('\\') {
            return Err("it is an absolute path");
        }
        let bytes = name.as_bytes();
        if bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic() {
            return Err("it starts with a drive letter");
        }
        let mut parts = Vec::new();
        for part in name.split(['/', '\\']) {
            match part {
                "" | "." => {}
                ".." => return Err("it climbs out with `..`"),
                part if part.contains(':') => return Err("a component contains `:` (a drive or stream name)"),
                // Windows rules on every platform: a pack unpacks the same
                // everywhere, and never onto a device such as `nul`.
                part => {
                    check_component(part)?;
                    parts.push(part.to_owned());
                }
            }
        }
        if parts.is_empty() {
            return Err("the name is empty");
        }
        if parts.len() > MAX_ENTRY_DEPTH {
            return Err("it is nested too deep");
        }
        Ok(EntryPath(parts))
    }

    /// Whether an entry name means the archive's root itself (`./`, as
    /// `tar czf pack.tgz .` writes it): only a folder may be named so, and
    /// it unpacks to the staging directory that already exists.
    pub fn is_root(name: &str) -> bool {
        !name.is_empty()
            && !name.starts_with(['/', '\\'])
            && name.split(['/', '\\']).all(|part| matches!(part, "" | "."))
    }

    fn under(&self, dir: &Path) -> PathBuf {
        let mut path = dir.to_path_buf();
        path.extend(&self.0);
        path
    }

    /// Where a link at this path points, as components from the staging
    /// root, if it stays inside. With `on_disk` (the staging root), the walk
    /// also refuses to pass through a link already there, since the
    /// filesystem would follow that link rather than the text.
    fn resolve_link(&self, target: &str, on_disk: Option<&Path>) -> Result<Vec<String>, &'static str> {
        if target.is_empty() || target.contains('\0') {
            return Err("the link target is empty or contains NUL");
        }
        let bytes = target.as_bytes();
        if target.starts_with('/')
            || target.starts_with('\\')
            || (bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic())
        {
            return Err("the link points to an absolute path");
        }
        let mut resolved: Vec<String> = self.0[..self.0.len() - 1].to_vec();
        let parts: Vec<&str> = target.split(['/', '\\']).filter(|p| !p.is_empty() && *p != ".").collect();
        for (i, part) in parts.iter().enumerate() {
            if *part == ".." {
                resolved.pop().ok_or("the link points outside the game")?;
                continue;
            }
            resolved.push((*part).to_owned());
            let through = i + 1 < parts.len();
            if let Some(root) = on_disk
                && through
                && fs::symlink_metadata(EntryPath(resolved.clone()).under(root)).is_ok_and(|m| m.is_symlink())
            {
                return Err("the link passes through another link");
            }
        }
        Ok(resolved)
    }
}

impl std::fmt::Display for EntryPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("/"))
    }
}

/// What a staging writer may write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Budget {
    /// What the archives declared they unpack to.
    Declared(u64),
    /// The room on the disk at `path`: a compressed tarball declares
    /// nothing.
    Room { bytes: u64, path: String },
}

impl Budget {
    fn bytes(&self) -> u64 {
        match self {
            Budget::Declared(bytes) | Budget::Room { bytes, .. } => *bytes,
        }
    }
}

/// The staging directory being filled, with the unpacked byte count.
pub struct Staging<'a> {
    dir: PathBuf,
    unpacked: u64,
    /// What may be written; more is refused.
    budget: Budget,
    /// Bytes read from the archives.
    reads: ArchiveReads,
    /// Called with the running byte count; `false` cancels the install.
    tick: &'a mut dyn FnMut(u64) -> bool,
}

impl std::fmt::Debug for Staging<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Staging")
            .field("dir", &self.dir)
            .field("unpacked", &self.unpacked)
            .field("budget", &self.budget)
            .finish()
    }
}

impl<'a> Staging<'a> {
    /// A writer into `dir` that refuses to write past `budget`, its
    /// archives' reads counted in `reads`.
    pub fn new(dir: PathBuf, budget: Budget, reads: ArchiveReads, tick: &'a mut dyn FnMut(u64) -> bool) -> Self {
        Staging { dir, unpacked: 0, budget, reads, tick }
    }

    /// Where the archives it unpacks count their reads.
    pub fn reads(&self) -> ArchiveReads {
        self.reads.clone()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn unpacked(&self) -> u64 {
        self.unpacked
    }

    /// Counts bytes unpacked (by this writer or an external unpacker),
    /// refusing any past the budget.
    pub fn advance(&mut self, bytes: u64) -> Result<(), InstallError> {
        self.unpacked = self.unpacked.saturating_add(bytes);
        if self.unpacked > self.budget.bytes() {
            return Err(match &self.budget {
                Budget::Declared(declared) => InstallError::OverBudget { declared: *declared },
                Budget::Room { bytes, path } => InstallError::NoRoom { path: path.clone(), available: *bytes },
            });
        }
        if (self.tick)(self.unpacked) { Ok(()) } else { Err(InstallError::Cancelled) }
    }

    pub fn create_dir(&mut self, path: &EntryPath) -> Result<(), InstallError> {
        self.prepare_parents(path)?;
        let abs = path.under(&self.dir);
        match fs::symlink_metadata(&abs) {
            Ok(meta) if meta.is_dir() => Ok(()),
            Ok(_) => Err(InstallError::EntryConflict(format!(
                "{}: an earlier entry made this a file or link",
                abs.display()
            ))),
            Err(_) => fs::create_dir(&abs).map_err(|e| io_at(&abs, e)),
        }
    }

    /// Writes a file from `reader`; a later entry of the same name replaces it.
    pub fn write_file(
        &mut self,
        path: &EntryPath,
        reader: &mut dyn Read,
        executable: bool,
    ) -> Result<(), InstallError> {
        self.prepare_parents(path)?;
        let abs = path.under(&self.dir);
        self.clear_leaf(&abs)?;
        let mut file = fs::File::create(&abs).map_err(|e| io_at(&abs, e))?;
        let mut buf = vec![0; COPY_BUFFER];
        let mut written = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(InstallError::Io(io::Error::new(e.kind(), format!("entry {path}: {e}")))),
            };
            self.advance(n as u64)?;
            file.write_all(&buf[..n]).map_err(|e| io_at(&abs, e))?;
            written += n as u64;
        }
        finish_file(&abs, &file, written, executable)
    }

    /// Writes the `len` bytes of `from` at `offset` (a stored zip entry)
    /// to `path`, copied by the kernel where it can (`copy_file_range`),
    /// once they may be read (a download in progress has verified them).
    pub fn copy_range(
        &mut self,
        path: &EntryPath,
        from: &Path,
        (offset, len): (u64, u64),
        executable: bool,
    ) -> Result<(), InstallError> {
        self.prepare_parents(path)?;
        let abs = path.under(&self.dir);
        self.clear_leaf(&abs)?;
        self.reads.wait_range(from, offset, len).map_err(|e| io_at(from, e))?;
        self.advance(len)?;
        let mut source = fs::File::open(from).map_err(|e| io_at(from, e))?;
        io::Seek::seek(&mut source, io::SeekFrom::Start(offset)).map_err(|e| io_at(from, e))?;
        let mut file = fs::File::create(&abs).map_err(|e| io_at(&abs, e))?;
        let copied = io::copy(&mut source.take(len), &mut file).map_err(|e| io_at(&abs, e))?;
        self.reads.counted(copied);
        if copied < len {
            return Err(io_at(from, io::Error::new(io::ErrorKind::UnexpectedEof, "the archive ends inside an entry")));
        }
        finish_file(&abs, &file, copied, executable)
    }

    /// Puts a plain payload file at `path`: a copy-on-write clone (reflink)
    /// where the filesystem makes them, which takes no space until either
    /// side changes; else a copy, read from `file` (`from`, opened).
    pub fn clone_or_copy(
        &mut self,
        path: &EntryPath,
        from: &Path,
        mut file: fs::File,
        executable: bool,
    ) -> Result<(), InstallError> {
        self.prepare_parents(path)?;
        let abs = path.under(&self.dir);
        self.clear_leaf(&abs)?;
        let cloned = reflink_copy::reflink(from, &abs).is_ok();
        if cloned {
            let size = fs::metadata(&abs).map_err(|e| io_at(&abs, e))?.len();
            self.advance(size)?;
            // Written through a handle that may write: Windows flushes no other.
            let file = fs::OpenOptions::new().write(true).open(&abs).map_err(|e| io_at(&abs, e))?;
            return finish_file(&abs, &file, size, executable);
        }
        // A failed clone may leave an empty file; write_file replaces it.
        self.write_file(path, &mut file, executable)
    }

    /// Copies a file an earlier entry wrote (a tar hard link) to `path`.
    pub fn copy_within(&mut self, source: &EntryPath, path: &EntryPath) -> Result<(), InstallError> {
        let from = source.under(&self.dir);
        let through_links = (1..source.0.len()).any(|n| {
            let ancestor = EntryPath(source.0[..n].to_vec()).under(&self.dir);
            !fs::symlink_metadata(ancestor).is_ok_and(|m| m.is_dir())
        });
        if through_links || !fs::symlink_metadata(&from).is_ok_and(|m| m.is_file()) {
            return Err(InstallError::EntryConflict(format!(
                "entry {path}: a hard link to {source}, which is not a file unpacked before it"
            )));
        }
        let mut file = fs::File::open(&from).map_err(|e| io_at(&from, e))?;
        self.write_file(path, &mut file, false)
    }

    /// Makes a link at `path` to `target`, which must stay inside.
    pub fn symlink(&mut self, path: &EntryPath, target: &str) -> Result<(), &'static str> {
        path.resolve_link(target, Some(&self.dir))?;
        self.prepare_parents(path).map_err(|_| "its folder passes through a link or a file")?;
        let abs = path.under(&self.dir);
        self.clear_leaf(&abs).map_err(|_| "an earlier entry of that name cannot be replaced")?;
        create_symlink(target, &abs)
    }

    /// Creates the entry's folders, refusing to pass through a link or file.
    fn prepare_parents(&self, path: &EntryPath) -> Result<(), InstallError> {
        let mut abs = self.dir.clone();
        for part in &path.0[..path.0.len() - 1] {
            abs.push(part);
            match fs::symlink_metadata(&abs) {
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => {
                    return Err(InstallError::EntryConflict(format!(
                        "{}: entry {path} would be written through a link or a file",
                        abs.display()
                    )));
                }
                Err(_) => fs::create_dir(&abs).map_err(|e| io_at(&abs, e))?,
            }
        }
        Ok(())
    }

    /// Removes a file or link an earlier entry left at `abs`.
    fn clear_leaf(&self, abs: &Path) -> Result<(), InstallError> {
        match fs::symlink_metadata(abs) {
            Ok(meta) if meta.is_dir() => {
                Err(InstallError::EntryConflict(format!("{}: an earlier entry made this a folder", abs.display())))
            }
            Ok(_) => fs::remove_file(abs).map_err(|e| io_at(abs, e)),
            Err(_) => Ok(()),
        }
    }
}

/// Checks every link under `dir` the way the filesystem will follow it:
/// the target is walked from the link's folder, and a step through a link
/// already there (`d/l -> ..`, then `z -> d/l/..`) or above `dir` is
/// refused, whichever order the links were made in. Runs on what the
/// archives (native or an external unpacker) left, before it becomes
/// `local/`.
pub fn check_links(dir: &Path) -> Result<(), InstallError> {
    fn walk(root: &Path, dir: &Path, rel: &mut Vec<String>) -> Result<(), InstallError> {
        let entries = fs::read_dir(dir).map_err(|e| io_at(dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io_at(dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let meta = fs::symlink_metadata(&path).map_err(|e| io_at(&path, e))?;
            rel.push(name);
            if meta.is_symlink() {
                let target = fs::read_link(&path).map_err(|e| io_at(&path, e))?;
                EntryPath(rel.clone())
                    .resolve_link(&target.to_string_lossy(), Some(root))
                    .map_err(|why| InstallError::UnsafeLink(format!("{}: {why}", rel.join("/"))))?;
            } else if meta.is_dir() {
                walk(root, &path, rel)?;
            }
            rel.pop();
        }
        Ok(())
    }
    walk(dir, dir, &mut Vec::new())
}

/// Bytes of the regular files under `dir` (what an external unpacker wrote).
pub fn bytes_under(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(t) if t.is_dir() => bytes_under(&entry.path()),
            Ok(t) if t.is_file() => entry.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .fold(0, u64::saturating_add)
}

#[cfg(unix)]
fn make_executable(path: &Path) -> Result<(), InstallError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).map_err(|e| io_at(path, e))
}

/// Windows has no executable bit.
#[cfg(not(unix))]
fn make_executable(_path: &Path) -> Result<(), InstallError> {
    Ok(())
}

#[cfg(unix)]
fn create_symlink(target: &str, at: &Path) -> Result<(), &'static str> {
    std::os::unix::fs::symlink(target, at).map_err(|_| "the link cannot be created")
}

/// Creating links on Windows needs a privilege most users lack, and game
/// packs for Windows do not rely on them: the entry is skipped.
#[cfg(not(unix))]
fn create_symlink(target: &str, at: &Path) -> Result<(), &'static str> {
    tracing::warn!("skipping link {} -> {target}: links are not unpacked on Windows", at.display());
    Ok(())
}

/// Whether a file in `dir` can be cloned (reflinked) there: then a payload
/// file installed as it is takes no room (Btrfs, XFS, ReFS, APFS). Tried on
/// a one-byte file, removed at once.
pub fn clones_files(dir: &Path) -> bool {
    let probe = dir.join(".lanspread-clone-probe");
    let clone = dir.join(".lanspread-clone-probe.clone");
    let _ = fs::remove_file(&clone);
    let clones = fs::write(&probe, b"x").is_ok() && reflink_copy::reflink(&probe, &clone).is_ok();
    let _ = fs::remove_file(&clone);
    let _ = fs::remove_file(&probe);
    clones
}

/// Flushes a file written whole, `len` bytes (see [`flush`]), and makes it
/// executable when its entry says so.
fn finish_file(abs: &Path, file: &fs::File, len: u64, executable: bool) -> Result<(), InstallError> {
    flush(abs, file, len)?;
    if executable {
        make_executable(abs)?;
    }
    Ok(())
}

/// Flushes an unpacked file now when it is large (so the flush of a big
/// game is spread over its unpacking, which mostly waits for the download
/// anyway, instead of all at the end), or where the staging folder is not
/// flushed whole once everything is unpacked (see
/// [`crate::platform::fs::sync_filesystem`]).
fn flush(abs: &Path, file: &fs::File, len: u64) -> Result<(), InstallError> {
    if crate::platform::fs::FLUSHES_FILESYSTEM && len < FLUSH_NOW {
        return Ok(());
    }
    file.sync_all().map_err(|e| io_at(abs, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_paths_that_leave_are_refused() {
        for bad in [
            "../x",
            "a/../../x",
            "/etc/passwd",
            "\\windows\\x",
            "C:/x",
            "c:x",
            "a/b:c",
            "",
            "./",
            "a\0b",
            "bin/NUL",
            "data/com1.dat",
            "maps./x",
            "x /y",
            "a|b",
        ] {
            assert!(EntryPath::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(EntryPath::parse("a\\b/./c/").unwrap().to_string(), "a/b/c");
    }

    #[test]
    fn only_dot_names_are_the_archive_root() {
        for root in ["./", ".", ".//", "./.", ".\\"] {
            assert!(EntryPath::is_root(root), "{root:?}");
        }
        for not_root in ["", "/", "/.", "\\", "./a", "..", "../", ".a"] {
            assert!(!EntryPath::is_root(not_root), "{not_root:?}");
        }
    }

    #[test]
    fn an_archive_that_unpacks_to_more_than_it_declared_is_stopped_at_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let mut tick = |_| true;
        let mut staging = Staging::new(dir.path().to_owned(), Budget::Declared(10), ArchiveReads::default(), &mut tick);
        let path = EntryPath::parse("a.bin").unwrap();
        staging.write_file(&path, &mut &[1u8; 10][..], false).unwrap();
        let err = staging.write_file(&EntryPath::parse("b.bin").unwrap(), &mut &[1u8; 5][..], false).unwrap_err();
        assert!(matches!(err, InstallError::OverBudget { declared: 10 }), "{err}");
        assert_eq!(fs::metadata(dir.path().join("b.bin")).unwrap().len(), 0, "nothing past the budget is written");
    }

    #[test]
    fn links_must_stay_inside() {
        let at = EntryPath::parse("bin/tool").unwrap();
        assert_eq!(at.resolve_link("../lib/x.so", None).unwrap(), ["lib", "x.so"]);
        assert!(at.resolve_link("../../etc", None).is_err());
        assert!(at.resolve_link("/etc/passwd", None).is_err());
        assert!(EntryPath::parse("top").unwrap().resolve_link("..", None).is_err());
    }

    #[test]
    fn a_plain_file_is_cloned_or_copied_whole_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("payload.bin");
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
        fs::write(&source, &data).unwrap();
        let staging_dir = dir.path().join("staging");
        fs::create_dir(&staging_dir).unwrap();
        let mut tick = |_| true;
        let mut staging =
            Staging::new(staging_dir.clone(), Budget::Declared(data.len() as u64), ArchiveReads::default(), &mut tick);
        let path = EntryPath::parse("maps/payload.bin").unwrap();
        // Cloned on Btrfs or XFS, copied here (ext4): either way the same bytes.
        staging.clone_or_copy(&path, &source, fs::File::open(&source).unwrap(), false).unwrap();
        assert_eq!(fs::read(staging_dir.join("maps/payload.bin")).unwrap(), data);
        assert_eq!(staging.unpacked(), data.len() as u64, "counted against the budget");
        let again = EntryPath::parse("again.bin").unwrap();
        let err = staging.clone_or_copy(&again, &source, fs::File::open(&source).unwrap(), false).unwrap_err();
        assert!(matches!(err, InstallError::OverBudget { .. }), "past the budget, a clone is refused too: {err}");
    }
}
