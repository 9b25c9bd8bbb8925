//! `retrace layer add` against published base layers: every public rootfs tarball of `../shared`
//! (the 15 older bases of `bases/entries.tsv` and the 10 seed bases of `rootfs/`) must rebuild to
//! the layer digest its document (or `entries.tsv`, for document versions no longer published)
//! records, reporting the profile and builder variant of `testdata/layer/add-variants.tsv`.
//! Bad input exits 2 with the fault named; a layer that matches no variant exits 1.

mod common;

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

fn retrace() -> Command {
    Command::new(env!("CARGO_BIN_EXE_retrace"))
}

fn testdata(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(rel)
}

/// Non-comment rows of a TSV file, split on tabs.
fn rows(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// One CLI run to make: the tarball (relative to shared/), the arguments after it, and the digest
/// it must reach when an independent source gives it.
struct Case {
    tarball: String,
    args: Vec<OsString>,
    expected: Option<String>,
}

/// Runs `retrace layer add` for every case (two at a time: the machine's cores are shared) and
/// returns a description of each failure.
fn run_all(shared: &Path, cases: Vec<Case>, variants: &HashMap<String, (String, String)>) -> Vec<String> {
    let check = |case: &Case| -> Option<String> {
        let out = retrace()
            .args(["layer", "add"])
            .arg(shared.join(&case.tarball))
            .args(&case.args)
            .arg("--json")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.code() != Some(0) {
            return Some(format!(
                "{}: exit {:?}: {stderr} {}",
                case.tarball,
                out.status.code(),
                String::from_utf8_lossy(&out.stdout)
            ));
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let (profile, variant) = variants.get(&case.tarball).cloned().unwrap_or_default();
        let mut faults = Vec::new();
        if v["matched"] != true || v["digest"] != v["expected"] {
            faults.push(format!("digest {} expected {}", v["digest"], v["expected"]));
        }
        if let Some(want) = &case.expected {
            if v["digest"] != want.as_str() {
                faults.push(format!("digest {} but entries.tsv says {want}", v["digest"]));
            }
        }
        if v["profile"] != profile.as_str() || v["variant"] != variant.as_str() {
            faults.push(format!(
                "reported {} {} , add-variants.tsv says {profile} {variant}",
                v["profile"], v["variant"]
            ));
        }
        (!faults.is_empty()).then(|| format!("{}: {}", case.tarball, faults.join("; ")))
    };
    let (a, b) = cases.split_at(cases.len() / 2);
    std::thread::scope(|s| {
        let first = s.spawn(|| a.iter().filter_map(check).collect::<Vec<_>>());
        let mut failures: Vec<String> = b.iter().filter_map(check).collect();
        failures.extend(first.join().unwrap());
        failures
    })
}

fn variants() -> HashMap<String, (String, String)> {
    rows(&testdata("layer/add-variants.tsv"))
        .into_iter()
        .map(|r| (r[0].clone(), (r[1].clone(), r[2].clone())))
        .collect()
}

#[test]
fn shared_bases_match_their_published_digests() {
    let Some(shared) = common::shared::shared_dir("shared_bases_match_their_published_digests") else {
        return;
    };
    // file_hash tarball mode_for_hash hash_profile docker_version layer1_digest document platform
    let cases: Vec<Case> = rows(&shared.join("bases/entries.tsv"))
        .into_iter()
        .map(|r| Case {
            tarball: format!("bases/{}", r[1]),
            args: ["--file-hash", &r[0], "--expected", &r[5], "--docker-version", &r[4]]
                .map(OsString::from)
                .to_vec(),
            expected: Some(r[5].clone()),
        })
        .collect();
    assert_eq!(cases.len(), 15, "entries.tsv rows");
    let failures = run_all(&shared, cases, &variants());
    assert!(
        failures.is_empty(),
        "{} of 15 bases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn seed_bases_match_their_documents() {
    let Some(shared) = common::shared::shared_dir("seed_bases_match_their_documents") else {
        return;
    };
    let cases: Vec<Case> = rows(&testdata("layer/seed-bases.tsv"))
        .into_iter()
        .map(|r| {
            let mut args = vec![OsString::from("--document"), testdata("seeds").join(&r[1]).into()];
            args.extend(["--platform", &r[2]].map(OsString::from));
            Case {
                tarball: format!("rootfs/{}", r[0]),
                args,
                expected: None,
            }
        })
        .collect();
    assert_eq!(cases.len(), 10);
    let failures = run_all(&shared, cases, &variants());
    assert!(
        failures.is_empty(),
        "{} of 10 seed bases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A document listing the platform under several tags (as most corpus documents do): the image
/// whose `file:` hash the tarball gives is the one rebuilt, and `--tag` narrows the choice (here
/// to an image it then does not match, which is exit 2 naming the hash).
#[test]
fn the_image_whose_hash_the_source_gives_is_chosen() {
    let Some(shared) = common::shared::shared_dir("the_image_whose_hash_the_source_gives_is_chosen") else {
        return;
    };
    let seed = std::fs::read_to_string(testdata("seeds/002_016ef913fa1bb703.txt")).unwrap();
    let hash = "093f0723fa46f6cdbd6f7bd146448bb70ecce54254c35701feeceb956414622f";
    assert!(seed.contains(hash), "seed 002's amd64 base hash");
    // An earlier tag of the same platform built from another tarball, listed first.
    let other = seed
        .replace("postgres:alpine", "postgres:old")
        .replace(hash, &"0".repeat(64));
    let t = tempfile::tempdir().unwrap();
    let doc = t.path().join("postgres.md");
    std::fs::write(&doc, format!("{other}\n{seed}")).unwrap();
    let tarball = shared.join("rootfs/alpine-3.7.0-x86_64/rootfs.tar.xz");
    let run = |extra: &[&str]| {
        retrace()
            .args(["layer", "add"])
            .arg(&tarball)
            .arg("--document")
            .arg(&doc)
            .args(["--platform", "linux; amd64"])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&["--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["--tag", "old"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("rootfs.tar.xz") && stderr.contains(&format!("file:{}", "0".repeat(64))),
        "{stderr}"
    );
}

/// The right source with a digest no variant gives: exit 1, every trial listed.
#[test]
fn no_matching_variant_exits_1() {
    let Some(shared) = common::shared::shared_dir("no_matching_variant_exits_1") else {
        return;
    };
    let row = &rows(&shared.join("bases/entries.tsv"))[14];
    let other = &rows(&shared.join("bases/entries.tsv"))[0][5];
    let out = retrace()
        .args(["layer", "add"])
        .arg(shared.join("bases").join(&row[1]))
        .args([
            "--file-hash",
            &row[0],
            "--expected",
            other,
            "--docker-version",
            &row[4],
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["matched"], false);
    assert_eq!(v["expected"], other.as_str());
    let tried: Vec<&str> = v["tried"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["variant"].as_str().unwrap())
        .collect();
    assert_eq!(tried[0], "plain");
    assert!(
        tried.contains(&"opaque-init-dirs") && tried.contains(&"go1.7-gzip-header"),
        "{tried:?}"
    );
}

/// Bad input is exit 2 naming the fault: a step that is not a base ADD names document and line;
/// a source that is not an archive names the file.
#[test]
fn bad_input_exits_2_with_the_fault_named() {
    let t = tempfile::tempdir().unwrap();
    let doc = testdata("seeds/002_016ef913fa1bb703.txt");
    let src = t.path().join("rootfs.tar.gz");
    std::fs::write(&src, b"not an archive").unwrap();
    let out = retrace()
        .args(["layer", "add"])
        .arg(&src)
        .arg("--document")
        .arg(&doc)
        .args(["--platform", "linux/amd64", "--layer", "3"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("002_016ef913fa1bb703.txt:") && stderr.contains("not by `ADD file:<hex> in /`"),
        "{stderr}"
    );

    // The right hash for a file that is no archive: verified, then refused by the archive reader.
    let hash = retrace::layer::context_file_hash_with("rootfs.tar.gz", 0o644, b"not an archive", "root");
    let out = retrace()
        .args(["layer", "add"])
        .arg(&src)
        .args([
            "--file-hash",
            &hash.hex(),
            "--expected",
            &format!("sha256:{}", "0".repeat(64)),
            "--docker-version",
            "17.06.2-ce",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("rootfs.tar.gz"), "{stderr}");
}
