//! Cover art: a game's cover file read and decoded safely, scaled to the
//! size it is shown at. The file may come from any peer (through the
//! worker's cache) or from a game folder anyone could have filled, so it is
//! hostile: its size, its pixel count and the memory its decoder may take
//! are bounded before anything is allocated, and only PNG and JPEG are
//! decoded.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use image::{ImageFormat, ImageReader, Limits};
use lanspread_proto::peer::MAX_COVER_BYTES;

/// Widest and tallest picture decoded.
const MAX_COVER_SIDE: u32 = 4096;
/// Memory the decoder may take for one picture.
const MAX_DECODE_MEMORY: u64 = 64 * 1024 * 1024;

/// Where a cover is shown, and so the size it is scaled to (pixels; twice
/// the card's and detail view's logical size, for high-density screens).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArtSize {
    Card,
    Detail,
}

impl ArtSize {
    pub fn pixels(self) -> (u32, u32) {
        match self {
            ArtSize::Card => (168, 236),
            ArtSize::Detail => (320, 448),
        }
    }
}

/// A decoded cover: `width` × `height` RGBA pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Art {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

/// Why a cover was not shown; says which file.
#[derive(Debug, thiserror::Error)]
pub enum ArtError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}: not a regular file", .0.display())]
    NotAFile(PathBuf),
    #[error("{}: larger than a cover may be ({MAX_COVER_BYTES} bytes)", .0.display())]
    TooLarge(PathBuf),
    #[error("{}: not a PNG or JPEG picture", .0.display())]
    NotAPicture(PathBuf),
    #[error("{}: {source}", path.display())]
    Decode { path: PathBuf, source: image::ImageError },
}

/// Reads and decodes `path`, cropped and scaled to fill `size`.
pub fn load_art(path: &Path, size: ArtSize) -> Result<Art, ArtError> {
    let io = |source| ArtError::Io { path: path.to_owned(), source };
    let meta = fs::symlink_metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(ArtError::NotAFile(path.to_owned()));
    }
    if meta.len() > MAX_COVER_BYTES {
        return Err(ArtError::TooLarge(path.to_owned()));
    }
    let mut bytes = Vec::new();
    fs::File::open(path).map_err(io)?.take(MAX_COVER_BYTES + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > MAX_COVER_BYTES {
        return Err(ArtError::TooLarge(path.to_owned()));
    }
    decode_art(&bytes, size).map_err(|e| match e {
        DecodeError::NotAPicture => ArtError::NotAPicture(path.to_owned()),
        DecodeError::Image(source) => ArtError::Decode { path: path.to_owned(), source },
    })
}

#[derive(Debug)]
enum DecodeError {
    NotAPicture,
    Image(image::ImageError),
}

fn decode_art(bytes: &[u8], size: ArtSize) -> Result<Art, DecodeError> {
    let mut reader = ImageReader::new(io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| DecodeError::Image(image::ImageError::IoError(e)))?;
    if !matches!(reader.format(), Some(ImageFormat::Png | ImageFormat::Jpeg)) {
        return Err(DecodeError::NotAPicture);
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_COVER_SIDE);
    limits.max_image_height = Some(MAX_COVER_SIDE);
    limits.max_alloc = Some(MAX_DECODE_MEMORY);
    reader.limits(limits);
    let picture = reader.decode().map_err(DecodeError::Image)?;
    let (width, height) = size.pixels();
    let scaled = picture.resize_to_fill(width, height, image::imageops::FilterType::Triangle).into_rgba8();
    Ok(Art { width: scaled.width(), height: scaled.height(), rgba: scaled.into_raw() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let picture = image::RgbaImage::from_pixel(width, height, image::Rgba([200, 40, 40, 255]));
        let mut bytes = io::Cursor::new(Vec::new());
        picture.write_to(&mut bytes, ImageFormat::Png).unwrap();
        bytes.into_inner()
    }

    /// The CRC of a PNG chunk (its type and data).
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }

    #[test]
    fn a_picture_is_cropped_and_scaled_to_its_place() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("cover.png");
        fs::write(&path, png(600, 300)).unwrap();
        let art = load_art(&path, ArtSize::Card).unwrap();
        assert_eq!((art.width, art.height), ArtSize::Card.pixels());
        assert_eq!(art.rgba.len(), (art.width * art.height * 4) as usize);
        assert_eq!(&art.rgba[..4], &[200, 40, 40, 255]);
    }

    #[test]
    fn hostile_files_are_refused_before_they_cost_memory() {
        let tmp = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let path = tmp.path().join(name);
            fs::write(&path, bytes).unwrap();
            path
        };
        // A valid PNG header claiming 100,000 × 100,000 pixels (40 GB decoded).
        let mut bomb = png(1, 1);
        bomb[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        bomb[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        let crc = crc32(&bomb[12..29]);
        bomb[29..33].copy_from_slice(&crc.to_be_bytes());
        let bomb = write("bomb.png", &bomb);
        let refused = load_art(&bomb, ArtSize::Card);
        assert!(matches!(&refused, Err(ArtError::Decode { source: image::ImageError::Limits(_), .. })), "{refused:?}");
        let big = write("big.png", &vec![0; MAX_COVER_BYTES as usize + 1]);
        assert!(matches!(load_art(&big, ArtSize::Card), Err(ArtError::TooLarge(_))));
        let text = write("cover.png.txt", b"not a picture at all");
        assert!(matches!(load_art(&text, ArtSize::Card), Err(ArtError::NotAPicture(_))));
        let mut truncated = png(300, 300);
        truncated.truncate(truncated.len() / 2);
        let truncated = write("truncated.png", &truncated);
        assert!(load_art(&truncated, ArtSize::Card).is_err());
        assert!(matches!(load_art(tmp.path(), ArtSize::Card), Err(ArtError::NotAFile(_))));
        #[cfg(unix)]
        {
            let link = tmp.path().join("link.png");
            std::os::unix::fs::symlink(tmp.path().join("bomb.png"), &link).unwrap();
            assert!(matches!(load_art(&link, ArtSize::Card), Err(ArtError::NotAFile(_))));
        }
    }
}
