//! Acceptance tests on the demo image, end to end through the `retrace` binary: `retrace build
//! recipes/demo.yaml` replays all seven platforms (six under QEMU) and every layer matches the
//! committed document (`testdata/demo/demo.md`, the outside oracle: the digests a real daemon
//! pushed); the output layout reads back with skopeo and its docker archive runs; `retrace diff`
//! against the image in the local registry shows only mtimes (nothing with `--semantic`); and a
//! recipe whose RUN writes one different file is reported as `differs`, explained against the
//! published layer, and diffed down to exactly that file.
//!
//! `#[ignore]`d and named `needs_docker_`: they need the daemon, QEMU, the registry and the demo
//! image in it (`cargo xtask setup && cargo xtask demo-fixture --doc .retrace/demo/demo.md`, which
//! `.ci/run` does). Outside CI a missing piece skips them loudly; under CI=true it fails them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::common;
use common::run_ok as run;

const DEMO: &str = "127.0.0.1:5000/retrace/demo:latest";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The document the fixture wrote for the image now in the registry (its layers 2 and 3 carry this
/// machine's build times, unlike the committed one).
fn fixture_document() -> PathBuf {
    root().join(".retrace/demo/demo.md")
}

/// True when the daemon, the registry and the demo image are all here; otherwise skips loudly,
/// or panics under CI.
fn demo_here(test: &str) -> bool {
    if !common::docker::daemon_or_skip(test) || !common::registry_here(test) {
        return false;
    }
    if fixture_document().is_file() {
        return true;
    }
    let why = format!(
        "{} is missing: run `cargo xtask demo-fixture --doc .retrace/demo/demo.md`",
        fixture_document().display()
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: {why}");
    }
    eprintln!("SKIPPED: {test}: {why}");
    false
}

fn retrace(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_retrace"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run retrace");
    eprintln!(
        "$ retrace {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json_file(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The per-platform manifests of a build's layout, by platform (`linux/arm/v7`).
fn layout_manifests(out: &Path) -> Vec<(String, String)> {
    let platforms = common::proof::layout_platforms(out);
    platforms.into_iter().map(|(slug, digest, _)| (slug, digest)).collect()
}

/// Every change of a `retrace diff --format json` report, as (comparison label, path, fields).
fn changes(report: &Value) -> Vec<(String, String, Vec<String>)> {
    let mut out = Vec::new();
    for c in report["comparisons"].as_array().unwrap() {
        for ch in c["changes"].as_array().unwrap() {
            let fields = ch["fields"]
                .as_array()
                .map(|f| f.iter().map(|f| f["field"].as_str().unwrap().to_string()).collect())
                .unwrap_or_default();
            out.push((
                c["label"].as_str().unwrap().to_string(),
                ch["path"].as_str().unwrap().to_string(),
                fields,
            ));
        }
    }
    out
}

#[test]
#[ignore = "needs Docker, QEMU, the registry and the demo image (cargo xtask setup && cargo xtask demo-fixture)"]
fn needs_docker_demo_build_matches_every_layer_and_its_outputs_load() {
    let test = "needs_docker_demo_build_matches_every_layer_and_its_outputs_load";
    if !demo_here(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let out_s = out.to_str().unwrap();
    let build = retrace(&[
        "build",
        "recipes/demo.yaml",
        "--out",
        out_s,
        "--docker-archives",
        "--jobs",
        "4",
    ]);
    assert_eq!(build.status.code(), Some(0), "every layer of the demo must match");

    // The report: seven platforms, three layers each, every one rebuilt (none imported); the base
    // layer from the fixture's rootfs tarball byte for byte, the RUN and COPY layers once the
    // timestamp search moved the replay's mtimes back to the recorded ones.
    let report = json_file(&out.join("report.json"));
    let platforms = report["platforms"].as_array().unwrap();
    let slugs: Vec<&str> = platforms.iter().map(|p| p["platform"].as_str().unwrap()).collect();
    assert_eq!(slugs, common::DEMO_PLATFORMS);
    for p in platforms {
        let layers = p["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 3, "{}", p["platform"]);
        assert_eq!(layers[0]["verdict"], "match", "{}: the base layer", p["platform"]);
        for l in layers {
            let verdict = l["verdict"].as_str().unwrap();
            assert!(
                verdict == "match" || verdict == "match-after-timestamps",
                "{} layer {}: {verdict} ({})",
                p["platform"],
                l["index"],
                l["reason"]
            );
            assert!(l["rebuilt"].is_string());
            if verdict == "match-after-timestamps" {
                // The search says which original times it found, per re-timed entry.
                let recovered = l["recovered_mtimes"].as_object().expect("recovered_mtimes");
                assert!(!recovered.is_empty());
                assert!(recovered.values().all(|t| t.as_str().is_some_and(|t| t.ends_with('Z'))));
            }
        }
    }

    // The layout holds every layer under its published digest, as sha256sum and skopeo see it.
    assert_eq!(common::proof::published_blobs_in_layout(&out), 21);

    // skopeo reads the layout: the default platform and every platform by override.
    let manifests = layout_manifests(&out);
    assert_eq!(manifests.len(), 7);
    let oci = format!("oci:{out_s}");
    for (slug, digest) in &manifests {
        let parts: Vec<&str> = slug.split('/').collect();
        let mut cmd = Command::new("skopeo");
        cmd.args(["inspect", "--override-os", parts[0], "--override-arch", parts[1]]);
        if let Some(v) = parts.get(2) {
            cmd.args(["--override-variant", v]);
        }
        let inspected: Value = serde_json::from_str(&run(cmd.arg(&oci))).unwrap();
        assert_eq!(inspected["Architecture"].as_str(), Some(parts[1]), "skopeo on {slug}");
        // skopeo's `Digest` is the index's; the layers show which manifest it chose.
        let manifest = json_file(&out.join("blobs/sha256").join(digest.strip_prefix("sha256:").unwrap()));
        let want: Vec<&Value> = manifest["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| &l["digest"])
            .collect();
        let got: Vec<&Value> = inspected["Layers"].as_array().unwrap().iter().collect();
        assert_eq!(got, want, "skopeo on {slug}");
    }

    // The docker archive of amd64 loads, and the rebuilt image runs: entrypoint, user, workdir
    // and command all come from the document.
    let archive = out.join("images/linux-amd64.tar");
    let loaded = run(Command::new("docker").arg("load").arg("-i").arg(&archive));
    assert!(loaded.contains("retrace/demo:linux-amd64"), "{loaded}");
    let ran = run(Command::new("docker").args(["run", "--rm", "retrace/demo:linux-amd64"]));
    assert_eq!(ran, "hello from retrace\n");
    let user = run(Command::new("docker").args(["run", "--rm", "retrace/demo:linux-amd64", "id", "-u"]));
    assert_eq!(user.trim(), "1000");

    // Against the image in the registry (built at another time): only mtimes differ, and with
    // --semantic nothing does.
    let registry = format!("registry:{DEMO}");
    let diff = retrace(&["diff", "--format", "json", &registry, out_s]);
    assert_eq!(diff.status.code(), Some(1));
    let all = changes(&serde_json::from_slice(&diff.stdout).unwrap());
    assert!(
        !all.is_empty(),
        "the replay ran later than the fixture, so mtimes differ"
    );
    for (label, path, fields) in &all {
        assert_eq!(fields, &["mtime"], "{label}: {path} differs in more than its mtime");
    }
    let semantic = retrace(&["diff", "--semantic", "--format", "json", &registry, out_s]);
    assert_eq!(semantic.status.code(), Some(0));
    assert!(changes(&serde_json::from_slice(&semantic.stdout).unwrap()).is_empty());

    // An image compared with itself: nothing.
    let itself = retrace(&["diff", &registry, &registry]);
    assert_eq!(itself.status.code(), Some(0));
}

#[test]
#[ignore = "needs Docker, QEMU, the registry and the demo image (cargo xtask setup && cargo xtask demo-fixture)"]
fn needs_docker_one_changed_file_is_explained_and_diffed() {
    let test = "needs_docker_one_changed_file_is_explained_and_diffed";
    if !demo_here(test) {
        return;
    }
    // The fixture's document (its layers are in the registry) with the RUN step writing a
    // different greeting: a rebuild in which exactly one file differs from what was published.
    let dir = tempfile::tempdir().unwrap();
    let doc = std::fs::read_to_string(fixture_document()).unwrap();
    assert!(doc.contains("hello from retrace"));
    let doc_path = dir.path().join("changed.md");
    std::fs::write(
        &doc_path,
        doc.replace("hello from retrace", "hello from a changed step"),
    )
    .unwrap();
    let recipe = std::fs::read_to_string(root().join("recipes/demo.yaml"))
        .unwrap()
        .replace(
            "document: ../testdata/demo/demo.md",
            &format!("document: {}", doc_path.display()),
        )
        .replace(
            "path: ../testdata/demo/entrypoint.sh",
            &format!("path: {}", root().join("testdata/demo/entrypoint.sh").display()),
        )
        .replace(
            "path: ../.retrace/",
            &format!("path: {}/", root().join(".retrace").display()),
        );
    let recipe_path = dir.path().join("changed.yaml");
    std::fs::write(&recipe_path, recipe).unwrap();
    let out = dir.path().join("out");
    let out_s = out.to_str().unwrap();

    let build = retrace(&[
        "build",
        recipe_path.to_str().unwrap(),
        "--out",
        out_s,
        "--platform",
        "linux/amd64",
    ]);
    assert_eq!(build.status.code(), Some(1), "a differing layer exits 1");
    let report = json_file(&out.join("report.json"));
    let layers = report["platforms"][0]["layers"].as_array().unwrap();
    assert_eq!(layers[0]["verdict"], "match");
    assert_eq!(
        layers[2]["verdict"], "match-after-timestamps",
        "{}",
        layers[2]["reason"]
    );
    let run_layer = &layers[1];
    assert_eq!(run_layer["verdict"], "differs");
    // The build compared the layer with the published one and named the file.
    let causes = run_layer["causes"].as_array().expect("causes of a differing layer");
    let content = causes
        .iter()
        .find(|c| c["cause"] == "content-differs")
        .unwrap_or_else(|| panic!("no content cause in {causes:?}"));
    assert_eq!(content["paths"], serde_json::json!(["srv/demo/greeting"]));
    assert!(run_layer["reason"]
        .as_str()
        .unwrap()
        .contains("compared with the published layer"));

    // retrace diff of the published amd64 image and the rebuild: exactly that file, in the RUN
    // layer and the flattened view, in text and in JSON.
    let manifests = layout_manifests(&out);
    assert_eq!(manifests.len(), 1);
    let published = retrace(&[
        "diff",
        "--semantic",
        "--format",
        "json",
        &format!("registry:{DEMO}"),
        out_s,
    ]);
    // The registry has seven platforms and the build one; the amd64 image is what they share.
    let report: Value = serde_json::from_slice(&published.stdout).unwrap();
    assert_eq!(published.status.code(), Some(1));
    let found: Vec<(String, String)> = changes(&report)
        .into_iter()
        .filter(|(label, _, _)| label.starts_with("linux/amd64"))
        .map(|(label, path, _)| (label, path))
        .collect();
    assert_eq!(
        found,
        [
            ("linux/amd64 layer 2".to_string(), "srv/demo/greeting".to_string()),
            ("linux/amd64 flattened".to_string(), "srv/demo/greeting".to_string()),
        ]
    );
    let text = retrace(&["diff", "--semantic", &format!("registry:{DEMO}"), out_s]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("srv/demo/greeting"), "{text}");
}
