//! The binary's edge: one file per subcommand holding its clap arguments, typed here once (a
//! `--platform` is a `retrace::platform::Platform` from clap on), and turned into the options of
//! the subcommand's `retrace::commands` module. This module is compiled into the `retrace` binary
//! only (lib.rs does not declare it), so `anyhow` stays out of the library.

mod build;
mod diff;
mod layer;
mod parse;
mod registry;
mod verify;

use clap::Subcommand;
use retrace::commands::{self, Console};
use retrace::Outcome;

#[derive(Subcommand)]
pub enum Command {
    /// Replay a recipe's document through Docker, every platform in parallel, and verify each layer.
    Build(build::Args),
    /// Parse repo-info documents and print the model (JSON), Dockerfiles or a summary.
    Parse(parse::Args),
    /// Layer blob tools: write, add, compress, reproduce.
    Layer {
        #[command(subcommand)]
        cmd: layer::Command,
    },
    /// Print the `file:<hex>` source hash the classic builder records for `COPY`/`ADD` of a file.
    HashFile(layer::HashFileArgs),
    /// File-level difference between two layers, images or build outputs (exit 0 same, 1 different).
    Diff(diff::DiffArgs),
    /// Summarize build outputs: verdict per recipe, platform and layer; JUnit, HTML and JSON.
    Report(diff::ReportArgs),
    /// Check a build output's claims from its files alone: every rebuilt layer under its published
    /// digest, each platform's manifest and config (exit 0 all hold, 1 a false claim, 2 error).
    Verify(verify::VerifyArgs),
    /// Fetch an image (all platforms unless --platform) into the local store, verifying every blob.
    Pull(registry::PullArgs),
    /// Write an image's repo-info `remote` document (the format of the seeds).
    Describe(registry::DescribeArgs),
}

impl Command {
    /// Runs the subcommand with standard output and standard error as its console. The handles are
    /// not locked: the build's worker threads write progress to standard error meanwhile.
    pub fn run(self) -> anyhow::Result<Outcome> {
        let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
        let console = &mut Console {
            out: &mut out,
            err: &mut err,
        };
        Ok(match self {
            Command::Build(args) => commands::build::run(&args.options(), console)?,
            Command::Parse(args) => commands::parse::run(&args.options(), console)?,
            Command::Layer { cmd } => cmd.run(console)?,
            Command::HashFile(args) => commands::hash_file::run(&args.options(), console)?,
            Command::Diff(args) => commands::diff::run(&args.options(), console)?,
            Command::Report(args) => commands::report::run(&args.options(), console)?,
            Command::Verify(args) => commands::verify::run(&args.options(), console)?,
            Command::Pull(args) => commands::pull::run(&args.options(), console)?,
            Command::Describe(args) => commands::describe::run(&args.options(), console)?,
        })
    }
}
