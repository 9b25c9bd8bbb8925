//! The builder-features image (issue 10): `testdata/builder/Dockerfile` has one step per kind of
//! instruction and file-system change of Docker's classic builder. `cargo xtask image-fixture
//! testdata/builder` builds it with the machine's Docker 20.10 for linux/amd64 and linux/arm64/v8
//! (QEMU), pushes it to the local registry and describes it; `retrace build recipes/builder.yaml`
//! must then rebuild every layer of both platforms byte for byte (after the timestamp search for
//! the times a replay cannot know), each attributed to the step that made it, within two minutes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::common;

/// Each layer's step (the start of its history text) and what it proves.
const LAYERS: &[(&str, &str)] = &[
    ("ADD file:", "the base root file system, rebuilt from its tarball"),
    (
        "WORKDIR /srv/app",
        "a WORKDIR that creates its directory makes a layer; `RUN true` before it made none",
    ),
    (
        "RUN echo hi > a.txt",
        "a RUN after a WORKDIR that existed (which made no layer)",
    ),
    (
        "RUN rm /bin/arch /etc/group",
        "whiteouts (shared on this kernel), links, a PAX name, setuid from RUN",
    ),
    (
        "# unable to parse image command string further",
        "an exec-form RUN with a build argument",
    ),
    (
        "RUN echo $FLAVOUR > /srv/flavour",
        "an exec-form RUN through the shell, with a build argument",
    ),
    (
        "RUN mkdir -p /data",
        "writes under a VOLUME are discarded, its mount point stays",
    ),
    (
        "RUN echo gone > /var/vol/y",
        "a VOLUME whose directory the builder created",
    ),
    ("WORKDIR /srv/app/sub", "a WORKDIR creating a directory after VOLUMEs"),
    ("COPY file:", "COPY of a build-context file"),
    ("RUN echo 'mode' > /etc/mode-file", "files for the next steps to change"),
    ("RUN chmod 600 /etc/mode-file", "item 2: a chmod-only layer"),
    ("RUN chown 1:1 /etc/owned-file", "item 2: a chown-only layer"),
    (
        "RUN touch -d '2001-02-03 04:05:06' /etc/hostname",
        "item 2: a touch -d layer",
    ),
    ("RUN mkdir -p /srv/data", "files for the steps after the slow one"),
    ("RUN sleep 25", "a slow step"),
    (
        "RUN chmod 600 /srv/data/file",
        "item 2: chmod-only, an earlier step's times on the parents",
    ),
    (
        "RUN chown 1:1 /srv/data/owned",
        "item 2: chown-only, an earlier step's times on the parents",
    ),
    (
        "RUN touch -d '2001-02-03 04:05:06' /srv/data",
        "item 2: touch -d, an earlier step's times on the parents",
    ),
    ("ADD file:", "item 15: ADD of a .tar.xz is extracted"),
    ("ADD file:", "item 15: ADD of a .tar.bz2 is extracted"),
    ("ADD file:", "item 9: ADD of a tar whose first entry has a PAX header"),
    (
        "ADD file:",
        "item 9: ADD of a tar whose first entry has a GNU long name",
    ),
    (
        "RUN touch \"$(printf 'caf",
        "item 1: names and link targets that are not UTF-8, a newline in a name",
    ),
    (
        "RUN touch -d @-315619200 /old",
        "item 3: mtimes before 1970 and after 2262",
    ),
    (
        "COPY --chown=1000:1000",
        "items 5, 6: --chown with no space; a directory COPY owns its new destination",
    ),
    (
        "COPY --chown=1000:1000",
        "items 5, 6, 7: a file COPY owns the parents it creates; chown clears setuid",
    ),
    (
        "COPY multi:",
        "items 14, 7: several sources; setgid cleared only with group-exec",
    ),
    ("COPY dir:", "item 8: a hard-linked pair stays linked"),
    ("COPY dir:", "item 11: per-file context mtimes"),
    ("COPY file:", "item 13: COPY --from a stage, one file"),
    ("COPY multi:", "item 13: COPY --from a stage, several files"),
    ("COPY dir:", "item 13: COPY --from a stage, a directory"),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Builds the fixture image when its document is missing (CI builds it in `.ci/run`).
fn ensure_fixture(doc: &Path) {
    if doc.exists() {
        return;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["xtask", "image-fixture", "testdata/builder"])
        .current_dir(root())
        .status()
        .expect("running cargo xtask image-fixture");
    assert!(
        status.success(),
        "cargo xtask image-fixture testdata/builder failed ({status})"
    );
}

#[test]
#[ignore = "needs Docker, QEMU binfmt and the local registry (cargo xtask setup)"]
fn needs_registry_builder_image_replays_every_layer_on_both_platforms() {
    let test = "needs_registry_builder_image_replays_every_layer_on_both_platforms";
    if !common::registry_here(test) {
        return;
    }
    ensure_fixture(&root().join(".retrace/builder/builder.md"));
    let out = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let run = Command::new(env!("CARGO_BIN_EXE_retrace"))
        .args(["build", "recipes/builder.yaml", "--out"])
        .arg(out.path())
        .current_dir(root())
        .output()
        .unwrap();
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&run.stderr);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("report.json")).unwrap()).unwrap();
    for platform in report["platforms"].as_array().unwrap() {
        let name = platform["platform"].as_str().unwrap();
        let layers = platform["layers"].as_array().unwrap();
        assert_eq!(layers.len(), LAYERS.len(), "{name}: {layers:#?}");
        for (layer, (step, proves)) in layers.iter().zip(LAYERS) {
            let verdict = layer["verdict"].as_str().unwrap();
            let text = layer["step"].as_str().unwrap();
            assert!(
                text.starts_with(step),
                "{name} layer {}: made by `{text}`, expected `{step}` ({proves})",
                layer["index"]
            );
            assert!(
                verdict == "match" || verdict == "match-after-timestamps",
                "{name} layer {} ({proves}): {verdict}: {}",
                layer["index"],
                layer["reason"]
            );
        }
    }
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    // How long it takes is `cargo xtask bench build`'s business; the log keeps the figure.
    eprintln!("builder fixture replay: {took:?}");
}
