use std::path::PathBuf;

use clap::ValueEnum;
use retrace::commands::parse::{self, Format, ParseOptions};
use retrace::platform::Platform;
use retrace::Outcome;

#[derive(clap::Args)]
pub struct Args {
    /// Repo-info documents (`repos/<name>/remote/<tag>.md`).
    #[arg(required = true)]
    docs: Vec<PathBuf>,
    /// Only this tag (`name:tag` or `tag`).
    #[arg(long)]
    tag: Option<String>,
    /// Only this platform, as os/arch[/variant] (`linux/arm/v7`; `linux/arm64` is v8; `linux/arm` is
    /// an error when the documents have several arm variants).
    #[arg(long)]
    platform: Option<Platform>,
    #[arg(long, value_enum, default_value_t = ParseFormat::Json)]
    format: ParseFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum ParseFormat {
    Json,
    Dockerfile,
    Summary,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let format = match args.format {
        ParseFormat::Json => Format::Json,
        ParseFormat::Dockerfile => Format::Dockerfile,
        ParseFormat::Summary => Format::Summary,
    };
    let report = parse::run(
        &args.docs,
        &ParseOptions {
            tag: args.tag,
            platform: args.platform,
            format,
        },
    )?;
    super::out::print(&report.output)?;
    for e in &report.errors {
        super::out::eprintln(e);
    }
    if !report.errors.is_empty() {
        anyhow::bail!(
            "{} of {} document(s) could not be parsed",
            report.errors.len(),
            args.docs.len()
        );
    }
    Ok(Outcome::Match)
}
