//! Issue 10 items 1 and 3 against a real Docker 20.10, end to end: the fixture
//! `testdata/h1names` (a RUN creating a file name and a symlink target that are not UTF-8 and a
//! name holding a newline; a RUN giving files mtimes before 1970 and after 2262) is built by the
//! classic builder for amd64 and arm64 and pushed (`cargo xtask image-fixture testdata/h1names
//! --repo h1-names`, run here when its document is missing), then `retrace build --no-cache
//! recipes/h1-names.yaml` replays every step. The oracle is the registry: every rebuilt layer
//! must have the digest Docker pushed.
//!
//! `#[ignore]`d and named `needs_docker_`: it needs the daemon, QEMU and the registry.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

mod common;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
#[ignore = "needs Docker, QEMU and the registry (cargo xtask setup)"]
fn needs_docker_non_utf8_names_and_far_mtimes_replay_byte_for_byte() {
    let test = "needs_docker_non_utf8_names_and_far_mtimes_replay_byte_for_byte";
    if !common::docker::daemon_or_skip(test) || !common::registry_here(test) {
        return;
    }
    let doc = root().join(".retrace/h1-names/h1-names.md");
    if !doc.is_file() {
        let status = Command::new(env!("CARGO"))
            .args(["xtask", "image-fixture", "testdata/h1names", "--repo", "h1-names"])
            .current_dir(root())
            .status()
            .expect("run cargo xtask image-fixture");
        assert!(status.success(), "building the h1-names fixture failed");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_retrace"))
        .args(["build", "--no-cache", "recipes/h1-names.yaml"])
        .current_dir(root())
        .output()
        .expect("run retrace build");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "retrace build failed");

    let report: Value =
        serde_json::from_slice(&std::fs::read(root().join("retrace-out/h1-names/report.json")).unwrap()).unwrap();
    let platforms = report["platforms"].as_array().unwrap();
    assert_eq!(platforms.len(), 2);
    for p in platforms {
        let layers = p["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 3, "{p}");
        for l in layers {
            let verdict = l["verdict"].as_str().unwrap();
            assert!(matches!(verdict, "match" | "match-after-timestamps"), "{l}");
        }
        // The far mtimes are read from the engine's tar, so that layer matches with no search.
        assert_eq!(layers[2]["verdict"], "match", "{}", layers[2]);
        // Names in the report use the escaped text form.
        let recovered = layers[1]["recovered_mtimes"].as_object().unwrap();
        let names: Vec<&str> = recovered.keys().map(String::as_str).collect();
        assert_eq!(names, ["caf\\xe9", "link", "names", "names/line\\x0abreak"]);
    }
    // The text table shows no raw newline or invalid byte either: one line per layer.
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("linux/")).count(),
        6,
        "{stdout}"
    );
}
