//! The binary's edge: one file per subcommand holding its clap arguments and the call into the
//! library. This module is compiled into the `retrace` binary only (lib.rs does not declare it), so
//! `anyhow` stays out of the library.

mod build;
mod diff;
mod layer;
pub mod out;
mod parse;
mod registry;

use clap::Subcommand;
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
    /// Fetch an image (all platforms unless --platform) into the local store, verifying every blob.
    Pull(registry::PullArgs),
    /// Write an image's repo-info `remote` document (the format of the seeds).
    Describe(registry::DescribeArgs),
}

impl Command {
    pub fn run(self) -> anyhow::Result<Outcome> {
        match self {
            Command::Build(args) => build::run(args),
            Command::Parse(args) => parse::run(args),
            Command::Layer { cmd } => cmd.run(),
            Command::HashFile(args) => layer::hash_file(args),
            Command::Diff(args) => diff::diff(args),
            Command::Report(args) => diff::report(args),
            Command::Pull(args) => registry::pull(args),
            Command::Describe(args) => registry::describe(args),
        }
    }
}
