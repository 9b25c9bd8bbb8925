//! The library's top-level error: each stage has its own typed error carrying the facts, and this
//! enum only gathers them so the CLI can print one message and pick exit code 2.

use std::path::PathBuf;

use crate::digest::{Digest, DigestParseError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Digest(#[from] DigestParseError),

    /// A blob's bytes do not hash to the digest that names them.
    #[error("digest mismatch: expected {expected}, found {found}")]
    DigestMismatch { expected: Digest, found: Digest },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),

    /// A `--platform` that names no image, or several variants.
    #[error(transparent)]
    Platform(#[from] crate::platform::SelectError),

    #[error("{0}")]
    Usage(String),
}

impl Error {
    /// Wraps an I/O error with the path it concerns, because "No such file or directory" alone
    /// does not tell a user which file.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
