//! Differential test of the tar writer against Go's own archive/tar (Go 1.19, the toolchain of
//! Debian's docker.io 20.10): random entry lists are written by testdata/oracle/gotar (which
//! builds headers the way Docker 20.10's pkg/archive does) and by `write_tar`, byte for byte.
//!
//! Go 1.19's writer is the archive/tar generation of 18.06 (vendored Go 1.10.3) and 20.10, so
//! those profiles are compared on everything. The older profiles (Go 1.5 to 1.9: docker-1.10,
//! -1.12, -1.13, -17.06, -17.12) differ from Go 1.19 on PAX headers, long/non-ASCII names and
//! overflowing numbers (docs/layer-bytes.md, docs/profiles.md), so they are compared only on
//! cases using none of those.
//!
//! `#[ignore]`d: run with `cargo xtask test` (group `needs_go_`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common;
// A small deterministic generator so failures reproduce.
use common::mixture::Rng;

use retrace::layer::{write_tar, Entry, EntryKind, Profile, Release};
use serde_json::{json, Value};

/// Builds the Go oracle. The test is `#[ignore]`d and run by `cargo xtask test` in its
/// `needs_go_` group only where `go` answers (always under CI), so a missing `go` here is a failure.
fn go_oracle(dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/oracle/gotar");
    common::gobuild::build_go_program(&src, dir, "gotar")
        .unwrap_or_else(|e| panic!("cannot build the Go tar oracle ({e}); is `go` installed (`cargo xtask setup`)?"))
}

fn component(rng: &mut Rng, long: bool) -> String {
    String::from_utf8(component_bytes(rng, long, false)).expect("UTF-8 was asked for")
}

/// A name component; with `raw`, some bytes are not UTF-8 (Latin-1 `é`, stray continuation and
/// lead bytes, 0xff), as a RUN step may create them, and a newline may appear.
fn component_bytes(rng: &mut Rng, long: bool, raw: bool) -> Vec<u8> {
    let len = if long { 1 + rng.below(130) } else { 1 + rng.below(12) } as usize;
    let mut s = Vec::new();
    while s.len() < len {
        match rng.below(if raw { 46 } else { 40 }) {
            0 => s.extend_from_slice("é".as_bytes()),
            1 => s.extend_from_slice("日".as_bytes()),
            2 => s.push(b'-'),
            3 => s.push(b'.'),
            40 => s.push(0xe9),
            41 => s.push(0x80),
            42 => s.push(0xc3),
            43 => s.push(0xff),
            44 => s.push(b'\n'),
            45 => s.push(b'\\'),
            n => s.push(b'a' + (n % 26) as u8),
        }
    }
    if s == b"." || s == b".." {
        s.push(b'x');
    }
    s
}

fn random_path_bytes(rng: &mut Rng, long_names: bool, raw: bool) -> Vec<u8> {
    let depth = 1 + rng.below(if long_names { 6 } else { 3 });
    let parts: Vec<Vec<u8>> = (0..depth)
        .map(|_| {
            let long = long_names && rng.chance(30);
            component_bytes(rng, long, raw)
        })
        .collect();
    parts.join(&b'/')
}

/// One random entry; `plain` restricts it to what Go 1.8 and Go 1.19 encode identically.
fn random_entry(rng: &mut Rng, plain: bool, seen: &[Vec<u8>]) -> Entry {
    let raw = !plain && rng.chance(20);
    let mut path = random_path_bytes(rng, !plain, raw);
    if plain {
        path.retain(|c| c.is_ascii());
        // Dropping non-ASCII bytes can leave `.` or `..` (from `é.`), which no walk yields.
        path = path
            .split(|&b| b == b'/')
            .filter(|p| !matches!(*p, b"" | b"." | b".."))
            .collect::<Vec<_>>()
            .join(&b'/');
        path.truncate(90);
        while path.ends_with(b"/") || path.is_empty() {
            path.push(b'z');
        }
    }
    let mode = (rng.below(0o10000)) as u32;
    let kind = match rng.below(9) {
        0 | 1 => EntryKind::File((0..rng.below(1500)).map(|i| i as u8).collect()),
        2 | 3 => EntryKind::Dir,
        4 => EntryKind::Symlink(if plain {
            b"target".to_vec()
        } else {
            random_path_bytes(rng, true, raw)
        }),
        5 if !seen.is_empty() => EntryKind::Hardlink(seen[rng.below(seen.len() as u64) as usize].clone()),
        5 => EntryKind::Fifo,
        6 => EntryKind::CharDevice {
            major: rng.below(3) as u32,
            minor: rng.below(3) as u32,
        },
        7 => EntryKind::BlockDevice {
            major: rng.below(300) as u32,
            minor: rng.below(300) as u32,
        },
        8 if !seen.is_empty() => EntryKind::SharedWhiteout(seen[rng.below(seen.len() as u64) as usize].clone()),
        _ => EntryKind::Fifo,
    };
    let mut e = Entry::file(path, mode, Vec::new());
    e.kind = kind;
    let big_ids = !plain && rng.chance(10);
    e.uid = if big_ids { rng.below(1 << 40) } else { rng.below(70000) };
    e.gid = if big_ids { rng.below(1 << 30) } else { rng.below(70000) };
    e.mtime = if !plain && rng.chance(10) {
        rng.below(1 << 35) as i64 - (1 << 34)
    } else {
        rng.below(1 << 31) as i64
    };
    if !plain && rng.chance(15) {
        let len = rng.below(40) as usize;
        e.xattrs.insert(
            "security.capability".into(),
            (0..len).map(|_| rng.below(256) as u8).collect(),
        );
    }
    e.opaque = matches!(e.kind, EntryKind::Dir) && rng.chance(30);
    e
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn entry_json(e: &Entry) -> Value {
    // Names and targets travel as hex: JSON strings cannot carry bytes that are not UTF-8.
    let (kind, data, target, major, minor) = match &e.kind {
        EntryKind::File(d) => ("file", hex(d), String::new(), 0, 0),
        EntryKind::Dir => ("dir", String::new(), String::new(), 0, 0),
        EntryKind::Symlink(t) => ("symlink", String::new(), hex(t), 0, 0),
        EntryKind::Hardlink(t) => ("hardlink", String::new(), hex(t), 0, 0),
        EntryKind::CharDevice { major, minor } => ("char", String::new(), String::new(), *major, *minor),
        EntryKind::BlockDevice { major, minor } => ("block", String::new(), String::new(), *major, *minor),
        EntryKind::Fifo => ("fifo", String::new(), String::new(), 0, 0),
        EntryKind::SharedWhiteout(t) => ("sharedwhiteout", String::new(), hex(t), 0, 0),
    };
    json!({
        "path": hex(&e.path), "kind": kind, "data": data, "target": target, "major": major, "minor": minor,
        "mode": e.mode, "uid": e.uid, "gid": e.gid, "mtime": e.mtime,
        "cap": e.xattrs.get("security.capability").map(|c| hex(c)),
        "opaque": e.opaque,
    })
}

struct Case {
    entries: Vec<Entry>,
    users: BTreeMap<u64, String>,
    groups: BTreeMap<u64, String>,
    plain: bool,
}

fn names_json(m: &BTreeMap<u64, String>) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
            .collect(),
    )
}

#[test]
#[ignore = "needs the Go toolchain; run by `cargo xtask test`"]
fn needs_go_write_tar_matches_go_archive_tar() {
    let dir = tempfile::tempdir().unwrap();
    let oracle = go_oracle(dir.path());

    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut cases = Vec::new();
    for i in 0..600 {
        let plain = i % 3 == 0;
        let n = 1 + rng.below(12);
        let mut entries = Vec::new();
        let mut seen = Vec::new();
        for _ in 0..n {
            let e = random_entry(&mut rng, plain, &seen);
            if matches!(e.kind, EntryKind::File(_)) {
                seen.push(e.path.clone());
            }
            entries.push(e);
        }
        // Names as a Debian host would resolve them, some long or non-ASCII (PAX uname/gname).
        let (users, groups) = if i % 2 == 0 && !plain {
            let mut u = BTreeMap::new();
            let mut g = BTreeMap::new();
            for e in &entries {
                if rng.chance(50) {
                    let long = rng.chance(20);
                    u.insert(e.uid, component(&mut rng, long));
                }
                if rng.chance(50) {
                    let long = rng.chance(20);
                    g.insert(e.gid, component(&mut rng, long));
                }
            }
            (u, g)
        } else {
            (BTreeMap::new(), BTreeMap::new())
        };
        cases.push(Case {
            entries,
            users,
            groups,
            plain,
        });
    }
    let input: Vec<Value> = cases
        .iter()
        .map(|c| {
            json!({
                "entries": c.entries.iter().map(entry_json).collect::<Vec<_>>(),
                "users": names_json(&c.users), "groups": names_json(&c.groups),
            })
        })
        .collect();

    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    run_oracle(&oracle, &out_dir, &input);

    let (mut compared, mut both_refused, mut compared_17) = (0, 0, 0);
    for (i, case) in cases.iter().enumerate() {
        let go_tar = std::fs::read(out_dir.join(format!("{i}.tar")));
        let profiles = if case.users.is_empty() && case.groups.is_empty() {
            vec![
                Profile::docker_18_06(),
                Profile::docker_20_10_with_names(BTreeMap::new(), BTreeMap::new()),
            ]
        } else {
            vec![Profile::docker_20_10_with_names(
                case.users.clone(),
                case.groups.clone(),
            )]
        };
        for profile in &profiles {
            let mut ours = Vec::new();
            let result = write_tar(&case.entries, profile, &mut ours);
            match (&go_tar, result) {
                (Ok(go), Ok(_)) => {
                    if *go != ours {
                        let keep = std::env::temp_dir().join(format!("retrace-oracle-case{i}"));
                        let _ = std::fs::create_dir_all(&keep);
                        let _ = std::fs::write(keep.join("go.tar"), go);
                        let _ = std::fs::write(keep.join("ours.tar"), &ours);
                        let at = go
                            .iter()
                            .zip(&ours)
                            .position(|(a, b)| a != b)
                            .unwrap_or(go.len().min(ours.len()));
                        panic!(
                            "case {i} ({profile}): differs from Go at byte {at} (block {}, offset {}); entries: {:#?}",
                            at / 512,
                            at % 512,
                            case.entries
                        );
                    }
                    compared += 1;
                }
                (Err(_), Err(_)) => both_refused += 1,
                (go, ours) => panic!(
                    "case {i} ({profile}): Go {:?} but ours {:?}; entries: {:#?}",
                    go.as_ref()
                        .map(|_| "wrote a tar")
                        .map_err(|_| { std::fs::read_to_string(out_dir.join(format!("{i}.err"))).unwrap_or_default() }),
                    ours.map(|_| "wrote a tar"),
                    case.entries
                ),
            }
        }
        if case.plain {
            let go = go_tar.as_ref().expect("plain cases always encode");
            // Every older writer (Go 1.5 to 1.9) agrees with Go 1.19 on entries that need no
            // PAX header, long name or overflowing number; opaque markers differ nowhere either
            // (all write mtime 0 for a zero ModTime).
            for release in [
                Release::Docker110,
                Release::Docker112,
                Release::Docker113,
                Release::Docker1706,
                Release::Docker1712,
            ] {
                let profile = Profile::of_release(release).unwrap();
                let mut ours = Vec::new();
                write_tar(&case.entries, &profile, &mut ours).unwrap();
                assert_eq!(go, &ours, "case {i} ({profile}, plain entries)");
            }
            compared_17 += 1;
        }
    }
    eprintln!("compared {compared} tars with Go (18.06/20.10), {compared_17} plain ones as each of 1.10 .. 17.12, {both_refused} refused by both");
    assert!(compared > 400, "too few comparisons: {compared}");
}

/// Writes `cases` (entry lists, no owner names) with the Go oracle and returns each case's tar.
fn go_tars(oracle: &Path, dir: &Path, cases: &[Vec<Entry>]) -> Vec<Vec<u8>> {
    let input: Vec<Value> = cases
        .iter()
        .map(|c| json!({"entries": c.iter().map(entry_json).collect::<Vec<_>>(), "users": {}, "groups": {}}))
        .collect();
    let out_dir = dir.join("named");
    std::fs::create_dir_all(&out_dir).unwrap();
    run_oracle(oracle, &out_dir, &input);
    (0..cases.len())
        .map(|i| {
            std::fs::read(out_dir.join(format!("{i}.tar"))).unwrap_or_else(|_| {
                panic!(
                    "Go refused case {i}: {}",
                    std::fs::read_to_string(out_dir.join(format!("{i}.err"))).unwrap_or_default()
                )
            })
        })
        .collect()
}

/// Issue 10 items 1 and 3, against Go 1.19 (the archive/tar of 18.06 and 20.10): names and link
/// targets that are not UTF-8 get PAX `path`/`linkpath` records of their raw bytes (Go checks
/// ASCII, never UTF-8) with the USTAR fields holding the ASCII bytes only; mtimes before 1970 or
/// after 2262 get a PAX `mtime` record (`-315619200`) and 0 in the header field.
#[test]
#[ignore = "needs the Go toolchain; run by `cargo xtask test`"]
fn needs_go_non_utf8_names_and_far_mtimes_match_go() {
    let dir = tempfile::tempdir().unwrap();
    let oracle = go_oracle(dir.path());
    let t = 1_700_000_000;
    let cases: Vec<Vec<Entry>> = vec![
        vec![Entry::file(&b"caf\xe9"[..], 0o644, Vec::new()).with_mtime(t)],
        vec![Entry::symlink(&b"link"[..], &b"caf\xe9-target\xff"[..]).with_mtime(t)],
        vec![
            Entry::dir(&b"caf\xe9"[..], 0o755).with_mtime(t),
            Entry::file(&b"caf\xe9/line\nbreak"[..], 0o600, b"x".to_vec()).with_mtime(t),
            Entry {
                kind: EntryKind::Hardlink(b"caf\xe9/line\nbreak".to_vec()),
                ..Entry::file(&b"hard\x80link"[..], 0o600, Vec::new()).with_mtime(t)
            },
        ],
        vec![
            Entry::file("old", 0o644, Vec::new()).with_mtime(-315_619_200),
            Entry::file("future", 0o644, Vec::new()).with_mtime(10_413_792_000),
            Entry::file(&b"old-\xe9"[..], 0o644, Vec::new()).with_mtime(-1),
        ],
        // A long non-UTF-8 name (no USTAR split: not ASCII) whose PAX header name is cut.
        vec![Entry::file(
            [&[b'd'; 90][..], b"/\xe9\xe9", &[b'f'; 60][..]].concat(),
            0o644,
            Vec::new(),
        )
        .with_mtime(t)],
    ];
    let go = go_tars(&oracle, dir.path(), &cases);
    for (i, (entries, go)) in cases.iter().zip(&go).enumerate() {
        for profile in [
            Profile::docker_18_06(),
            Profile::docker_20_10_with_names(BTreeMap::new(), BTreeMap::new()),
        ] {
            let mut ours = Vec::new();
            write_tar(entries, &profile, &mut ours).unwrap();
            assert!(
                ours == *go,
                "case {i} ({profile}) differs from Go; entries: {entries:#?}"
            );
        }
    }
    // What the records hold, read back from Go's own bytes.
    let records = |tar: &[u8]| -> Vec<(String, Vec<u8>)> {
        let mut ar = tar::Archive::new(tar);
        let mut out = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            if let Some(exts) = e.pax_extensions().unwrap() {
                for x in exts {
                    let x = x.unwrap();
                    out.push((x.key().unwrap().to_string(), x.value_bytes().to_vec()));
                }
            }
        }
        out
    };
    assert_eq!(records(&go[0]), [("path".to_string(), b"caf\xe9".to_vec())]);
    assert_eq!(
        records(&go[1]),
        [("linkpath".to_string(), b"caf\xe9-target\xff".to_vec())]
    );
    assert_eq!(
        records(&go[3]),
        [
            ("mtime".to_string(), b"-315619200".to_vec()),
            ("mtime".to_string(), b"10413792000".to_vec()),
            ("mtime".to_string(), b"-1".to_vec()),
            ("path".to_string(), b"old-\xe9".to_vec())
        ]
    );
}

/// Runs the Go oracle on `input` (its JSON on standard input), writing into `out_dir`.
fn run_oracle(oracle: &std::path::Path, out_dir: &std::path::Path, input: &impl serde::Serialize) {
    let mut child = Command::new(oracle).arg(out_dir).stdin(Stdio::piped()).spawn().unwrap();
    serde_json::to_writer(child.stdin.take().unwrap(), input).unwrap();
    assert!(child.wait().unwrap().success(), "oracle failed");
}
