use std::path::PathBuf;

use clap::ValueEnum;
use retrace::commands::parse::{Format, ParseOptions};
use retrace::platform::Platform;

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

impl Args {
    pub fn options(self) -> ParseOptions {
        ParseOptions {
            paths: self.docs,
            tag: self.tag,
            platform: self.platform,
            format: match self.format {
                ParseFormat::Json => Format::Json,
                ParseFormat::Dockerfile => Format::Dockerfile,
                ParseFormat::Summary => Format::Summary,
            },
        }
    }
}
