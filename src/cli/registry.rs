//! `retrace pull` and `retrace describe`: arguments, and the call into `retrace::commands`.

use std::path::PathBuf;

use clap::ValueEnum;
use retrace::commands::describe::DescribeOptions;
use retrace::commands::pull::PullOptions;
use retrace::platform::Platform;
use retrace::Outcome;

#[derive(clap::Args)]
pub struct PullArgs {
    /// `name[:tag][@digest]`, `registry/name:tag`, `oci:DIR[:TAG]` or `docker-archive:FILE`.
    reference: String,
    /// Only this platform, as os/arch[/variant] (e.g. linux/arm/v7; linux/arm64 is v8; linux/arm is
    /// an error when the image has several arm variants).
    #[arg(long)]
    platform: Option<Platform>,
    /// Also write an OCI image layout to this directory.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Use only the local store (no network).
    #[arg(long)]
    offline: bool,
    /// The content store (default: $RETRACE_STORE, else ~/.cache/retrace).
    #[arg(long)]
    store: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct DescribeArgs {
    /// `name[:tag][@digest]`, `registry/name:tag` or `oci:DIR[:TAG]`.
    reference: String,
    /// Only this platform's image, as os/arch[/variant] (the rule of `pull --platform`).
    #[arg(long)]
    platform: Option<Platform>,
    /// Write to this file (atomically) instead of standard output.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Use only the local store (no network).
    #[arg(long)]
    offline: bool,
    /// The content store (default: $RETRACE_STORE, else ~/.cache/retrace).
    #[arg(long)]
    store: Option<PathBuf>,
    /// `seeds`: `Platforms:` without a count (the seeds, 2018); `current`: with one (since ~2020).
    #[arg(long, value_enum, default_value_t = Style::Seeds)]
    style: Style,
}

#[derive(Clone, Copy, ValueEnum)]
enum Style {
    Seeds,
    Current,
}

pub fn pull(args: PullArgs) -> anyhow::Result<Outcome> {
    let (report, summary) = retrace::commands::pull::run(&PullOptions {
        reference: args.reference,
        platform: args.platform,
        output: args.output,
        offline: args.offline,
        store: args.store,
    })?;
    super::out::eprintln(summary);
    if let Some(top) = report.top {
        super::out::println(top.to_string())?;
    }
    Ok(Outcome::Match)
}

pub fn describe(args: DescribeArgs) -> anyhow::Result<Outcome> {
    let style = match args.style {
        Style::Seeds => retrace::describe::Style::Seeds,
        Style::Current => retrace::describe::Style::Current,
    };
    let text = retrace::commands::describe::run(&DescribeOptions {
        reference: args.reference,
        platform: args.platform,
        output: args.output,
        offline: args.offline,
        store: args.store,
        style,
    })?;
    if let Some(text) = text {
        super::out::print(text)?;
    }
    Ok(Outcome::Match)
}
