//! The 35 non-COPY seed layers of docs/reproducible-layers.md, reproduced from directories this
//! test builds: each fixture tree (testdata/reproduce/layers.yaml: paths, kinds, modes, owners,
//! opaque dirs, and which step last changed each entry, but no time and no digest) is
//! materialized with real files, owners, setgid bits and overlay xattrs, every mtime is set to a
//! replayed "now", and `retrace layer reproduce` must find every original mtime itself and hit
//! the digest the seed document publishes.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{lchown, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::common::fixtures::{fixtures, FixtureLayer};
use retrace::reproduce::cli::reproduce_dir;
use retrace::reproduce::facts::layer_facts;

fn is_root() -> bool {
    // Owners, setgid bits and trusted.* xattrs all need root; /proc/self/status says who we are.
    fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Builds the fixture tree under `root` with every mtime replayed: entries last changed by step
/// `s` get `replay_base + s`, as if a rebuild ran the steps one per second from now on.
fn materialize(root: &Path, layer: &FixtureLayer, replay_base: i64) {
    for e in &layer.entries {
        let p = root.join(&e.path);
        match e.kind.as_str() {
            "dir" => fs::create_dir(&p).unwrap(),
            "symlink" => std::os::unix::fs::symlink(e.target.as_ref().unwrap(), &p).unwrap(),
            k => panic!("fixture kind {k} not supported"),
        }
        lchown(&p, Some(e.uid), Some(e.gid)).unwrap();
        if e.kind == "dir" {
            // chmod after chown: chown may clear setgid.
            let mode = u32::from_str_radix(&e.mode, 8).unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
            if e.opaque {
                xattr::set(&p, "trusted.overlay.opaque", b"y").unwrap();
            }
        }
    }
    // Times last: creating a child changes its parent's mtime.
    for e in &layer.entries {
        let t = filetime::FileTime::from_unix_time(replay_base + e.set_by as i64, 0);
        filetime::set_symlink_file_times(root.join(&e.path), t, t).unwrap();
    }
}

fn seed_path(layer: &FixtureLayer) -> PathBuf {
    PathBuf::from("testdata/seeds").join(&layer.seed)
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

#[test]
fn reproduces_all_35_non_copy_seed_layers_from_replayed_trees() {
    if !is_root() {
        eprintln!("SKIPPED: reproduces_all_35_non_copy_seed_layers_from_replayed_trees needs root (chown, setgid, trusted.* xattrs)");
        return;
    }
    let layers = fixtures();
    assert_eq!(layers.len(), 35);
    let mut summary = BTreeMap::new();
    let (mut total_candidates, mut total_seconds) = (0u64, 0f64);
    let mut failures = Vec::new();
    for layer in &layers {
        let facts = layer_facts(&seed_path(layer), &layer.platform.parse().unwrap(), layer.layer).unwrap();
        let expected = facts.input.expected;
        let dir = tempfile::tempdir().unwrap();
        materialize(dir.path(), layer, now());
        let report = reproduce_dir(dir.path(), &facts.input, &facts.profile).unwrap();
        let name = format!("{} {} layer {}", layer.seed, layer.platform, layer.layer);
        eprintln!(
            "{name}: matched={} candidates={} seconds={:.3}",
            report.matched, report.candidates, report.seconds
        );
        total_candidates += report.candidates;
        total_seconds += report.seconds;
        if !report.matched || report.digest != expected {
            failures.push(name.clone());
        }
        // Every replayed entry got a pre-document time back.
        assert!(
            report.mtimes.values().all(|&t| t <= facts.input.replayed_after),
            "{name}: {report:?}"
        );
        assert_eq!(report.mtimes.len(), layer.entries.len(), "{name}");
        summary.insert(name, report.candidates);
    }
    eprintln!(
        "total: {} layers, {total_candidates} candidates, {total_seconds:.2} s",
        layers.len()
    );
    assert!(failures.is_empty(), "not reproduced: {failures:#?}");
}

/// Runs the real binary on a materialized tree and returns its exit code and JSON report.
fn run_cli(layer: &FixtureLayer, dir: &Path) -> (i32, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_retrace"))
        .args(["layer", "reproduce"])
        .arg(dir)
        .arg("--document")
        .arg(seed_path(layer))
        .args([
            "--platform",
            &layer.platform,
            "--layer",
            &layer.layer.to_string(),
            "--json",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let json = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout} {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), json)
}

fn pick<'a>(layers: &'a [FixtureLayer], seed: &str, platform: &str, layer: usize) -> &'a FixtureLayer {
    layers
        .iter()
        .find(|l| l.seed == seed && l.platform == platform && l.layer == layer)
        .unwrap()
}

#[test]
fn cli_reproduces_layers_and_prints_the_json_report() {
    if !is_root() {
        eprintln!(
            "SKIPPED: cli_reproduces_layers_and_prints_the_json_report needs root (chown, setgid, trusted.* xattrs)"
        );
        return;
    }
    let layers = fixtures();
    // One of each kind that is quick: an opaque dir, setgid dirs at a Debian epoch with gid-50
    // symlinks, and a group of copied-up dirs that an earlier step set at two different seconds.
    for (seed, platform, n) in [
        ("002_016ef913fa1bb703.txt", "linux; ppc64le", 4),
        ("004_64793b9ead927637.txt", "linux; amd64", 4),
        ("003_4c5d4d555e289643.txt", "linux; arm64 variant v8", 4),
    ] {
        let layer = pick(&layers, seed, platform, n);
        let dir = tempfile::tempdir().unwrap();
        materialize(dir.path(), layer, now());
        let (code, json) = run_cli(layer, dir.path());
        let facts = layer_facts(&seed_path(layer), &platform.parse().unwrap(), n).unwrap();
        assert_eq!(code, 0, "{json}");
        assert_eq!(json["matched"], true);
        assert_eq!(json["expected"], facts.input.expected.to_string());
        assert_eq!(json["digest"], facts.input.expected.to_string());
        assert_eq!(json["mtimes"].as_object().unwrap().len(), layer.entries.len());
        assert!(json["candidates"].as_u64().unwrap() >= 1);
        assert!(json["seconds"].as_f64().is_some());
    }
}

#[test]
fn cli_reports_no_match_honestly_for_a_wrong_tree() {
    if !is_root() {
        eprintln!(
            "SKIPPED: cli_reports_no_match_honestly_for_a_wrong_tree needs root (chown, setgid, trusted.* xattrs)"
        );
        return;
    }
    let layers = fixtures();
    let layer = pick(&layers, "002_016ef913fa1bb703.txt", "linux; amd64", 3);
    let facts = layer_facts(&seed_path(layer), &layer.platform.parse().unwrap(), 3).unwrap();

    // The right directory with the wrong mode: no time can fix that.
    let dir = tempfile::tempdir().unwrap();
    materialize(dir.path(), layer, now());
    let d = dir.path().join("docker-entrypoint-initdb.d");
    fs::set_permissions(&d, fs::Permissions::from_mode(0o700)).unwrap();
    let (code, json) = run_cli(layer, dir.path());
    assert_eq!(code, 1, "{json}");
    assert_eq!(json["matched"], false);
    assert_eq!(json["expected"], facts.input.expected.to_string());
    assert_ne!(json["digest"], facts.input.expected.to_string());
    // Every candidate of both hypotheses was tried, nothing else: the layer's own step's whole
    // 0..=21 s window (22), then, for a step that changed no mtime, steps 1 and 2's windows, the
    // base's snapshot epochs and its three days second by second (259,228 more).
    assert_eq!(json["candidates"], 259_250);
    assert_eq!(json["end"], "exhausted");

    // An extra file (set by the same step) cannot be explained away either.
    let dir = tempfile::tempdir().unwrap();
    materialize(dir.path(), layer, now());
    fs::write(dir.path().join("stray"), b"x").unwrap();
    let t = fs::metadata(dir.path().join("docker-entrypoint-initdb.d"))
        .unwrap()
        .modified()
        .unwrap();
    filetime::set_file_mtime(dir.path().join("stray"), filetime::FileTime::from_system_time(t)).unwrap();
    let (code, json) = run_cli(layer, dir.path());
    assert_eq!(code, 1, "{json}");
    assert_eq!(json["matched"], false);
    assert!(json["candidates"].as_u64().unwrap() > 0);
}
