//! `retrace pull` and `retrace describe`: arguments, and the call into `retrace::commands`.

use std::path::PathBuf;

use clap::ValueEnum;
use retrace::commands::describe::DescribeOptions;
use retrace::commands::pull::PullOptions;
use retrace::platform::Platform;

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
    #[command(flatten)]
    store: StoreArgs,
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
    #[command(flatten)]
    store: StoreArgs,
    /// `seeds`: `Platforms:` without a count (the seeds, 2018); `current`: with one (since ~2020).
    #[arg(long, value_enum, default_value_t = Style::Seeds)]
    style: Style,
}

/// Where `pull` and `describe` look for blobs.
#[derive(clap::Args)]
struct StoreArgs {
    /// Use only the local store (no network).
    #[arg(long)]
    offline: bool,
    /// The content store (default: $RETRACE_STORE, else ~/.cache/retrace).
    #[arg(long)]
    store: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Style {
    Seeds,
    Current,
}

impl PullArgs {
    pub fn options(self) -> PullOptions {
        PullOptions {
            reference: self.reference,
            platform: self.platform,
            output: self.output,
            offline: self.store.offline,
            store: self.store.store,
        }
    }
}

impl DescribeArgs {
    pub fn options(self) -> DescribeOptions {
        DescribeOptions {
            reference: self.reference,
            platform: self.platform,
            output: self.output,
            offline: self.store.offline,
            store: self.store.store,
            style: match self.style {
                Style::Seeds => retrace::describe::Style::Seeds,
                Style::Current => retrace::describe::Style::Current,
            },
        }
    }
}
