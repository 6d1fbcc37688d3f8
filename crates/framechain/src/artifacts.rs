//! Where the engine's code comes from: reading stage files with bounds,
//! deciding whether a precompiled (native) file may be loaded, and the
//! authenticated cache of compiled components.
//!
//! A precompiled wasmtime artifact is machine code that wasmtime maps and
//! runs as it is: `Component::deserialize` cannot check it, so loading one is
//! the same as running a native program in the host process. A stage named
//! by a launch line, a pipeline file or the CLI is untrusted, so the engine
//! only ever compiles wasm from such places, and deserializes only what an
//! operator said to trust ([`TrustedPrecompiled`]) or what this installation
//! compiled and signed itself ([`Cache`]).

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Precompiled code an operator decided to trust (see
/// [`crate::EngineConfig::trusted_precompiled`]). Everything else that is
/// precompiled is refused; wasm components are loaded from anywhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrustedPrecompiled {
    /// Precompiled files inside this folder, at any depth, judged after every
    /// symlink of the file's path and of the folder's is resolved. Only a
    /// folder that nobody but the operator can write to is worth trusting.
    Folder(PathBuf),
    /// A precompiled file with exactly this content (SHA-256), wherever it
    /// lies: for code the embedder compiled or received itself, as the
    /// containerd shim does with the layers its own compiler produced.
    Sha256([u8; 32]),
}

impl TrustedPrecompiled {
    /// Trusts precompiled code with exactly this content.
    pub fn content(bytes: &[u8]) -> TrustedPrecompiled {
        TrustedPrecompiled::Sha256(Sha256::digest(bytes).into())
    }
}

/// Default of [`crate::EngineConfig::max_component_bytes`]: the shipped
/// stages are 3-4 MB, so 64 MiB leaves room for much larger stages while a
/// stage path such as `/dev/zero` or a huge file cannot fill the host's
/// memory.
pub const DEFAULT_MAX_COMPONENT_BYTES: usize = 64 << 20;

/// A stage file as read: its bytes, and which file they came from.
pub(crate) struct StageFile {
    pub bytes: Vec<u8>,
    /// Device and inode of the file that was read, to tell that a path
    /// resolved later still names the same file.
    identity: (u64, u64),
}

impl StageFile {
    /// wasmtime's precompiled artifacts are ELF files; components start
    /// with `\0asm`.
    pub fn is_precompiled(&self) -> bool {
        self.bytes.starts_with(b"\x7fELF")
    }
}

/// Reads a stage component file: a regular file (after following
/// symlinks) of at most `max_bytes`. Anything else (a device such as
/// `/dev/zero`, a FIFO, a folder, a huge file) is refused before it is
/// read, with one line saying why.
pub(crate) fn read_stage_file(path: &Path, max_bytes: usize) -> Result<StageFile> {
    let error = |source: std::io::Error| Error::ReadComponent {
        path: path.to_owned(),
        source,
    };
    // Non-blocking open: opening a FIFO for reading would otherwise wait for
    // a writer forever. Regular files ignore the flag.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(error)?;
    let metadata = file.metadata().map_err(error)?;
    if !metadata.is_file() {
        return Err(error(std::io::Error::other(format!(
            "not a regular file (a {})",
            file_kind(&metadata)
        ))));
    }
    let too_large = || {
        error(std::io::Error::other(format!(
            "larger than the {} MiB limit for stage components (EngineConfig::max_component_bytes)",
            max_bytes >> 20
        )))
    };
    if metadata.len() > max_bytes as u64 {
        return Err(too_large());
    }
    // The file may grow after the size check: never read more than the cap.
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(max_bytes as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(error)?;
    if bytes.len() > max_bytes {
        return Err(too_large());
    }
    Ok(StageFile {
        bytes,
        identity: (metadata.dev(), metadata.ino()),
    })
}

/// What a file that is not a regular file is, in the words a refusal
/// uses: "folder", "character device", "block device", "FIFO", "socket" or
/// "special file". Shared by every reader that takes only regular files
/// (stage files here, the CLI's `package` inputs).
pub fn file_kind(metadata: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let kind = metadata.file_type();
    if kind.is_dir() {
        "folder"
    } else if kind.is_char_device() {
        "character device"
    } else if kind.is_block_device() {
        "block device"
    } else if kind.is_fifo() {
        "FIFO"
    } else if kind.is_socket() {
        "socket"
    } else {
        "special file"
    }
}

/// Whether the operator trusts this precompiled file: its content is one
/// they named, or the file really lies in a folder they named.
pub(crate) fn is_trusted(path: &Path, file: &StageFile, trusted: &[TrustedPrecompiled]) -> bool {
    let mut digest = None;
    let mut real_path = None;
    trusted.iter().any(|rule| match rule {
        TrustedPrecompiled::Sha256(expected) => {
            let digest =
                digest.get_or_insert_with(|| <[u8; 32]>::from(Sha256::digest(&file.bytes)));
            digest == expected
        }
        TrustedPrecompiled::Folder(folder) => {
            let real = real_path.get_or_insert_with(|| real_path_of(path, file));
            match (real, std::fs::canonicalize(folder)) {
                (Some(real), Ok(folder)) => real.starts_with(folder),
                _ => false,
            }
        }
    })
}

/// The path of the file that was read with every symlink resolved, or
/// `None` when the path now names another file (it was swapped between
/// reading and checking, so the check would not be about the bytes read).
fn real_path_of(path: &Path, file: &StageFile) -> Option<PathBuf> {
    let real = std::fs::canonicalize(path).ok()?;
    let metadata = std::fs::metadata(&real).ok()?;
    ((metadata.dev(), metadata.ino()) == file.identity).then_some(real)
}

/// The engine's cache of compiled components, authenticated: each file
/// carries an HMAC-SHA256 over its name and content, with a random key kept
/// in the folder (mode 0600) and created on first use. A file someone else
/// planted or changed, or a genuine one copied to another name (another
/// stage's code), fails the check and is compiled again, never run.
pub(crate) struct Cache {
    dir: PathBuf,
    key: [u8; 32],
}

/// The key's file name inside the cache folder.
const KEY_FILE: &str = "cache-key";
/// What every cache file starts with, followed by the tag and the artifact.
const MAGIC: &[u8; 16] = b"framechain-cc-v1";
const TAG_BYTES: usize = 32;

impl Cache {
    /// Opens (creating if needed) the cache folder and its key. `None`,
    /// with a warning logged once per folder, when the folder or the key
    /// cannot be trusted or made: the engine then compiles without caching.
    pub fn open(dir: &Path) -> Option<Cache> {
        match Cache::try_open(dir) {
            Ok(cache) => Some(cache),
            Err(reason) => {
                static WARNED: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);
                let mut warned = WARNED.lock().unwrap_or_else(|poison| poison.into_inner());
                if warned
                    .get_or_insert_with(HashSet::new)
                    .insert(dir.to_owned())
                {
                    log::warn!(
                        "not caching compiled stages in {}: {reason}; stages are compiled at every start",
                        dir.display()
                    );
                }
                None
            }
        }
    }

    fn try_open(dir: &Path) -> Result<Cache, String> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|error| format!("cannot create it ({error})"))?;
        // Anyone who can write to the folder could swap the key file's
        // directory entry or fill it; only a private folder is used.
        let metadata = std::fs::metadata(dir).map_err(|error| error.to_string())?;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if metadata.uid() != me {
            return Err(format!(
                "it is owned by user {}, not by the current user {me}",
                metadata.uid()
            ));
        }
        if metadata.mode() & 0o022 != 0 {
            return Err(format!(
                "it is writable by others (mode {:o}; chmod go-w it)",
                metadata.mode() & 0o777
            ));
        }
        let key = read_or_create_key(&dir.join(KEY_FILE), me)?;
        Ok(Cache {
            dir: dir.to_owned(),
            key,
        })
    }

    /// The compiled artifact stored under `name`, if it is there and its
    /// tag proves this installation wrote it under that name.
    pub fn load(&self, name: &str, max_bytes: usize) -> Option<Vec<u8>> {
        let file = read_stage_file(&self.dir.join(name), max_bytes).ok()?;
        let (header, rest) = file.bytes.split_at_checked(MAGIC.len())?;
        let (tag, artifact) = rest.split_at_checked(TAG_BYTES)?;
        let expected = hmac_sha256(&self.key, &[name.as_bytes(), &[0], artifact]);
        (header == MAGIC && constant_time_eq(tag, &expected)).then(|| artifact.to_vec())
    }

    /// Stores an artifact under `name`, signed. Failing to write is not an
    /// error: the cache only saves time.
    pub fn store(&self, name: &str, artifact: &[u8]) {
        let tag = hmac_sha256(&self.key, &[name.as_bytes(), &[0], artifact]);
        let partial = self.dir.join(unique_name(name));
        let written = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&partial)
            .and_then(|mut file| {
                file.write_all(MAGIC)?;
                file.write_all(&tag)?;
                file.write_all(artifact)
            });
        if written.is_err() || std::fs::rename(&partial, self.dir.join(name)).is_err() {
            let _ = std::fs::remove_file(&partial);
        }
    }
}

/// A temporary name no other process or thread uses at the same time.
fn unique_name(name: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "{name}.{}.{}.partial",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Reads the cache key, or makes a new random one. The key file must be a
/// regular file (not a symlink) of the current user that nobody else can
/// read or write, or the cache is not used.
fn read_or_create_key(path: &Path, me: u32) -> Result<[u8; 32], String> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            fill_random(&mut key)?;
            // Written under a unique name and linked into place, so that a
            // concurrent process never reads a half-written key; whoever
            // links first wins and everyone uses that key.
            let temporary = path.with_file_name(unique_name(KEY_FILE));
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temporary)
                .and_then(|mut file| file.write_all(&key))
                .map_err(|error| format!("cannot write its key ({error})"))?;
            let linked = std::fs::hard_link(&temporary, path);
            let _ = std::fs::remove_file(&temporary);
            match linked {
                Ok(()) => return Ok(key),
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(error) => return Err(format!("cannot write its key ({error})")),
            }
        }
        Err(error) => return Err(format!("cannot read its key ({error})")),
    }
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|error| format!("cannot read its key {} ({error})", path.display()))?;
    let metadata = file.metadata().map_err(|error| error.to_string())?;
    if !metadata.is_file()
        || metadata.uid() != me
        || metadata.mode() & 0o077 != 0
        || metadata.len() != 32
    {
        return Err(format!(
            "its key {} is not a private 32-byte file of the current user (delete it to make a new one)",
            path.display()
        ));
    }
    let mut key = [0u8; 32];
    file.read_exact(&mut key)
        .map_err(|error| format!("cannot read its key ({error})"))?;
    Ok(key)
}

fn fill_random(buffer: &mut [u8]) -> Result<(), String> {
    File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(buffer))
        .map_err(|error| format!("cannot read /dev/urandom for its key ({error})"))
}

/// HMAC-SHA256 (RFC 2104) of the concatenated `parts`, for keys of at most
/// one SHA-256 block (64 bytes).
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    assert!(key.len() <= 64, "HMAC keys here are at most one block");
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(key);
    let mut inner = Sha256::new();
    inner.update(block.map(|byte| byte ^ 0x36));
    for part in parts {
        inner.update(part);
    }
    let mut outer = Sha256::new();
    outer.update(block.map(|byte| byte ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// Compares tags without stopping at the first difference, so the time
/// taken says nothing about how much of a forged tag was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test cases 1 and 2 of RFC 4231.
        assert_eq!(
            hex(&hmac_sha256(&[0x0b; 20], &[b"Hi ", b"There"])),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", &[b"what do ya want for nothing?"])),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn tags_differ_in_any_byte() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
