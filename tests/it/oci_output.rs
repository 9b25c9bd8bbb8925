//! The image writers read back by outside tools: skopeo reads the OCI layout, and (needs_docker)
//! `docker load` loads the docker archive, runs it and reports the same image ID and diff_ids.

use std::process::Command;

use retrace::layer::{write_blob, Entry, Profile};
use retrace::oci::{write_docker_archive, write_oci_layout, BlobSource, ImageInput, LayerBlob};
use serde_json::{json, Value};

use crate::common;
use common::run_ok as run;

fn layer(entries: &[Entry]) -> LayerBlob {
    let mut blob = Vec::new();
    let info = write_blob(entries, &Profile::docker_18_06(), &mut blob).unwrap();
    LayerBlob {
        digest: info.digest,
        diff_id: info.diff_id,
        size: info.size,
        source: BlobSource::Bytes(blob),
    }
}

/// A runnable image: busybox (Debian's busybox-static) as the base layer, a second layer with a
/// file the test reads back.
fn image(reference: &str) -> ImageInput {
    let busybox = std::fs::read("/bin/busybox").expect("/bin/busybox (Debian's busybox-static) is needed");
    let base = layer(&[
        Entry::dir("bin", 0o755),
        Entry::file("bin/busybox", 0o755, busybox),
        Entry::symlink("bin/sh", "busybox"),
        Entry::symlink("bin/cat", "busybox"),
        Entry::dir("etc", 0o755),
    ]);
    let top = layer(&[
        Entry::dir("etc", 0o755),
        Entry::file("etc/motd", 0o644, b"rebuilt by retrace\n".to_vec()),
    ]);
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": { "Cmd": ["/bin/cat", "/etc/motd"], "Env": ["PATH=/bin"] },
        "rootfs": { "type": "layers", "diff_ids": [base.diff_id, top.diff_id] },
        "history": [{ "created_by": "busybox" }, { "created_by": "motd" }],
    });
    ImageInput {
        config,
        layers: vec![base, top],
        reference: Some(reference.to_string()),
        annotations: Default::default(),
    }
}

#[test]
fn oci_layout_reads_back_with_skopeo() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("layout");
    let img = image("retrace/test:1");
    let written = write_oci_layout(&dir, std::slice::from_ref(&img)).unwrap();
    let target = format!("oci:{}:retrace/test:1", dir.display());

    let inspect: Value = serde_json::from_str(&run(Command::new("skopeo").args(["inspect", &target]))).unwrap();
    assert_eq!(inspect["Digest"], json!(written[0].manifest));
    assert_eq!(inspect["Architecture"], "amd64");
    let layers: Vec<String> = img.layers.iter().map(|l| l.digest.to_string()).collect();
    assert_eq!(inspect["Layers"], json!(layers));

    let config: Value =
        serde_json::from_str(&run(Command::new("skopeo").args(["inspect", "--config", &target]))).unwrap();
    let diff_ids: Vec<String> = img.layers.iter().map(|l| l.diff_id.to_string()).collect();
    assert_eq!(config["rootfs"]["diff_ids"], json!(diff_ids));
}

#[test]
#[ignore = "needs a Docker daemon; run by `cargo xtask test`"]
fn needs_docker_docker_archive_loads_and_runs() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("image.tar");
    let reference = format!("retrace-oci-test:{}", std::process::id());
    let img = image(&reference);
    let written = write_docker_archive(&path, &img).unwrap();

    run(Command::new("docker").arg("load").arg("-i").arg(&path));
    let result = std::panic::catch_unwind(|| {
        let id = run(Command::new("docker").args(["image", "inspect", "-f", "{{.Id}}", &reference]));
        assert_eq!(id.trim(), written.config.to_string(), "image ID is the config digest");
        let layers: Vec<String> = serde_json::from_str(&run(Command::new("docker").args([
            "image",
            "inspect",
            "-f",
            "{{json .RootFS.Layers}}",
            &reference,
        ])))
        .unwrap();
        let diff_ids: Vec<String> = img.layers.iter().map(|l| l.diff_id.to_string()).collect();
        assert_eq!(layers, diff_ids);
        let out = run(Command::new("docker").args(["run", "--rm", &reference]));
        assert_eq!(out, "rebuilt by retrace\n");
    });
    let _ = Command::new("docker").args(["rmi", "-f", &reference]).output();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}
