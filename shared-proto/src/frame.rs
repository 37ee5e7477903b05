//! Length-prefixed postcard frames.
//!
//! A frame is `len: u32` (little-endian) followed by `len` bytes of postcard.
//! Each [`Message`] names its protocol's maximum frame size; the length is
//! checked before any body byte is read or buffered, so a hostile peer
//! cannot make us allocate more than the limit.

use std::marker::PhantomData;

use serde::{Serialize, de::DeserializeOwned};

/// Size of the length prefix in bytes.
pub const LEN_PREFIX: usize = 4;

/// A type sent as one frame.
pub trait Message: Serialize + DeserializeOwned {
    /// Human-readable name used in errors ("peer request", …).
    const NAME: &'static str;
    /// Largest body this message may have, in bytes.
    const MAX_FRAME: usize;
    /// For enums: how many variants this build knows. A body whose leading
    /// variant index is not below this is reported as
    /// [`FrameError::UnknownVariant`] instead of a generic decode error.
    const VARIANTS: Option<u32>;
}

/// Why a frame could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("{message} frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { message: &'static str, len: u64, max: usize },
    #[error("{message} frame truncated: expected {expected} bytes, got {got}")]
    Truncated { message: &'static str, expected: usize, got: usize },
    #[error("unknown {message} variant {tag} (this build knows {known}; is the other side newer?)")]
    UnknownVariant { message: &'static str, tag: u64, known: u32 },
    #[error("malformed {message} frame: {source}")]
    Malformed {
        message: &'static str,
        #[source]
        source: postcard::Error,
    },
    #[error("{message} frame has {extra} unexpected trailing bytes")]
    TrailingBytes { message: &'static str, extra: usize },
    #[error("could not encode {message}: {source}")]
    Encode {
        message: &'static str,
        #[source]
        source: postcard::Error,
    },
    #[error("{message} stream: {source}")]
    Io {
        message: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// Encodes `msg` as a whole frame (prefix and body).
pub fn encode<M: Message>(msg: &M) -> Result<Vec<u8>, FrameError> {
    let mut out = vec![0u8; LEN_PREFIX];
    out = postcard::to_extend(msg, out).map_err(|source| FrameError::Encode { message: M::NAME, source })?;
    let body_len = out.len() - LEN_PREFIX;
    if body_len > M::MAX_FRAME {
        return Err(FrameError::TooLarge { message: M::NAME, len: body_len as u64, max: M::MAX_FRAME });
    }
    let prefix = u32::try_from(body_len).map_err(|_| FrameError::TooLarge {
        message: M::NAME,
        len: body_len as u64,
        max: M::MAX_FRAME,
    })?;
    out[..LEN_PREFIX].copy_from_slice(&prefix.to_le_bytes());
    Ok(out)
}

/// Checks a length prefix against `M`'s limit and returns the body length.
pub fn body_len<M: Message>(prefix: [u8; LEN_PREFIX]) -> Result<usize, FrameError> {
    let len = u32::from_le_bytes(prefix);
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if len > M::MAX_FRAME {
        return Err(FrameError::TooLarge {
            message: M::NAME,
            len: u64::from(u32::from_le_bytes(prefix)),
            max: M::MAX_FRAME,
        });
    }
    Ok(len)
}

/// Decodes one frame body (without its prefix).
pub fn decode_body<M: Message>(body: &[u8]) -> Result<M, FrameError> {
    if body.len() > M::MAX_FRAME {
        return Err(FrameError::TooLarge { message: M::NAME, len: body.len() as u64, max: M::MAX_FRAME });
    }
    if let Some(known) = M::VARIANTS
        && let Some(tag) = leading_varint(body)
        && tag >= u64::from(known)
    {
        return Err(FrameError::UnknownVariant { message: M::NAME, tag, known });
    }
    let (msg, rest) =
        postcard::take_from_bytes::<M>(body).map_err(|source| FrameError::Malformed { message: M::NAME, source })?;
    if !rest.is_empty() {
        return Err(FrameError::TrailingBytes { message: M::NAME, extra: rest.len() });
    }
    Ok(msg)
}

/// Reads postcard's LEB128 variant index at the start of `body`, if whole.
fn leading_varint(body: &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for (i, byte) in body.iter().take(10).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// Sans-IO frame splitter: feed it bytes as they arrive, take whole messages.
///
/// Buffers at most one frame (the prefix is checked against the limit
/// before the body is awaited).
#[derive(Debug)]
pub struct FrameDecoder<M> {
    buf: Vec<u8>,
    _message: PhantomData<fn() -> M>,
}

impl<M: Message> Default for FrameDecoder<M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M: Message> FrameDecoder<M> {
    pub fn new() -> Self {
        Self { buf: Vec::new(), _message: PhantomData }
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Returns the next whole message, `None` if more bytes are needed.
    ///
    /// An error leaves the decoder unusable; the connection should end.
    pub fn next_frame(&mut self) -> Result<Option<M>, FrameError> {
        let Some(prefix) = self.buf.first_chunk::<LEN_PREFIX>() else {
            return Ok(None);
        };
        let len = body_len::<M>(*prefix)?;
        if self.buf.len() < LEN_PREFIX + len {
            return Ok(None);
        }
        let msg = decode_body::<M>(&self.buf[LEN_PREFIX..LEN_PREFIX + len]);
        self.buf.drain(..LEN_PREFIX + len);
        msg.map(Some)
    }

    /// Call at end of stream: an incomplete frame left over is an error.
    pub fn finish(&self) -> Result<(), FrameError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let expected = match self.buf.first_chunk::<LEN_PREFIX>() {
            Some(prefix) => LEN_PREFIX + body_len::<M>(*prefix)?,
            None => LEN_PREFIX,
        };
        Err(FrameError::Truncated { message: M::NAME, expected, got: self.buf.len() })
    }
}
