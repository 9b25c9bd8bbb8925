//! The library's top-level error: each stage has its own typed error carrying the facts, and this
//! enum only gathers them so the CLI can print one message and pick exit code 2.
//!
//! An error's own text says only its own facts; its cause is reached through `source()`. [`Chain`]
//! is the one way an error becomes text, in the library and in the binary: it prints the error and
//! then each cause in turn, so no cause is lost and none is printed twice.

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

/// An error and its causes on one line: the error's own text, then `: ` and the text of each
/// `source()` in turn (`step 3 `RUN make`: the command exited with status 2`).
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut last = self.0.to_string();
        f.write_str(&last)?;
        let mut cause = self.0.source();
        while let Some(err) = cause {
            let text = err.to_string();
            // Some foreign errors (bollard's, for one) end their own text with their source's;
            // printing that source again would only repeat it.
            if !last.ends_with(&text) {
                write!(f, ": {text}")?;
            }
            last = text;
            cause = err.source();
        }
        Ok(())
    }
}

/// The text of `err` with all its causes; see [`Chain`].
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    Chain(err).to_string()
}

#[cfg(test)]
#[path = "error_tests.rs"]
mod tests;
