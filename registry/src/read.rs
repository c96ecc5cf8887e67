//! Reading a configuration file whole, with its path in the error: device configs, fleet files,
//! registry CSVs and secret files all go through here.
//!
//! Only regular files are read, and never more than a cap: a path that names a FIFO, a device
//! (`/dev/urandom`), a directory or a huge file is refused with a
//! [`FileError`](crate::file::FileError) that says so,
//! instead of blocking or growing without end. The file type is checked on the opened handle
//! (opened non-blocking, so a FIFO cannot stall the open), and the read itself is cut at the
//! cap plus one byte, so a file swapped or grown in between cannot get past it either.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::RegistryError;
use crate::file::{Capped, FileError, NotText};

/// What kind of file a path is, for the files a configuration may name.
fn check_regular(file: &File) -> Result<(), FileError> {
    let kind = file.metadata().map_err(FileError::from_io)?.file_type();
    if kind.is_file() {
        return Ok(());
    }
    if kind.is_dir() {
        return Err(FileError::Directory);
    }
    Err(FileError::NotRegular {
        kind: special_kind(&kind),
    })
}

#[cfg(unix)]
fn special_kind(kind: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_fifo() {
        "named pipe (FIFO)"
    } else if kind.is_char_device() {
        "character device"
    } else if kind.is_block_device() {
        "block device"
    } else if kind.is_socket() {
        "socket"
    } else {
        "special file"
    }
}

#[cfg(not(unix))]
fn special_kind(_: &std::fs::FileType) -> &'static str {
    "special file"
}

/// Opens `path` for reading without blocking on a FIFO (O_NONBLOCK has no effect on regular
/// files, the only ones read after the type check).
fn open(path: &Path) -> Result<File, FileError> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(FileError::from_io)?;
    check_regular(&file)?;
    Ok(file)
}

/// Reads the regular file at `path`, at most `what`'s cap.
pub(crate) fn read_file(path: &Path, what: Capped) -> Result<Vec<u8>, FileError> {
    read_capped(open(path)?, what)
}

/// Reads everything from `reader`, refusing more than `what`'s cap. Reading one byte over the
/// cap is how "more" is seen without ever holding more than that.
pub(crate) fn read_capped(reader: impl Read, what: Capped) -> Result<Vec<u8>, FileError> {
    let limit = what.limit();
    let mut bytes = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(FileError::from_io)?;
    if bytes.len() as u64 > limit {
        return Err(FileError::TooLarge { what });
    }
    Ok(bytes)
}

/// Reads a configuration file's bytes (regular files only, at most [`MAX_CONFIG_FILE_BYTES`]).
pub(crate) fn read_config(path: &Path) -> Result<Vec<u8>, RegistryError> {
    read_file(path, Capped::Config).map_err(|source| RegistryError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a whole configuration file as text (see [`text`]).
pub(crate) fn read_text(path: &Path) -> Result<String, RegistryError> {
    text(&read_config(path)?, path)
}

/// A configuration file's bytes as text: refused when they are UTF-16 or binary (see
/// [`check_text`]); other invalid UTF-8 becomes U+FFFD, for the JSON parser to reject.
pub(crate) fn text(bytes: &[u8], path: &Path) -> Result<String, RegistryError> {
    check_text(bytes, path)?;
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

/// `Err` when `bytes` plainly are not UTF-8 text ([`not_text`]), naming the line where that
/// shows, before a parser echoes them back as garbage.
pub(crate) fn check_text(bytes: &[u8], path: &Path) -> Result<(), RegistryError> {
    match not_text(bytes) {
        None => Ok(()),
        Some((kind, offset)) => {
            let line = match kind {
                NotText::Utf16 => 0,
                NotText::Binary => {
                    bytes[..offset].iter().filter(|&&b| b == b'\n').count() as u64 + 1
                }
            };
            Err(RegistryError::NotText {
                pos: crate::error::Position::new(path, line),
                kind,
            })
        }
    }
}

/// Reads everything from `reader` as a configuration file would be read; `path` names it in
/// the error.
pub(crate) fn read_all(reader: impl Read, path: &Path) -> Result<Vec<u8>, RegistryError> {
    read_capped(reader, Capped::Config).map_err(|source| RegistryError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a password or token file (regular files only, at most [`MAX_SECRET_FILE_BYTES`]). Its
/// content never appears in an error.
pub(crate) fn read_secret(path: &Path) -> Result<String, FileError> {
    let bytes = read_file(path, Capped::Secret)?;
    String::from_utf8(bytes).map_err(|_| {
        FileError::Other(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not UTF-8 text",
        ))
    })
}

/// `Some` when `bytes` plainly are not UTF-8 text, with the offset where that shows. (Other
/// invalid UTF-8, such as Latin-1 text, is left to the parsers, which name its line.)
pub(crate) fn not_text(bytes: &[u8]) -> Option<(NotText, usize)> {
    if bytes.starts_with(&[0xff, 0xfe]) || bytes.starts_with(&[0xfe, 0xff]) {
        return Some((NotText::Utf16, 0));
    }
    let zero = bytes.iter().position(|&b| b == 0)?;
    // UTF-16 without a byte-order mark: ASCII text with a zero byte beside every character.
    let head = &bytes[..bytes.len().min(64)];
    let zeros_even = head.iter().step_by(2).filter(|&&b| b == 0).count();
    let zeros_odd = head.iter().skip(1).step_by(2).filter(|&&b| b == 0).count();
    let half = head.len() / 2;
    let mostly = |n: usize| n >= half * 3 / 4;
    let few = |n: usize| n <= half / 4;
    if half >= 2
        && ((mostly(zeros_even) && few(zeros_odd)) || (mostly(zeros_odd) && few(zeros_even)))
    {
        return Some((NotText::Utf16, 0));
    }
    Some((NotText::Binary, zero))
}

/// Whether `path` can be read as a configuration file, without reading it: the error a read
/// would give for a path that is missing, a loop, a directory or a special file.
///
/// # Errors
/// The [`FileError`] that reading `path` would meet first.
pub fn probe(path: &Path) -> Result<(), FileError> {
    open(path).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(e: FileError) -> String {
        e.to_string()
    }

    #[test]
    fn a_reader_longer_than_the_cap_is_refused_after_cap_plus_one_bytes() {
        let e = read_capped(std::io::repeat(b'x'), Capped::Secret).unwrap_err();
        assert_eq!(
            message(e),
            "is larger than 4 KiB, the most a password or token file may be (is it the right file?)"
        );
        let exactly = vec![b'x'; 4096];
        assert_eq!(read_capped(&exactly[..], Capped::Secret).unwrap(), exactly);
    }

    #[test]
    fn utf16_is_told_from_binary_by_where_its_zero_bytes_are() {
        let utf16: Vec<u8> = "{\"a\": 1}"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert_eq!(not_text(&utf16), Some((NotText::Utf16, 0)));
        assert_eq!(not_text(&[0u8; 400]), Some((NotText::Binary, 0)));
        assert_eq!(not_text(b"plain, text\n"), None);
    }

    #[test]
    fn devices_directories_fifos_and_loops_are_named_for_what_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo runs");
        let a = dir.path().join("a");
        std::os::unix::fs::symlink(dir.path().join("b"), &a).unwrap();
        std::os::unix::fs::symlink(&a, dir.path().join("b")).unwrap();
        let read = |p: &Path| message(read_file(p, Capped::Config).unwrap_err());
        assert_eq!(read(&fifo), "is a named pipe (FIFO), not a regular file");
        assert_eq!(
            read(Path::new("/dev/urandom")),
            "is a character device, not a regular file"
        );
        assert_eq!(read(dir.path()), "is a directory, not a file");
        assert_eq!(
            read(&a),
            "a symbolic link loop (a link on the path leads back to itself)"
        );
        assert_eq!(
            read(&dir.path().join("missing")),
            "no such file or directory"
        );
    }
}
