//! `retrace report BUILD_DIR... [--junit F] [--html DIR] [--json F] [--previous F]`: the summary
//! over one or more build outputs.

use std::path::PathBuf;

use super::Console;
use crate::report::{render_text, report, Outputs};
use crate::{Error, Outcome};

#[derive(Debug, Clone)]
pub struct ReportOptions {
    pub build_dirs: Vec<PathBuf>,
    pub outputs: Outputs,
}

/// Summarizes, writes the requested files and prints the text summary.
pub fn run(opts: &ReportOptions, console: &mut Console<'_>) -> Result<Outcome, Error> {
    let summary = report(&opts.build_dirs, &opts.outputs)?;
    console.print(render_text(&summary))?;
    Ok(summary.outcome())
}
