//! A stage's stderr: kept in memory, only to explain a trap.
//!
//! A Rust stage prints its panic message to stderr just before it traps,
//! so the host keeps the **last** [`STDERR_CAPACITY`] bytes a stage wrote
//! and drops older ones. Writing never fails and never waits: wasmtime's
//! own in-memory pipe refuses writes once full, which made Rust's `eprint!`
//! panic, so a stage that merely wrote 64 KB of diagnostics crashed, and a
//! later panic message was lost.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};
use wasmtime_wasi_io::bytes::Bytes;

/// Bytes of a stage's stderr the host keeps.
pub const STDERR_CAPACITY: usize = 64 * 1024;

/// The stderr of one stage instance. Clones share the same buffer.
#[derive(Clone, Default)]
pub(crate) struct StageStderr {
    kept: Arc<Mutex<Vec<u8>>>,
}

impl StageStderr {
    /// The bytes kept: the end of what the stage wrote.
    pub(crate) fn contents(&self) -> Vec<u8> {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        // A panic while holding the lock leaves a valid byte buffer.
        self.kept
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn keep(&self, bytes: &[u8]) {
        let mut kept = self.lock();
        let bytes = &bytes[bytes.len().saturating_sub(STDERR_CAPACITY)..];
        kept.extend_from_slice(bytes);
        // Trim in batches (at twice the capacity) so a stage writing byte
        // by byte does not make every write move 64 KiB.
        if kept.len() > 2 * STDERR_CAPACITY {
            let excess = kept.len() - STDERR_CAPACITY;
            kept.drain(..excess);
        }
    }
}

impl IsTerminal for StageStderr {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for StageStderr {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi_io::async_trait]
impl OutputStream for StageStderr {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.keep(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(STDERR_CAPACITY)
    }
}

#[wasmtime_wasi_io::async_trait]
impl Pollable for StageStderr {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for StageStderr {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.keep(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_end_and_never_refuses() {
        let stderr = StageStderr::default();
        let mut stream = stderr.p2_stream();
        for _ in 0..1000 {
            stream.write(Bytes::from(vec![b'x'; 1000])).unwrap();
        }
        stream
            .write(Bytes::from_static(b"panicked at the end"))
            .unwrap();
        let kept = stderr.contents();
        assert!(kept.len() <= 2 * STDERR_CAPACITY);
        assert!(kept.ends_with(b"panicked at the end"));
    }
}
