//! `retrace layer reproduce DIR --document DOC --platform P --layer N`: recover the lost mtimes of
//! a rebuilt layer's diff tree by searching around the recorded step times until the tar+gzip
//! digest equals the document's.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Console;
use crate::platform::Platform;
use crate::reproduce::cli::{reproduce_dir, ReproduceDirError};
use crate::reproduce::SearchReport;
use crate::{Error, Outcome};

#[derive(Debug, Clone)]
pub struct LayerReproduceOptions {
    /// The rebuilt diff directory of the layer.
    pub dir: PathBuf,
    pub document: PathBuf,
    pub platform: Platform,
    /// 1-based, in the order the document lists layers.
    pub layer: usize,
    pub json: bool,
    pub max_candidates: u64,
    pub max_time: Duration,
}

/// Searches and prints the report; the outcome says whether the layer matched.
pub fn run(opts: &LayerReproduceOptions, console: &mut Console<'_>) -> Result<Outcome, Error> {
    let report = reproduce_layer(
        &opts.dir,
        &opts.document,
        &opts.platform,
        opts.layer,
        opts.max_candidates,
        opts.max_time,
    )?;
    if opts.json {
        // The report is plain data, so it always serializes.
        console.println(serde_json::to_string(&report).expect("the report serializes"))?;
    } else {
        console.print(render_text(&report))?;
    }
    Ok(if report.matched {
        Outcome::Match
    } else {
        Outcome::Differ
    })
}

/// Why `retrace layer reproduce` could not run (a non-match is not an error).
#[derive(Debug, thiserror::Error)]
pub enum ReproduceCmdError {
    #[error(transparent)]
    Facts(#[from] crate::reproduce::facts::FactsError),
    #[error(transparent)]
    Dir(#[from] ReproduceDirError),
}

/// The search budget of `retrace layer reproduce` unless the user says otherwise: the candidates
/// of `retrace build`'s search, and ten minutes.
pub const REPRODUCE_SEARCH_SECONDS: u64 = 600;

/// `retrace layer reproduce DIR --document DOC --platform P --layer N`, giving up without a match
/// after `max_candidates` digests or `max_time`.
pub fn reproduce_layer(
    dir: &Path,
    document: &Path,
    platform: &Platform,
    layer: usize,
    max_candidates: u64,
    max_time: Duration,
) -> Result<SearchReport, ReproduceCmdError> {
    let mut facts = crate::reproduce::facts::layer_facts(document, platform, layer)?;
    facts.input.limits.max_candidates = max_candidates;
    facts.input.limits.max_time = max_time;
    Ok(reproduce_dir(dir, &facts.input, &facts.profile)?)
}

/// The human-readable form of a report.
pub fn render_text(report: &SearchReport) -> String {
    let mut out = String::new();
    if report.matched {
        out.push_str(&format!(
            "matched {} after {} candidates in {:.3} s\n",
            report.expected, report.candidates, report.seconds
        ));
    } else {
        out.push_str(&format!(
            "no match for {} after {} candidates in {:.3} s; the tree as given hashes to {}\n",
            report.expected, report.candidates, report.seconds, report.digest
        ));
    }
    for (path, t) in &report.mtimes {
        out.push_str(&format!("  {t}  {path}\n"));
    }
    out
}
