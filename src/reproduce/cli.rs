//! Glue between the search core and the rest of retrace: the real tar writer and gzip, a diff
//! directory read like Docker read it, and (in [`facts`]) the search input taken from a document.

use std::path::Path;

use crate::gzip::ReusableGzip;
use crate::layer::{read_tree, write_tar, Entry, LayerError, Profile, WalkOptions};
use crate::Digest;

use super::{search_with_progress, BlobHasher, ReproduceError, SearchEnd, SearchInput, SearchReport};

/// The blob Docker pushed for a tar: Go's gzip at level 6, then sha256. Keeps one compressor and
/// one output buffer per worker thread across candidates.
pub struct GzipSha256 {
    gzip: ReusableGzip,
    blob: Vec<u8>,
}

impl Default for GzipSha256 {
    fn default() -> GzipSha256 {
        GzipSha256 {
            gzip: ReusableGzip::new(6).expect("level 6 is a valid level"),
            blob: Vec::with_capacity(4096),
        }
    }
}

impl BlobHasher for GzipSha256 {
    fn blob_digest(&mut self, tar: &[u8]) -> Digest {
        self.gzip.gzip_into(tar, &mut self.blob);
        Digest::of(&self.blob)
    }
}

/// Searches the original mtimes of `entries` with the tar bytes of `profile`.
pub fn reproduce_entries(
    entries: &[Entry],
    input: &SearchInput,
    profile: &Profile,
) -> Result<SearchReport, ReproduceError> {
    reproduce_entries_with_progress(entries, input, profile, &|_| {})
}

/// [`reproduce_entries`], reporting the candidates hashed so far to `progress` as it goes.
pub fn reproduce_entries_with_progress(
    entries: &[Entry],
    input: &SearchInput,
    profile: &Profile,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<SearchReport, ReproduceError> {
    let tar = |entries: &[Entry]| {
        let mut out = Vec::new();
        write_tar(entries, profile, &mut out)?;
        Ok(out)
    };
    search_with_progress(entries, input, tar, GzipSha256::default, progress)
}

/// Why a directory could not be reproduced at all (as opposed to not matching).
#[derive(Debug, thiserror::Error)]
pub enum ReproduceDirError {
    #[error(transparent)]
    Walk(#[from] LayerError),
    #[error(transparent)]
    Search(#[from] ReproduceError),
}

/// Reads the rebuilt diff directory `dir` as Docker's graphdriver would have and searches the
/// original mtimes of its replayed entries.
pub fn reproduce_dir(dir: &Path, input: &SearchInput, profile: &Profile) -> Result<SearchReport, ReproduceDirError> {
    reproduce_dir_with_progress(dir, input, profile, &|_| {})
}

/// [`reproduce_dir`], reporting the candidates hashed so far to `progress` as it goes.
pub fn reproduce_dir_with_progress(
    dir: &Path,
    input: &SearchInput,
    profile: &Profile,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<SearchReport, ReproduceDirError> {
    let entries = read_tree(dir, &WalkOptions::default())?;
    Ok(reproduce_entries_with_progress(&entries, input, profile, progress)?)
}

/// Why `retrace layer reproduce` could not run (a non-match is not an error).
#[derive(Debug, thiserror::Error)]
pub enum ReproduceCmdError {
    #[error(transparent)]
    Facts(#[from] super::facts::FactsError),
    #[error(transparent)]
    Dir(#[from] ReproduceDirError),
}

/// The search budget of `retrace layer reproduce` unless the user says otherwise: the candidates
/// of `retrace build`'s search, and ten minutes.
pub const REPRODUCE_SEARCH_SECONDS: u64 = 600;

/// What `retrace layer reproduce DIR --document DOC --platform P --layer N` searches, and its
/// budget: it gives up without a match after `max_candidates` digests or `max_time`.
pub struct ReproduceOptions<'a> {
    pub dir: &'a Path,
    pub document: &'a Path,
    pub platform: &'a str,
    pub layer: usize,
    pub max_candidates: u64,
    pub max_time: std::time::Duration,
}

/// Runs `retrace layer reproduce`, reporting the candidates hashed so far to `progress`.
pub fn reproduce_layer(
    opts: &ReproduceOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<SearchReport, ReproduceCmdError> {
    let mut facts = super::facts::layer_facts(opts.document, opts.platform, opts.layer)?;
    facts.input.limits.max_candidates = opts.max_candidates;
    facts.input.limits.max_time = opts.max_time;
    Ok(reproduce_dir_with_progress(
        opts.dir,
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
