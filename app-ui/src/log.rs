//! The app's log file: the UI's own lines and its worker's stderr, in one
//! file rotated by size, so neither a long-running app nor a worker that
//! logs in a loop can fill the disk.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use file_rotate::compression::Compression;
use file_rotate::suffix::AppendCount;
use file_rotate::{ContentLimit, FileRotate};
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// A log file is rotated once it reaches this size.
pub const MAX_LOG_BYTES: usize = 4 * 1024 * 1024;
/// Rotated files kept beside the current one (`lanspread.log.1`, …).
pub const KEPT_LOGS: usize = 3;
/// A worker line longer than this is cut.
pub const MAX_WORKER_LINE: usize = 8 * 1024;

/// A shared writer into the rotating log file.
#[derive(Clone)]
pub struct LogSink {
    path: PathBuf,
    file: Arc<Mutex<FileRotate<AppendCount>>>,
}

impl std::fmt::Debug for LogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSink").field("path", &self.path).finish()
    }
}

impl LogSink {
    /// Opens (or creates) the log at `path`, creating its folder.
    pub fn open(path: &Path) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| lanspread_proto::path_error::annotate(dir, e))?;
        }
        let file = FileRotate::new(
            path,
            AppendCount::new(KEPT_LOGS),
            ContentLimit::BytesSurpassed(MAX_LOG_BYTES),
            Compression::None,
            None,
        );
        Ok(LogSink { path: path.to_owned(), file: Arc::new(Mutex::new(file)) })
    }

    /// The current log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Copies the lines `reader` gives (the worker's stderr) into the log
    /// until it ends, each cut to [`MAX_WORKER_LINE`] bytes.
    pub async fn copy_lines(&self, mut reader: impl AsyncBufRead + Unpin) {
        let mut line = Vec::new();
        loop {
            let buf = match reader.fill_buf().await {
                Ok([]) | Err(_) => break,
                Ok(buf) => buf,
            };
            let (take, ends) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            let room = MAX_WORKER_LINE.saturating_sub(line.len());
            line.extend_from_slice(&buf[..take.min(room)]);
            reader.consume(take);
            if ends {
                self.write_line(&mut line);
            }
        }
        if !line.is_empty() {
            self.write_line(&mut line);
        }
    }

    fn write_line(&self, line: &mut Vec<u8>) {
        if line.last() != Some(&b'\n') {
            line.push(b'\n');
        }
        let _ = self.clone().write_all(line);
        line.clear();
    }
}

impl Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.lock().unwrap_or_else(|p| p.into_inner()).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.lock().unwrap_or_else(|p| p.into_inner()).flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_flood_of_worker_lines_rotates_and_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let sink = LogSink::open(&dir.path().join("logs/lanspread.log")).unwrap();
        let mut flood = Vec::new();
        for i in 0..500_000 {
            flood.extend_from_slice(format!("WARN peer 10.0.0.{}: bad request number {i}\n", i % 250).as_bytes());
        }
        flood.extend(std::iter::repeat_n(b'x', 100_000));
        sink.copy_lines(flood.as_slice()).await;
        let mut files: Vec<(String, u64)> = std::fs::read_dir(dir.path().join("logs"))
            .unwrap()
            .map(|e| e.unwrap())
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.metadata().unwrap().len()))
            .collect();
        files.sort();
        assert_eq!(files.len(), KEPT_LOGS + 1, "{files:?}");
        assert!(files.iter().all(|(_, len)| *len <= (MAX_LOG_BYTES + MAX_WORKER_LINE + 1) as u64), "{files:?}");
        let current = std::fs::read_to_string(sink.path()).unwrap();
        let last = current.lines().last().unwrap();
        assert_eq!(last.len(), MAX_WORKER_LINE, "an endless line is cut");
    }
}
