//! Reading a configuration file whole, with its path in the error: device configs, fleet files
//! and registry CSVs all go through here.

use std::io::Read;
use std::path::Path;

use crate::error::RegistryError;

/// Reads a whole file as text (invalid UTF-8 becomes U+FFFD, for the JSON parser to reject).
pub(crate) fn read_text(path: &Path) -> Result<String, RegistryError> {
    let file = std::fs::File::open(path).map_err(|source| RegistryError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let bytes = read_all(file, path)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Reads everything from `reader`; `path` names it in the error.
pub(crate) fn read_all(mut reader: impl Read, path: &Path) -> Result<Vec<u8>, RegistryError> {
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|source| RegistryError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(bytes)
}
