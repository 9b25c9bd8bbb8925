//! The outside check of a build output's proof: every layer report.json calls rebuilt is in the
//! OCI layout under its published digest, as `sha256sum` (coreutils, not retrace) hashes the blob
//! file, and skopeo lists it in its platform's image.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn json_file(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// `sha256sum`'s `sha256:<hex>` of `path`.
fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().expect("run sha256sum");
    assert!(out.status.success(), "sha256sum {}", path.display());
    let text = String::from_utf8(out.stdout).unwrap();
    format!("sha256:{}", text.split_whitespace().next().unwrap())
}

/// The layer digests skopeo lists for `platform` (`linux/arm/v7`) in the layout at `out`.
fn skopeo_layers(out: &Path, platform: &str) -> Vec<String> {
    let parts: Vec<&str> = platform.split('/').collect();
    let mut cmd = Command::new("skopeo");
    cmd.args(["inspect", "--override-os", parts[0], "--override-arch", parts[1]]);
    if let Some(v) = parts.get(2) {
        cmd.args(["--override-variant", v]);
    }
    let run = cmd.arg(format!("oci:{}", out.display())).output().expect("run skopeo");
    assert!(
        run.status.success(),
        "skopeo on {platform}: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let inspected: Value = serde_json::from_slice(&run.stdout).unwrap();
    let layers = inspected["Layers"].as_array().unwrap();
    layers.iter().map(|l| l.as_str().unwrap().to_string()).collect()
}

/// Checks every `match` and `match-after-timestamps` layer of the build output `out` from outside
/// and returns how many there were. The replay's own blob of a layer that needed recovery is
/// named in report.json and kept apart, under `replayed/`.
pub fn published_blobs_in_layout(out: &Path) -> usize {
    let report = json_file(&out.join("report.json"));
    let mut checked = 0;
    for p in report["platforms"].as_array().unwrap() {
        let platform = p["platform"].as_str().unwrap();
        let rebuilt: Vec<&Value> = p["layers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["verdict"] == "match" || l["verdict"] == "match-after-timestamps")
            .collect();
        if rebuilt.is_empty() {
            continue;
        }
        let listed = skopeo_layers(out, platform);
        for l in rebuilt {
            let (index, expected) = (l["index"].as_u64().unwrap() as usize, l["expected"].as_str().unwrap());
            let file = out.join("blobs/sha256").join(expected.strip_prefix("sha256:").unwrap());
            assert_eq!(sha256sum(&file), expected, "{platform} layer {index}");
            assert_eq!(l["rebuilt"], expected, "{platform} layer {index}");
            assert_eq!(
                listed.get(index - 1).map(String::as_str),
                Some(expected),
                "{platform} layer {index}"
            );
            if let Some(replayed) = l["replayed"].as_str() {
                let hex = replayed.strip_prefix("sha256:").unwrap();
                assert_eq!(sha256sum(&out.join("replayed/blobs/sha256").join(hex)), replayed);
            }
            checked += 1;
        }
    }
    checked
}

/// The per-platform manifests of a build's layout as (platform, manifest digest,
/// `dev.retrace.partial` annotation) of the index's descriptors: index.json names one image index
/// (one multi-platform image per build), which names them.
pub fn layout_platforms(out: &Path) -> Vec<(String, String, Option<String>)> {
    let top = json_file(&out.join("index.json"));
    let entries = top["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "one multi-platform image per build");
    let nested = entries[0]["digest"].as_str().unwrap().strip_prefix("sha256:").unwrap();
    let index = json_file(&out.join("blobs/sha256").join(nested));
    let descriptors = index["manifests"].as_array().unwrap();
    descriptors
        .iter()
        .map(|m| {
            let p = &m["platform"];
            let mut slug = format!("{}/{}", p["os"].as_str().unwrap(), p["architecture"].as_str().unwrap());
            if let Some(v) = p["variant"].as_str() {
                slug = format!("{slug}/{v}");
            }
            let partial = m["annotations"]["dev.retrace.partial"].as_str().map(str::to_string);
            (slug, m["digest"].as_str().unwrap().to_string(), partial)
        })
        .collect()
}
