//! Timestamp recovery: given the tree of a rebuilt layer whose replayed entries carry "now" mtimes,
//! find the original mtimes that make the layer blob hash to the published digest.
//!
//! The search core here is pure: entries, a tar writer, a blob hasher and the step times of the
//! document go in; a report comes out. It knows nothing about documents or directories; the glue
//! that builds a [`SearchInput`] from a parsed document and reads a directory lives in [`cli`].
//!
//! # Model (see research/reproduce/FINDINGS.md for the data behind it)
//! - An entry whose mtime is later than every time the document records was replayed; its original
//!   mtime is lost. Entries sharing one replayed mtime were set by the same step: they form a
//!   *group*. Groups ordered by replayed mtime were set by strictly increasing steps, and the last
//!   group was set by the layer's own step N (a diff holds something only because step N changed it).
//! - A step sets times 0..=21 s before its recorded `created`, mostly 0..=2 s.
//! - The base step (an `ADD` of a root file system tarball) keeps the tarball's times: either a
//!   debuerreotype snapshot epoch (midnight UTC, a few days before) or an arbitrary build time,
//!   seen up to 1.66 days before; the search walks back second by second, last.
//! - Entries of one group need not share one original second (two dirs a long step touched
//!   moments apart): a group may *split*, each entry taking its own time in the step's window.
//!
//! Hypotheses are tried cheapest first (see `Tier`); inside one hypothesis candidates run in
//! ordered blocks on rayon's pool and the search stops at the first exact digest. Each candidate
//! patches the mtime fields of a prebuilt tar and fixes the header checksums, so no tar is
//! rewritten per candidate.

pub mod cli;
pub mod facts;
pub mod lower;
mod template;

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde::Serialize;

use crate::layer::{Entry, EntryKind};
use crate::Digest;

pub use template::Template;

const DAY: i64 = 86_400;

/// One layer-making step of the document (ADD, COPY or RUN), in document order: index 0 is step 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepTime {
    /// The step's recorded `created`, in Unix seconds.
    pub created: i64,
    /// Whether the step extracts a root file system tarball (the base `ADD file:… in /`), whose
    /// entries keep the tarball's own times instead of the step's.
    pub base_tarball: bool,
    /// Whether the step copies build-context files (a COPY, or an ADD that is not the base): the
    /// files keep their build-context mtimes, which lie before the step, not in its window.
    pub copies_context: bool,
}

/// How far the search looks. The defaults come from the seed data (FINDINGS.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchLimits {
    /// Offsets 0..=likely before `created` are tried first.
    pub likely: i64,
    /// Offsets up to this many seconds before `created` are tried for any step.
    pub step_window: i64,
    /// Snapshot epochs (midnight UTC) up to this many days before the base step are tried first.
    pub epoch_days: i64,
    /// The base tarball's times are searched second by second this far back from its `created`.
    pub base_window: i64,
    /// A COPY'd file's build-context mtime is searched second by second this far back from the
    /// COPY's `created` (the seeds' were 112 to 193 s before it).
    pub context_window: i64,
    /// Groups of at most this many entries may split across the whole step window; larger groups
    /// split only across the likely offsets, to keep the product small.
    pub wide_split_max: usize,
    /// Groups with more entries than this never split: the split tier enumerates
    /// `(likely + 1)^entries` tuples, which must stay bounded in memory whatever a rebuild gives.
    pub split_max_entries: usize,
    /// Groups with more entries than this are not walked back second by second through the base
    /// tarball's window: that list holds one time per entry per second.
    pub base_max_entries: usize,
    /// Give up (no match) after computing this many digests.
    pub max_candidates: u64,
    /// Give up (no match) after searching this long: a candidate costs a gzip of the whole layer,
    /// so for large layers the candidate bound alone can mean hours.
    pub max_time: Duration,
}

impl Default for SearchLimits {
    fn default() -> SearchLimits {
        SearchLimits {
            likely: 2,
            step_window: 21,
            epoch_days: 7,
            base_window: 3 * DAY,
            context_window: 3600,
            wide_split_max: 3,
            split_max_entries: 8,
            base_max_entries: 16,
            max_candidates: 50_000_000,
            max_time: Duration::from_secs(24 * 3600),
        }
    }
}

/// Everything the search needs from the document, as plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchInput {
    /// The published digest of the layer blob.
    pub expected: Digest,
    /// The layer-making steps 1..=N; the last one made the layer being reproduced.
    pub steps: Vec<StepTime>,
    /// The latest time the document records: entries with a later mtime were replayed.
    pub replayed_after: i64,
    /// When the replay of the layer's own step began, when known (`retrace build` knows it):
    /// every entry with a later mtime was set by that step, however many seconds a slow replay
    /// spread its changes over, and each such group is searched in that step's window alone.
    /// Earlier replayed entries kept the times earlier steps gave them.
    pub own_step_since: Option<i64>,
    /// Entries the layer's step did not change, by path, with the mtime the published layers below
    /// hold for them. The classic builder's file system keeps a lower entry's mtime when a step only
    /// chmods, chowns or copies it up (a directory's changes only when an entry in it is created,
    /// removed or renamed), so such an entry is written with that time and never searched. The
    /// caller knows them from the layers below (see [`lower::LowerTimes`]); empty when it does not.
    /// Paths are in the text form of `layer::name::text`.
    pub kept: BTreeMap<String, i64>,
    pub limits: SearchLimits,
}

/// What the search found; `--json` prints exactly this.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchReport {
    pub matched: bool,
    pub expected: Digest,
    /// The matching digest, or when nothing matched the digest of the tree as given.
    pub digest: Digest,
    /// The recovered mtime of every replayed entry (path as in the tar, without a trailing `/`,
    /// in the text form of `layer::name::text`), or when nothing matched their replayed mtimes.
    pub mtimes: BTreeMap<String, i64>,
    /// How many candidate blobs were hashed.
    pub candidates: u64,
    pub seconds: f64,
    /// Why the search stopped.
    pub end: SearchEnd,
}

/// Why a search stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SearchEnd {
    /// A candidate gave the published digest.
    Matched,
    /// Every candidate the model allows was tried.
    Exhausted,
    /// The candidate budget (`max_candidates`) was spent first.
    CandidateBudget,
    /// The time budget (`max_time`) ran out first.
    TimeBudget,
}

/// Turns a layer tar into its blob digest (gzip, then sha256). One instance per worker thread, so
/// an implementation may keep its compressor state between candidates.
pub trait BlobHasher {
    fn blob_digest(&mut self, tar: &[u8]) -> Digest;
}

#[derive(Debug, thiserror::Error)]
pub enum ReproduceError {
    #[error("the document lists no layer-making step up to this layer")]
    NoSteps,
    #[error("writing the layer tar")]
    Tar(#[from] io::Error),
    #[error(
        "the tar writer's output for `{path}` changes outside its mtime field when only its mtime changes; \
         the search cannot patch candidates"
    )]
    Unpatchable { path: String },
    #[error("{groups} groups of replayed entries but only {steps} steps could have set them")]
    TooManyGroups { groups: usize, steps: usize },
}

/// Hypothesis classes, cheapest first. The numbers are the cost used to order combinations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Tier {
    /// One shared time 0..=likely s before a step's created, or a snapshot epoch of the base.
    Likely = 0,
    /// One shared time anywhere in a step's window.
    Window = 1,
    /// Entries of the group take their own times within one step's window.
    Split = 2,
    /// One shared time of the base tarball, walked back second by second.
    BaseSeconds = 3,
}

const TIERS: [Tier; 4] = [Tier::Likely, Tier::Window, Tier::Split, Tier::BaseSeconds];

fn tier_cost(t: Tier) -> u32 {
    match t {
        Tier::Likely => 0,
        Tier::Window => 1,
        Tier::Split => 2,
        Tier::BaseSeconds => 2,
    }
}

/// Candidate times of one group under one tier: tuples of `stride` times (one per group entry),
/// stored flat, most likely first.
#[derive(Debug, Clone, Default)]
struct TimeList {
    stride: usize,
    times: Vec<i64>,
}

impl TimeList {
    fn len(&self) -> usize {
        self.times.len().checked_div(self.stride).unwrap_or(0)
    }

    fn tuple(&self, i: usize) -> &[i64] {
        &self.times[i * self.stride..(i + 1) * self.stride]
    }

    fn push_shared(&mut self, t: i64, seen: &mut std::collections::HashSet<i64>) {
        if seen.insert(t) {
            self.times.extend(std::iter::repeat_n(t, self.stride));
        }
    }
}

/// Entries that share one replayed mtime; `members` index into the entry list.
#[derive(Debug, Clone)]
struct Group {
    members: Vec<usize>,
    /// Steps (1-based) that may have set this group, from the strictly increasing assignment.
    first_step: usize,
    last_step: usize,
    /// Files a COPY of the layer's own step brought from the build context: their one shared time
    /// is the context's, searched back from the step instead of in any step's window.
    context: bool,
}

/// Searches the original mtimes of `entries` (a rebuilt layer, in tar order) so the blob
/// `new_hasher` computes over `write_tar`'s output equals `input.expected`.
pub fn search<T, F, H>(
    entries: &[Entry],
    input: &SearchInput,
    write_tar: T,
    new_hasher: F,
) -> Result<SearchReport, ReproduceError>
where
    T: Fn(&[Entry]) -> io::Result<Vec<u8>>,
    F: Fn() -> H + Sync,
    H: BlobHasher + Send,
{
    search_with_progress(entries, input, write_tar, new_hasher, &|_| {})
}

/// One way the replayed groups may map to steps, with every group's candidate lists per tier.
struct Hypothesis {
    groups: Vec<Group>,
    lists: Vec<[TimeList; 4]>,
}

/// The budget shared by every hypothesis of one search, and where its use is reported.
struct Budget<'a> {
    counter: AtomicU64,
    max_candidates: u64,
    until: Option<Instant>,
    progress: &'a (dyn Fn(u64) + Sync),
}

impl Budget<'_> {
    fn out_of_time(&self) -> bool {
        self.until.is_some_and(|u| Instant::now() >= u)
    }

    fn spent(&self) -> bool {
        self.counter.load(Ordering::Relaxed) >= self.max_candidates || self.out_of_time()
    }
}

/// [`search`], calling `progress` with the number of candidates hashed so far after every block
/// of them (for a progress bar; it must be cheap).
pub fn search_with_progress<T, F, H>(
    entries: &[Entry],
    input: &SearchInput,
    write_tar: T,
    new_hasher: F,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<SearchReport, ReproduceError>
where
    T: Fn(&[Entry]) -> io::Result<Vec<u8>>,
    F: Fn() -> H + Sync,
    H: BlobHasher + Send,
{
    let start = Instant::now();
    if input.steps.is_empty() {
        return Err(ReproduceError::NoSteps);
    }
    let (entries, pinned) = pin_kept(entries, input);
    let hypotheses = hypotheses(&entries, &pinned, input)?;
    let variable: Vec<usize> = hypotheses[0]
        .groups
        .iter()
        .flat_map(|g| g.members.iter().copied())
        .collect();
    let template = Template::build(&entries, &variable, &write_tar)?;
    let as_given = new_hasher().blob_digest(template.bytes());
    // One scratch tar and one compressor per pool thread for the whole search: making a
    // compressor costs as much as a few candidates, so it must not happen per rayon job.
    let workers: Vec<Mutex<Worker<H>>> = (0..rayon::current_num_threads() + 1)
        .map(|_| {
            Mutex::new(Worker {
                buf: template.bytes().to_vec(),
                hasher: new_hasher(),
                pick: vec![0; hypotheses[0].groups.len()],
            })
        })
        .collect();
    let budget = Budget {
        counter: AtomicU64::new(0),
        max_candidates: input.limits.max_candidates,
        until: start.checked_add(input.limits.max_time),
        progress,
    };
    let found = if variable.is_empty() {
        budget.counter.store(1, Ordering::Relaxed);
        (as_given == input.expected).then(Vec::new)
    } else {
        run_hypotheses(&hypotheses, &template, input, &workers, &budget)
    };
    let candidates = budget.counter.load(Ordering::Relaxed);
    let end = match &found {
        Some(_) => SearchEnd::Matched,
        None if candidates >= budget.max_candidates => SearchEnd::CandidateBudget,
        None if budget.out_of_time() => SearchEnd::TimeBudget,
        None => SearchEnd::Exhausted,
    };
    let mut mtimes: BTreeMap<String, i64> = (0..entries.len())
        .filter(|&i| pinned[i])
        .map(|i| (entries[i].path_text(), entries[i].mtime))
        .collect();
    let times = found
        .clone()
        .unwrap_or_else(|| variable.iter().map(|&m| entries[m].mtime).collect());
    mtimes.extend(variable.iter().zip(times).map(|(&m, t)| (entries[m].path_text(), t)));
    let matched = found.is_some();
    Ok(SearchReport {
        matched,
        expected: input.expected,
        digest: if matched { input.expected } else { as_given },
        mtimes,
        candidates,
        seconds: start.elapsed().as_secs_f64(),
        end,
    })
}

/// The entries with the kept times of [`SearchInput::kept`] written in, and which of them were
/// replayed entries so pinned (they are reported, never searched).
fn pin_kept(entries: &[Entry], input: &SearchInput) -> (Vec<Entry>, Vec<bool>) {
    let mut out = entries.to_vec();
    let mut pinned = vec![false; out.len()];
    for (e, pin) in out.iter_mut().zip(pinned.iter_mut()) {
        if let Some(&t) = input.kept.get(&e.path_text()) {
            *pin = e.mtime > input.replayed_after;
            e.mtime = t;
        }
    }
    (out, pinned)
}

/// The ways the replayed groups may map to steps, most likely first. When the own step's replay
/// start is unknown, the last group is first taken for the layer's own step; then, for a step
/// that changed no mtime at all (a chmod, chown or `touch -d` of lower files copies them up with
/// their lower times), every group for an earlier step.
fn hypotheses(entries: &[Entry], pinned: &[bool], input: &SearchInput) -> Result<Vec<Hypothesis>, ReproduceError> {
    let make = |input: &SearchInput| -> Result<Hypothesis, ReproduceError> {
        let groups = find_groups(entries, pinned, input)?;
        let lists = groups.iter().map(|g| tier_lists(g, input)).collect();
        Ok(Hypothesis { groups, lists })
    };
    let mut out = vec![make(input)?];
    let latest = entries
        .iter()
        .enumerate()
        .filter(|(i, e)| e.mtime > input.replayed_after && !pinned[*i])
        .map(|(_, e)| e.mtime)
        .max();
    if let (None, Some(latest)) = (input.own_step_since, latest) {
        let unchanged = SearchInput {
            own_step_since: Some(latest + 1),
            ..input.clone()
        };
        // A layer whose groups need every step cannot be one whose own step changed nothing.
        if let Ok(h) = make(&unchanged) {
            out.push(h);
        }
    }
    Ok(out)
}

/// Runs the tier combinations of every hypothesis, cheapest first across all of them, until one
/// matches or the budget is spent.
fn run_hypotheses<H: BlobHasher + Send>(
    hypotheses: &[Hypothesis],
    template: &Template,
    input: &SearchInput,
    workers: &[Mutex<Worker<H>>],
    budget: &Budget,
) -> Option<Vec<i64>> {
    let mut combos: Vec<(u32, u128, usize, Vec<Tier>)> = Vec::new();
    for (h, hyp) in hypotheses.iter().enumerate() {
        let mut tiers = vec![Tier::Likely; hyp.groups.len()];
        let mut own = Vec::new();
        enumerate_tier_vectors(&hyp.lists, 0, &mut tiers, &mut own);
        combos.extend(own.into_iter().map(|(cost, size, tiers)| (cost, size, h, tiers)));
    }
    combos.sort_by_key(|c| (c.0, c.1, c.2));
    for (_, _, h, tiers) in &combos {
        if budget.spent() {
            return None;
        }
        let hyp = &hypotheses[*h];
        let chosen: Vec<&TimeList> = tiers
            .iter()
            .enumerate()
            .map(|(g, t)| &hyp.lists[g][*t as usize])
            .collect();
        if let Some(found) = run_combo(template, &hyp.groups, &chosen, input, workers, budget) {
            return Some(found);
        }
    }
    None
}

/// Groups the replayed entries (those not pinned) by their mtime, ordered by it, and bounds the
/// steps each group may stem from: strictly increasing. When the own step's replay start is known,
/// every group after it is step `n`'s and the others come from earlier steps, even when the step
/// changed no mtime at all; otherwise the last group is taken for step `n`. When step `n` copies
/// build context files, an earlier group made only of non-directories is taken for those files
/// (their context mtime predates the replay of the step) and uses no step of its own.
fn find_groups(entries: &[Entry], pinned: &[bool], input: &SearchInput) -> Result<Vec<Group>, ReproduceError> {
    let n = input.steps.len();
    let own_copies_context = input.steps[n - 1].copies_context;
    let mut by_time: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (i, e) in entries.iter().enumerate() {
        if e.mtime > input.replayed_after && !pinned[i] {
            by_time.entry(e.mtime).or_default().push(i);
        }
    }
    let all = by_time.len();
    let is_context = |i: usize, members: &[usize]| {
        own_copies_context && i + 1 < all && members.iter().all(|&m| !matches!(entries[m].kind, EntryKind::Dir))
    };
    let is_own = |t: i64| input.own_step_since.is_some_and(|since| t >= since);
    let contexts = by_time.values().enumerate().filter(|(i, m)| is_context(*i, m)).count();
    let owns = by_time
        .keys()
        .enumerate()
        .filter(|(i, t)| is_own(**t) && !is_context(*i, &by_time[*t]))
        .count();
    // Groups that each need a step of their own, and the last step they may come from.
    let known_start = input.own_step_since.is_some();
    let (count, last) = if known_start {
        (all - contexts - owns, n - 1)
    } else {
        (all - contexts, n)
    };
    if count > last {
        return Err(ReproduceError::TooManyGroups {
            groups: count,
            steps: last,
        });
    }
    let mut groups = Vec::with_capacity(all);
    let mut i = 0;
    for (g, (time, members)) in by_time.into_iter().enumerate() {
        let context = is_context(g, &members);
        let (first_step, last_step) = if context || is_own(time) {
            (n, n)
        } else {
            let first = if i + 1 == count && !known_start { n } else { i + 1 };
            i += 1;
            (first, last - (count - i))
        };
        groups.push(Group {
            members,
            first_step,
            last_step,
            context,
        });
    }
    Ok(groups)
}

/// Offset tuples for `k` entries that take one of two offsets `a < b <= window`, each at least one
/// entry, leaving out those the plain split within `width` already gives; nearest spreads first.
fn two_time_splits(k: usize, width: i64, window: i64) -> Vec<Vec<i64>> {
    let mut out = Vec::new();
    for b in 1..=window {
        for a in 0..b {
            if b <= width {
                continue;
            }
            for mask in 1..(1u32 << k) - 1 {
                out.push((0..k).map(|i| if mask >> i & 1 == 1 { b } else { a }).collect());
            }
        }
    }
    out
}

/// The candidate lists of one group for each tier.
fn tier_lists(g: &Group, input: &SearchInput) -> [TimeList; 4] {
    let lim = &input.limits;
    let k = g.members.len();
    let mut out: [TimeList; 4] = Default::default();
    for l in out.iter_mut() {
        l.stride = k;
    }
    let steps = &input.steps[g.first_step - 1..g.last_step];
    let base = input.steps[0];
    if g.context {
        // One shared build-context time, nearest to the COPY first.
        let mut seen = std::collections::HashSet::new();
        let own = steps[steps.len() - 1].created;
        for back in 0..=lim.context_window {
            out[1].push_shared(own - back, &mut seen);
        }
        return out;
    }
    let may_be_base = g.first_step == 1 && base.base_tarball;

    let mut seen = std::collections::HashSet::new();
    // Likely: offsets 0..=likely of every allowed step, nearest first, then the snapshot epochs.
    for off in 0..=lim.likely {
        for s in steps.iter().rev() {
            out[0].push_shared(s.created - off, &mut seen);
        }
    }
    if may_be_base {
        let midnight = base.created - base.created.rem_euclid(DAY);
        for d in 0..=lim.epoch_days {
            out[0].push_shared(midnight - d * DAY, &mut seen);
        }
    }
    // Window: the rest of every allowed step's window.
    for off in lim.likely + 1..=lim.step_window {
        for s in steps.iter().rev() {
            out[1].push_shared(s.created - off, &mut seen);
        }
    }
    // Split: each entry its own offset within one step's window; the last group (the layer's own
    // step) only within the likely offsets, where the data never needed more.
    if k > 1 && k <= lim.split_max_entries {
        let own = g.last_step == input.steps.len();
        let width = if own || k > lim.wide_split_max {
            lim.likely
        } else {
            lim.step_window
        };
        let mut tuples: Vec<Vec<i64>> = Vec::new();
        let mut offs = vec![0i64; k];
        loop {
            if offs.iter().any(|&o| o != offs[0]) {
                tuples.push(offs.clone());
            }
            let mut i = 0;
            while i < k {
                offs[i] += 1;
                if offs[i] <= width {
                    break;
                }
                offs[i] = 0;
                i += 1;
            }
            if i == k {
                break;
            }
        }
        // Small spreads first: order by the largest offset, then by the sum.
        tuples.sort_by_key(|t| (*t.iter().max().unwrap(), t.iter().sum::<i64>()));
        // Then two times anywhere in the window, each entry at one of them: a slow builder's
        // step (a package database written, then a home directory made) moves its entries in two
        // bursts seconds apart, further apart than the likely offsets.
        tuples.extend(two_time_splits(k, width, lim.step_window));
        let mut seen_split = std::collections::HashSet::new();
        for t in &tuples {
            for s in steps.iter().rev() {
                let times: Vec<i64> = t.iter().map(|o| s.created - o).collect();
                if seen_split.insert(times.clone()) {
                    out[2].times.extend(times);
                }
            }
        }
    }
    // Base seconds: the tarball's own build time, nearest first, skipping what the windows covered.
    if may_be_base && k <= lim.base_max_entries {
        for back in 0..=lim.base_window {
            out[3].push_shared(base.created - back, &mut seen);
        }
    }
    out
}

/// Collects every combination of tiers with non-empty lists, with its cost and candidate count.
fn enumerate_tier_vectors(
    lists: &[[TimeList; 4]],
    g: usize,
    tiers: &mut Vec<Tier>,
    out: &mut Vec<(u32, u128, Vec<Tier>)>,
) {
    if g == lists.len() {
        let cost = tiers.iter().map(|t| tier_cost(*t)).sum();
        let size = tiers
            .iter()
            .enumerate()
            .map(|(g, t)| lists[g][*t as usize].len() as u128)
            .product();
        out.push((cost, size, tiers.clone()));
        return;
    }
    for t in TIERS {
        if lists[g][t as usize].len() > 0 {
            tiers[g] = t;
            enumerate_tier_vectors(lists, g + 1, tiers, out);
        }
    }
}

/// Per-thread scratch state of the search.
struct Worker<H> {
    buf: Vec<u8>,
    hasher: H,
    pick: Vec<usize>,
}

/// Candidates per ordered block: large enough to keep both cores busy, small enough that the
/// search stops soon after the block holding the match.
const BLOCK: u64 = 2048;

/// Tries every candidate of one tier combination, in order, in parallel blocks. Returns the times
/// of the matching candidate (group by group, member by member).
fn run_combo<H: BlobHasher + Send>(
    template: &Template,
    groups: &[Group],
    lists: &[&TimeList],
    input: &SearchInput,
    workers: &[Mutex<Worker<H>>],
    budget: &Budget,
) -> Option<Vec<i64>> {
    let counter = &budget.counter;
    // The longest list varies slowest, so its most likely values are tried with every
    // combination of the others before its less likely ones.
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by_key(|&g| std::cmp::Reverse(lists[g].len()));
    let total: u64 = lists.iter().map(|l| l.len() as u64).product();
    let stop = AtomicBool::new(false);
    let mut block_start = 0;
    while block_start < total {
        let remaining = budget.max_candidates.saturating_sub(counter.load(Ordering::Relaxed));
        if remaining == 0 || budget.out_of_time() {
            return None;
        }
        let end = total.min(block_start + BLOCK.min(remaining));
        let hit = (0..(end - block_start) as usize)
            .into_par_iter()
            .with_min_len(64)
            .map(|off| {
                let idx = block_start + off as u64;
                if stop.load(Ordering::Relaxed) {
                    return None;
                }
                // Each pool thread has its own slot (the extra last one serves a caller
                // outside the pool), so the lock is never contended.
                let slot = rayon::current_thread_index().unwrap_or(workers.len() - 1);
                let mut worker = workers[slot].lock().unwrap_or_else(|e| e.into_inner());
                let Worker { buf, hasher, pick } = &mut *worker;
                let mut rest = idx;
                for &g in order.iter().rev() {
                    let len = lists[g].len() as u64;
                    pick[g] = (rest % len) as usize;
                    rest /= len;
                }
                // Steps run one after another: a later group cannot predate an earlier one.
                for g in 1..groups.len() {
                    let prev_max = lists[g - 1].tuple(pick[g - 1]).iter().max();
                    let cur_min = lists[g].tuple(pick[g]).iter().min();
                    if prev_max > cur_min {
                        return None;
                    }
                }
                for (g, group) in groups.iter().enumerate() {
                    for (m, &t) in group.members.iter().zip(lists[g].tuple(pick[g])) {
                        template.patch(buf, *m, t);
                    }
                }
                counter.fetch_add(1, Ordering::Relaxed);
                if hasher.blob_digest(buf) == input.expected {
                    stop.store(true, Ordering::Relaxed);
                    let times = (0..groups.len())
                        .flat_map(|g| lists[g].tuple(pick[g]).to_vec())
                        .collect();
                    Some(times)
                } else {
                    None
                }
            })
            .find_map_any(|x| x);
        (budget.progress)(counter.load(Ordering::Relaxed));
        if hit.is_some() {
            return hit;
        }
        block_start = end;
    }
    None
}

#[cfg(test)]
mod tests;
