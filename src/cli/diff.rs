use std::path::PathBuf;

use clap::ValueEnum;
use retrace::commands::diff::DiffCommandOptions;
use retrace::commands::report::ReportOptions;

/// Operands: a layer blob FILE (tar or tar.gz); DIR@sha256:<hex> (a blob of an OCI layout);
/// oci:DIR[:TAG]; docker-archive:FILE; a `retrace build` output DIR (holding report.json);
/// registry:REF or docker://REF (fetched into the content store, verified); store:REF (offline).
#[derive(clap::Args)]
pub struct DiffArgs {
    a: String,
    b: String,
    /// Ignore what cannot carry meaning: mtimes, entry order, header format, compression.
    #[arg(long)]
    semantic: bool,
    #[arg(long, value_enum, default_value = "text")]
    format: DiffFormat,
    /// Write diff.json, diff.txt and unified diffs of differing text files here.
    #[arg(long)]
    report_dir: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum DiffFormat {
    Text,
    Json,
}

#[derive(clap::Args)]
pub struct ReportArgs {
    #[arg(required = true)]
    build_dirs: Vec<PathBuf>,
    /// JUnit XML, one testcase per layer.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Directory for a self-contained index.html.
    #[arg(long)]
    html: Option<PathBuf>,
    /// Machine-readable summary (usable later as --previous).
    #[arg(long)]
    json: Option<PathBuf>,
    /// An earlier --json summary to compare against.
    #[arg(long)]
    previous: Option<PathBuf>,
}

impl DiffArgs {
    pub fn options(self) -> DiffCommandOptions {
        DiffCommandOptions {
            a: self.a,
            b: self.b,
            semantic: self.semantic,
            json: matches!(self.format, DiffFormat::Json),
            report_dir: self.report_dir,
        }
    }
}

impl ReportArgs {
    pub fn options(self) -> ReportOptions {
        ReportOptions {
            build_dirs: self.build_dirs,
            outputs: retrace::report::Outputs {
                junit: self.junit,
                html: self.html,
                json: self.json,
                previous: self.previous,
            },
        }
    }
}
