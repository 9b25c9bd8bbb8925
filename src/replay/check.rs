//! The one place a layer's verdict is decided. Everything a replay learned about a layer comes in
//! as plain data ([`Built`], the published digest, a [`LayerContext`]); a [`Checked`] comes out:
//! the verdict, why, the builder variant that matched and every one tried, and the lost times and
//! dates recovered on the way. No engine, file or terminal is touched here, so every verdict path
//! is tested without Docker (`check/tests.rs`, and the fake executor's replays).
//!
//! The order of the checks is the order of their cost and of their evidence: a layer taken from a
//! published blob is `imported` whatever its bytes; a base layer rebuilt by `add` carries its own
//! trials; a committed layer is compared as written, then with embedded dates set back, under each
//! builder variant, and last through the timestamp search.

use std::collections::BTreeMap;

use crate::add::AddOutcome;
use crate::digest::Digest;
use crate::layer::{Entry, Profile};
use crate::reproduce::SearchInput;

use super::layers::{self, Recovered, TimestampQuery};
use super::report::Verdict;
use super::variants::{self, LowerDirs, Variant};

/// What the replay made of one layer.
pub enum Built<'a> {
    /// The recipe supplied the published blob itself (from `origin`); `same_bytes` says whether
    /// retrace's rewrite of it gave the same digest. Never a match: it was taken, not rebuilt.
    Imported { origin: &'a str, same_bytes: bool },
    /// A base layer rebuilt from its tarball by `layer add`'s code, which tried its variants.
    Base(&'a AddOutcome),
    /// The entries the engine committed, and the digest of their blob as the profile writes it.
    Committed { entries: &'a [Entry], digest: Digest },
}

/// What the replay knows around a committed layer: the release's bytes, the layers below, the
/// step's times, and what the timestamp search may do.
pub struct LayerContext<'a> {
    /// The profile of the platform's Docker release, resolved once per platform.
    pub profile: &'a Profile,
    /// The directories of the layers below (for the opaque-new-dirs variant).
    pub lower: &'a LowerDirs,
    /// The builder variant an earlier layer of the platform matched with: tried first.
    pub seen: Option<Variant>,
    /// When the step's replay ran (Unix seconds, first and last).
    pub replayed: (i64, i64),
    /// The step's recorded `created` time, when the document has one.
    pub recorded: Option<i64>,
    /// What the timestamp search is told; `None` when a layer-making step has no recorded time.
    pub search: Option<SearchInput>,
    pub query: TimestampQuery,
}

/// The verdict on one layer, with everything that explains it.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub verdict: Verdict,
    pub reason: String,
    /// The variant that matched (`plain`, `opaque-new-dirs`, a base layer's `add` variant).
    pub variant: Option<String>,
    /// The replay builder variant that matched a committed layer (tried first on the next one).
    pub builder: Option<Variant>,
    /// Every variant tried, when more than the committed bytes were tried.
    pub tried: Vec<String>,
    /// The original mtimes the search recovered, as report.json records them ...
    pub recovered_mtimes: Recovered,
    /// ... and in Unix seconds, for the layers above.
    pub recovered_times: BTreeMap<String, i64>,
    /// Dates written into files, set back to the recorded step's day, by path.
    pub recovered_dates: BTreeMap<String, String>,
    /// The entries whose blob is the published one when they are not the committed entries
    /// (another variant, recovered dates or mtimes): the proof a match leaves behind.
    pub proof: Option<Vec<Entry>>,
}

impl Checked {
    fn new(verdict: Verdict, reason: String) -> Checked {
        Checked {
            verdict,
            reason,
            variant: None,
            builder: None,
            tried: Vec::new(),
            recovered_mtimes: Recovered::new(),
            recovered_times: BTreeMap::new(),
            recovered_dates: BTreeMap::new(),
            proof: None,
        }
    }

    /// A layer the replay did not build, and why.
    pub fn not_built(reason: String) -> Checked {
        Checked::new(Verdict::NotBuilt, reason)
    }

    /// Whether the published mtimes of the layer's entries are known after this verdict.
    pub fn times_known(&self) -> bool {
        matches!(
            self.verdict,
            Verdict::Match | Verdict::MatchAfterTimestamps | Verdict::Imported
        )
    }
}

/// Decides the verdict of a layer whose published digest is `expected`.
pub fn check(built: Built, expected: Digest, ctx: &LayerContext) -> std::io::Result<Checked> {
    match built {
        Built::Imported { origin, same_bytes } => Ok(imported(origin, same_bytes)),
        Built::Base(outcome) => Ok(base(outcome)),
        Built::Committed { digest, .. } if digest == expected => Ok(Checked::new(Verdict::Match, BYTE_FOR_BYTE.into())),
        Built::Committed { entries, digest } => recover(entries, digest, expected, ctx),
    }
}

const BYTE_FOR_BYTE: &str = "byte for byte";

/// A layer the recipe supplied as the published blob: taken, not rebuilt.
fn imported(origin: &str, same_bytes: bool) -> Checked {
    let reason = if same_bytes {
        format!("published blob taken from {origin}, not rebuilt")
    } else {
        format!("published blob taken from {origin}, not rebuilt; retrace's rewrite of it differs")
    };
    Checked::new(Verdict::Imported, reason)
}

/// A base layer rebuilt from its tarball: the profile and builder variant that gave the published
/// digest, or every one tried.
fn base(outcome: &AddOutcome) -> Checked {
    let tried: Vec<String> = outcome
        .tried
        .iter()
        .map(|t| format!("{} {}", t.profile, t.variant))
        .collect();
    let mut checked = if outcome.matched {
        let mut c = Checked::new(
            Verdict::Match,
            format!(
                "{BYTE_FOR_BYTE} ({}, builder variant {})",
                outcome.profile, outcome.variant
            ),
        );
        c.variant = Some(outcome.variant.clone());
        c
    } else {
        Checked::new(
            Verdict::Differs,
            format!(
                "no release profile or builder variant gives the published digest (tried {})",
                tried.join(", ")
            ),
        )
    };
    checked.tried = tried;
    checked
}

/// A committed layer whose bytes (`committed_digest`) differ: embedded dates set back, each
/// builder variant exactly, then each through the timestamp search.
fn recover(
    committed: &[Entry],
    committed_digest: Digest,
    expected: Digest,
    ctx: &LayerContext,
) -> std::io::Result<Checked> {
    let mut dated = committed.to_vec();
    let dates = match ctx.recorded {
        Some(recorded) => variants::recover_shadow_days(&mut dated, ctx.replayed, recorded),
        None => BTreeMap::new(),
    };
    let candidates = variant_candidates(dated, ctx);
    let tried: Vec<String> = candidates.iter().map(|(v, _)| v.name().to_string()).collect();
    let mut checked = exact_or_searched(&candidates, (committed, committed_digest), expected, ctx)?;
    checked.tried = tried;
    if checked.verdict == Verdict::Match && !dates.is_empty() {
        // A recovered date is a lost time found, like an mtime: the match is not byte for byte.
        checked.verdict = Verdict::MatchAfterTimestamps;
    }
    if checked.verdict == Verdict::MatchAfterTimestamps || checked.verdict == Verdict::Match {
        let note = if dates.is_empty() {
            ""
        } else {
            ", embedded dates recovered"
        };
        let variant = checked.variant.as_deref().unwrap_or("plain");
        checked.reason = format!("{} (builder variant {variant}{note})", checked.reason);
    }
    checked.recovered_dates = dates;
    Ok(checked)
}

/// The first variant whose bytes are the published ones as they are, else the first one the
/// timestamp search recovers; the search's last word when none does. A candidate that is the
/// committed tree itself (`committed`, with its known digest) is not written again: writing and
/// compressing a large layer costs seconds.
fn exact_or_searched(
    candidates: &[(Variant, Vec<Entry>)],
    committed: (&[Entry], Digest),
    expected: Digest,
    ctx: &LayerContext,
) -> std::io::Result<Checked> {
    for (variant, entries) in candidates {
        let digest = match entries.as_slice() == committed.0 {
            true => committed.1,
            false => layers::blob_digest(entries, ctx.profile)?,
        };
        if digest == expected {
            return Ok(matched(Verdict::Match, BYTE_FOR_BYTE.into(), *variant, entries.clone()));
        }
    }
    let Some(input) = &ctx.search else {
        return Ok(Checked::new(
            Verdict::Differs,
            "rebuilt bytes differ; timestamp search impossible: a layer-making step has no recorded time".into(),
        ));
    };
    let mut last = String::new();
    for (variant, entries) in candidates {
        let input = SearchInput {
            expected,
            ..input.clone()
        };
        let found = layers::search_timestamps(entries, ctx.profile, input, ctx.query);
        if found.matched {
            let proof = with_times(entries, &found.times);
            let mut c = matched(Verdict::MatchAfterTimestamps, found.reason, *variant, proof);
            c.recovered_mtimes = found.recovered;
            c.recovered_times = found.times;
            return Ok(c);
        }
        last = found.reason;
    }
    Ok(Checked::new(Verdict::Differs, last))
}

/// A match under a builder variant, with the entries whose blob is the published one.
fn matched(verdict: Verdict, reason: String, variant: Variant, proof: Vec<Entry>) -> Checked {
    let mut c = Checked::new(verdict, reason);
    c.variant = Some(variant.name().to_string());
    c.builder = Some(variant);
    c.proof = Some(proof);
    c
}

/// The entries of each builder variant that gives other bytes, the one an earlier layer of this
/// platform matched with first.
fn variant_candidates(base: Vec<Entry>, ctx: &LayerContext) -> Vec<(Variant, Vec<Entry>)> {
    let opaque = variants::opaque_new_dirs(&base, ctx.lower);
    let shared = variants::shared_whiteouts(&base);
    let mut candidates = vec![(Variant::Plain, base)];
    if let Some(marked) = opaque {
        candidates.push((Variant::OpaqueNewDirs, marked));
    }
    if let Some(linked) = shared {
        candidates.push((Variant::SharedWhiteouts, linked));
    }
    if let Some(i) = candidates.iter().position(|(v, _)| Some(*v) == ctx.seen) {
        let seen = candidates.remove(i);
        candidates.insert(0, seen);
    }
    candidates
}

/// `entries` with the recovered mtimes set (paths in `layer::name::text` form).
fn with_times(entries: &[Entry], times: &BTreeMap<String, i64>) -> Vec<Entry> {
    entries
        .iter()
        .map(|e| {
            let mut e = e.clone();
            if let Some(&t) = times.get(&e.path_text()) {
                e.mtime = t;
            }
            e
        })
        .collect()
}

#[cfg(test)]
mod tests;
