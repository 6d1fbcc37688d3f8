//! Reading the files the tools are given (`package`'s pipeline file, its
//! stage files and `--add` files) under the same rules as `run`: a regular
//! file, at most a cap, read once. A path naming a device (`/dev/zero`), a
//! FIFO, a folder or a huge (even sparse) file is refused with one line
//! naming the file and the cap, before anything is read and without ever
//! blocking on a FIFO.

use std::fmt;
use std::fs::{Metadata, OpenOptions};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Why a file was not read. `what` says which kind of file it was meant to
/// be ("pipeline file", "stage file", "--add file"), so the one line a user
/// sees names the rule it broke.
#[derive(Debug)]
pub enum ReadError {
    /// It could not be opened or read (missing, no permission, ...).
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// It is a device, a FIFO, a socket or a folder.
    NotRegular {
        what: &'static str,
        path: PathBuf,
        kind: &'static str,
        cap: u64,
    },
    /// It is (or grew while it was read to) more than `cap` bytes.
    /// `size` is what its metadata said, if that was already too large.
    TooLarge {
        what: &'static str,
        path: PathBuf,
        size: Option<u64>,
        cap: u64,
    },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io { what, path, source } => {
                write!(f, "cannot read {what} {}: {source}", path.display())
            }
            ReadError::NotRegular {
                what,
                path,
                kind,
                cap,
            } => write!(
                f,
                "refusing {what} {}: it is a {kind}, not a regular file (a {what} must be a regular file of at most {})",
                path.display(),
                size_text(*cap)
            ),
            ReadError::TooLarge {
                what,
                path,
                size,
                cap,
            } => {
                let size = size
                    .map(|size| format!("{size} bytes"))
                    .unwrap_or_else(|| "more than that".to_owned());
                write!(
                    f,
                    "refusing {what} {}: it is {size}, over the limit of {} for a {what}",
                    path.display(),
                    size_text(*cap)
                )
            }
        }
    }
}

impl std::error::Error for ReadError {}

/// `cap` as people read it: `1 MiB (1048576 bytes)`.
pub fn size_text(cap: u64) -> String {
    if cap >= 1 << 20 && cap.is_multiple_of(1 << 20) {
        format!("{} MiB ({cap} bytes)", cap >> 20)
    } else {
        format!("{cap} bytes")
    }
}

/// The bytes of `path`, which must be a regular file (after following
/// symlinks) of at most `cap` bytes.
pub fn read_regular(path: &Path, what: &'static str, cap: u64) -> Result<Vec<u8>, ReadError> {
    let io = |source: std::io::Error| ReadError::Io {
        what,
        path: path.to_owned(),
        source,
    };
    let check = |metadata: &Metadata| -> Result<(), ReadError> {
        if !metadata.is_file() {
            return Err(ReadError::NotRegular {
                what,
                path: path.to_owned(),
                kind: framechain::file_kind(metadata),
                cap,
            });
        }
        if metadata.len() > cap {
            return Err(ReadError::TooLarge {
                what,
                path: path.to_owned(),
                size: Some(metadata.len()),
                cap,
            });
        }
        Ok(())
    };
    // Judged before opening: opening some devices has effects of its own,
    // and a FIFO opened for reading waits for a writer.
    check(&std::fs::metadata(path).map_err(io)?)?;
    // The path may name something else by now: never block on open (a FIFO
    // opened with O_NONBLOCK returns at once; regular files ignore the
    // flag), never take a terminal, and judge what was opened.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(io)?;
    let metadata = file.metadata().map_err(io)?;
    check(&metadata)?;
    // The file may grow while it is read: never read more than the cap.
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > cap {
        return Err(ReadError::TooLarge {
            what,
            path: path.to_owned(),
            size: None,
            cap,
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_are_shown_in_mib_when_whole() {
        assert_eq!(size_text(1 << 20), "1 MiB (1048576 bytes)");
        assert_eq!(size_text(1000), "1000 bytes");
    }

    #[test]
    fn a_device_is_refused_without_reading() {
        let error = read_regular(Path::new("/dev/zero"), "pipeline file", 1 << 20).unwrap_err();
        assert!(
            matches!(
                error,
                ReadError::NotRegular {
                    kind: "character device",
                    ..
                }
            ),
            "{error}"
        );
    }
}
