//! `retrace layer add` against published base layers: every public rootfs tarball of `../shared`
//! (the 15 older bases of `bases/entries.tsv` and the 10 seed bases of `rootfs/`) must rebuild to
//! the layer digest its document (or `entries.tsv`, for document versions no longer published)
//! records, reporting the profile and builder variant of `testdata/layer/add-variants.tsv`.
//! Bad input exits 2 with the fault named; a layer that matches no variant exits 1.

use crate::common;

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
#[ignore = "needs ../shared; run by `cargo xtask test`"]
fn needs_shared_bases_match_their_published_digests() {
    let Some(shared) = common::shared::shared_dir("needs_shared_bases_match_their_published_digests") else {
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
#[ignore = "needs ../shared; run by `cargo xtask test`"]
fn needs_shared_seed_bases_match_their_documents() {
    let Some(shared) = common::shared::shared_dir("needs_shared_seed_bases_match_their_documents") else {
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
#[ignore = "needs ../shared; run by `cargo xtask test`"]
fn needs_shared_the_image_whose_hash_the_source_gives_is_chosen() {
    let Some(shared) = common::shared::shared_dir("needs_shared_the_image_whose_hash_the_source_gives_is_chosen")
    else {
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
#[ignore = "needs ../shared; run by `cargo xtask test`"]
fn needs_shared_no_matching_variant_exits_1() {
    let Some(shared) = common::shared::shared_dir("needs_shared_no_matching_variant_exits_1") else {
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

/// One tar entry: path, typeflag, mode, content, link target, (uid, gid).
type TarRow<'a> = (String, u8, u32, &'a [u8], &'a str, (u64, u64));

/// A tarball exercising what the extraction model claims (a hard link listed before the name the
/// walk meets first, setuid bits, a device node, a FIFO, a foreign owner, a name over 100 bytes,
/// component-wise order), written with the `tar` crate and gzip'd.
fn tricky_rootfs() -> Vec<u8> {
    use std::io::Write;
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, kind: u8, mode: u32, mtime: u64, data: &[u8], link: &str, owner: (u64, u64)| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::new(kind));
        h.set_mode(mode);
        h.set_mtime(mtime);
        h.set_uid(owner.0);
        h.set_gid(owner.1);
        if kind == b'3' {
            h.set_device_major(1).unwrap();
            h.set_device_minor(3).unwrap();
        }
        let body = if kind == b'0' { data } else { b"" };
        h.set_size(body.len() as u64);
        if !link.is_empty() {
            b.append_link(&mut h, path, link).unwrap();
        } else {
            b.append_data(&mut h, path, body).unwrap();
        }
    };
    let long_dir = format!("usr/{}", "l".repeat(60));
    let entries: Vec<TarRow> = vec![
        ("./".into(), b'5', 0o755, b"", "", (0, 0)),
        ("bin/".into(), b'5', 0o755, b"", "", (0, 0)),
        ("bin/z".into(), b'0', 0o4755, b"busybox\nbusybox\n", "", (0, 0)),
        ("bin/a".into(), b'1', 0o4755, b"", "bin/z", (0, 0)),
        ("bin/sh".into(), b'2', 0o777, b"", "z", (0, 0)),
        ("etc/".into(), b'5', 0o755, b"", "", (0, 0)),
        ("etc/motd".into(), b'0', 0o644, b"hello\n", "", (1000, 50)),
        ("etc/apk/".into(), b'5', 0o700, b"", "", (0, 0)),
        ("dev/".into(), b'5', 0o755, b"", "", (0, 0)),
        ("dev/null".into(), b'3', 0o666, b"", "", (0, 0)),
        ("run/".into(), b'5', 0o755, b"", "", (0, 0)),
        ("run/fifo".into(), b'6', 0o600, b"", "", (0, 0)),
        ("usr/".into(), b'5', 0o755, b"", "", (0, 0)),
        (format!("{long_dir}/"), b'5', 0o755, b"", "", (0, 0)),
        (
            format!("{long_dir}/{}", "f".repeat(60)),
            b'0',
            0o600,
            b"long\n",
            "",
            (0, 0),
        ),
        ("tmp/".into(), b'5', 0o1777, b"", "", (0, 0)),
        ("a-b".into(), b'0', 0o644, b"x", "", (0, 0)),
    ];
    for (i, (path, kind, mode, data, link, owner)) in entries.iter().enumerate() {
        add(path, *kind, *mode, 1_500_000_000 + i as u64, data, link, *owner);
    }
    let tar = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

/// The 20.10 daemon as the oracle of the extraction: a classic build of `ADD rootfs.tar.gz /`
/// records the `file:` hash the source must verify against and the layer's diff_id, which the
/// plain trial of `retrace layer add` (profile docker-20.10) must equal byte for byte.
#[test]
#[ignore = "needs a Docker daemon; run by `cargo xtask test`"]
fn needs_docker_add_extraction_matches_the_daemon() {
    use std::os::unix::fs::PermissionsExt;
    if !common::docker::daemon_or_skip("needs_docker_add_extraction_matches_the_daemon") {
        return;
    }
    let ctx = tempfile::tempdir().unwrap();
    let src = ctx.path().join("rootfs.tar.gz");
    std::fs::write(&src, tricky_rootfs()).unwrap();
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), "FROM scratch\nADD rootfs.tar.gz /\n").unwrap();
    let image = format!("retrace-layer-add-test-{}", std::process::id());
    let out = Command::new("docker")
        .args(["build", "-q", "-t", &image])
        .arg(ctx.path())
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker build: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docker = |args: &[&str]| {
        let out = Command::new("docker").args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let history = docker(&["history", "--no-trunc", "--format", "{{.CreatedBy}}", &image]);
    let diff_ids = docker(&["inspect", "-f", "{{json .RootFS.Layers}}", &image]);
    let version = docker(&["version", "--format", "{{.Server.Version}}"]);
    docker(&["rmi", &image]);
    let hash = history
        .split_whitespace()
        .find_map(|w| w.strip_prefix("file:"))
        .unwrap_or_else(|| panic!("no ADD file: in the history: {history}"));
    let diff_ids: Vec<String> = serde_json::from_str(&diff_ids).unwrap();
    assert_eq!(diff_ids.len(), 1, "{diff_ids:?}");

    let out = retrace()
        .args(["layer", "add"])
        .arg(&src)
        .args([
            "--file-hash",
            hash,
            "--docker-version",
            &version,
            "--json",
            "--expected",
        ])
        .arg(format!("sha256:{}", "0".repeat(64)))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["source"]["mode"], "0644");
    assert_eq!(v["tried"][0]["variant"], "plain");
    if v["tried"][0]["diff_id"] != diff_ids[0].as_str() {
        let keep = std::env::temp_dir().join("retrace-layer-add-docker");
        std::fs::create_dir_all(&keep).unwrap();
        std::fs::copy(&src, keep.join("rootfs.tar.gz")).unwrap();
        panic!(
            "diff_id {} but the daemon's layer is {} (source kept in {})",
            v["tried"][0]["diff_id"],
            diff_ids[0],
            keep.display()
        );
    }
}
