//! Builders for the small layers, OCI layouts and build dirs the diff and report tests compare.
//! Everything is generated deterministically so golden outputs (digests included) are stable.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use retrace::Digest;

/// One entry of a fixture layer.
#[derive(Clone)]
pub struct E {
    pub path: String,
    pub kind: char,
    pub data: Vec<u8>,
    pub link: String,
    pub mode: u32,
    pub mtime: u64,
    pub uid: u64,
}

pub fn file(path: &str, data: &[u8]) -> E {
    E {
        path: path.into(),
        kind: '0',
        data: data.to_vec(),
        link: String::new(),
        mode: 0o644,
        mtime: 1_500_000_000,
        uid: 0,
    }
}

pub fn dir(path: &str) -> E {
    E {
        kind: '5',
        mode: 0o755,
        ..file(path, b"")
    }
}

pub fn symlink(path: &str, target: &str) -> E {
    E {
        kind: '2',
        link: target.into(),
        mode: 0o777,
        ..file(path, b"")
    }
}

impl E {
    pub fn at(mut self, mtime: u64) -> E {
        self.mtime = mtime;
        self
    }
}

pub fn tar(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_ustar();
        h.set_path(&e.path).unwrap();
        h.set_mode(e.mode);
        h.set_uid(e.uid);
        h.set_gid(0);
        h.set_mtime(e.mtime);
        h.set_size(e.data.len() as u64);
        h.set_entry_type(tar::EntryType::new(e.kind as u8));
        if !e.link.is_empty() {
            h.set_link_name(&e.link).unwrap();
        }
        h.set_cksum();
        b.append(&h, &e.data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

pub fn write(path: &Path, bytes: &[u8]) -> PathBuf {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
    path.to_path_buf()
}

/// Adds a blob to an OCI layout and returns its digest.
pub fn blob(layout: &Path, bytes: &[u8]) -> Digest {
    let d = Digest::of(bytes);
    write(&layout.join("blobs/sha256").join(d.hex()), bytes);
    d
}

/// Writes an OCI layout holding one single-platform image made of `layers` (blobs as given),
/// tagged `tag`. Returns the manifest digest.
pub fn oci_image(layout: &Path, tag: &str, platform: (&str, &str), layers: &[Vec<u8>]) -> Digest {
    write(&layout.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#);
    let config = serde_json::json!({"os": platform.0, "architecture": platform.1, "rootfs": {"type": "layers"}});
    let config = serde_json::to_vec(&config).unwrap();
    let cd = blob(layout, &config);
    let layer_descs: Vec<_> = layers
        .iter()
        .map(|l| {
            let d = blob(layout, l);
            serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d.to_string(), "size": l.len()})
        })
        .collect();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd.to_string(), "size": config.len()},
        "layers": layer_descs,
    });
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let md = blob(layout, &manifest);
    let index_path = layout.join("index.json");
    let mut index: serde_json::Value = std::fs::read(&index_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| serde_json::json!({"schemaVersion": 2, "manifests": []}));
    index["manifests"].as_array_mut().unwrap().push(serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": md.to_string(),
        "size": manifest.len(),
        "annotations": {"org.opencontainers.image.ref.name": tag},
    }));
    write(&index_path, &serde_json::to_vec_pretty(&index).unwrap());
    md
}

/// Writes a `retrace build`-shaped output dir: report.json plus an OCI layout under `oci/` holding
/// the rebuilt blobs. `layers` per platform: (step, expected, rebuilt blob or None, verdict).
#[allow(clippy::type_complexity)]
pub fn build_dir(dir: &Path, recipe: &str, platforms: &[(&str, Vec<(&str, Digest, Option<Vec<u8>>, &str)>)]) {
    let layout = dir.join("oci");
    write(&layout.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#);
    write(&layout.join("index.json"), br#"{"schemaVersion":2,"manifests":[]}"#);
    let mut ps = Vec::new();
    for (platform, layers) in platforms {
        let mut ls = Vec::new();
        for (i, (step, expected, rebuilt, verdict)) in layers.iter().enumerate() {
            let rebuilt = rebuilt.as_ref().map(|b| blob(&layout, b).to_string());
            ls.push(serde_json::json!({
                "index": i + 1, "step": step, "expected": expected.to_string(),
                "rebuilt": rebuilt, "verdict": verdict, "reason": "",
            }));
        }
        ps.push(serde_json::json!({"platform": platform, "layers": ls}));
    }
    let report = serde_json::json!({"recipe": recipe, "platforms": ps});
    write(&dir.join("report.json"), &serde_json::to_vec_pretty(&report).unwrap());
}

pub fn retrace() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_retrace"))
}

/// Runs the CLI, returning (exit code, stdout, stderr).
pub fn run(args: &[&str], cwd: &Path) -> (i32, String, String) {
    let out = retrace().args(args).current_dir(cwd).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
