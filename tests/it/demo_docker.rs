//! The demo image runs on all seven platforms through Docker, the foreign ones under QEMU via the
//! binfmt handlers `cargo xtask setup` registers with the F flag (without F, the emulator would have
//! to exist inside the container's file system, which the demo's does not).

use std::process::Command;

use retrace::registry::manifest::Manifest;
use retrace::registry::{Client, ClientOptions, Reference};

fn docker_here(test: &str) -> bool {
    let up = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    if up {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: CI=true but no Docker daemon answers; `cargo xtask setup` should have started it");
    }
    eprintln!("SKIPPED: {test}: no Docker daemon (run `cargo xtask setup` as root)");
    false
}

#[test]
#[ignore = "needs Docker, QEMU binfmt and the demo image (cargo xtask setup && cargo xtask demo-fixture)"]
fn needs_docker_demo_runs_on_every_platform_under_qemu() {
    let test = "needs_docker_demo_runs_on_every_platform_under_qemu";
    if !docker_here(test) {
        return;
    }
    let client = Client::new(ClientOptions::default()).unwrap();
    let r: Reference = "127.0.0.1:5000/retrace/demo:latest".parse().unwrap();
    let list = match client.manifest(&r) {
        Ok(m) => m,
        Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("SKIPPED: {test}: demo image not in the local registry ({e}); run `cargo xtask demo-fixture`");
            return;
        }
        Err(e) => panic!("{test}: demo image not in the local registry: {e}"),
    };
    let Manifest::Index(index) = &list.manifest else {
        panic!("the demo is a manifest list")
    };
    // What `uname -m` says inside each platform's container: the emulator's machine for the
    // foreign ones (QEMU's arm reports armv7l for v5 too), the host kernel's for amd64 and 386.
    let expected = [
        ("linux/amd64", "x86_64"),
        ("linux/arm/v5", "armv7l"),
        ("linux/arm/v7", "armv7l"),
        ("linux/arm64/v8", "aarch64"),
        ("linux/386", "x86_64"),
        ("linux/ppc64le", "ppc64le"),
        ("linux/s390x", "s390x"),
    ];
    assert_eq!(index.manifests.len(), expected.len());
    for (entry, (slug, machine)) in index.manifests.iter().zip(expected) {
        let platform = entry.platform.as_ref().unwrap();
        assert_eq!(platform.to_string(), slug);
        // By digest: a tag would let Docker 20.10 reuse whatever platform it pulled last.
        let image = format!("127.0.0.1:5000/retrace/demo@{}", entry.digest);
        let out = Command::new("docker")
            .args(["run", "--rm", "--platform", slug, &image])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{slug}: {stderr}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from retrace\n", "{slug}");
        assert!(
            stderr.contains(&format!("retrace demo on {machine}\n")),
            "{slug}: {stderr}"
        );
    }
}

#[test]
#[ignore = "needs Docker and the demo image (cargo xtask setup && cargo xtask demo-fixture)"]
fn needs_docker_pull_imports_a_docker_save_archive_and_verifies_its_layers() {
    let test = "needs_docker_pull_imports_a_docker_save_archive_and_verifies_its_layers";
    if !docker_here(test) {
        return;
    }
    let client = Client::new(ClientOptions::default()).unwrap();
    let r: Reference = "127.0.0.1:5000/retrace/demo:latest".parse().unwrap();
    let Ok(list) = client.manifest(&r) else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{test}: demo image not in the local registry");
        }
        eprintln!("SKIPPED: {test}: demo image not in the local registry; run `cargo xtask demo-fixture`");
        return;
    };
    let Manifest::Index(index) = &list.manifest else {
        panic!("the demo is a manifest list")
    };
    let arm64 = index
        .manifests
        .iter()
        .find(|m| m.platform.as_ref().unwrap().architecture == "arm64")
        .unwrap();
    let image = format!("127.0.0.1:5000/retrace/demo@{}", arm64.digest);
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("demo-arm64.tar");
    assert!(Command::new("docker")
        .args(["pull", "-q", &image])
        .status()
        .unwrap()
        .success());
    let saved = Command::new("docker")
        .args(["save", "-o"])
        .arg(&archive)
        .arg(&image)
        .status()
        .unwrap();
    assert!(saved.success());

    // The registry's config is the archive's config: same digest.
    let m = client.manifest(&r.with_digest(arm64.digest)).unwrap();
    let Manifest::Image(m) = &m.manifest else {
        panic!("platform manifest")
    };

    let store = dir.path().join("store");
    let layout = dir.path().join("layout");
    let arg = format!("docker-archive:{}", archive.display());
    let run = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_retrace")).args(args).output().unwrap();
    let out = run(&[
        "pull",
        &arg,
        "--store",
        store.to_str().unwrap(),
        "-o",
        layout.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(
        summary.contains("[linux/arm64/v8]") && summary.contains("4 blobs verified"),
        "{summary}"
    );
    assert!(store.join("blobs/sha256").join(m.config.digest.hex()).is_file());
    // Every layer went in under its diff_id, i.e. it hashed to what the config records.
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(store.join("blobs/sha256").join(m.config.digest.hex())).unwrap())
            .unwrap();
    for d in config["rootfs"]["diff_ids"].as_array().unwrap() {
        let hex = d.as_str().unwrap().trim_start_matches("sha256:");
        assert!(layout.join("blobs/sha256").join(hex).is_file(), "{hex}");
    }

    let out = run(&["describe", &arg, "--store", store.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("uncompressed layers"));
}
