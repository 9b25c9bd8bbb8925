use std::path::PathBuf;

use clap::ValueEnum;
use retrace::Outcome;

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

pub fn diff(args: DiffArgs) -> anyhow::Result<Outcome> {
    let opts = retrace::diff::DiffOptions {
        semantic: args.semantic,
        report_dir: args.report_dir,
        ..Default::default()
    };
    let images = retrace::diff::images::RegistryImages::default();
    let report = retrace::diff::diff(&args.a, &args.b, &opts, Some(&images))?;
    match args.format {
        DiffFormat::Text => super::out::print(retrace::diff::render::render_text(&report))?,
        DiffFormat::Json => super::out::print(retrace::diff::render::render_json(&report))?,
    }
    Ok(report.outcome())
}

pub fn report(args: ReportArgs) -> anyhow::Result<Outcome> {
    let outputs = retrace::report::Outputs {
        junit: args.junit,
        html: args.html,
        json: args.json,
        previous: args.previous,
    };
    let summary = retrace::report::report(&args.build_dirs, &outputs)?;
    super::out::print(retrace::report::render_text(&summary))?;
    Ok(summary.outcome())
}
