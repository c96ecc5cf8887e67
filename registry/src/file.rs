//! What can be wrong with a file a configuration names, in words a user can act on, and how
//! large each kind of file may be. Shared by the reading (`read`) and the errors that carry it
//! (`error`), so neither imports the other.

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
