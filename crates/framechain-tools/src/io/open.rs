//! Opening the byte streams a front end reads from and writes to, named as
//! a person types them: `-` for the process's standard input or output,
//! anything else a path. The CLI and the containerd shim both open their
//! inputs and outputs here, so they accept the same names and fail with the
//! same one-line errors.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};

use super::IoError;

/// The name that means the process's standard input (as a source) or
/// standard output (as a sink).
pub const STDIO: &str = "-";

/// Buffer size of every source and sink: large reads and writes keep
/// syscalls off the per-frame cost of 3 MB pictures.
pub const IO_BUFFER: usize = 1 << 20;

/// Opens `path` for reading: `-` is standard input, anything else a file
/// (or a named pipe or device, such as `/dev/stdin`). A directory, a missing
/// file or one this process may not read fails with one line, `cannot read
/// PATH: reason`. The bytes are not looked at here: the format readers
/// built on the source keep their own bounds on what they accept.
pub fn open_source(path: &str) -> Result<Box<dyn BufRead + Send>, IoError> {
    if path == STDIO {
        return Ok(Box::new(BufReader::with_capacity(
            IO_BUFFER,
            std::io::stdin(),
        )));
    }
    let error = |reason: String| IoError::Format(format!("cannot read {path}: {reason}"));
    let file = File::open(path).map_err(|e| error(reason(&e)))?;
    // Opening a directory succeeds on Linux and only its first read fails,
    // with a reason that does not say what went wrong; say it up front.
    let metadata = file.metadata().map_err(|e| error(reason(&e)))?;
    if metadata.is_dir() {
        return Err(error("it is a directory".to_owned()));
    }
    Ok(Box::new(BufReader::with_capacity(IO_BUFFER, file)))
}

/// Opens `path` for writing: `-` is standard output, anything else a file,
/// created or truncated (or a device such as `/dev/null`). Failure is one
/// line, `cannot write PATH: reason`. The sink is buffered; the writer built
/// on it flushes it when it finishes.
pub fn open_sink(path: &str) -> Result<Box<dyn Write + Send>, IoError> {
    if path == STDIO {
        return Ok(Box::new(BufWriter::with_capacity(
            IO_BUFFER,
            std::io::stdout(),
        )));
    }
    let file = File::create(path)
        .map_err(|e| IoError::Format(format!("cannot write {path}: {}", reason(&e))))?;
    Ok(Box::new(BufWriter::with_capacity(IO_BUFFER, file)))
}

/// An I/O error as a person reads it: "No such file or directory" rather
/// than "No such file or directory (os error 2)".
fn reason(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => text[..at].to_owned(),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_unwritable_paths_fail_with_one_line() {
        let missing = open_source("/no/such/file.y4m").err().unwrap().to_string();
        assert_eq!(
            missing,
            "cannot read /no/such/file.y4m: No such file or directory"
        );
        let folder = open_source("/").err().unwrap().to_string();
        assert_eq!(folder, "cannot read /: it is a directory");
        let unwritable = open_sink("/no/such/dir/out.y4m").err().unwrap().to_string();
        assert_eq!(
            unwritable,
            "cannot write /no/such/dir/out.y4m: No such file or directory"
        );
    }

    #[test]
    fn files_read_back_what_was_written() {
        let dir = std::env::temp_dir().join(format!("framechain-open-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bytes.bin");
        let path = path.to_str().unwrap();
        let mut sink = open_sink(path).unwrap();
        sink.write_all(b"four").unwrap();
        sink.flush().unwrap();
        drop(sink);
        let mut text = String::new();
        open_source(path).unwrap().read_line(&mut text).unwrap();
        assert_eq!(text, "four");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
