//! `retrace build RECIPE`: replay a recipe's document through Docker, every platform in parallel,
//! and verify each layer.

use std::path::PathBuf;

use super::Console;
use crate::replay::{command, outcome, summary_text, BuildOptions};
use crate::{Error, Outcome};

#[derive(Debug, Clone)]
pub struct BuildCommandOptions {
    pub recipe: PathBuf,
    /// Default: the recipe's `output`.
    pub out: Option<PathBuf>,
    pub build: BuildOptions,
}

/// Builds, notes each platform's lines and the build's notes, prints the table and where the
/// outputs are.
pub fn run(opts: &BuildCommandOptions, console: &mut Console<'_>) -> Result<Outcome, Error> {
    let (report, out) = command(&opts.recipe, opts.out.as_deref(), opts.build.clone())?;
    for line in report.lines.iter().chain(&report.notes) {
        console.note(line);
    }
    console.print(summary_text(&report, &out))?;
    Ok(outcome(&report)?)
}
