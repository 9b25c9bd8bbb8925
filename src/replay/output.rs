//! The images of a build: an OCI image layout in the output directory (one manifest and config per
//! platform that built a layer, annotated [`PARTIAL`] when it stopped early, an index naming them
//! with their platforms) and, on request, one `docker load` archive per fully built platform. The writing itself is `crate::oci`'s: blobs are verified and
//! written atomically, the index last, so a reader never sees an index pointing at a missing blob.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use std::collections::BTreeSet;

use super::layers::BlobInfo;
use super::report::PlatformReport;
use crate::digest::Digest;
use crate::oci::{BlobSource, ImageInput, LayerBlob, OciError};
use crate::plan::PlatformPlan;

/// The annotation that marks the image of a platform whose replay stopped before its last layer:
/// its value says how many layers were rebuilt and why the replay stopped.
pub const PARTIAL: &str = "dev.retrace.partial";

/// One platform's image as far as it was rebuilt.
pub struct Built<'a> {
    pub plan: &'a PlatformPlan,
    /// The layers built, bottom first (the blobs of the published digests where they matched).
    pub layers: &'a [BlobInfo],
    /// Why the platform stopped before its last layer, when it did.
    pub partial: Option<String>,
}

/// The OCI config of a rebuilt platform: its platform, the plan's final runtime config, the diff_ids
/// of the rebuilt layers and the document's history up to the last of them (all of it for a
/// platform built to the end).
pub fn config_json(plan: &PlatformPlan, layers: &[BlobInfo]) -> Value {
    let mut made = 0;
    let steps: Vec<_> = plan
        .steps
        .iter()
        .take_while(|s| {
            // A partial image's history ends with the step of its last layer, so its non-empty
            // entries are as many as its layers.
            let more = made < layers.len() || plan.layers.len() == layers.len();
            made += usize::from(s.layer.is_some());
            more
        })
        .collect();
    let history: Vec<Value> = steps
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
    let created = steps.iter().filter_map(|s| s.created).max().unwrap_or(0);
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

/// The image of one platform, its layers read from the build's blob store.
fn image_input(out: &Path, built: &Built) -> ImageInput {
    ImageInput {
        config: config_json(built.plan, built.layers),
        layers: built
            .layers
            .iter()
            .map(|l| LayerBlob {
                digest: l.digest,
                diff_id: l.diff_id,
                size: l.size,
                source: BlobSource::File(crate::blob::blob_path(out, &l.digest)),
            })
            .collect(),
        reference: None,
        annotations: built
            .partial
            .iter()
            .map(|why| (PARTIAL.to_string(), why.clone()))
            .collect(),
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

/// Writes the manifests, configs, `index.json` and `oci-layout` for the built platforms (a
/// platform that stopped early annotated [`PARTIAL`]), and with `archives` a docker archive per
/// platform built to the end. Every layer blob is verified against its digest, size and diff_id
/// on the way.
pub fn write_layout(out: &Path, tag: &str, built: &[Built], archives: bool) -> Result<(), OciError> {
    let images: Vec<ImageInput> = built.iter().map(|b| image_input(out, b)).collect();
    // One multi-platform image, named by the document's tag (`latest` of `demo:latest`).
    crate::oci::update_oci_layout(out, &images, Some(split_tag(tag).1.unwrap_or("latest")))?;
    if archives {
        // A `docker load`ed image carries no annotation, so a partial one is not archived: it
        // would pass for the whole image.
        for (b, image) in built.iter().zip(images).filter(|(b, _)| b.partial.is_none()) {
            let image = ImageInput {
                reference: Some(archive_reference(tag, b.plan)),
                ..image
            };
            crate::oci::write_docker_archive(&archive_path(out, b.plan), &image)?;
        }
    }
    Ok(())
}

/// Moves the blobs the replay wrote for layers that matched only after recovery (report.json's
/// `replayed`) out of the layout into `replayed/blobs/sha256/`, unless a layer of the layout is
/// that very blob. Runs once every platform is done, as platforms share the layout's blobs.
pub fn set_apart_replayed(out: &Path, platforms: &[PlatformReport]) -> std::io::Result<()> {
    let rows = || platforms.iter().flat_map(|p| &p.layers);
    let listed: BTreeSet<Digest> = rows().filter_map(|l| l.rebuilt).collect();
    let apart = crate::blob::blobs_dir(&out.join("replayed"));
    for digest in rows().filter_map(|l| l.replayed).filter(|d| !listed.contains(d)) {
        let (from, to) = (crate::blob::blob_path(out, &digest), apart.join(digest.hex()));
        if from.is_file() {
            std::fs::create_dir_all(&apart)?;
            std::fs::rename(&from, &to)?;
        }
    }
    Ok(())
}
