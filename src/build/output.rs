//! The OCI image layout of a build: one image manifest and config per fully built platform, and an
//! index naming them with their platforms. Blobs are content-addressed and written atomically, the
//! index last, so a reader never sees an index pointing at a missing blob.

use std::io;
use std::path::Path;

use serde_json::{json, Value};

use super::layers::BlobInfo;
use crate::digest::Digest;
use crate::plan::{Action, PlatformPlan};

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

fn put_blob(out: &Path, bytes: &[u8]) -> io::Result<Digest> {
    let digest = Digest::of(bytes);
    let path = out.join("blobs/sha256").join(digest.hex());
    if !path.exists() {
        crate::fsutil::write_atomic(&path, |w| w.write_all(bytes))?;
    }
    Ok(digest)
}

/// The OCI config of a rebuilt platform: its platform, the plan's final runtime config, the diff_ids
/// of the rebuilt layers and the document's history.
pub fn config_json(plan: &PlatformPlan, layers: &[BlobInfo]) -> Value {
    let history: Vec<Value> = plan
        .steps
        .iter()
        .map(|s| {
            let mut h = json!({ "created_by": s.text });
            if let Some(c) = s.created {
                h["created"] = json!(rfc3339(c));
            }
            if s.layer.is_none() {
                h["empty_layer"] = json!(true);
            }
            let _ = matches!(s.action, Action::Config);
            h
        })
        .collect();
    let created = plan.steps.iter().filter_map(|s| s.created).max().unwrap_or(0);
    let mut config = json!({
        "created": rfc3339(created),
        "architecture": plan.platform.architecture,
        "os": plan.platform.os,
        "config": plan.config,
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>()},
        "history": history,
    });
    if let Some(v) = &plan.platform.variant {
        config["variant"] = json!(v);
    }
    config
}

/// Writes the manifests, configs, `index.json` and `oci-layout` for the built platforms.
pub fn write_layout(out: &Path, built: &[(&PlatformPlan, &Vec<BlobInfo>)]) -> io::Result<()> {
    let mut manifests = Vec::new();
    for (plan, layers) in built {
        let config = serde_json::to_vec(&config_json(plan, layers))?;
        let config_digest = put_blob(out, &config)?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": {"mediaType": CONFIG, "digest": config_digest.to_string(), "size": config.len()},
            "layers": layers.iter().map(|l| json!({"mediaType": LAYER, "digest": l.digest.to_string(), "size": l.size})).collect::<Vec<_>>(),
        });
        let manifest = serde_json::to_vec(&manifest)?;
        let digest = put_blob(out, &manifest)?;
        let mut platform = json!({"architecture": plan.platform.architecture, "os": plan.platform.os});
        if let Some(v) = &plan.platform.variant {
            platform["variant"] = json!(v);
        }
        manifests.push(
            json!({"mediaType": MANIFEST, "digest": digest.to_string(), "size": manifest.len(), "platform": platform}),
        );
    }
    crate::fsutil::write_atomic(&out.join("oci-layout"), |w| {
        w.write_all(br#"{"imageLayoutVersion":"1.0.0"}"#)
    })?;
    let index =
        json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests});
    crate::fsutil::write_atomic(&out.join("index.json"), |w| {
        serde_json::to_writer_pretty(&mut *w, &index).map_err(io::Error::other)
    })
}

/// Seconds since the epoch as RFC 3339 UTC (`2019-02-05T20:24:16Z`).
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm), valid for the whole proleptic Gregorian range.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_549_398_256), "2019-02-05T20:24:16Z");
    }
}
