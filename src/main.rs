//! The `retrace` command line: parse arguments, call the library, map the outcome to an exit code
//! (0 all checked layers match, 1 some differ, 2 error). Nothing else belongs here: each
//! subcommand's arguments and its call into the library live in `src/cli/<command>.rs`.

mod cli;

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
    let cli = Cli::parse();
    match cli.command.run() {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
