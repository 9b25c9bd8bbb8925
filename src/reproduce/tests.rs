//! Search-core tests with a stand-in tar writer (one 512-byte header per entry, mtime at 136,
//! Go's checksum) and a plain sha256 "blob": the core must not care which writer or compressor
//! it drives, and these run without the real ones.

use super::*;
use crate::layer::Entry;
use sha2::{Digest as _, Sha256};

fn toy_tar(entries: &[Entry]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    for e in entries {
        let mut h = [0u8; 512];
        h[..e.path.len()].copy_from_slice(&e.path);
        h[100..108].copy_from_slice(format!("{:07o}\0", e.mode).as_bytes());
        h[136..148].copy_from_slice(format!("{:011o}\0", e.mtime).as_bytes());
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| b as u32).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        out.extend_from_slice(&h);
    }
    out.extend_from_slice(&[0u8; 1024]);
    Ok(out)
}

struct Sha;
impl BlobHasher for Sha {
    fn blob_digest(&mut self, tar: &[u8]) -> Digest {
        Digest::from_bytes(Sha256::digest(tar).into())
    }
}

fn digest_of(entries: &[Entry]) -> Digest {
    Sha.blob_digest(&toy_tar(entries).unwrap())
}

const NOW: i64 = 1_900_000_000;

fn steps(created: &[i64], base_tarball: bool) -> Vec<StepTime> {
    created
        .iter()
        .enumerate()
        .map(|(i, &c)| StepTime {
            created: c,
            base_tarball: base_tarball && i == 0,
            copies_context: false,
        })
        .collect()
}

/// Runs the search over `truth` with every mtime replaced by a replayed one (`NOW` + the group
/// number given per entry) and checks it recovers the truth.
fn recovers(truth: &[Entry], replay_group: &[i64], steps: Vec<StepTime>) -> SearchReport {
    let replayed: Vec<Entry> = truth
        .iter()
        .zip(replay_group)
        .map(|(e, g)| e.clone().with_mtime(NOW + g))
        .collect();
    let input = SearchInput {
        expected: digest_of(truth),
        steps,
        replayed_after: 1_600_000_000,
        own_step_since: None,
        kept: BTreeMap::new(),
        limits: SearchLimits::default(),
    };
    let report = search(&replayed, &input, toy_tar, || Sha).unwrap();
    assert!(report.matched, "{report:?}");
    for e in truth {
        assert_eq!(report.mtimes[&e.path_text()], e.mtime, "{}", e.path_text());
    }
    report
}

#[test]
fn own_step_entries_are_found_in_the_likely_offsets() {
    let truth = [Entry::dir("a", 0o755).with_mtime(1_500_000_099)];
    let r = recovers(&truth, &[0], steps(&[1_400_000_000, 1_500_000_100], true));
    assert!(r.candidates <= 3, "{r:?}");
}

#[test]
fn copied_up_dirs_take_an_earlier_steps_time_and_groups_may_split() {
    // usr and usr/local were set by step 2 four and nine seconds before its created, apart.
    let truth = [
        Entry::dir("usr", 0o755).with_mtime(1_500_000_096),
        Entry::dir("usr/local", 0o755).with_mtime(1_500_000_091),
        Entry::dir("usr/local/bin", 0o755).with_mtime(1_500_000_200),
        Entry::symlink("usr/local/bin/python", "python3").with_mtime(1_500_000_200),
    ];
    recovers(
        &truth,
        &[1, 1, 2, 2],
        steps(&[1_400_000_000, 1_500_000_100, 1_500_000_201], true),
    );
}

#[test]
fn base_tarball_times_are_searched_far_back_and_epochs_first() {
    let base = 1_400_000_000;
    let truth = [
        Entry::dir("usr", 0o755).with_mtime(base - 5_000),
        Entry::dir("usr/local", 0o755).with_mtime(1_500_000_100),
    ];
    recovers(&truth, &[1, 2], steps(&[base, 1_500_000_100], true));
    let midnight = base - base % 86_400 - 86_400;
    let truth = [
        Entry::dir("usr", 0o755).with_mtime(midnight),
        Entry::dir("usr/local", 0o2775).with_mtime(midnight),
        Entry::dir("usr/local/bin", 0o2775).with_mtime(1_500_000_100),
    ];
    let r = recovers(&truth, &[1, 1, 2], steps(&[base, 1_500_000_100], true));
    assert!(r.candidates < 100, "{r:?}");
}

#[test]
fn kept_mtimes_are_not_searched_and_a_wrong_tree_is_reported_honestly() {
    let truth = [
        Entry::dir("var", 0o755).with_mtime(1_300_000_000),
        Entry::dir("var/x", 0o755).with_mtime(1_500_000_100),
    ];
    let input = SearchInput {
        expected: digest_of(&truth),
        steps: steps(&[1_400_000_000, 1_500_000_100], true),
        replayed_after: 1_600_000_000,
        own_step_since: None,
        kept: BTreeMap::new(),
        limits: SearchLimits::default(),
    };
    // var keeps its original (pre-document) time; only var/x was replayed.
    let tree = [truth[0].clone(), truth[1].clone().with_mtime(NOW)];
    let r = search(&tree, &input, toy_tar, || Sha).unwrap();
    assert!(r.matched);
    assert_eq!(r.mtimes.len(), 1);

    // Told that var/x was replayed by the layer's own step (as `retrace build` is), the search
    // tries that step's whole window and says so.
    let wrong = [truth[0].clone(), Entry::dir("var/x", 0o700).with_mtime(NOW)];
    let own = SearchInput {
        own_step_since: Some(NOW),
        ..input.clone()
    };
    let r = search(&wrong, &own, toy_tar, || Sha).unwrap();
    assert!(!r.matched);
    assert_eq!(r.candidates, 22, "the whole window of the only possible step: {r:?}");
    assert_eq!(r.end, SearchEnd::Exhausted);
    assert_eq!(r.digest, digest_of(&wrong));
    assert_eq!(r.mtimes["var/x"], NOW);
    // Not told, it also tries the base step (a step that changed no mtime), until its budget ends.
    let budget = SearchInput {
        limits: SearchLimits {
            max_candidates: 1000,
            ..SearchLimits::default()
        },
        ..input
    };
    let r = search(&wrong, &budget, toy_tar, || Sha).unwrap();
    assert_eq!(
        (r.matched, r.end, r.candidates),
        (false, SearchEnd::CandidateBudget, 1000),
        "{r:?}"
    );
}

/// A layer whose step only chmods a lower file: `etc` and `etc/group` were written by step 2 and
/// copied up by step 3 with step 2's (replayed, then lost) time.
fn chmod_layer() -> (Vec<Entry>, Vec<Entry>, Vec<StepTime>) {
    let step2 = 1_500_000_100;
    let truth = vec![
        Entry::dir("etc", 0o755).with_mtime(step2 - 1),
        Entry::file("etc/group", 0o600, "root:x:0:\n").with_mtime(step2 - 1),
    ];
    let replayed = truth.iter().map(|e| e.clone().with_mtime(NOW)).collect();
    (truth, replayed, steps(&[1_400_000_000, step2, 1_500_000_300], true))
}

#[test]
fn a_step_that_changed_no_mtime_takes_an_earlier_steps_time() {
    let (truth, replayed, steps) = chmod_layer();
    let mut input = SearchInput {
        expected: digest_of(&truth),
        steps,
        replayed_after: 1_600_000_000,
        own_step_since: Some(NOW + 30),
        kept: BTreeMap::new(),
        limits: SearchLimits::default(),
    };
    // `retrace build` knows step 3 began after: the group is an earlier step's.
    let r = search(&replayed, &input, toy_tar, || Sha).unwrap();
    assert!(r.matched, "{r:?}");
    assert!(r.candidates <= 6, "{r:?}");
    // `retrace layer reproduce` does not: the own step first, then a step that changed nothing.
    input.own_step_since = None;
    let r = search(&replayed, &input, toy_tar, || Sha).unwrap();
    assert!(r.matched, "{r:?}");
    assert!(r.candidates <= 20, "{r:?}");
    assert_eq!(r.mtimes["etc/group"], truth[1].mtime);
}

#[test]
fn kept_entries_take_the_lower_published_time_without_a_search() {
    let (truth, replayed, steps) = chmod_layer();
    let input = SearchInput {
        expected: digest_of(&truth),
        steps,
        replayed_after: 1_600_000_000,
        own_step_since: Some(NOW + 30),
        kept: truth.iter().map(|e| (e.path_text(), e.mtime)).collect(),
        limits: SearchLimits::default(),
    };
    let progress = AtomicU64::new(0);
    let r = search_with_progress(&replayed, &input, toy_tar, || Sha, &|n| {
        progress.store(n, Ordering::Relaxed)
    })
    .unwrap();
    assert_eq!((r.matched, r.candidates, r.end), (true, 1, SearchEnd::Matched), "{r:?}");
    assert_eq!(r.mtimes["etc"], truth[0].mtime, "kept times are reported as recovered");
    // A wrong kept time is not searched around: the layer is reported as differing.
    let wrong = SearchInput {
        kept: truth.iter().map(|e| (e.path_text(), e.mtime - 1)).collect(),
        ..input
    };
    let r = search(&replayed, &wrong, toy_tar, || Sha).unwrap();
    assert_eq!((r.matched, r.end), (false, SearchEnd::Exhausted), "{r:?}");
}

#[test]
fn progress_is_reported_as_blocks_finish() {
    let truth = slow_step_truth();
    let replayed: Vec<Entry> = truth.iter().map(|e| e.clone().with_mtime(NOW)).collect();
    let input = SearchInput {
        expected: digest_of(&truth),
        steps: steps(&[1_400_000_000, 1_500_000_100], false),
        replayed_after: 1_600_000_000,
        own_step_since: None,
        kept: BTreeMap::new(),
        limits: SearchLimits::default(),
    };
    let seen = AtomicU64::new(0);
    let r = search_with_progress(&replayed, &input, toy_tar, || Sha, &|n| {
        seen.fetch_max(n, Ordering::Relaxed);
    })
    .unwrap();
    assert!(r.matched);
    assert_eq!(seen.load(Ordering::Relaxed), r.candidates);
}

#[test]
fn more_groups_than_steps_is_an_error() {
    let tree = [
        Entry::dir("a", 0o755).with_mtime(NOW),
        Entry::dir("b", 0o755).with_mtime(NOW + 1),
    ];
    let input = SearchInput {
        expected: digest_of(&tree),
        steps: steps(&[1_500_000_000], false),
        replayed_after: 1_600_000_000,
        own_step_since: None,
        kept: BTreeMap::new(),
        limits: SearchLimits::default(),
    };
    assert!(matches!(
        search(&tree, &input, toy_tar, || Sha),
        Err(ReproduceError::TooManyGroups { groups: 2, steps: 1 })
    ));
}

#[test]
fn a_copied_files_context_mtime_is_searched_back_from_the_copy() {
    // COPY httpd-foreground /usr/local/bin/: the directory takes the COPY's time, the file keeps
    // the build context's, 150 s earlier (the seeds' were 112 to 193 s). usr and usr/local keep
    // the base image's times and were not replayed.
    let copy = 1_500_000_300;
    let truth = [
        Entry::dir("usr", 0o755).with_mtime(1_300_000_000),
        Entry::dir("usr/local", 0o755).with_mtime(1_300_000_000),
        Entry::dir("usr/local/bin", 0o755).with_mtime(copy - 1),
        Entry::file("usr/local/bin/httpd-foreground", 0o755, b"#!/bin/sh\n".to_vec()).with_mtime(copy - 150),
    ];
    let mut steps = steps(&[1_400_000_000, 1_500_000_100, copy], true);
    steps[2].copies_context = true;
    // The rebuilt tree: the context file checked out before the replay ran the COPY.
    let replayed = [
        truth[0].clone(),
        truth[1].clone(),
        truth[2].clone().with_mtime(NOW + 10),
        truth[3].clone().with_mtime(NOW),
    ];
    let input = SearchInput {
        expected: digest_of(&truth),
        steps: steps.clone(),
        replayed_after: 1_600_000_000,
        own_step_since: None,
        kept: BTreeMap::new(),
        limits: SearchLimits::default(),
    };
    let r = search(&replayed, &input, toy_tar, || Sha).unwrap();
    assert!(r.matched, "{r:?}");
    assert_eq!(r.mtimes["usr/local/bin/httpd-foreground"], copy - 150);
    assert_eq!(r.mtimes["usr/local/bin"], copy - 1);
    assert!(r.candidates < 3 * 3601, "{r:?}");

    // Without the COPY fact, the two groups would need two steps' windows and miss the file.
    steps[2].copies_context = false;
    let input = SearchInput {
        steps,
        limits: SearchLimits {
            max_candidates: 50_000,
            ..SearchLimits::default()
        },
        ..input
    };
    let r = search(&replayed, &input, toy_tar, || Sha).unwrap();
    assert!(!r.matched, "{r:?}");
}

/// A slow builder's step: six entries in two bursts 3 and 4 s before the step's record, one of
/// them alone in the first; the replay, as slow, spread them over two seconds of its own.
fn slow_step_truth() -> Vec<Entry> {
    let t = 1_500_000_100;
    ["etc", "etc/group", "etc/group-", "etc/passwd", "etc/shadow", "home"]
        .iter()
        .enumerate()
        .map(|(i, p)| Entry::dir(*p, 0o755).with_mtime(if i == 2 { t - 4 } else { t - 3 }))
        .collect()
}

#[test]
fn groups_after_the_own_step_began_are_all_that_steps() {
    // Two replayed groups, both after the step's replay began: without that fact they would need
    // two steps; with it, both are the layer's own and are searched in its window.
    let truth = slow_step_truth();
    let replayed: Vec<Entry> = truth
        .iter()
        .enumerate()
        .map(|(i, e)| e.clone().with_mtime(NOW + i64::from(i != 2)))
        .collect();
    let mut input = SearchInput {
        expected: digest_of(&truth),
        steps: steps(&[1_500_000_100], false),
        replayed_after: 1_600_000_000,
        own_step_since: None,
        kept: BTreeMap::new(),
        limits: SearchLimits::default(),
    };
    assert!(matches!(
        search(&replayed, &input, toy_tar, || Sha),
        Err(ReproduceError::TooManyGroups { .. })
    ));
    input.own_step_since = Some(NOW);
    let report = search(&replayed, &input, toy_tar, || Sha).unwrap();
    assert!(report.matched, "{report:?}");
}

#[test]
fn one_group_splits_into_two_bursts_beyond_the_likely_offsets() {
    // The replay set all six in one second; the original's two bursts lie outside 0..=2 s.
    let truth = slow_step_truth();
    let r = recovers(&truth, &[0; 6], steps(&[1_400_000_000, 1_500_000_100], false));
    assert!(r.candidates < 100_000, "{r:?}");
}
