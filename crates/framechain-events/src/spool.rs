//! The pod's spool: sealed records on its own disk, fsynced before the
//! caller is told they are kept, until Redis has them.
//!
//! A spool is a folder:
//!
//! - `seg-SEQ.log`: segment files of framed records, named by the `seq` of
//!   their first record (20 digits, so names sort as numbers). Only the
//!   last segment is appended to.
//! - `shipped`: the chain's id and the shipping cursor (the first `seq` not
//!   yet in Redis and the hash just before it), written atomically (temp
//!   file, fsync, rename, fsync of the folder).
//!
//! - `lock`: locked while a process has the spool open.
//!
//! A frame is `len: u32 LE | crc32(payload): u32 LE | payload`, and the
//! payload is `seq: u64 LE | id: 16 bytes | prev_hash: 64 | hash: 64 | body`.
//! The chain's head (next `seq`, last hash) is the last record on disk, or
//! the cursor when everything was shipped and dropped, so it continues
//! across restarts on the same folder without a write of its own.
//!
//! A crash in the middle of an append leaves a torn frame at the end of the
//! last segment: [`Spool::open`] cuts it off with a warning. That record was
//! never acknowledged (its fsync had not returned). A bad frame anywhere
//! else is [`SpoolError::Corrupt`]: records the pod promised to keep are
//! gone, and the operator must look.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::chain::{GENESIS, Sealed};

/// Largest payload of one frame. The event log cuts every text field to
/// [`crate::event::MAX_FIELD_CHARS`], so real records are a few hundred
/// bytes; a length past this in a frame header is damage, not a record.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;

/// Frame header: length and CRC32.
const FRAME_HEADER: usize = 8;
/// Payload bytes before the body: seq, id, prev hash, hash.
const PAYLOAD_HEADER: usize = 8 + 16 + 64 + 64;
/// Name of the cursor file.
const CURSOR_FILE: &str = "shipped";
/// Name the cursor is written under before it is renamed into place.
const CURSOR_TEMP: &str = "shipped.tmp";
/// Most bytes read from a segment at once when peeking.
const READ_CHUNK: u64 = 1024 * 1024;
/// The file whose lock says a process has the spool open.
const LOCK_FILE: &str = "lock";

/// Why the spool cannot do what was asked. Each prints as one line.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The record does not fit under the spool's bound until shipped
    /// records are dropped: the caller must fail closed.
    #[error(
        "event spool is full ({used} of {max} bytes used; {needed} more needed): is Redis reachable?"
    )]
    Full {
        /// Bytes the spool holds.
        used: u64,
        /// The spool's bound.
        max: u64,
        /// The frame that did not fit.
        needed: u64,
    },
    /// A record larger than [`MAX_RECORD_BYTES`].
    #[error(
        "event record of {bytes} bytes is larger than the spool's {MAX_RECORD_BYTES}-byte limit"
    )]
    TooLarge {
        /// The record's payload size.
        bytes: usize,
    },
    /// The disk said no.
    #[error("event spool: {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// Another process (or another [`Spool`] in this one) has the folder
    /// open: two pods must not share a spool folder.
    #[error("event spool {path} is in use by another process: each pod needs its own spool folder")]
    InUse {
        /// The lock file.
        path: PathBuf,
    },
    /// The spool's files are damaged where a crash cannot explain it.
    #[error("event spool is damaged: {path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong, one line.
        reason: String,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_owned(),
        source,
    }
}

fn corrupt(path: &Path, reason: impl Into<String>) -> SpoolError {
    SpoolError::Corrupt {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// One record as the spool keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpooledRecord {
    /// Position in the chain.
    pub seq: u64,
    /// The event's id.
    pub id: Uuid,
    /// Its body and links.
    pub sealed: Sealed,
}

/// Where the next unshipped record starts: a segment (by its first `seq`)
/// and a byte offset in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadPosition {
    /// The `seq` of the record found there.
    seq: u64,
    /// The first `seq` of the segment it is in.
    segment: u64,
    /// Byte offset in that segment.
    offset: u64,
}

/// Records not yet shipped, in order, and where the ones after them start.
#[derive(Debug)]
pub struct Batch {
    /// The records, oldest first.
    pub records: Vec<SpooledRecord>,
    /// Pass to [`Spool::mark_shipped`] once Redis has them all.
    pub end: ReadPosition,
}

/// The cursor file's content.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Cursor {
    /// The chain this folder's records belong to.
    chain: Uuid,
    /// First `seq` not yet shipped.
    next_seq: u64,
    /// Hash of the record before `next_seq` ([`GENESIS`] at 0).
    last_hash: String,
}

#[derive(Debug)]
struct Segment {
    first_seq: u64,
    path: PathBuf,
    len: u64,
    /// `seq` after its last record.
    end_seq: u64,
}

/// A bounded, fsynced, append-only spool of sealed records (see the
/// module's docs). Not shared by itself: [`crate::EventLog`] wraps it.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    cursor: Cursor,
    /// Where `cursor.next_seq` is on disk.
    read_at: ReadPosition,
    next_seq: u64,
    last_hash: String,
    segments: VecDeque<Segment>,
    /// The last segment, open for appending.
    active: Option<File>,
    bytes: u64,
    /// Set when a failed append could not be undone: the file may end in a
    /// torn frame that later appends would bury, so none are taken until
    /// the spool is opened again (which cuts it off).
    broken: Option<String>,
    /// Held (locked) while the spool is open, so a second process on the
    /// same folder cannot interleave its records into this chain.
    _lock: File,
}

impl Spool {
    /// Opens the spool in `dir` (made when missing; a new chain when it holds
    /// no spool), holding at most `max_bytes` of records. Cuts off a torn
    /// last record with a warning; drops segments shipped before a crash.
    ///
    /// # Errors
    /// [`SpoolError::Io`] when the folder cannot be read or written,
    /// [`SpoolError::InUse`] when another spool has it open,
    /// [`SpoolError::Corrupt`] when records other than a torn tail are
    /// damaged or missing.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Spool, SpoolError> {
        fs::create_dir_all(dir).map_err(io_error(dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_error(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(SpoolError::InUse { path: lock_path }),
            Err(fs::TryLockError::Error(error)) => return Err(io_error(&lock_path)(error)),
        }
        let _ = fs::remove_file(dir.join(CURSOR_TEMP));
        let mut segment_paths = list_segments(dir)?;
        let cursor_path = dir.join(CURSOR_FILE);
        let cursor = match fs::read(&cursor_path) {
            Ok(bytes) => serde_json::from_slice::<Cursor>(&bytes).map_err(|error| {
                corrupt(
                    &cursor_path,
                    framechain_text::untrusted(&error.to_string(), 200),
                )
            })?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                if !segment_paths.is_empty() {
                    return Err(corrupt(&cursor_path, "missing while segments are present"));
                }
                let cursor = Cursor {
                    chain: Uuid::now_v7(),
                    next_seq: 0,
                    last_hash: GENESIS.to_owned(),
                };
                write_cursor(dir, &cursor)?;
                cursor
            }
            Err(error) => return Err(io_error(&cursor_path)(error)),
        };
        if cursor.last_hash.len() != 64 {
            return Err(corrupt(
                &cursor_path,
                "last_hash is not a SHA-256 hex digest",
            ));
        }

        let mut spool = Spool {
            dir: dir.to_owned(),
            max_bytes,
            segment_bytes: (max_bytes / 8).clamp(1024, 8 * 1024 * 1024),
            read_at: ReadPosition {
                seq: cursor.next_seq,
                segment: cursor.next_seq,
                offset: 0,
            },
            next_seq: cursor.next_seq,
            last_hash: cursor.last_hash.clone(),
            cursor,
            segments: VecDeque::new(),
            active: None,
            bytes: 0,
            broken: None,
            _lock: lock,
        };

        let last_index = segment_paths.len().saturating_sub(1);
        // The seq and hash the next record on disk must have; known once
        // the first segment's first record is read.
        let mut expected: Option<(u64, String)> = None;
        for (index, (first_seq, path)) in segment_paths.drain(..).enumerate() {
            let scan = scan_segment(&path, first_seq, index == last_index)?;
            if let Some(first) = scan.records.first() {
                if let Some((seq, prev)) = &expected {
                    if first.seq != *seq || first.prev_hash != *prev {
                        return Err(corrupt(
                            &path,
                            format!("starts at seq {} but seq {seq} was expected", first.seq),
                        ));
                    }
                } else if first.seq > spool.cursor.next_seq {
                    return Err(corrupt(
                        &path,
                        format!(
                            "records {}..{} were never shipped and are gone",
                            spool.cursor.next_seq, first.seq
                        ),
                    ));
                }
            }
            let Some(last) = scan.records.last() else {
                // An empty segment (its only record torn off): nothing to keep.
                fs::remove_file(&path).map_err(io_error(&path))?;
                continue;
            };
            let end_seq = last.seq + 1;
            expected = Some((end_seq, last.hash.clone()));
            if end_seq <= spool.cursor.next_seq {
                // Shipped, but the crash came before it was dropped.
                fs::remove_file(&path).map_err(io_error(&path))?;
                continue;
            }
            for record in &scan.records {
                if record.seq == spool.cursor.next_seq {
                    if record.prev_hash != spool.cursor.last_hash {
                        return Err(corrupt(
                            &path,
                            format!(
                                "seq {} does not follow the shipped cursor's hash",
                                record.seq
                            ),
                        ));
                    }
                    spool.read_at = ReadPosition {
                        seq: record.seq,
                        segment: first_seq,
                        offset: record.offset,
                    };
                }
            }
            spool.next_seq = end_seq;
            spool.last_hash = last.hash.clone();
            spool.bytes += scan.len;
            spool.segments.push_back(Segment {
                first_seq,
                path,
                len: scan.len,
                end_seq,
            });
        }
        sync_dir(dir)?;
        Ok(spool)
    }

    /// The chain this folder's records belong to.
    pub fn chain(&self) -> Uuid {
        self.cursor.chain
    }

    /// The `seq` the next record gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The hash of the last record ([`GENESIS`] before the first).
    pub fn last_hash(&self) -> &str {
        &self.last_hash
    }

    /// Records kept but not yet shipped.
    pub fn pending(&self) -> u64 {
        self.next_seq - self.cursor.next_seq
    }

    /// Bytes the segment files take.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Bytes still free under the bound.
    pub fn capacity_left(&self) -> u64 {
        self.max_bytes.saturating_sub(self.bytes)
    }

    /// Appends the record `seq` = [`next_seq`](Self::next_seq), sealed after
    /// [`last_hash`](Self::last_hash), and fsyncs it before returning.
    ///
    /// # Errors
    /// [`SpoolError::Full`] when it does not fit, [`SpoolError::TooLarge`],
    /// [`SpoolError::Io`] when it could not be written (nothing is kept
    /// then).
    ///
    /// # Panics
    /// When `sealed` does not follow the chain's head: the event log
    /// always seals after [`last_hash`](Self::last_hash).
    pub fn append(&mut self, id: Uuid, sealed: &Sealed) -> Result<(), SpoolError> {
        assert_eq!(sealed.prev_hash, self.last_hash, "sealed after the head");
        if let Some(reason) = &self.broken {
            return Err(SpoolError::Io {
                path: self.dir.clone(),
                source: std::io::Error::other(reason.clone()),
            });
        }
        let payload_len = PAYLOAD_HEADER + sealed.body.len();
        if payload_len > MAX_RECORD_BYTES {
            return Err(SpoolError::TooLarge { bytes: payload_len });
        }
        let frame_len = (FRAME_HEADER + payload_len) as u64;
        if self.bytes + frame_len > self.max_bytes {
            return Err(SpoolError::Full {
                used: self.bytes,
                max: self.max_bytes,
                needed: frame_len,
            });
        }
        let frame = encode_frame(self.next_seq, id, sealed);

        let rolls = match self.segments.back() {
            Some(segment) => self.active.is_none() || segment.len >= self.segment_bytes,
            None => true,
        };
        if rolls {
            self.start_segment()?;
        }
        let segment = self.segments.back_mut().expect("a segment was just made");
        let file = self.active.as_mut().expect("the last segment is open");
        let written = file
            .write_all(&frame)
            .and_then(|()| file.sync_data())
            .map_err(io_error(&segment.path));
        if let Err(error) = written {
            // Undo the partial frame so the next append does not bury it.
            if let Err(undo) = file.set_len(segment.len).and_then(|()| file.sync_data()) {
                self.broken = Some(format!(
                    "an append failed and could not be undone ({undo}); reopen the spool"
                ));
            }
            return Err(error);
        }
        segment.len += frame_len;
        segment.end_seq = self.next_seq + 1;
        self.bytes += frame_len;
        self.next_seq += 1;
        self.last_hash.clone_from(&sealed.hash);
        Ok(())
    }

    fn start_segment(&mut self) -> Result<(), SpoolError> {
        let path = self.dir.join(segment_name(self.next_seq));
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(io_error(&path))?;
        sync_dir(&self.dir)?;
        self.segments.push_back(Segment {
            first_seq: self.next_seq,
            path,
            len: 0,
            end_seq: self.next_seq,
        });
        self.active = Some(file);
        Ok(())
    }

    /// Up to `max` records not yet shipped, oldest first, read from disk.
    /// Reading does not move the cursor: the same records come again until
    /// [`mark_shipped`](Self::mark_shipped).
    ///
    /// # Errors
    /// [`SpoolError::Io`] or [`SpoolError::Corrupt`] when a segment cannot
    /// be read back.
    pub fn peek(&self, max: usize) -> Result<Batch, SpoolError> {
        let mut records = Vec::new();
        let mut at = self.read_at;
        let mut index = self
            .segments
            .iter()
            .position(|segment| segment.first_seq == at.segment)
            .or_else(|| {
                // The segment the cursor was in was dropped (all of it
                // shipped); the next record starts a later one.
                at.offset = 0;
                self.segments
                    .iter()
                    .position(|segment| segment.first_seq == at.seq)
                    .inspect(|index| at.segment = self.segments[*index].first_seq)
            });
        while let Some(i) = index {
            if records.len() >= max {
                break;
            }
            let segment = &self.segments[i];
            if at.offset >= segment.len {
                index = (i + 1 < self.segments.len()).then_some(i + 1);
                if let Some(next) = index {
                    at = ReadPosition {
                        seq: at.seq,
                        segment: self.segments[next].first_seq,
                        offset: 0,
                    };
                }
                continue;
            }
            let want = (segment.len - at.offset).min(READ_CHUNK);
            let mut buf = vec![0; want as usize];
            let mut file = File::open(&segment.path).map_err(io_error(&segment.path))?;
            file.seek(SeekFrom::Start(at.offset))
                .and_then(|_| file.read_exact(&mut buf))
                .map_err(io_error(&segment.path))?;
            let mut used = 0usize;
            while records.len() < max {
                match decode_frame(&buf[used..]) {
                    Frame::Record(record, len) => {
                        if record.seq != at.seq {
                            return Err(corrupt(
                                &segment.path,
                                format!("seq {} where {} was expected", record.seq, at.seq),
                            ));
                        }
                        records.push(record);
                        used += len;
                        at.seq += 1;
                    }
                    // The chunk ended inside a frame: read on from there.
                    Frame::Incomplete => break,
                    Frame::Bad { reason, .. } => {
                        return Err(corrupt(
                            &segment.path,
                            format!("offset {}: {reason}", at.offset + used as u64),
                        ));
                    }
                }
            }
            if used == 0 && records.len() < max {
                // Appends end on frame boundaries and a frame is smaller
                // than a chunk: the file changed under the spool.
                return Err(corrupt(
                    &segment.path,
                    format!("offset {}: a frame runs past the segment's end", at.offset),
                ));
            }
            at.offset += used as u64;
        }
        Ok(Batch { records, end: at })
    }

    /// Records everything before `end` as shipped: writes the cursor
    /// atomically, then drops segments all of whose records are shipped
    /// (the space counts as free from then on).
    ///
    /// # Errors
    /// [`SpoolError::Io`] when the cursor cannot be written (the records
    /// will be shipped again) or a segment cannot be removed.
    pub fn mark_shipped(&mut self, end: ReadPosition, last_hash: &str) -> Result<(), SpoolError> {
        if end.seq <= self.cursor.next_seq {
            return Ok(());
        }
        let cursor = Cursor {
            chain: self.cursor.chain,
            next_seq: end.seq,
            last_hash: last_hash.to_owned(),
        };
        write_cursor(&self.dir, &cursor)?;
        self.cursor = cursor;
        self.read_at = end;
        while let Some(segment) = self.segments.front() {
            if segment.end_seq > self.cursor.next_seq {
                break;
            }
            if self.segments.len() == 1 {
                self.active = None;
            }
            let segment = self.segments.pop_front().expect("front exists");
            fs::remove_file(&segment.path).map_err(io_error(&segment.path))?;
            self.bytes -= segment.len;
        }
        Ok(())
    }
}

fn segment_name(first_seq: u64) -> String {
    format!("seg-{first_seq:020}.log")
}

fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, SpoolError> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(seq) = name
            .strip_prefix("seg-")
            .and_then(|rest| rest.strip_suffix(".log"))
        else {
            continue;
        };
        let first_seq = seq
            .parse::<u64>()
            .map_err(|_| corrupt(&entry.path(), "segment name is not seg-NUMBER.log"))?;
        found.push((first_seq, entry.path()));
    }
    found.sort();
    Ok(found)
}

fn write_cursor(dir: &Path, cursor: &Cursor) -> Result<(), SpoolError> {
    let temp = dir.join(CURSOR_TEMP);
    let json = serde_json::to_vec(cursor).expect("a cursor serialises");
    let mut file = File::create(&temp).map_err(io_error(&temp))?;
    file.write_all(&json)
        .and_then(|()| file.sync_all())
        .map_err(io_error(&temp))?;
    drop(file);
    let path = dir.join(CURSOR_FILE);
    fs::rename(&temp, &path).map_err(io_error(&path))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir)
        .and_then(|folder| folder.sync_all())
        .map_err(io_error(dir))
}

fn encode_frame(seq: u64, id: Uuid, sealed: &Sealed) -> Vec<u8> {
    let mut payload = Vec::with_capacity(PAYLOAD_HEADER + sealed.body.len());
    payload.extend_from_slice(&seq.to_le_bytes());
    payload.extend_from_slice(id.as_bytes());
    payload.extend_from_slice(sealed.prev_hash.as_bytes());
    payload.extend_from_slice(sealed.hash.as_bytes());
    payload.extend_from_slice(sealed.body.as_bytes());
    let mut frame = Vec::with_capacity(FRAME_HEADER + payload.len());
    frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    frame.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    frame.extend_from_slice(&payload);
    frame
}

enum Frame {
    /// A whole, intact record and the frame's length.
    Record(SpooledRecord, usize),
    /// The bytes end inside a frame.
    Incomplete,
    /// A frame that cannot be a record, and its whole length when its
    /// header was believable.
    Bad {
        reason: String,
        frame_len: Option<usize>,
    },
}

fn decode_frame(bytes: &[u8]) -> Frame {
    if bytes.len() < FRAME_HEADER {
        return Frame::Incomplete;
    }
    let len = u32::from_le_bytes(bytes[0..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes"));
    if !(PAYLOAD_HEADER..=MAX_RECORD_BYTES).contains(&len) {
        return Frame::Bad {
            reason: format!("frame length {len} is out of bounds"),
            frame_len: None,
        };
    }
    let Some(payload) = bytes.get(FRAME_HEADER..FRAME_HEADER + len) else {
        return Frame::Incomplete;
    };
    if crc32fast::hash(payload) != crc {
        return Frame::Bad {
            reason: "CRC mismatch".to_owned(),
            frame_len: Some(FRAME_HEADER + len),
        };
    }
    let seq = u64::from_le_bytes(payload[0..8].try_into().expect("8 bytes"));
    let id = Uuid::from_bytes(payload[8..24].try_into().expect("16 bytes"));
    let text = |range: std::ops::Range<usize>| std::str::from_utf8(&payload[range]).ok();
    let (Some(prev_hash), Some(hash), Some(body)) = (
        text(24..88),
        text(88..152),
        text(PAYLOAD_HEADER..payload.len()),
    ) else {
        return Frame::Bad {
            reason: "text that is not UTF-8".to_owned(),
            frame_len: Some(FRAME_HEADER + len),
        };
    };
    Frame::Record(
        SpooledRecord {
            seq,
            id,
            sealed: Sealed {
                body: body.to_owned(),
                prev_hash: prev_hash.to_owned(),
                hash: hash.to_owned(),
            },
        },
        FRAME_HEADER + len,
    )
}

/// A record found by [`scan_segment`]: what `open` checks and keeps.
struct Scanned {
    seq: u64,
    offset: u64,
    prev_hash: String,
    hash: String,
}

struct Scan {
    records: Vec<Scanned>,
    /// Length of the good part (the file's length after a cut).
    len: u64,
}

/// Reads a whole segment and checks every frame, its CRC, its hash link
/// and its `seq`. In the last segment, a torn last frame is cut off.
///
/// Appends are one frame each, fsynced before the next begins, so a crash
/// can tear only the file's last frame: bytes too few for the frame its
/// header announces, or exactly its length with content that fails the
/// CRC. A bad frame with more bytes after it, or a whole frame that breaks
/// the chain, is damage, never cut.
fn scan_segment(path: &Path, first_seq: u64, is_last: bool) -> Result<Scan, SpoolError> {
    let bytes = fs::read(path).map_err(io_error(path))?;
    let mut records: Vec<Scanned> = Vec::new();
    let mut offset = 0usize;
    let bad = loop {
        if offset == bytes.len() {
            break None;
        }
        let left = bytes.len() - offset;
        let (reason, torn) = match decode_frame(&bytes[offset..]) {
            Frame::Record(record, len) => {
                let expected_seq = first_seq + records.len() as u64;
                let follows = records
                    .last()
                    .is_none_or(|before| before.hash == record.sealed.prev_hash);
                if record.seq != expected_seq {
                    let reason = format!("seq {} where {expected_seq} was expected", record.seq);
                    (reason, false)
                } else if !follows || !record.sealed.is_intact() {
                    (format!("seq {} breaks the hash chain", record.seq), false)
                } else {
                    records.push(Scanned {
                        seq: record.seq,
                        offset: offset as u64,
                        prev_hash: record.sealed.prev_hash,
                        hash: record.sealed.hash,
                    });
                    offset += len;
                    continue;
                }
            }
            Frame::Incomplete => ("a frame cut short".to_owned(), true),
            Frame::Bad {
                reason,
                frame_len: Some(len),
            } => (reason, left == len),
            Frame::Bad {
                reason,
                frame_len: None,
            } => (reason, left < FRAME_HEADER + MAX_RECORD_BYTES),
        };
        break Some((reason, torn));
    };
    if let Some((reason, torn)) = bad {
        if !(is_last && torn) {
            return Err(corrupt(path, format!("offset {offset}: {reason}")));
        }
        log::warn!(
            "event spool: {}: cut off {} bytes at offset {offset} after a crash ({reason}); that record was never acknowledged",
            path.display(),
            bytes.len() - offset
        );
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io_error(path))?;
        file.set_len(offset as u64)
            .and_then(|()| file.sync_all())
            .map_err(io_error(path))?;
    }
    Ok(Scan {
        records,
        len: offset as u64,
    })
}
