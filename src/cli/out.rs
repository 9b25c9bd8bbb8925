//! Standard output of the subcommands. `print!` panics when stdout is closed or full; these
//! functions return errors instead, so a reader that stops early (`retrace parse … | head`) ends the
//! command quietly with exit code 141 (the shell's convention for a process ended by SIGPIPE), and
//! any other write failure (`> /dev/full`) is an ordinary error with exit code 2.

use std::io::{self, Write};

/// The reader of standard output went away; `main` exits 141 without a message.
#[derive(Debug, thiserror::Error)]
#[error("standard output closed by its reader")]
pub struct StdoutClosed;

/// The exit code for [`StdoutClosed`]: 128 + SIGPIPE, as a shell reports a process that SIGPIPE ended.
pub const STDOUT_CLOSED_EXIT: u8 = 141;

/// Writes `text` to standard output and flushes it, so a write error surfaces here and not at exit
/// (where the standard library would drop it).
pub fn print(text: impl AsRef<[u8]>) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_ref())
        .and_then(|()| out.flush())
        .map_err(write_error)
}

/// Writes `text` and a newline to standard output.
pub fn println(text: impl AsRef<[u8]>) -> anyhow::Result<()> {
    let mut line = text.as_ref().to_vec();
    line.push(b'\n');
    print(line)
}

/// Writes to standard error, ignoring failure: there is nowhere left to report it.
pub fn eprintln(text: impl std::fmt::Display) {
    let _ = writeln!(io::stderr().lock(), "{text}");
}

/// A broken pipe becomes [`StdoutClosed`]; anything else names standard output.
pub fn write_error(e: io::Error) -> anyhow::Error {
    if e.kind() == io::ErrorKind::BrokenPipe {
        anyhow::Error::new(StdoutClosed)
    } else {
        anyhow::Error::new(e).context("writing standard output")
    }
}
