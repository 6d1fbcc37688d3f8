//! The in-memory transport under OpenSSL: one `read` is one received
//! datagram, one `write` one datagram to send. str0m owns the socket.

use std::collections::VecDeque;
use std::io;

/// Datagrams between str0m and OpenSSL.
#[derive(Debug, Default)]
pub(crate) struct Datagrams {
    /// Received, not yet read by OpenSSL (at most one at a time: each is
    /// handed over and processed at once).
    pub(crate) incoming: VecDeque<Vec<u8>>,
    /// Written by OpenSSL, not yet polled by str0m.
    pub(crate) outgoing: VecDeque<Vec<u8>>,
}

impl io::Read for Datagrams {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(datagram) = self.incoming.pop_front() else {
            // OpenSSL takes this as "retry when more arrives".
            return Err(io::ErrorKind::WouldBlock.into());
        };
        // OpenSSL reads with a buffer for the largest record; a longer
        // datagram is cut, and its records then fail their checks.
        let length = datagram.len().min(buf.len());
        buf[..length].copy_from_slice(&datagram[..length]);
        Ok(length)
    }
}

impl io::Write for Datagrams {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.outgoing.push_back(buf.to_vec());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
