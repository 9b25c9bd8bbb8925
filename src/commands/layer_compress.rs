//! `retrace layer compress TAR [--level N] [-o OUT]`: gzip a tar file exactly as Docker (Go's
//! compress/gzip) did.

use std::path::{Path, PathBuf};

use super::{Console, OutputError};
use crate::gzip::{compress_file, CompressError, STDOUT};
use crate::{Error, Outcome};

#[derive(Debug, Clone)]
pub struct LayerCompressOptions {
    pub input: PathBuf,
    /// -2..=9 (-1 = 6, Docker's default).
    pub level: i32,
    /// Written atomically; `-` or absent for the console.
    pub output: Option<PathBuf>,
}

pub fn run(opts: &LayerCompressOptions, console: &mut Console<'_>) -> Result<Outcome, Error> {
    compress_file(&opts.input, opts.output.as_deref(), opts.level, console.out).map_err(|e| match e {
        CompressError::Write { path, source } if path == Path::new(STDOUT) => OutputError(source).into(),
        other => Error::from(other),
    })?;
    Ok(Outcome::Match)
}
