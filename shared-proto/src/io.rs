//! Frames on tokio byte streams (QUIC streams, local sockets).

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::frame::{self, FrameError, LEN_PREFIX, Message};

fn io_error<M: Message>(source: std::io::Error) -> FrameError {
    FrameError::Io { message: M::NAME, source }
}

/// Bytes reserved for a frame body before any of it has arrived.
const FIRST_READ: usize = 64 * 1024;

/// Reads one frame. `Ok(None)` means the stream ended cleanly between frames.
///
/// At most `M::MAX_FRAME` bytes are buffered; a longer prefix is refused
/// before any body byte is read.
pub async fn read_frame<M, R>(reader: &mut R) -> Result<Option<M>, FrameError>
where
    M: Message,
    R: AsyncRead + Unpin + ?Sized,
{
    let mut prefix = [0u8; LEN_PREFIX];
    let mut got = 0;
    while got < LEN_PREFIX {
        let n = reader.read(&mut prefix[got..]).await.map_err(io_error::<M>)?;
        if n == 0 {
            return if got == 0 {
                Ok(None)
            } else {
                Err(FrameError::Truncated { message: M::NAME, expected: LEN_PREFIX, got })
            };
        }
        got += n;
    }
    let len = frame::body_len::<M>(prefix)?;
    // The buffer grows with the bytes that really arrive, so a length
    // prefix alone reserves nothing.
    let mut body = Vec::with_capacity(len.min(FIRST_READ));
    let got = (&mut *reader).take(len as u64).read_to_end(&mut body).await.map_err(io_error::<M>)?;
    if got < len {
        return Err(FrameError::Truncated { message: M::NAME, expected: LEN_PREFIX + len, got: LEN_PREFIX + got });
    }
    frame::decode_body(&body).map(Some)
}

/// Reads frames until the stream ends, handing each (or why it was
/// refused) to `deliver`, which returns `false` to stop. A whole frame that
/// is too large or does not decode leaves the stream in step: it is handed
/// on as an error and the next frame is read. A stream that broke off
/// mid-frame ends the loop after its error.
pub async fn forward_frames<M, R>(reader: &mut R, mut deliver: impl FnMut(Result<M, FrameError>) -> bool)
where
    M: Message,
    R: AsyncRead + Unpin + ?Sized,
{
    loop {
        let error = match read_frame::<M, R>(reader).await {
            Ok(Some(frame)) => {
                if deliver(Ok(frame)) {
                    continue;
                }
                return;
            }
            Ok(None) => return,
            Err(e) => e,
        };
        let in_step = match &error {
            FrameError::TooLarge { len, .. } => {
                let mut body = (&mut *reader).take(*len);
                tokio::io::copy(&mut body, &mut tokio::io::sink()).await.is_ok_and(|n| n == *len)
            }
            FrameError::Malformed { .. } | FrameError::UnknownVariant { .. } | FrameError::TrailingBytes { .. } => true,
            _ => false,
        };
        if !deliver(Err(error)) || !in_step {
            return;
        }
    }
}

/// Writes one frame and flushes it.
pub async fn write_frame<M, W>(writer: &mut W, msg: &M) -> Result<(), FrameError>
where
    M: Message,
    W: AsyncWrite + Unpin + ?Sized,
{
    let bytes = frame::encode(msg)?;
    writer.write_all(&bytes).await.map_err(io_error::<M>)?;
    writer.flush().await.map_err(io_error::<M>)
}
