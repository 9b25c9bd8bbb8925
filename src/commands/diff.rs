//! `retrace diff A B [--semantic] [--format text|json] [--report-dir DIR]`: the file-level
//! difference between two layers, images or build outputs.

use std::path::PathBuf;

use super::Console;
use crate::diff::images::RegistryImages;
use crate::diff::render::{render_json, render_text};
use crate::diff::{diff, DiffOptions};
use crate::{Error, Outcome};

#[derive(Debug, Clone, Default)]
pub struct DiffCommandOptions {
    pub a: String,
    pub b: String,
    pub semantic: bool,
    pub json: bool,
    pub report_dir: Option<PathBuf>,
}

/// Compares and prints the report; the outcome says whether the operands are the same.
pub fn run(opts: &DiffCommandOptions, console: &mut Console<'_>) -> Result<Outcome, Error> {
    let diff_opts = DiffOptions {
        semantic: opts.semantic,
        report_dir: opts.report_dir.clone(),
        ..Default::default()
    };
    let report = diff(&opts.a, &opts.b, &diff_opts, Some(&RegistryImages::default()))?;
    console.print(if opts.json {
        render_json(&report)
    } else {
        render_text(&report)
    })?;
    Ok(report.outcome())
}
