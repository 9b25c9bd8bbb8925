//! The error of a command: each stage has its own typed error carrying the facts, and this enum
//! only gathers them so the binary can print one message and pick exit code 2. It lives with the
//! commands, above every stage, so no stage imports the commands it serves.

use std::path::PathBuf;

use crate::digest::{Digest, DigestParseError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Digest(#[from] DigestParseError),

    /// A blob's bytes do not hash to the digest that names them.
    #[error("digest mismatch: expected {expected}, found {found}")]
    DigestMismatch { expected: Digest, found: Digest },

    #[error("{path}")]
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

    /// Some documents of `retrace parse` did not parse (each was noted with its file:line:column).
    #[error("{failed} of {total} document(s) could not be parsed")]
    ParseFailures { failed: usize, total: usize },

    #[error(transparent)]
    Output(#[from] crate::commands::OutputError),

    #[error(transparent)]
    Build(#[from] crate::replay::BuildError),

    #[error(transparent)]
    Diff(#[from] crate::diff::DiffError),

    #[error(transparent)]
    Report(#[from] crate::report::ReportError),

    #[error(transparent)]
    Verify(#[from] crate::commands::verify::VerifyError),

    #[error(transparent)]
    LayerAdd(#[from] crate::commands::layer_add::LayerAddError),

    #[error(transparent)]
    Reproduce(#[from] crate::commands::layer_reproduce::ReproduceCmdError),

    #[error(transparent)]
    Compress(#[from] crate::gzip::CompressError),

    #[error(transparent)]
    Layer(#[from] crate::layer::LayerError),

    #[error(transparent)]
    Profile(#[from] crate::layer::ProfileError),
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
