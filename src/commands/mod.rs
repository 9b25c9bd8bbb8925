//! Every subcommand, one module each, with one signature:
//!
//! ```text
//! pub fn run(opts: &Options, console: &mut Console<'_>) -> Result<Outcome, crate::Error>
//! ```
//!
//! Options are plain typed data (the CLI edge parsed them, `--platform` included); the result goes
//! to `console.out`, progress and summary lines to `console.err`. No library code prints: the
//! binary hands in standard output and standard error, a test hands in buffers. `main.rs` only
//! parses arguments, calls `run` and maps the outcome to an exit code.

use std::fmt::Display;
use std::io::{self, Write};

pub mod build;
pub mod describe;
pub mod diff;
pub mod error;
pub mod hash_file;
pub mod layer_add;
pub mod layer_compress;
pub mod layer_reproduce;
pub mod layer_write;
pub mod parse;
pub mod pull;
pub mod report;
pub mod verify;

/// Where a command writes: its result to `out` (standard output), notes to `err` (standard error).
pub struct Console<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
}

/// Writing a command's result failed. The binary ends quietly with exit 141 when the source is a
/// broken pipe (the reader went away), and with exit 2 otherwise (a full disk).
#[derive(Debug, thiserror::Error)]
#[error("writing standard output")]
pub struct OutputError(#[source] pub io::Error);

impl Console<'_> {
    /// Writes `text` to `out` and flushes it, so a failure surfaces here and not at exit.
    pub fn print(&mut self, text: impl AsRef<[u8]>) -> Result<(), OutputError> {
        self.out
            .write_all(text.as_ref())
            .and_then(|()| self.out.flush())
            .map_err(OutputError)
    }

    /// Writes `text` and a newline to `out`.
    pub fn println(&mut self, text: impl Display) -> Result<(), OutputError> {
        self.print(format!("{text}\n"))
    }

    /// Writes a line to `err`, ignoring failure: there is nowhere left to report it.
    pub fn note(&mut self, line: impl Display) {
        let _ = writeln!(self.err, "{line}");
    }
}
