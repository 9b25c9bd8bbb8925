//! Cross-check of the walker and the tar writer against a real Docker 20.10 daemon (Debian's
//! docker.io, overlay2): each step runs in a container the way the classic builder runs a `RUN`,
//! retrace regenerates the layer from the container's overlay upper directory with `read_tree` +
//! `write_tar` (profile docker-20.10 with this host's user database, which is what the daemon
//! looks names up in), and `docker commit` makes the daemon produce the real layer; its diff_id
//! must equal ours.
//!
//! No image can be pulled here, so the base image is imported from a tiny busybox rootfs
//! (Debian's busybox-static, installed by `cargo xtask setup`).
//!
//! `#[ignore]`d: run with `cargo xtask test` (group `needs_docker_`).

use std::path::{Path, PathBuf};
use std::process::Command;

use retrace::layer::{read_tree, write_blob, write_tar, Entry, Profile, WalkOptions};

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("run docker");
    assert!(
        out.status.success(),
        "docker {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Removes what the test made even when an assertion fails half-way.
struct Cleanup {
    containers: Vec<String>,
    images: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = Command::new("docker").args(["rm", "-f", c]).output();
        }
        for i in self.images.iter().rev() {
            let _ = Command::new("docker").args(["rmi", "-f", i]).output();
        }
    }
}

/// A root filesystem with busybox and the applet links the steps use.
fn busybox_rootfs() -> Vec<Entry> {
    let busybox = std::fs::read("/bin/busybox").expect("/bin/busybox (Debian's busybox-static) is needed");
    let mut entries = vec![Entry::dir("bin", 0o755), Entry::file("bin/busybox", 0o755, busybox)];
    for applet in [
        "cat", "chmod", "chown", "cp", "echo", "ln", "ls", "mkdir", "mkfifo", "mv", "rm", "sh", "touch",
    ] {
        entries.push(Entry::symlink(format!("bin/{applet}"), "busybox"));
    }
    entries.push(Entry::dir("etc", 0o755));
    entries.push(Entry::file("etc/group", 0o644, b"root:x:0:\n".to_vec()));
    entries.push(Entry::file(
        "etc/passwd",
        0o644,
        b"root:x:0:0:root:/root:/bin/sh\n".to_vec(),
    ));
    entries.push(Entry::dir("tmp", 0o1777));
    entries
}

/// `security.capability` for cap_net_raw+ep (VFS_CAP_REVISION_2, effective).
const CAP_NET_RAW: &[u8] = b"\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";

struct Step {
    name: &'static str,
    script: String,
    /// Changes made from the host to the stopped container's upper directory before the commit,
    /// for what busybox cannot do inside (file capabilities).
    host_tweak: Option<fn(&Path)>,
}

fn steps() -> Vec<Step> {
    let a80 = "a".repeat(80);
    let b60 = "b".repeat(60);
    let c120 = "c".repeat(120);
    let x120 = "x".repeat(120);
    vec![
        Step {
            name: "files",
            script: "mkdir -p /d/sub /e /usr/local && echo hi > /d/f && ln /d/f /d/hard && ln -s f /d/sym \
                     && mkfifo /d/fifo && touch /d/suid /e/x /e/y /e/z && chmod 4755 /d/suid && chmod 2775 /d/sub \
                     && chmod 1777 /e && chown 1:50 /d/f && chown 65534:65534 /e/x && chown 12345:54321 /e/y \
                     && printf '%5000s' x > /d/big && cp /bin/busybox /d/bb && mkdir /d/own && chown 2:2 /d/own \
                     && mkfifo /d/p1 && ln /d/p1 /d/p2 && ln -s nowhere /d/s1 && ln /d/s1 /d/s2"
                .to_string(),
            host_tweak: Some(|upper| {
                let ping = upper.join("d/ping");
                std::fs::write(&ping, b"#!/bin/sh\n").unwrap();
                xattr::set(&ping, "security.capability", CAP_NET_RAW).unwrap();
            }),
        },
        Step {
            name: "deletions",
            // Several whiteouts in one step (sharing one inode on Linux >= 5.8) and an opaque
            // directory from `rm -rf d && mkdir d`.
            script: "rm /d/f /e/x /e/y && rm -rf /d/sub && mkdir /d/sub && touch /d/sub/new && chmod 600 /d/big"
                .to_string(),
            host_tweak: None,
        },
        Step {
            name: "names",
            script: format!(
                "mkdir -p /long/{a80}/{b60} && touch /long/{a80}/{b60}/{c120} && touch '/caf\u{e9}' /\u{65e5}\u{672c} \
                 && ln -s /{x120} /longlink && ln -s '/t\u{e9}' /nonascii-link && mkdir /{x120}"
            ),
            host_tweak: None,
        },
    ]
}

/// What one step produced: the committed image and our blob for its top layer.
struct StepResult {
    name: &'static str,
    image: String,
    ours: retrace::layer::BlobInfo,
}

/// Runs every step as the classic builder runs a `RUN` (container, then commit) and asserts
/// that our tar of the container's upper directory has the daemon's diff_id.
fn run_steps_and_check_diff_ids(tag: &str, cleanup: &mut Cleanup) -> Vec<StepResult> {
    let server = docker(&["version", "--format", "{{.Server.Version}}"]);
    assert!(
        server.starts_with("20.10."),
        "this cross-check needs Debian's docker.io 20.10, found {server}"
    );
    let driver = docker(&["info", "--format", "{{.Driver}}"]);
    assert_eq!(driver, "overlay2", "the upper directory is read from overlay2");

    let dir = tempfile::tempdir().unwrap();
    let base_tar = dir.path().join("base.tar");
    let mut f = std::fs::File::create(&base_tar).unwrap();
    write_tar(&busybox_rootfs(), &Profile::docker_18_06(), &mut f).unwrap();
    drop(f);
    let mut image = format!("{tag}:base");
    docker(&["import", base_tar.to_str().unwrap(), &image]);
    cleanup.images.push(image.clone());

    let profile = Profile::docker_20_10_from_host().unwrap();
    let mut results = Vec::new();
    for step in steps() {
        let container = format!("{tag}-{}", step.name);
        let _ = Command::new("docker").args(["rm", "-f", &container]).output();
        cleanup.containers.push(container.clone());
        docker(&["run", "--name", &container, &image, "sh", "-c", &step.script]);
        let upper = PathBuf::from(docker(&["inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", &container]));
        if let Some(tweak) = step.host_tweak {
            tweak(&upper);
        }
        let entries = read_tree(&upper, &WalkOptions::default()).unwrap();
        let ours = write_blob(&entries, &profile, &mut std::io::sink()).unwrap();

        let next = format!("{tag}:{}", step.name);
        docker(&["commit", &container, &next]);
        cleanup.images.push(next.clone());
        let layers: Vec<String> =
            serde_json::from_str(&docker(&["image", "inspect", "-f", "{{json .RootFS.Layers}}", &next])).unwrap();
        let theirs = layers.last().unwrap();
        if ours.diff_id.to_string() != *theirs {
            // Keep our tar for a look with `tar tvf` / `cmp` against `docker save`.
            let keep = std::env::temp_dir().join(format!("{container}-ours.tar"));
            let mut f = std::fs::File::create(&keep).unwrap();
            write_tar(&entries, &profile, &mut f).unwrap();
            panic!(
                "step {}: ours {} (kept in {}), daemon {theirs}; `docker save {next}` has the daemon's tar",
                step.name,
                ours.diff_id,
                keep.display()
            );
        }
        eprintln!(
            "step {}: {} entries, diff_id {} matches the daemon",
            step.name,
            entries.len(),
            ours.diff_id
        );
        image = next.clone();
        results.push(StepResult {
            name: step.name,
            image: next,
            ours,
        });
    }
    results
}

#[test]
#[ignore = "needs a Docker daemon; run by `cargo xtask test`"]
fn needs_docker_layers_match_daemon_diff_ids() {
    let tag = format!("retrace-layer-test-{}", std::process::id());
    let mut cleanup = Cleanup {
        containers: Vec::new(),
        images: Vec::new(),
    };
    run_steps_and_check_diff_ids(&tag, &mut cleanup);
}

/// The blobs Docker pushes are the gzip (Go, level 6) of the same tars: push each committed
/// image to the local registry and compare the manifest's layer digest and size with
/// `write_blob`. Needs the Docker daemon as well as the registry.
#[test]
#[ignore = "needs a Docker daemon and a registry on 127.0.0.1:5000; run by `cargo xtask test`"]
fn needs_registry_pushed_blobs_match_write_blob() {
    let tag = format!("retrace-layer-push-{}", std::process::id());
    let mut cleanup = Cleanup {
        containers: Vec::new(),
        images: Vec::new(),
    };
    let results = run_steps_and_check_diff_ids(&tag, &mut cleanup);
    for r in results {
        let remote = format!("127.0.0.1:5000/{tag}:{}", r.name);
        docker(&["tag", &r.image, &remote]);
        cleanup.images.push(remote.clone());
        docker(&["push", &remote]);
        let out = Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false", &format!("docker://{remote}")])
            .output()
            .expect("run skopeo");
        assert!(out.status.success(), "skopeo: {}", String::from_utf8_lossy(&out.stderr));
        let manifest: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let top = manifest["layers"].as_array().unwrap().last().unwrap();
        assert_eq!(
            top["digest"].as_str().unwrap(),
            r.ours.digest.to_string(),
            "step {} blob digest",
            r.name
        );
        assert_eq!(top["size"].as_u64().unwrap(), r.ours.size, "step {} blob size", r.name);
        eprintln!(
            "step {}: pushed blob {} ({} bytes) matches write_blob",
            r.name, r.ours.digest, r.ours.size
        );
    }
}

/// The `COPY file:<hex>` hash: a classic (`DOCKER_BUILDKIT=0`) build against the 20.10 daemon
/// records it in the history; `context_file_hash` with the docker-20.10 profile must agree for
/// files of several modes, owners and depths.
#[test]
#[ignore = "needs a Docker daemon; run by `cargo xtask test`"]
fn needs_docker_file_hash_matches_classic_builder() {
    use std::os::unix::fs::PermissionsExt;
    let server = docker(&["version", "--format", "{{.Server.Version}}"]);
    assert!(
        server.starts_with("20.10."),
        "this cross-check needs Debian's docker.io 20.10, found {server}"
    );

    let tag = format!("retrace-filehash-test-{}", std::process::id());
    let mut cleanup = Cleanup {
        containers: Vec::new(),
        images: Vec::new(),
    };
    let dir = tempfile::tempdir().unwrap();
    let base_tar = dir.path().join("base.tar");
    let mut f = std::fs::File::create(&base_tar).unwrap();
    write_tar(&busybox_rootfs(), &Profile::docker_18_06(), &mut f).unwrap();
    drop(f);
    let base = format!("{tag}:base");
    docker(&["import", base_tar.to_str().unwrap(), &base]);
    cleanup.images.push(base.clone());

    let ctx = dir.path().join("ctx");
    std::fs::create_dir_all(ctx.join("sub/deeper")).unwrap();
    let files: [(&str, u32, &[u8]); 5] = [
        ("docker-entrypoint.sh", 0o775, b"#!/bin/sh\nset -e\nexec \"$@\"\n"),
        ("plain.conf", 0o644, b"key = value\n"),
        ("sub/suid", 0o4755, b"\x7fELF not really\n"),
        ("sub/deeper/empty", 0o600, b""),
        ("big.bin", 0o444, &[0xa5; 70_000]),
    ];
    let mut dockerfile = format!("FROM {base}\n");
    for (i, (name, mode, content)) in files.iter().enumerate() {
        let p = ctx.join(name);
        std::fs::write(&p, content).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode)).unwrap();
        dockerfile.push_str(&format!("COPY {name} /f{i}\n"));
    }
    std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    let image = format!("{tag}:built");
    let out = Command::new("docker")
        .args(["build", "-q", "-t", &image])
        .arg(&ctx)
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker build: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    cleanup.images.push(image.clone());

    let history = docker(&["history", "--no-trunc", "--format", "{{.CreatedBy}}", &image]);
    let profile = Profile::docker_20_10_from_host().unwrap();
    for (i, (name, mode, content)) in files.iter().enumerate() {
        let line = history
            .lines()
            .find(|l| l.contains("COPY file:") && l.trim_end().ends_with(&format!(" in /f{i}")))
            .unwrap_or_else(|| panic!("no COPY line for /f{i} in:\n{history}"));
        let recorded = line.split("file:").nth(1).unwrap().split_whitespace().next().unwrap();
        let ours = retrace::layer::context_file_hash(name, *mode, content, &profile);
        assert_eq!(ours.hex(), recorded, "{name} (mode {mode:o})");
    }
}
