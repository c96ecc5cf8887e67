//! Reading a configuration file whole, with its path in the error: device configs, fleet files,
//! registry CSVs and secret files all go through here.
//!
//! Only regular files are read, and never more than a cap: a path that names a FIFO, a device
//! (`/dev/urandom`), a directory or a huge file is refused with a [`FileError`] that says so,
//! instead of blocking or growing without end. The file type is checked on the opened handle
//! (opened non-blocking, so a FIFO cannot stall the open), and the read itself is cut at the
//! cap plus one byte, so a file swapped or grown in between cannot get past it either.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::RegistryError;

/// The largest fleet file, device config or registry CSV read. The example registry with every
/// attribute is 9 KiB, and a fleet file listing 100,000 station IDs one by one about 1.5 MiB;
/// 8 MiB leaves room for comments and long names while bounding what a wrong path (a log, a
/// disk image) makes the supervisor hold.
pub const MAX_CONFIG_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// The largest password or token file read. ChargePoint passwords and bearer tokens are tens
/// of bytes; 4 KiB is far beyond any of them, and small enough that a wrong path costs nothing.
pub const MAX_SECRET_FILE_BYTES: u64 = 4 * 1024;

/// Why a file could not be read, in words a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Nothing is at the path.
    #[error("no such file or directory")]
    NotFound,
    /// The file exists but may not be read by this user.
    #[error("permission denied")]
    PermissionDenied,
    /// A symbolic link on the path leads back to itself.
    #[error("a symbolic link loop (a link on the path leads back to itself)")]
    SymlinkLoop,
    /// The path is a directory where a file was expected.
    #[error("is a directory, not a file")]
    Directory,
    /// The path is a FIFO, a device or a socket: reading it could block or never end.
    #[error("is a {kind}, not a regular file")]
    NotRegular {
        /// `named pipe (FIFO)`, `character device`, ...
        kind: &'static str,
    },
    /// The file is larger than any file of its kind should be.
    #[error("is larger than {} KiB, the most a {what} may be (is it the right file?)", what.limit() / 1024)]
    TooLarge { what: Capped },
    /// Any other I/O error, as the system reports it.
    #[error(transparent)]
    Other(std::io::Error),
}

/// The kinds of file read whole, each with its size cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capped {
    /// A fleet file, device config or registry CSV: [`MAX_CONFIG_FILE_BYTES`].
    Config,
    /// A password or token file: [`MAX_SECRET_FILE_BYTES`].
    Secret,
}

impl Capped {
    /// The most bytes a file of this kind may have.
    pub fn limit(self) -> u64 {
        match self {
            Capped::Config => MAX_CONFIG_FILE_BYTES,
            Capped::Secret => MAX_SECRET_FILE_BYTES,
        }
    }
}

impl std::fmt::Display for Capped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Capped::Config => "configuration file",
            Capped::Secret => "password or token file",
        })
    }
}

impl FileError {
    /// The [`FileError`] of an I/O error from opening or reading a path.
    pub(crate) fn from_io(e: std::io::Error) -> FileError {
        use std::io::ErrorKind as K;
        match e.kind() {
            K::NotFound => FileError::NotFound,
            K::PermissionDenied => FileError::PermissionDenied,
            K::IsADirectory => FileError::Directory,
            _ if e.raw_os_error() == Some(libc::ELOOP) => FileError::SymlinkLoop,
            _ => FileError::Other(e),
        }
    }
}

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

/// Why a file's bytes are not the UTF-8 text a configuration file must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotText {
    /// UTF-16, as some Windows editors save: a byte-order mark, or zero bytes in every other
    /// place.
    #[error("is UTF-16 text: save it as UTF-8, as VOLTTRON's files are")]
    Utf16,
    /// Zero bytes, which no text file holds: a binary file.
    #[error("is not a text file (it holds zero bytes): is it the right file?")]
    Binary,
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
