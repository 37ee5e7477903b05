//! What an install unpacks: the archives at the game root, grouped into
//! volume sets and put in order, and every other payload file, copied as it
//! is.
//!
//! Volume sets: `x.7z.001`, `x.7z.002`, … and `x.zip.001`, … are byte-split
//! archives read as one stream; `x.part1.rar`, `x.part2.rar`, … and
//! `x.rar`, `x.r00`, `x.r01`, … are RAR volume sets the unpacker walks from
//! the first volume. A set with a gap is refused before anything is written.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lanspread_proto::game::compare_versions;

use super::InstallError;
use crate::library::scan::{PayloadFile, ScannedGame, VERSION_FILE};

/// How a tarball is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
    Xz,
    Bzip2,
    Lz4,
}

/// Tarball names, lower case, and how each is compressed.
const TARBALL_SUFFIXES: &[(&str, Compression)] = &[
    (".tar", Compression::None),
    (".tar.gz", Compression::Gzip),
    (".tgz", Compression::Gzip),
    (".tar.zst", Compression::Zstd),
    (".tzst", Compression::Zstd),
    (".tar.xz", Compression::Xz),
    (".txz", Compression::Xz),
    (".tar.bz2", Compression::Bzip2),
    (".tbz2", Compression::Bzip2),
    (".tbz", Compression::Bzip2),
    (".tar.lz4", Compression::Lz4),
];

/// What to do with one payload item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Zip,
    SevenZip,
    Tar(Compression),
    /// Through an external unpacker.
    Rar,
    /// Named like a tarball (`x.tar.lzma`) but compressed in a way this
    /// does not read: refused, never copied as if it were game data.
    UnsupportedTarball,
    /// Not an archive: copied to the same relative path under `local/`.
    Copy,
}

impl std::fmt::Display for Kind {
    /// What the user would call the format, for messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Zip => "zip archive",
            Kind::SevenZip => "7z archive",
            Kind::Tar(Compression::None) => "tarball",
            Kind::Tar(Compression::Gzip) => "gzip-compressed tarball",
            Kind::Tar(Compression::Zstd) => "zstd-compressed tarball",
            Kind::Tar(Compression::Xz) => "xz-compressed tarball",
            Kind::Tar(Compression::Bzip2) => "bzip2-compressed tarball",
            Kind::Tar(Compression::Lz4) => "lz4-compressed tarball",
            Kind::Rar => "RAR archive",
            Kind::UnsupportedTarball => "tarball compressed in an unsupported way",
            Kind::Copy => "file",
        })
    }
}

/// One unit of an install: an archive (all its volumes) or a plain file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub kind: Kind,
    /// Path relative to the game root (the first volume for a set).
    pub rel: String,
    /// Every volume, in order (one for a plain file or a single archive).
    pub volumes: Vec<PathBuf>,
    /// Bytes on disk, all volumes together.
    pub size: u64,
}

/// The payload of `game` in install order: archives by name, then plain files.
pub fn plan(game: &ScannedGame) -> Result<Vec<Item>, InstallError> {
    let mut sets: BTreeMap<(String, u8), Vec<(u32, &PayloadFile)>> = BTreeMap::new();
    let mut kinds: BTreeMap<(String, u8), Kind> = BTreeMap::new();
    let mut copies = Vec::new();
    for file in &game.files {
        if file.rel == VERSION_FILE {
            continue;
        }
        match (!file.rel.contains('/')).then(|| classify(&file.rel)).flatten() {
            Some(volume) => {
                let key = (volume.set, volume.kind_tag);
                kinds.insert(key.clone(), volume.kind);
                sets.entry(key).or_default().push((volume.index, file));
            }
            None => copies.push(Item {
                kind: Kind::Copy,
                rel: file.rel.clone(),
                volumes: vec![file.abs.clone()],
                size: file.size,
            }),
        }
    }
    let mut archives = Vec::new();
    for (key, mut volumes) in sets {
        volumes.sort_by_key(|(index, _)| *index);
        let first = volumes[0].0;
        let expected_first = if key.1 == RAR_OLD_STYLE { 0 } else { 1 };
        for (offset, (index, _)) in volumes.iter().enumerate() {
            let want = expected_first + offset as u32;
            if *index != want || first != expected_first {
                let missing = if first != expected_first { expected_first } else { want };
                return Err(InstallError::Archive {
                    archive: volumes[0].1.rel.clone(),
                    message: format!("volume {} of this set is missing", missing + 1 - expected_first),
                });
            }
        }
        archives.push(Item {
            kind: kinds[&key],
            rel: volumes[0].1.rel.clone(),
            volumes: volumes.iter().map(|(_, f)| f.abs.clone()).collect(),
            size: volumes.iter().map(|(_, f)| f.size).sum(),
        });
    }
    archives.sort_by(|a, b| compare_versions(&a.rel, &b.rel));
    archives.extend(copies);
    Ok(archives)
}

/// Old-style RAR sets (`x.rar`, `x.r00`, …) number from 0.
const RAR_OLD_STYLE: u8 = 4;

struct Volume {
    /// Name shared by the set's volumes.
    set: String,
    kind: Kind,
    /// Keeps different kinds of sets with one base name apart.
    kind_tag: u8,
    index: u32,
}

/// Which archive (and which volume of it) a root-level file name is.
fn classify(name: &str) -> Option<Volume> {
    let lower = name.to_ascii_lowercase();
    let single = |kind, tag| Some(Volume { set: lower.clone(), kind, kind_tag: tag, index: 1 });
    if let Some((base, number)) = lower.rsplit_once('.')
        && number.len() == 3
        && number.bytes().all(|b| b.is_ascii_digit())
    {
        let index = number.parse().ok()?;
        if base.ends_with(".7z") {
            return Some(Volume { set: base.to_owned(), kind: Kind::SevenZip, kind_tag: 1, index });
        }
        if base.ends_with(".zip") {
            return Some(Volume { set: base.to_owned(), kind: Kind::Zip, kind_tag: 0, index });
        }
        return None;
    }
    if let Some(stem) = lower.strip_suffix(".rar") {
        if let Some((base, part)) = stem.rsplit_once(".part")
            && !part.is_empty()
            && part.bytes().all(|b| b.is_ascii_digit())
        {
            return Some(Volume { set: base.to_owned(), kind: Kind::Rar, kind_tag: 3, index: part.parse().ok()? });
        }
        return Some(Volume { set: stem.to_owned(), kind: Kind::Rar, kind_tag: RAR_OLD_STYLE, index: 0 });
    }
    if let Some((stem, ext)) = lower.rsplit_once('.')
        && ext.len() == 3
        && ext.starts_with('r')
        && ext[1..].bytes().all(|b| b.is_ascii_digit())
    {
        let index = ext[1..].parse::<u32>().ok()? + 1;
        return Some(Volume { set: stem.to_owned(), kind: Kind::Rar, kind_tag: RAR_OLD_STYLE, index });
    }
    if lower.ends_with(".zip") {
        return single(Kind::Zip, 0);
    }
    if lower.ends_with(".7z") {
        return single(Kind::SevenZip, 1);
    }
    if let Some((_, compression)) = TARBALL_SUFFIXES.iter().find(|(suffix, _)| lower.ends_with(suffix)) {
        return single(Kind::Tar(*compression), 2);
    }
    // `x.tar.lzma`, `x.tar.Z`, …: a tarball by name, in a compression not read here.
    if let Some((stem, ext)) = lower.rsplit_once('.')
        && stem.ends_with(".tar")
        && !ext.is_empty()
    {
        return single(Kind::UnsupportedTarball, 2);
    }
    None
}

/// Where an install reads its payload: every read of an archive is counted
/// (each archive is read once, and this shows it) and, for an install that
/// unpacks while the game downloads, waits at the gate for the bytes it
/// needs to be verified.
#[derive(Debug, Clone, Default)]
pub struct ArchiveReads {
    count: Arc<AtomicU64>,
    gate: Option<Arc<dyn PayloadGate>>,
}

/// What a download in progress lets an install read.
pub trait PayloadGate: Send + Sync + std::fmt::Debug {
    /// How many bytes of `path` from `offset`, at most `want`, are verified
    /// and may be read: waits until there is at least one (none only past
    /// the file's end); fails when the download ended without them.
    fn readable(&self, path: &Path, offset: u64, want: u64) -> io::Result<u64>;
    /// Waits for the download to end: `Ok` once it is committed.
    fn committed(&self) -> io::Result<()>;
    /// Bytes the download has still to write.
    fn bytes_to_come(&self) -> u64;
}

impl ArchiveReads {
    /// Reads that wait at `gate` for bytes still being downloaded.
    pub fn gated(gate: Arc<dyn PayloadGate>) -> ArchiveReads {
        ArchiveReads { count: Arc::default(), gate: Some(gate) }
    }

    pub fn get(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub fn gate(&self) -> Option<&dyn PayloadGate> {
        self.gate.as_deref()
    }

    /// How much of `path` from `offset`, at most `want`, may be read now.
    fn readable(&self, path: &Path, offset: u64, want: u64) -> io::Result<u64> {
        match &self.gate {
            Some(gate) => gate.readable(path, offset, want),
            None => Ok(want),
        }
    }

    /// Waits until the `len` bytes of `path` from `offset` may be read.
    pub fn wait_range(&self, path: &Path, offset: u64, len: u64) -> io::Result<()> {
        let mut at = offset;
        while at < offset + len {
            match self.readable(path, at, offset + len - at)? {
                0 => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the archive ends inside an entry")),
                n => at += n,
            }
        }
        Ok(())
    }

    /// Counts `bytes` read from an archive other than through [`Volumes`].
    pub fn counted(&self, bytes: u64) {
        self.count.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Waits until the whole of `path` may be read (a file copied as it
    /// is, or a volume handed to an external unpacker).
    pub fn wait_whole(&self, path: &Path) -> io::Result<()> {
        let mut offset = 0;
        if self.gate.is_some() {
            while let n @ 1.. = self.readable(path, offset, u64::MAX)? {
                offset += n;
            }
        }
        Ok(())
    }
}

/// The volumes of a byte-split archive read as one file.
#[derive(Debug)]
pub struct Volumes {
    files: Vec<(fs::File, u64, PathBuf)>,
    total: u64,
    pos: u64,
    reads: ArchiveReads,
}

impl Volumes {
    /// Opens every volume of a set, its reads counted in `reads`.
    pub fn open(paths: &[PathBuf], reads: &ArchiveReads) -> io::Result<Volumes> {
        let mut files = Vec::with_capacity(paths.len());
        for path in paths {
            let annotate = |e: io::Error| crate::platform::fs::annotate(path, e);
            // A file being downloaded is there (at its size) once its first
            // chunk is: a small one is created by its only chunk's write.
            reads.readable(path, 0, 1).map_err(annotate)?;
            let file = fs::File::open(path).map_err(annotate)?;
            let len = file.metadata().map_err(annotate)?.len();
            files.push((file, len, path.clone()));
        }
        let total = files.iter().map(|(_, len, _)| len).sum();
        Ok(Volumes { files, total, pos: 0, reads: reads.clone() })
    }
}

impl Read for Volumes {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut start = 0;
        for (file, len, path) in &mut self.files {
            if self.pos < start + *len {
                let offset = self.pos - start;
                file.seek(SeekFrom::Start(offset))?;
                let want = buf.len().min(usize::try_from(*len - offset).unwrap_or(usize::MAX));
                let want = (self.reads.readable(path, offset, want as u64)? as usize).min(buf.len());
                let n = file.read(&mut buf[..want])?;
                self.pos += n as u64;
                self.reads.count.fetch_add(n as u64, Ordering::Relaxed);
                return Ok(n);
            }
            start += *len;
        }
        Ok(0)
    }
}

impl Seek for Volumes {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.total.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = pos.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn game(names: &[&str]) -> ScannedGame {
        let files = names
            .iter()
            .map(|n| PayloadFile { rel: (*n).into(), abs: PathBuf::from(n), size: 10, mtime_ns: 0 })
            .collect();
        ScannedGame { id: "g".into(), version: Some("1".into()), installed: false, installed_version: None, files }
    }

    fn order(names: &[&str]) -> Vec<(Kind, String, usize)> {
        plan(&game(names)).unwrap().into_iter().map(|i| (i.kind, i.rel, i.volumes.len())).collect()
    }

    #[test]
    fn archives_come_in_name_order_with_their_volumes() {
        let items = order(&[
            "version.ini",
            "readme.txt",
            "data.part10.rar",
            "data.part2.rar",
            "data.part1.rar",
            "data.part3.rar",
            "data.part4.rar",
            "data.part5.rar",
            "data.part6.rar",
            "data.part7.rar",
            "data.part8.rar",
            "data.part9.rar",
            "base.7z.002",
            "base.7z.001",
            "maps/extra.zip",
            "old.r00",
            "old.rar",
            "patch2.tar.zst",
            "patch10.tgz",
        ]);
        assert_eq!(
            items,
            [
                (Kind::SevenZip, "base.7z.001".into(), 2),
                (Kind::Rar, "data.part1.rar".into(), 10),
                (Kind::Rar, "old.rar".into(), 2),
                (Kind::Tar(Compression::Zstd), "patch2.tar.zst".into(), 1),
                (Kind::Tar(Compression::Gzip), "patch10.tgz".into(), 1),
                (Kind::Copy, "readme.txt".into(), 1),
                (Kind::Copy, "maps/extra.zip".into(), 1),
            ]
        );
    }

    #[test]
    fn archives_are_known_by_name_whatever_the_case() {
        let kinds: Vec<(String, Kind)> = plan(&game(&[
            "a.TAR.XZ",
            "b.txz",
            "c.tar.bz2",
            "d.TBZ2",
            "e.tbz",
            "f.tar.lz4",
            "g.Tar.Gz",
            "h.TGZ",
            "i.tar.zst",
            "j.ZIP",
            "k.7Z",
            "l.tar",
            "m.tar.lzma",
            "n.pk3",
            "o.xz",
        ]))
        .unwrap()
        .into_iter()
        .map(|i| (i.rel, i.kind))
        .collect();
        let tar = |c| Kind::Tar(c);
        let expected = [
            ("a.TAR.XZ", tar(Compression::Xz)),
            ("b.txz", tar(Compression::Xz)),
            ("c.tar.bz2", tar(Compression::Bzip2)),
            ("d.TBZ2", tar(Compression::Bzip2)),
            ("e.tbz", tar(Compression::Bzip2)),
            ("f.tar.lz4", tar(Compression::Lz4)),
            ("g.Tar.Gz", tar(Compression::Gzip)),
            ("h.TGZ", tar(Compression::Gzip)),
            ("i.tar.zst", tar(Compression::Zstd)),
            ("j.ZIP", Kind::Zip),
            ("k.7Z", Kind::SevenZip),
            ("l.tar", tar(Compression::None)),
            ("m.tar.lzma", Kind::UnsupportedTarball),
            // Game data that happens to be a zip, and a lone compressed file, are copied.
            ("n.pk3", Kind::Copy),
            ("o.xz", Kind::Copy),
        ];
        assert_eq!(kinds, expected.map(|(n, k)| (n.to_owned(), k)));
    }

    #[test]
    fn a_set_with_a_gap_is_refused() {
        let err = plan(&game(&["a.7z.001", "a.7z.003"])).unwrap_err().to_string();
        assert!(err.contains("a.7z.001") && err.contains("volume 2"), "{err}");
        let err = plan(&game(&["b.part2.rar"])).unwrap_err().to_string();
        assert!(err.contains("volume 1"), "{err}");
    }

    #[test]
    fn volumes_read_and_seek_as_one_stream() {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = ["a", "b", "c"].iter().map(|n| dir.path().join(n)).collect();
        fs::write(&paths[0], b"hello ").unwrap();
        fs::write(&paths[1], b"").unwrap();
        fs::write(&paths[2], b"world").unwrap();
        let reads = ArchiveReads::default();
        let mut v = Volumes::open(&paths, &reads).unwrap();
        let mut all = String::new();
        v.read_to_string(&mut all).unwrap();
        assert_eq!(all, "hello world");
        v.seek(SeekFrom::End(-5)).unwrap();
        let mut tail = String::new();
        v.read_to_string(&mut tail).unwrap();
        assert_eq!(tail, "world");
        v.seek(SeekFrom::Start(4)).unwrap();
        let mut two = [0; 3];
        v.read_exact(&mut two).unwrap();
        assert_eq!(&two, b"o w");
        assert_eq!(reads.get(), 11 + 5 + 3, "every byte read is counted");
    }
}
