//! Builds the archives the install tests unpack: zip, 7z and tarballs with
//! the crates' writers, and a stored (uncompressed) RAR 4 archive by hand,
//! since no RAR writer exists here. Entries may be hostile on purpose.

use std::fs;
use std::io::{Cursor, Write};
use std::path::Path;

/// One archive entry.
#[derive(Debug, Clone)]
pub enum Entry {
    File {
        name: String,
        data: Vec<u8>,
        executable: bool,
    },
    Link {
        name: String,
        target: String,
    },
    /// A tar hard link to an earlier entry (tarballs only).
    HardLink {
        name: String,
        target: String,
    },
}

impl Entry {
    pub fn file(name: &str, data: impl Into<Vec<u8>>) -> Entry {
        Entry::File { name: name.into(), data: data.into(), executable: false }
    }

    pub fn executable(name: &str, data: impl Into<Vec<u8>>) -> Entry {
        Entry::File { name: name.into(), data: data.into(), executable: true }
    }

    pub fn link(name: &str, target: &str) -> Entry {
        Entry::Link { name: name.into(), target: target.into() }
    }

    pub fn hard_link(name: &str, target: &str) -> Entry {
        Entry::HardLink { name: name.into(), target: target.into() }
    }
}

fn mode(executable: bool) -> u32 {
    if executable { 0o755 } else { 0o644 }
}

pub fn zip(path: &Path, entries: &[Entry]) {
    zip_with(path, entries, zip::CompressionMethod::Deflated);
}

/// A zip whose files are stored, not compressed (as many game packs are);
/// for the streamed-install test that kills a worker (Unix signals).
#[cfg(unix)]
pub fn zip_stored(path: &Path, entries: &[Entry]) {
    zip_with(path, entries, zip::CompressionMethod::Stored);
}

fn zip_with(path: &Path, entries: &[Entry], method: zip::CompressionMethod) {
    let mut zip = zip::ZipWriter::new(fs::File::create(path).unwrap());
    for entry in entries {
        match entry {
            Entry::File { name, data, executable } => {
                let options = zip::write::SimpleFileOptions::default()
                    .unix_permissions(mode(*executable))
                    .compression_method(method);
                zip.start_file(name.as_str(), options).unwrap();
                zip.write_all(data).unwrap();
            }
            Entry::Link { name, target } => {
                zip.add_symlink(name.as_str(), target.as_str(), zip::write::SimpleFileOptions::default()).unwrap();
            }
            Entry::HardLink { .. } => panic!("zip has no hard links"),
        }
    }
    zip.finish().unwrap();
}

pub fn sevenz(path: &Path, entries: &[Entry]) {
    let mut out = sevenz_rust2::ArchiveWriter::new(fs::File::create(path).unwrap()).unwrap();
    for entry in entries {
        let (name, data, unix_mode) = match entry {
            Entry::File { name, data, executable } => (name, data.clone(), 0o100_000 | mode(*executable)),
            Entry::Link { name, target } => (name, target.clone().into_bytes(), 0o120_777),
            Entry::HardLink { .. } => panic!("7z has no hard links"),
        };
        let mut item = sevenz_rust2::ArchiveEntry::new_file(name);
        item.has_windows_attributes = true;
        item.windows_attributes = 0x8000 | (unix_mode << 16);
        out.push_archive_entry(item, Some(Cursor::new(data))).unwrap();
    }
    out.finish().unwrap();
}

/// Writes the archive its name says: `.zip`, `.7z`, or a tarball
/// (`.tar`, `.tar.gz`, `.tar.zst`, `.tar.xz`, `.tar.bz2`, `.tar.lz4`).
pub fn by_name(path: &Path, entries: &[Entry]) {
    let name = path.file_name().unwrap().to_string_lossy();
    let tarballs = [
        (".tar", TarKind::Plain),
        (".tar.gz", TarKind::Gzip),
        (".tar.zst", TarKind::Zstd),
        (".tar.xz", TarKind::Xz),
        (".tar.bz2", TarKind::Bzip2),
        (".tar.lz4", TarKind::Lz4),
    ];
    if name.ends_with(".zip") {
        zip(path, entries);
    } else if name.ends_with(".7z") {
        sevenz(path, entries);
    } else if let Some((_, kind)) = tarballs.iter().find(|(suffix, _)| name.ends_with(suffix)) {
        tar(path, entries, *kind);
    } else {
        panic!("{name}: not an archive name");
    }
}

#[derive(Debug, Clone, Copy)]
pub enum TarKind {
    Plain,
    Gzip,
    Zstd,
    Xz,
    Bzip2,
    Lz4,
}

pub fn tar(path: &Path, entries: &[Entry], kind: TarKind) {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        let (name, data) = match entry {
            Entry::File { name, data, executable } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(mode(*executable));
                (name, data.clone())
            }
            Entry::Link { name, target } | Entry::HardLink { name, target } => {
                let hard = matches!(entry, Entry::HardLink { .. });
                header.set_entry_type(if hard { tar::EntryType::Link } else { tar::EntryType::Symlink });
                header.set_mode(0o777);
                // Raw bytes: the builder's checked setters refuse hostile targets.
                header.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
                (name, Vec::new())
            }
        };
        // Raw name bytes too, so `../x` and `/abs` can be written at all.
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_size(data.len() as u64);
        header.set_cksum();
        builder.append(&header, data.as_slice()).unwrap();
    }
    let raw = builder.into_inner().unwrap();
    let packed = match kind {
        TarKind::Plain => raw,
        TarKind::Gzip => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&raw).unwrap();
            gz.finish().unwrap()
        }
        TarKind::Zstd => zstd::encode_all(raw.as_slice(), 3).unwrap(),
        TarKind::Xz => {
            let options = lzma_rust2::XzOptions::with_preset(1);
            let mut xz = lzma_rust2::XzWriter::new(Vec::new(), options).unwrap();
            xz.write_all(&raw).unwrap();
            xz.finish().unwrap()
        }
        TarKind::Bzip2 => {
            let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            bz.write_all(&raw).unwrap();
            bz.finish().unwrap()
        }
        TarKind::Lz4 => {
            let mut lz4 = lz4_flex::frame::FrameEncoder::new(Vec::new());
            lz4.write_all(&raw).unwrap();
            lz4.finish().unwrap()
        }
    };
    fs::write(path, packed).unwrap();
}

/// A RAR 4 archive with every file stored (method 0x30), per the RAR 4
/// technical note: marker block, main header, one file header plus data per
/// file, end block. Header CRCs are the low 16 bits of CRC-32.
pub fn rar_stored(path: &Path, files: &[(&str, Vec<u8>)]) {
    fn block(out: &mut Vec<u8>, body: &[u8]) {
        let crc = crc32fast::hash(body) as u16;
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(body);
    }
    let mut out = b"Rar!\x1a\x07\x00".to_vec();
    // Main header: type 0x73, no flags, size 13, two reserved fields.
    block(&mut out, &[0x73, 0, 0, 13, 0, 0, 0, 0, 0, 0, 0]);
    for (name, data) in files {
        let mut body = vec![0x74];
        body.extend_from_slice(&0x8000u16.to_le_bytes());
        body.extend_from_slice(&((32 + name.len()) as u16).to_le_bytes());
        body.extend_from_slice(&(data.len() as u32).to_le_bytes()); // packed size
        body.extend_from_slice(&(data.len() as u32).to_le_bytes()); // unpacked size
        body.push(3); // host OS: Unix
        body.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
        body.extend_from_slice(&0x5821_0000u32.to_le_bytes()); // 2024-01-01 00:00, DOS format
        body.push(20); // version needed: 2.0
        body.push(0x30); // method: store
        body.extend_from_slice(&(name.len() as u16).to_le_bytes());
        body.extend_from_slice(&0o100_644u32.to_le_bytes());
        body.extend_from_slice(name.as_bytes());
        block(&mut out, &body);
        out.extend_from_slice(data);
    }
    block(&mut out, &[0x7b, 0x00, 0x40, 0x07, 0x00]);
    fs::write(path, out).unwrap();
}
