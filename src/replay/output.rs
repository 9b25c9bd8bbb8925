//! The images of a build: an OCI image layout in the output directory (one manifest and config per
//! fully built platform, an index naming them with their platforms) and, on request, one
//! `docker load` archive per platform. The writing itself is `crate::oci`'s: blobs are verified and
//! written atomically, the index last, so a reader never sees an index pointing at a missing blob.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::layers::BlobInfo;
use crate::oci::{BlobSource, ImageInput, LayerBlob, OciError};
use crate::plan::PlatformPlan;

/// The OCI config of a rebuilt platform: its platform, the plan's final runtime config, the diff_ids
/// of the rebuilt layers and the document's history.
pub fn config_json(plan: &PlatformPlan, layers: &[BlobInfo]) -> Value {
    let history: Vec<Value> = plan
        .steps
        .iter()
        .map(|s| {
            let mut h = json!({ "created_by": s.text });
            if let Some(c) = s.created {
                h["created"] = json!(crate::time::format_rfc3339(c));
            }
            if s.layer.is_none() {
                h["empty_layer"] = json!(true);
            }
            h
        })
        .collect();
    let created = plan.steps.iter().filter_map(|s| s.created).max().unwrap_or(0);
    let mut config = json!({
        "created": crate::time::format_rfc3339(created),
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

/// The image of one fully built platform, its layers read from the build's blob store.
fn image_input(out: &Path, plan: &PlatformPlan, layers: &[BlobInfo]) -> ImageInput {
    ImageInput {
        config: config_json(plan, layers),
        layers: layers
            .iter()
            .map(|l| LayerBlob {
                digest: l.digest,
                diff_id: l.diff_id,
                size: l.size,
                source: BlobSource::File(crate::blob::blob_path(out, &l.digest)),
            })
            .collect(),
        reference: None,
    }
}

/// `repo[:tag]` split at the tag's colon (a registry's `host:port` is not a tag).
fn split_tag(reference: &str) -> (&str, Option<&str>) {
    match reference.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, Some(tag)),
        _ => (reference, None),
    }
}

/// The tag a platform's docker archive loads as: the document's repository name under `retrace/`,
/// tagged with the platform (`retrace/demo:linux-arm-v7`), so loading never replaces the original.
pub fn archive_reference(tag: &str, plan: &PlatformPlan) -> String {
    let repo = split_tag(tag).0;
    let name = repo.rsplit('/').next().unwrap_or(repo).to_ascii_lowercase();
    format!("retrace/{name}:{}", plan.platform.slug())
}

/// Where the docker archive of a platform goes.
pub fn archive_path(out: &Path, plan: &PlatformPlan) -> PathBuf {
    out.join("images").join(format!("{}.tar", plan.platform.slug()))
}

/// Writes the manifests, configs, `index.json` and `oci-layout` for the built platforms, and with
/// `archives` a docker archive per platform. Every layer blob is verified against its digest,
/// size and diff_id on the way.
pub fn write_layout(
    out: &Path,
    tag: &str,
    built: &[(&PlatformPlan, &Vec<BlobInfo>)],
    archives: bool,
) -> Result<(), OciError> {
    let images: Vec<ImageInput> = built
        .iter()
        .map(|(plan, layers)| image_input(out, plan, layers))
        .collect();
    // One multi-platform image, named by the document's tag (`latest` of `demo:latest`).
    crate::oci::update_oci_layout(out, &images, Some(split_tag(tag).1.unwrap_or("latest")))?;
    if archives {
        for ((plan, _), image) in built.iter().zip(images) {
            let image = ImageInput {
                reference: Some(archive_reference(tag, plan)),
                ..image
            };
            crate::oci::write_docker_archive(&archive_path(out, plan), &image)?;
        }
    }
    Ok(())
}
