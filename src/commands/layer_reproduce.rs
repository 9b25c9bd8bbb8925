//! `retrace layer reproduce DIR --document DOC --platform P --layer N`: recover the lost mtimes of
//! a rebuilt layer's diff tree by searching around the recorded step times until the tar+gzip
//! digest equals the document's.

use std::path::PathBuf;
use std::time::Duration;

use super::Console;
use crate::platform::Platform;
use crate::reproduce::cli::{reproduce_dir_with_progress, ReproduceDirError};
use crate::reproduce::{SearchEnd, SearchReport};
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
    /// Show the search's progress bar on standard error.
    pub progress: bool,
}

/// Searches and prints the report; the outcome says whether the layer matched.
pub fn run(opts: &LayerReproduceOptions, console: &mut Console<'_>) -> Result<Outcome, Error> {
    let bar = search_bar(opts.progress, opts.max_candidates);
    let report = reproduce_layer(opts, &|done| bar.set_position(done));
    bar.finish_and_clear();
    let report = report?;
    if opts.json {
        // The report is plain data, so it always serializes.
        console.println(serde_json::to_string(&report).expect("the report serializes"))?;
        // The JSON holds `end`; people reading the terminal get the sentence too.
        if let Some(note) = end_note(&report) {
            console.note(format!("retrace: {note}"));
        }
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

/// Runs the search, reporting the candidates hashed so far to `progress`; it gives up without a
/// match after `max_candidates` digests or `max_time`.
pub fn reproduce_layer(
    opts: &LayerReproduceOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<SearchReport, ReproduceCmdError> {
    let mut facts = crate::reproduce::facts::layer_facts(&opts.document, &opts.platform, opts.layer)?;
    facts.input.limits.max_candidates = opts.max_candidates;
    facts.input.limits.max_time = opts.max_time;
    Ok(reproduce_dir_with_progress(
        &opts.dir,
        &facts.input,
        &facts.profile,
        progress,
    )?)
}

/// Why a search without a match stopped, and how to search further, for people.
pub fn end_note(report: &SearchReport) -> Option<String> {
    match report.end {
        SearchEnd::Matched => None,
        SearchEnd::Exhausted => Some(format!(
            "every candidate the search's model allows was tried ({}); the tree differs in more than its replayed mtimes",
            report.candidates
        )),
        SearchEnd::CandidateBudget => Some(format!(
            "the search's budget ran out after {} candidates without a match; raise it with --search-candidates N",
            report.candidates
        )),
        SearchEnd::TimeBudget => Some(format!(
            "the search's time ran out after {:.0} s ({} candidates) without a match; raise it with --search-seconds S",
            report.seconds, report.candidates
        )),
    }
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
        if let Some(note) = end_note(report) {
            out.push_str(&format!("{note}\n"));
        }
    }
    for (path, t) in &report.mtimes {
        out.push_str(&format!("  {t}  {path}\n"));
    }
    out
}

/// The timestamp search's progress on standard error, out of its candidate budget; hidden unless
/// `shown` (standard error is a terminal, not a log, a pipe or a test).
fn search_bar(shown: bool, budget: u64) -> indicatif::ProgressBar {
    if !shown {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(budget);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "searching timestamps [{bar:30}] {human_pos}/{human_len} candidates {elapsed:>4} (~{eta} left at most)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}
