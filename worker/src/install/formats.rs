//! Unpacking zip, 7z and tarballs natively, each entry through [`Staging`],
//! and measuring how many bytes an archive declares it unpacks to (for the
//! free-space check and the progress total) before anything is written.
//!
//! A compressed tarball declares nothing (its headers are spread over the
//! stream): it is read once, while unpacking, its bytes bounded by the
//! staging writer's budget, not decompressed a first time to be measured.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read};

use sevenz_rust2::{ArchiveReader, Password};

use super::InstallError;
use super::payload::{ArchiveReads, Compression, Item, Kind, Volumes};
use super::staging::{EntryPath, Staging};

/// Entries one tarball may have: a stream of millions of empty files is
/// refused, not unpacked.
const MAX_ARCHIVE_ENTRIES: usize = 2_000_000;
/// Memory an xz decoder may take (its dictionary); `xz -9` needs 65 MiB,
/// so only a hostile header asks for more.
const MAX_XZ_DECODER_KIB: u32 = 512 * 1024;
/// Bytes read past a tarball's end marker, so the compressed stream's own
/// checksum (gzip, xz, zstd, lz4) is checked before anything is written.
const MAX_TARBALL_TRAILER: u64 = 1024 * 1024;
/// A link target longer than this is not a link.
const MAX_LINK_TARGET: u64 = 4096;
/// Unix file type bits, as stored in tar headers, zip and 7z attributes.
const S_IFMT: u32 = 0o170_000;
const S_IFLNK: u32 = 0o120_000;
/// 7z's flag for "the high 16 attribute bits hold a Unix mode".
const SEVENZ_UNIX_EXTENSION: u32 = 0x8000;

/// Bytes `item` declares it unpacks to, its index read through `reads`:
/// a plain file's size, a zip's or 7z's index, a plain tarball's headers;
/// `None` for a compressed tarball, which declares nothing (nor does a
/// plain one being downloaded). RAR sets are listed by their unpacker.
pub fn unpacked_size(item: &Item, reads: &ArchiveReads) -> Result<Option<u64>, InstallError> {
    match item.kind {
        Kind::Copy => Ok(Some(item.size)),
        // A plain tarball's headers are read, its file data skipped; not
        // while it downloads (they are spread over all of it).
        Kind::Tar(Compression::None) if reads.gate().is_none() => plain_tar_size(item, reads).map(Some),
        Kind::Tar(_) => Ok(None),
        Kind::Rar => {
            wait_for_volumes(item, reads)?;
            super::external::rar_unpacked_size(item).map(Some)
        }
        Kind::UnsupportedTarball => Err(unsupported_tarball(item)),
        Kind::Zip => {
            let zip = open_zip(item, reads)?;
            let mut total = 0u64;
            for i in 0..zip.len() {
                // The central directory's record only: no local header is
                // read, so a zip being downloaded is measured from its end.
                let entry = zip.by_index_data(i).map_err(|e| archive_error(item, e))?;
                if let Some(why) = undecodable_zip_entry(entry.compression(), entry.encrypted()) {
                    let name = String::from_utf8_lossy(entry.name_raw()).into_owned();
                    return Err(archive_error(item, format!("entry {name:?} {why}")));
                }
                total = total.saturating_add(entry.size());
            }
            Ok(Some(total))
        }
        Kind::SevenZip => {
            let reader = open_7z(item, reads)?;
            Ok(Some(reader.archive().files.iter().map(|f| f.size()).fold(0, u64::saturating_add)))
        }
    }
}

/// Where a stored (not compressed) entry's bytes lie in a zip of one
/// volume: copied as they are, by the kernel where it can, not through
/// this process (its CRC is not checked: every byte of a download is
/// already checked against its file list's hashes).
fn stored_range<R: Read>(item: &Item, entry: &zip::read::ZipFile<'_, R>) -> Option<(u64, u64)> {
    let stored = entry.compression() == zip::CompressionMethod::Stored && !entry.encrypted();
    let plain = stored && item.volumes.len() == 1 && entry.size() == entry.compressed_size();
    plain.then(|| entry.data_start().map(|start| (start, entry.size()))).flatten()
}

/// Writes an entry's bytes, read from the archive's stream, to `path`. A
/// stream that fails to read (a corrupt block, a file cut short) fails the
/// install naming the archive and its format, not the entry being written.
fn write_entry(
    item: &Item,
    staging: &mut Staging<'_>,
    path: &EntryPath,
    data: &mut dyn Read,
    executable: bool,
) -> Result<(), InstallError> {
    let mut reading = EntryReader { data, failed: None };
    staging.write_file(path, &mut reading, executable).map_err(|e| match reading.failed.take() {
        Some(read) => stream_error(item, &read),
        None => e,
    })
}

/// An entry's bytes; keeps the stream's read error.
struct EntryReader<'r> {
    data: &'r mut dyn Read,
    failed: Option<io::Error>,
}

impl Read for EntryReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.data.read(buf).inspect_err(|e| {
            if e.kind() != io::ErrorKind::Interrupted {
                self.failed = Some(io::Error::new(e.kind(), e.to_string()));
            }
        })
    }
}

/// The bytes a plain tarball unpacks to, from its headers alone (the data
/// is sought past). A hard link unpacks to a full copy of its target (see
/// `Staging::copy_within`), so it counts as the target's size.
fn plain_tar_size(item: &Item, reads: &ArchiveReads) -> Result<u64, InstallError> {
    let mut archive = tar::Archive::new(Volumes::open(&item.volumes, reads)?);
    let mut sizes: HashMap<String, u64> = HashMap::new();
    let mut total = 0u64;
    for (n, entry) in archive.entries_with_seek().map_err(|e| stream_error(item, &e))?.enumerate() {
        if n >= MAX_ARCHIVE_ENTRIES {
            return Err(archive_error(item, format!("more than {MAX_ARCHIVE_ENTRIES} entries")));
        }
        let entry = entry.map_err(|e| stream_error(item, &e))?;
        let name = normalized(&entry.path_bytes());
        let size = if entry.header().entry_type().is_hard_link() {
            let target = entry.link_name_bytes().map(|t| normalized(&t)).unwrap_or_default();
            sizes.get(&target).copied().unwrap_or(0)
        } else {
            entry.size()
        };
        sizes.insert(name, size);
        total = total.saturating_add(size);
    }
    Ok(total)
}

/// An entry name as the staging writer will see it, for matching links.
fn normalized(name: &[u8]) -> String {
    let name = String::from_utf8_lossy(name);
    EntryPath::parse(&name).map_or_else(|_| name.into_owned(), |p| p.to_string())
}

/// Waits until every volume of `item` may be read whole (an external
/// unpacker reads them itself).
fn wait_for_volumes(item: &Item, reads: &ArchiveReads) -> Result<(), InstallError> {
    for volume in &item.volumes {
        reads.wait_whole(volume).map_err(|e| InstallError::Io(crate::platform::fs::annotate(volume, e)))?;
    }
    Ok(())
}

fn unsupported_tarball(item: &Item) -> InstallError {
    InstallError::Archive {
        archive: item.rel.clone(),
        message: "this tarball's compression is not one LanSpread unpacks; repack it as .tar.xz, .tar.zst, \
                  .tar.gz, .tar.bz2, .tar.lz4, .zip or .7z"
            .into(),
    }
}

/// Why a zip entry compressed with `method` cannot be unpacked, if it
/// cannot: checked for every entry before anything is written.
#[allow(deprecated)] // `Unsupported` is the only way to learn an unknown method's number.
fn undecodable_zip_entry(method: zip::CompressionMethod, encrypted: bool) -> Option<String> {
    use zip::CompressionMethod as M;
    if encrypted {
        return Some("is encrypted (a game pack must not need a password)".into());
    }
    match method {
        M::Stored
        | M::Deflated
        | M::Deflate64
        | M::Bzip2
        | M::Lzma
        | M::Xz
        | M::Zstd
        | M::Ppmd
        | M::Shrink
        | M::Reduce(_)
        | M::Implode => None,
        M::Unsupported(99) => Some("is AES-encrypted (a game pack must not need a password)".into()),
        M::Unsupported(n) => Some(format!("is compressed with method {n}, which LanSpread does not decode")),
        other => Some(format!("is compressed with {other}, which LanSpread does not decode")),
    }
}

/// Reads what follows a tarball's end marker (padding, then the
/// compressor's checksum) so a corrupt or cut stream fails here.
fn drain_trailer(item: &Item, stream: impl Read) -> Result<(), InstallError> {
    io::copy(&mut stream.take(MAX_TARBALL_TRAILER), &mut io::sink()).map_err(|e| stream_error(item, &e))?;
    Ok(())
}

/// Unpacks (or copies) `item`, which declared `unpacked` bytes (0: nothing
/// declared), into the staging directory.
pub fn unpack(item: &Item, unpacked: u64, staging: &mut Staging<'_>) -> Result<(), InstallError> {
    match item.kind {
        Kind::Copy => {
            let path = EntryPath::parse(&item.rel).map_err(|why| unsafe_entry(item, &item.rel, why))?;
            let annotate = |e| InstallError::Io(crate::platform::fs::annotate(&item.volumes[0], e));
            staging.reads().wait_whole(&item.volumes[0]).map_err(annotate)?;
            let file = fs::File::open(&item.volumes[0])
                .map_err(|e| InstallError::Io(crate::platform::fs::annotate(&item.volumes[0], e)))?;
            let executable = is_executable_file(&file);
            staging.clone_or_copy(&path, &item.volumes[0], file, executable)
        }
        Kind::Zip => unpack_zip(item, staging),
        Kind::SevenZip => unpack_7z(item, staging),
        Kind::Tar(compression) => unpack_tar(item, compression, staging),
        Kind::Rar => {
            wait_for_volumes(item, &staging.reads())?;
            super::external::unpack_rar(item, unpacked, staging)
        }
        Kind::UnsupportedTarball => Err(unsupported_tarball(item)),
    }
}

fn unpack_zip(item: &Item, staging: &mut Staging<'_>) -> Result<(), InstallError> {
    let mut zip = open_zip(item, &staging.reads())?;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| archive_error(item, e))?;
        let name = entry.name().map_err(|e| archive_error(item, e))?.into_owned();
        if entry.is_dir() && EntryPath::is_root(&name) {
            continue;
        }
        let path = EntryPath::parse(&name).map_err(|why| unsafe_entry(item, &name, why))?;
        let mode = entry.unix_mode().unwrap_or(0);
        if entry.is_dir() {
            staging.create_dir(&path)?;
        } else if entry.is_symlink() {
            let target = read_link_target(item, &name, &mut entry)?;
            staging.symlink(&path, &target).map_err(|why| unsafe_entry(item, &name, why))?;
        } else if let Some((offset, len)) = stored_range(item, &entry) {
            drop(entry);
            staging.copy_range(&path, &item.volumes[0], (offset, len), mode & 0o111 != 0)?;
        } else {
            write_entry(item, staging, &path, &mut entry, mode & 0o111 != 0)?;
        }
    }
    Ok(())
}

fn unpack_7z(item: &Item, staging: &mut Staging<'_>) -> Result<(), InstallError> {
    let mut reader = open_7z(item, &staging.reads())?;
    let mut failure = None;
    let result = reader.for_each_entries(|entry, data| match unpack_7z_entry(item, entry, data, staging) {
        Ok(()) => Ok(true),
        Err(e) => {
            failure = Some(e);
            Ok(false)
        }
    });
    if let Some(e) = failure {
        return Err(e);
    }
    result.map_err(|e| archive_error(item, e))
}

fn unpack_7z_entry(
    item: &Item,
    entry: &sevenz_rust2::ArchiveEntry,
    data: &mut dyn Read,
    staging: &mut Staging<'_>,
) -> Result<(), InstallError> {
    if entry.is_anti_item() || (entry.is_directory() && EntryPath::is_root(entry.name())) {
        return Ok(());
    }
    let path = EntryPath::parse(entry.name()).map_err(|why| unsafe_entry(item, entry.name(), why))?;
    let attributes = entry.windows_attributes();
    let mode = if attributes & SEVENZ_UNIX_EXTENSION != 0 { attributes >> 16 } else { 0 };
    if entry.is_directory() {
        staging.create_dir(&path)
    } else if mode & S_IFMT == S_IFLNK {
        let target = read_link_target(item, entry.name(), data)?;
        staging.symlink(&path, &target).map_err(|why| unsafe_entry(item, entry.name(), why))
    } else {
        write_entry(item, staging, &path, data, mode & 0o111 != 0)
    }
}

/// Unpacks a tarball in one pass; the compressed stream's own checksum
/// (gzip, xz, zstd, lz4), read past the end marker, is checked before the
/// install counts as done.
fn unpack_tar(item: &Item, compression: Compression, staging: &mut Staging<'_>) -> Result<(), InstallError> {
    let mut archive = tar::Archive::new(tar_stream(item, compression, &staging.reads())?);
    for (n, entry) in archive.entries().map_err(|e| stream_error(item, &e))?.enumerate() {
        if n >= MAX_ARCHIVE_ENTRIES {
            return Err(archive_error(item, format!("more than {MAX_ARCHIVE_ENTRIES} entries")));
        }
        let mut entry = entry.map_err(|e| stream_error(item, &e))?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() || kind.is_gnu_longname() {
            continue;
        }
        // `tar czf pack.tgz .` names the archive's root `./`.
        if kind.is_dir() && EntryPath::is_root(&name) {
            continue;
        }
        let path = EntryPath::parse(&name).map_err(|why| unsafe_entry(item, &name, why))?;
        let mode = entry.header().mode().unwrap_or(0o644);
        if kind.is_dir() {
            staging.create_dir(&path)?;
        } else if kind.is_symlink() {
            let target = entry.link_name_bytes().map(|t| String::from_utf8_lossy(&t).into_owned()).unwrap_or_default();
            staging.symlink(&path, &target).map_err(|why| unsafe_entry(item, &name, why))?;
        } else if kind.is_hard_link() {
            let target = entry.link_name_bytes().map(|t| String::from_utf8_lossy(&t).into_owned()).unwrap_or_default();
            let source = EntryPath::parse(&target).map_err(|why| unsafe_entry(item, &name, why))?;
            staging.copy_within(&source, &path)?;
        } else if kind.is_file() || kind.is_contiguous() || kind.is_gnu_sparse() {
            write_entry(item, staging, &path, &mut entry, mode & 0o111 != 0)?;
        } else {
            tracing::warn!("{}: skipping {name}: devices and pipes are not unpacked", item.rel);
        }
    }
    drain_trailer(item, archive.into_inner())
}

fn open_zip(item: &Item, reads: &ArchiveReads) -> Result<zip::ZipArchive<Volumes>, InstallError> {
    zip::ZipArchive::new(Volumes::open(&item.volumes, reads)?).map_err(|e| archive_error(item, e))
}

fn open_7z(item: &Item, reads: &ArchiveReads) -> Result<ArchiveReader<Volumes>, InstallError> {
    ArchiveReader::new(Volumes::open(&item.volumes, reads)?, Password::empty()).map_err(|e| archive_error(item, e))
}

fn tar_stream(item: &Item, compression: Compression, reads: &ArchiveReads) -> Result<Box<dyn Read>, InstallError> {
    let file = io::BufReader::new(Volumes::open(&item.volumes, reads)?);
    Ok(match compression {
        Compression::None => Box::new(file),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(file)),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::with_buffer(file).map_err(|e| archive_error(item, e))?)
        }
        Compression::Xz => Box::new(lzma_rust2::XzReader::new_mem_limit(file, true, MAX_XZ_DECODER_KIB)),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(file)),
        Compression::Lz4 => Box::new(lz4_flex::frame::FrameDecoder::new(file)),
    })
}

fn read_link_target(item: &Item, name: &str, data: &mut dyn Read) -> Result<String, InstallError> {
    let mut target = String::new();
    data.take(MAX_LINK_TARGET + 1).read_to_string(&mut target).map_err(|e| archive_error(item, e))?;
    if target.len() as u64 > MAX_LINK_TARGET {
        return Err(unsafe_entry(item, name, "the link target is too long"));
    }
    Ok(target)
}

/// A tarball's stream could not be read: says whether it is cut short or
/// corrupt, in words, beside the decoder's own.
fn stream_error(item: &Item, e: &io::Error) -> InstallError {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => archive_error(item, format!("the file ends too soon; is it cut short? ({e})")),
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::Other => {
            archive_error(item, format!("the data is corrupt ({e})"))
        }
        _ => archive_error(item, e),
    }
}

/// The archive could not be read: says which format it was read as.
fn archive_error(item: &Item, e: impl std::fmt::Display) -> InstallError {
    InstallError::Archive { archive: item.rel.clone(), message: format!("cannot unpack this {}: {e}", item.kind) }
}

fn unsafe_entry(item: &Item, entry: &str, why: &str) -> InstallError {
    InstallError::UnsafeEntry { archive: item.rel.clone(), entry: entry.to_owned(), why: why.to_owned() }
}

#[cfg(unix)]
fn is_executable_file(file: &fs::File) -> bool {
    use std::os::unix::fs::PermissionsExt;
    file.metadata().is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable_file(_file: &fs::File) -> bool {
    false
}
