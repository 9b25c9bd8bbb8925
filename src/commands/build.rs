//! `retrace build RECIPE`: replay a recipe's document through Docker, every platform in parallel,
//! and verify each layer.

use std::path::PathBuf;

use super::Console;
use crate::replay::record::RecordError;
use crate::replay::{command, outcome, summary_text, BuildOptions};
use crate::{Error, Outcome};

#[derive(Debug, Clone)]
pub struct BuildCommandOptions {
    pub recipe: PathBuf,
    /// A report.json whose record names the recipe, the options and the inputs (replaces `recipe`
    /// and the options it records).
    pub from_record: Option<PathBuf>,
    /// Default: the recipe's `output`.
    pub out: Option<PathBuf>,
    pub build: BuildOptions,
}

/// Builds, notes each platform's lines and the build's notes, prints the table and where the
/// outputs are.
pub fn run(opts: &BuildCommandOptions, console: &mut Console<'_>) -> Result<Outcome, Error> {
    let mut build = opts.build.clone();
    let recipe = match &opts.from_record {
        Some(path) => from_record(path, &mut build)?,
        None => opts.recipe.clone(),
    };
    let (report, out) = command(&recipe, opts.out.as_deref(), build)?;
    for line in report.lines.iter().chain(&report.notes) {
        console.note(line);
    }
    console.print(summary_text(&report, &out))?;
    Ok(outcome(&report)?)
}

/// The recipe and options a report.json records, with the inputs every platform must read again.
fn from_record(path: &std::path::Path, build: &mut BuildOptions) -> Result<PathBuf, Error> {
    let report = crate::report_json::Report::read(path).map_err(crate::report::ReportError::from)?;
    let record = report
        .record
        .as_ref()
        .ok_or_else(|| RecordError::NoRecord { path: path.into() });
    let recipe = record.and_then(|r| crate::replay::record::follow(r, build));
    let recipe = recipe.map_err(crate::replay::BuildError::Record)?;
    build.expected_inputs = Some(
        report
            .platforms
            .into_iter()
            .flat_map(|p| p.inputs.into_iter().map(move |i| ((p.platform.clone(), i.step), i)))
            .collect(),
    );
    Ok(recipe)
}
