//! Real replays through the Docker daemon: amd64 natively and arm64 under QEMU.
//!
//! These tests are `#[ignore]`d and named `needs_docker_` so `cargo xtask test` runs them only where
//! a daemon answers (always under CI=true). Run directly without a daemon they print a loud
//! SKIPPED line and return, unless CI=true, where they fail.
//!
//! The fixture is made here, offline: a root file system from Debian's busybox-static for each
//! architecture (fetched with `apt-get download`, which `cargo xtask setup` prepares), a small
//! history (ADD rootfs, ENV, RUN, COPY, WORKDIR, RUN), and a recipe pointing at both.

use std::path::{Path, PathBuf};

use retrace::digest::Digest;
use retrace::plan::{self, InputStep, PlanInput, PlatformPlan, Step};
use retrace::recipe::{self, Platform};
use retrace::replay::{self, BuildOptions, Verdict};

use crate::common;
use common::docker::{busybox, daemon_or_skip, rootfs_tar, MTIME};

fn step(text: &str, step: Step) -> InputStep {
    InputStep {
        text: text.into(),
        created: Some(MTIME + 60),
        args: vec![],
        step,
        makes_layer: None,
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    recipe: recipe::Recipe,
    inputs: Vec<PlanInput>,
}

/// The fixture for `platforms` (Debian arch, platform); `slow` adds a RUN that sleeps, so a test
/// can kill the build in the middle.
fn fixture(platforms: &[(&str, &str)], slow: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let entry = root.join("entrypoint.sh");
    std::fs::write(&entry, "#!/bin/sh\nexec \"$@\"\n").unwrap();
    std::fs::set_permissions(&entry, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let f = std::fs::File::options().write(true).open(&entry).unwrap();
    f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(MTIME as u64))
        .unwrap();
    let copy_ref = format!(
        "file:{}",
        retrace::layer::hash_file_on_disk(&entry, None, &retrace::layer::Profile::docker_18_06())
            .unwrap()
            .hex()
    );

    let mut yaml = format!(
        "document: unused.md\ntag: test:latest\ncache: {}\nsources:\n  - for: {copy_ref}\n    path: entrypoint.sh\n",
        root.join("cache").display()
    );
    let mut inputs = Vec::new();
    for (deb_arch, platform) in platforms {
        let platform: Platform = platform.parse().unwrap();
        let tar = root.join(format!("rootfs-{deb_arch}.tar"));
        rootfs_tar(&busybox(deb_arch), &tar);
        let base_ref = format!(
            "file:{}",
            retrace::layer::hash_file_on_disk(&tar, None, &retrace::layer::Profile::docker_18_06())
                .unwrap()
                .hex()
        );
        yaml.push_str(&format!("  - for: {base_ref}\n    path: {}\n", tar.display()));
        let mut steps = vec![
            step(
                &format!("ADD {base_ref} in / "),
                Step::Copy {
                    add: true,
                    source: base_ref.clone(),
                    dest: "/".into(),
                    chown: None,
                },
            ),
            step(
                "ENV DEMO_HOME=/srv/demo",
                Step::Env(vec![("DEMO_HOME".into(), "/srv/demo".into())]),
            ),
            step(
                "RUN mkdir -p \"$DEMO_HOME\" && uname -m > \"$DEMO_HOME/arch\"",
                Step::Run {
                    script: "mkdir -p \"$DEMO_HOME\" && uname -m > \"$DEMO_HOME/arch\"".into(),
                    exec: None,
                },
            ),
            step(
                &format!("COPY {copy_ref} in /usr/local/bin/ "),
                Step::Copy {
                    add: false,
                    source: copy_ref.clone(),
                    dest: "/usr/local/bin/".into(),
                    chown: None,
                },
            ),
            step("WORKDIR /srv/demo", Step::Workdir("/srv/demo".into())),
        ];
        if slow {
            steps.push(step(
                "RUN sleep 20 && touch slept",
                Step::Run {
                    script: "sleep 20 && touch slept".into(),
                    exec: None,
                },
            ));
        }
        steps.push(step(
            "CMD [\"cat\" \"arch\"]",
            Step::Cmd(vec!["cat".into(), "arch".into()]),
        ));
        let layers = steps
            .iter()
            .filter(|s| matches!(s.step, Step::Run { .. } | Step::Copy { .. }))
            .enumerate()
            .map(|(i, _)| Digest::of(format!("unknown layer {i}").as_bytes()))
            .collect();
        inputs.push(PlanInput {
            platform,
            docker_version: Some("18.06.1-ce".into()),
            steps,
            layers,
            recorded_latest: None,
        });
    }
    let recipe_path = root.join("recipe.yaml");
    std::fs::write(&recipe_path, yaml).unwrap();
    let recipe = recipe::load(&recipe_path).unwrap();
    Fixture {
        _dir: dir,
        root,
        recipe,
        inputs,
    }
}

fn plans(f: &Fixture) -> Vec<PlatformPlan> {
    f.inputs.iter().map(|i| plan::plan(i, &[], None).unwrap()).collect()
}

fn options(out: &Path) -> BuildOptions {
    BuildOptions {
        out: out.to_path_buf(),
        platforms: vec![],
        jobs: 2,
        keep_going: true,
        progress: false,
        docker_archives: true,
        no_cache: false,
        search_candidates: retrace::replay::layers::BUILD_SEARCH_CANDIDATES,
        offline: false,
        inputs: Vec::new(),
        expected_inputs: None,
    }
}

/// The entries of a gzip layer blob in the output, as (path, content) pairs.
fn blob_files(out: &Path, digest: &Digest) -> Vec<(String, Vec<u8>)> {
    let f = std::fs::File::open(out.join("blobs/sha256").join(digest.hex())).unwrap();
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(f));
    ar.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let p = e.path().unwrap().to_string_lossy().to_string();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            (p, data)
        })
        .collect()
}

#[test]
#[ignore = "needs a Docker daemon and QEMU binfmt handlers (cargo xtask setup)"]
fn needs_docker_replays_amd64_and_arm64_under_qemu_then_reuses_the_cache() {
    if !daemon_or_skip("needs_docker_replays_amd64_and_arm64_under_qemu_then_reuses_the_cache") {
        return;
    }
    let f = fixture(&[("amd64", "linux/amd64"), ("arm64", "linux/arm64/v8")], false);
    let out = f.root.join("out");
    let plans = plans(&f);
    let refs: Vec<&PlatformPlan> = plans.iter().collect();
    let t0 = std::time::Instant::now();
    let report = replay::replay(&f.recipe, &refs, &options(&out)).unwrap();
    eprintln!("first replay: {:.1}s", t0.elapsed().as_secs_f64());
    for p in &report.platforms {
        eprintln!("{}: {:.1}s, error {:?}", p.platform, p.seconds, p.error);
        assert!(p.error.is_none(), "{}: {:?}", p.platform, p.error);
        assert_eq!(p.layers.len(), 3);
        assert!(p.layers.iter().all(|l| l.rebuilt.is_some()));
    }
    // The RUN ran as the platform's architecture: natively, then under QEMU.
    for (p, machine) in report.platforms.iter().zip(["x86_64", "aarch64"]) {
        let files = blob_files(&out, &p.layers[1].rebuilt.unwrap());
        let arch = files
            .iter()
            .find(|(n, _)| n == "srv/demo/arch")
            .expect("srv/demo/arch in the RUN layer");
        assert_eq!(String::from_utf8_lossy(&arch.1).trim(), machine, "{}", p.platform);
        let copied = blob_files(&out, &p.layers[2].rebuilt.unwrap());
        assert!(copied
            .iter()
            .any(|(n, d)| n == "usr/local/bin/entrypoint.sh" && d.starts_with(b"#!/bin/sh")));
    }
    // The layout is one multi-platform image: index.json names an image index, which has one
    // manifest per platform, with its platform.
    let top: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    assert_eq!(top["manifests"].as_array().unwrap().len(), 1);
    let nested = top["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .strip_prefix("sha256:")
        .unwrap();
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("blobs/sha256").join(nested)).unwrap()).unwrap();
    let platforms: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| format!("{}/{}", m["platform"]["architecture"], m["platform"]["variant"]))
        .collect();
    assert_eq!(platforms, ["\"amd64\"/null", "\"arm64\"/\"v8\""]);
    let report_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report_json["platforms"][1]["platform"], "linux/arm64/v8");
    assert_eq!(report_json["platforms"][0]["layers"][0]["index"], 1);

    // Second run with the first run's digests as the expected ones: every step comes from the
    // cache, and the rebuilt bytes are identical (the writer is pure, the diff dirs unchanged).
    let mut inputs = f.inputs.clone();
    for (input, p) in inputs.iter_mut().zip(&report.platforms) {
        input.layers = p.layers.iter().map(|l| l.rebuilt.unwrap()).collect();
    }
    let plans2: Vec<PlatformPlan> = inputs.iter().map(|i| plan::plan(i, &[], None).unwrap()).collect();
    let refs2: Vec<&PlatformPlan> = plans2.iter().collect();
    let t1 = std::time::Instant::now();
    let report2 = replay::replay(&f.recipe, &refs2, &options(&f.root.join("out2"))).unwrap();
    eprintln!("cached replay: {:.1}s", t1.elapsed().as_secs_f64());
    for p in &report2.platforms {
        // ADD, RUN, COPY and the WORKDIR, which is replayed (to learn whether it made a layer:
        // here none, /srv/demo existed) and cached like every step.
        assert_eq!(p.cached_steps, 4, "{}", p.platform);
        assert!(p.layers.iter().all(|l| l.verdict == Verdict::Match), "{p:?}");
    }

    // Third run: layer 2 (the RUN) is supplied as a published blob from the first run's OCI
    // layout, so it is imported on top of the replayed base instead of being run, and the COPY
    // after it is replayed on the imported layer.
    let mut yaml = std::fs::read_to_string(&f.recipe.file).unwrap();
    for p in &report.platforms {
        let d = p.layers[1].rebuilt.unwrap();
        yaml.push_str(&format!(
            "  - for: {d}\n    oci_layout: {}\n    blob: {d}\n",
            out.display()
        ));
    }
    std::fs::write(&f.recipe.file, yaml).unwrap();
    let recipe3 = recipe::load(&f.recipe.file).unwrap();
    let report3 = replay::replay(&recipe3, &refs2, &options(&f.root.join("out3"))).unwrap();
    for p in &report3.platforms {
        assert!(p.error.is_none(), "{}: {:?}", p.platform, p.error);
        // The base comes from the cache and the imported layer is the blob itself. The COPY ran
        // again, so /usr/local/bin, where it created a file, has a new mtime: its bytes differ
        // (that is what the timestamp search is for) but its files are the same.
        assert_eq!(p.layers[0].verdict, Verdict::Match, "{p:?}");
        // A layer taken from a published blob is `imported`, never `match`: it was not rebuilt.
        assert_eq!(p.layers[1].verdict, Verdict::Imported, "{p:?}");
        assert_eq!(p.layers[1].rebuilt, p.layers[1].expected.into(), "{p:?}");
        let names = |out: &Path, d: Digest| blob_files(out, &d).into_iter().map(|(n, _)| n).collect::<Vec<_>>();
        let first = &report
            .platforms
            .iter()
            .find(|q| q.platform == p.platform)
            .unwrap()
            .layers[2];
        assert_eq!(
            names(&f.root.join("out3"), p.layers[2].rebuilt.unwrap()),
            names(&out, first.rebuilt.unwrap())
        );
        let log = std::fs::read_to_string(
            f.root
                .join("out3/logs")
                .join(format!("{}.log", p.platform.replace('/', "-"))),
        )
        .unwrap();
        assert!(log.contains("==> step 2 RUN"), "{log}");
    }
}
