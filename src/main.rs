//! The `retrace` command line: parse arguments, call the library, map the outcome to an exit code
//! (0 all checked layers match, 1 some differ, 2 error). Nothing else belongs here: each
//! subcommand's arguments and its call into the library live in `src/cli/<command>.rs`.

mod cli;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "retrace",
    version,
    about = "Rebuild published container images and verify them digest by digest"
)]
struct Cli {
    #[command(subcommand)]
    command: cli::Command,
}

fn main() -> ExitCode {
    remove_temporaries_on_signal();
    let cli = Cli::parse();
    match cli.command.run() {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(err) if stdout_closed(&err) => ExitCode::from(STDOUT_CLOSED_EXIT),
        Err(err) => {
            let err: &(dyn std::error::Error + 'static) = err.as_ref();
            let _ = writeln!(std::io::stderr(), "error: {}", retrace::error::Chain(err));
            ExitCode::from(2)
        }
    }
}

/// The exit code when the reader of standard output went away: 128 + SIGPIPE, as a shell reports a
/// process that SIGPIPE ended (`retrace parse … | head`). It ends the command quietly.
const STDOUT_CLOSED_EXIT: u8 = 141;

/// Whether the command failed because writing standard output met a closed pipe.
fn stdout_closed(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(output_error)
        .any(|o| o.0.kind() == std::io::ErrorKind::BrokenPipe)
}

/// The output failure `e` is. Transparent wrappers hand `source()` on to the I/O error, so they are
/// looked into by name.
fn output_error<'e>(e: &'e (dyn std::error::Error + 'static)) -> Option<&'e retrace::commands::OutputError> {
    use retrace::commands::layer_add::LayerAddError;
    match e.downcast_ref::<retrace::Error>() {
        Some(retrace::Error::Output(o)) | Some(retrace::Error::LayerAdd(LayerAddError::Console(o))) => Some(o),
        _ => e.downcast_ref(),
    }
}

/// SIGINT and SIGTERM end the run as they would by default, but first remove the temporary files and
/// directories being written (`fsutil::Temporary`), which would otherwise be left beside the outputs.
fn remove_temporaries_on_signal() {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            retrace::fsutil::remove_temporaries();
            // Die of the signal, so the parent sees the usual status (130 or 143 in a shell).
            let _ = signal_hook::low_level::emulate_default_handler(signal);
            std::process::exit(128 + signal);
        }
    });
}
