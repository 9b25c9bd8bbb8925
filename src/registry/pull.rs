//! `retrace pull REF [--platform P] [-o LAYOUT]`: fetch an image's manifests, configs and layers into
//! the store, verifying every blob against its digest, and optionally write an OCI layout.

use std::collections::BTreeMap;
use std::path::Path;

use super::error::{RegistryError, Result};
use super::layout;
use super::manifest::{Descriptor, FetchedManifest, Manifest, DOCKER_FOREIGN_LAYER};
use super::reference::Reference;
use super::source::ImageSource;
use crate::digest::Digest;
use crate::oci::IndexLimits;
use crate::platform::{select, Platform};

/// One platform's image, resolved: its manifest (and the descriptor that led to it, when it came from
/// an index) and its parsed manifest body.
#[derive(Debug, Clone)]
pub struct PlatformImage {
    /// The index entry, or `None` when the reference named a single manifest.
    pub entry: Option<Descriptor>,
    pub manifest: FetchedManifest,
}

/// The top manifest of a reference and the platform images under it.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub top: FetchedManifest,
    pub images: Vec<PlatformImage>,
}

/// Resolves a reference to its platform images, in index order. `platform` keeps only the matching
/// entries (an error when none match).
pub fn resolve(source: &dyn ImageSource, r: &Reference, platform: Option<&Platform>) -> Result<Resolved> {
    let top = source.manifest(r)?;
    let mut images = Vec::new();
    match &top.manifest {
        Manifest::Image(_) => images.push(PlatformImage {
            entry: None,
            manifest: top.clone(),
        }),
        Manifest::Index(index) => {
            let limit = IndexLimits::default().max_manifests;
            if index.manifests.len() > limit {
                return Err(RegistryError::UnsupportedMediaType {
                    what: format!("{r}: index"),
                    media_type: format!("{} with more than {limit} manifests", top.media_type),
                });
            }
            let entries: Vec<&Descriptor> = match platform {
                Some(wanted) => {
                    select(wanted, &index.manifests, entry_platform).map_err(|source| RegistryError::Platform {
                        reference: r.to_string(),
                        source,
                    })?
                }
                None => index.manifests.iter().collect(),
            };
            for entry in entries {
                let child = source.manifest(&r.with_digest(entry.digest))?;
                if !matches!(child.manifest, Manifest::Image(_)) {
                    return Err(RegistryError::UnsupportedMediaType {
                        what: format!("{r}: index entry {}", entry.digest),
                        media_type: format!("{} (nested indexes are not supported)", child.media_type),
                    });
                }
                images.push(PlatformImage {
                    entry: Some(entry.clone()),
                    manifest: child,
                });
            }
            if images.is_empty() {
                return Err(RegistryError::EmptyIndex {
                    reference: r.to_string(),
                });
            }
        }
    }
    Ok(Resolved { top, images })
}

/// An index entry's platform; an entry without one is `unknown/unknown`, like an attestation's.
fn entry_platform(entry: &Descriptor) -> Platform {
    entry
        .platform
        .as_ref()
        .map_or_else(|| Platform::new("unknown", "unknown", None), |p| p.platform())
}

/// What a pull did, for the summary line and the tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullReport {
    pub top: Option<Digest>,
    pub platforms: Vec<String>,
    /// Distinct blobs (configs and layers) verified in the store.
    pub blobs: usize,
    /// Of which this many were transferred now (the rest were already stored).
    pub transferred: usize,
    pub bytes: u64,
    /// Foreign layers (Windows base layers) are not served by registries and are skipped.
    pub foreign_skipped: usize,
}

pub fn pull(
    source: &dyn ImageSource,
    r: &Reference,
    platform: Option<&Platform>,
    output: Option<&Path>,
) -> Result<PullReport> {
    let resolved = resolve(source, r, platform)?;
    let mut report = PullReport {
        top: Some(resolved.top.digest),
        ..PullReport::default()
    };
    // Manifests first in the layout's blob list, then configs and layers, each once.
    let mut blobs: BTreeMap<Digest, ()> = BTreeMap::new();
    blobs.insert(resolved.top.digest, ());
    for image in &resolved.images {
        let Manifest::Image(m) = &image.manifest.manifest else {
            unreachable!("resolve returns image manifests")
        };
        blobs.insert(image.manifest.digest, ());
        let platform = match &image.entry {
            Some(Descriptor { platform: Some(p), .. }) => p.to_string(),
            _ => {
                let config = super::manifest::ImageConfig::parse(&source.config(r, &m.config)?, "config")?;
                config.platform().to_string()
            }
        };
        report.platforms.push(platform);
        for desc in std::iter::once(&m.config).chain(&m.layers) {
            if desc.media_type == DOCKER_FOREIGN_LAYER {
                report.foreign_skipped += 1;
                continue;
            }
            if desc.urls.as_ref().is_some_and(|u| !u.is_empty()) {
                // Skipping it would leave the pulled image incomplete while reporting success.
                return Err(RegistryError::ExternalUrls {
                    what: format!("{r} ({})", image.manifest.digest),
                    digest: desc.digest,
                });
            }
            if blobs.insert(desc.digest, ()).is_some() {
                continue;
            }
            if source.ensure_blob(r, desc)? {
                report.transferred += 1;
            }
            report.blobs += 1;
            report.bytes += desc.size;
        }
    }
    if let Some(dir) = output {
        let store = source.store().ok_or(RegistryError::LayoutNeedsStore)?;
        let entries = layout_entries(r, &resolved, platform.is_some());
        let all: Vec<Digest> = blobs.keys().copied().collect();
        layout::write(dir, store, &all, entries)?;
    }
    Ok(report)
}

/// What `index.json` lists: the top manifest as pulled, or with `--platform` the chosen platform
/// manifests (a filtered index would be a new manifest with a new digest, which the registry never
/// served).
fn layout_entries(r: &Reference, resolved: &Resolved, filtered: bool) -> Vec<Descriptor> {
    let annotate = |tag: Option<&str>| {
        let mut a = BTreeMap::new();
        a.insert(layout::IMAGE_NAME.to_string(), r.to_string());
        if let Some(t) = tag {
            a.insert(layout::REF_NAME.to_string(), t.to_string());
        }
        Some(a)
    };
    let tag = r.tag.as_deref();
    if filtered && matches!(resolved.top.manifest, Manifest::Index(_)) {
        return resolved
            .images
            .iter()
            .map(|image| {
                // Under an index, `resolve` gives every image the entry that named it.
                let entry = image.entry.clone().expect("index children have entries");
                Descriptor {
                    annotations: annotate(tag),
                    ..entry
                }
            })
            .collect();
    }
    vec![Descriptor {
        media_type: resolved.top.media_type.clone(),
        digest: resolved.top.digest,
        size: resolved.top.bytes.len() as u64,
        urls: None,
        platform: None,
        annotations: annotate(tag),
    }]
}
