//! `retrace build` end to end through the CLI on a small repo-info document: killed in the middle of
//! a slow RUN it leaves no corrupt output, and the rerun resumes from the build cache.
//!
//! `#[ignore]`d and named `needs_docker_` (see tests/replay_docker.rs for the convention).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use retrace::digest::Digest;

mod common;
use common::docker::{busybox, daemon_or_skip, rootfs_tar};

/// A one-platform repo-info document: base ADD, a quick RUN, a slow RUN, CMD. The layer digests
/// are made up, so the verdicts are `differs` and the exit code 1 (not 2: nothing failed).
fn document(base_ref: &str) -> String {
    let fake = |s: &str| Digest::of(s.as_bytes()).to_string();
    let layer = |s: &str| {
        format!(
            "\t-\t`{}`  \n\t\tLast Modified: Wed, 30 Jan 2019 22:21:08 GMT  \n\t\tSize: 1.0 KB (1000 bytes)  \n\t\tMIME: application/vnd.docker.image.rootfs.diff.tar.gzip\n",
            fake(s)
        )
    };
    format!(
        "## `kill:test`\n\n```console\n$ docker pull kill@{list}\n```\n\n-\tManifest MIME: `application/vnd.docker.distribution.manifest.list.v2+json`\n-\tPlatforms:\n\t-\tlinux; amd64\n\n\
### `kill:test` - linux; amd64\n\n```console\n$ docker pull kill@{man}\n```\n\n-\tDocker Version: 18.06.1-ce\n-\tManifest MIME: `application/vnd.docker.distribution.manifest.v2+json`\n-\tTotal Size: **3.0 KB (3000 bytes)**  \n\t(compressed transfer size, not on-disk size)\n-\tImage ID: `{id}`\n-\tDefault Command: `[\"sh\"]`\n\n\
```dockerfile\n# Wed, 30 Jan 2019 22:19:52 GMT\nADD {base_ref} in / \n# Wed, 30 Jan 2019 22:19:53 GMT\nRUN mkdir /a && echo one > /a/one\n# Wed, 30 Jan 2019 22:20:13 GMT\nRUN sleep 20 && echo two > /a/two\n# Wed, 30 Jan 2019 22:20:13 GMT\nCMD [\"sh\"]\n```\n\n-\tLayers:\n{}{}{}",
        layer("1"),
        layer("2"),
        layer("3"),
        list = fake("list"),
        man = fake("manifest"),
        id = fake("id"),
    )
}

fn retrace(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_retrace"));
    c.args(args);
    c
}

/// Every blob in the output hashes to its name: nothing half-written is ever visible.
fn assert_blobs_sound(out: &Path) {
    let dir = out.join("blobs/sha256");
    let Ok(rd) = std::fs::read_dir(&dir) else { return };
    for e in rd {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with('.') {
            continue; // a temporary file of the killed writer, never a named output
        }
        let d = Digest::of(&std::fs::read(&p).unwrap());
        assert_eq!(d.hex(), name, "corrupt blob {}", p.display());
    }
}

#[test]
#[ignore = "needs a Docker daemon (cargo xtask setup)"]
fn needs_docker_killed_build_leaves_no_corrupt_output_and_resumes_from_cache() {
    if !daemon_or_skip("needs_docker_killed_build_leaves_no_corrupt_output_and_resumes_from_cache") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let tar = root.join("rootfs.tar");
    rootfs_tar(&busybox("amd64"), &tar);
    // A unique base per run, so the cache of an earlier test run cannot make this one trivial.
    let base_ref = format!("file:{}", Digest::of(root.to_string_lossy().as_bytes()).hex());
    std::fs::write(root.join("doc.md"), document(&base_ref)).unwrap();
    std::fs::write(
        root.join("recipe.yaml"),
        format!(
            "document: doc.md\ntag: kill:test\ncache: cache\nsources:\n  - for: {base_ref}\n    path: rootfs.tar\n"
        ),
    )
    .unwrap();
    let recipe = root.join("recipe.yaml");
    let out = root.join("out");
    let cache = root.join("cache/build");
    let recipe_s = recipe.to_str().unwrap();
    let out_s = out.to_str().unwrap();

    let mut child = retrace(&["build", recipe_s, "--out", out_s]).spawn().unwrap();
    // Wait until the base and the quick RUN are cached: the slow RUN is then running.
    let t0 = Instant::now();
    loop {
        let n = std::fs::read_dir(&cache)
            .map(|d| {
                d.filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "json"))
                    .count()
            })
            .unwrap_or(0);
        if n >= 2 {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the build ended before it could be killed: {status}");
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "no progress in 120 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();

    assert!(
        !out.join("report.json").exists(),
        "a killed build must not leave a report"
    );
    assert!(
        !out.join("index.json").exists(),
        "a killed build must not leave an index"
    );
    assert_blobs_sound(&out);

    let t1 = Instant::now();
    let rerun = retrace(&["build", recipe_s, "--out", out_s]).output().unwrap();
    let stdout = String::from_utf8_lossy(&rerun.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&rerun.stderr));
    eprintln!("rerun took {:.1}s", t1.elapsed().as_secs_f64());
    assert_eq!(rerun.status.code(), Some(1), "made-up digests differ, nothing failed");
    assert_blobs_sound(&out);
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let p = &report["platforms"][0];
    assert_eq!(p["platform"], "linux/amd64");
    assert_eq!(p["cached_steps"], 2, "the base and the quick RUN come from the cache");
    assert!(p.get("error").is_none());
    let verdicts: Vec<&str> = p["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["differs", "differs", "differs"]);
    assert!(stdout.contains("linux/amd64"), "the table names the platform");
    let log = std::fs::read_to_string(out.join("logs/linux-amd64.log")).unwrap();
    assert!(log.contains("(cached:"), "{log}");
}
