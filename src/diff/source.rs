//! What `retrace diff` can compare, and how each operand is named on the command line:
//!
//! | syntax | meaning |
//! |---|---|
//! | `FILE` | one layer blob, tar or tar+gzip |
//! | `DIR@sha256:<hex>` | the blob of that digest in DIR's `blobs/sha256/` (an OCI layout, a build output, a content store): a layer, or a manifest/index (an image) |
//! | `oci:DIR` or `oci:DIR:TAG` (or a `DIR` holding `oci-layout`) | the image(s) of an OCI layout; TAG matches `org.opencontainers.image.ref.name` |
//! | `docker-archive:FILE` | a `docker save` tarball (first image in its manifest.json) |
//! | `DIR` holding `report.json` | a `retrace build` output dir: its rebuilt layers, platform by platform |
//! | `registry:REF`, `store:REF`, `docker://REF` | an image reference, resolved by an [`ImageResolver`] (the registry client) |
//!
//! Operands resolve to a [`Subject`]: one layer, or an image with its platforms and their layers.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::DiffError;
use crate::archive::{DockerManifest, TarMembers};
use crate::oci::IndexLimits;
use crate::registry::layout::Layout;
use crate::registry::manifest::{ImageConfig, Manifest, Platform as ManifestPlatform};
use crate::Digest;

/// How to get a layer's bytes.
#[derive(Debug, Clone)]
pub enum Opener {
    File(PathBuf),
    /// A member of an uncompressed tar file (docker archives), by offset and length.
    Range {
        path: PathBuf,
        offset: u64,
        len: u64,
    },
}

impl Opener {
    pub fn open(&self) -> Result<Box<dyn Read + Send>, DiffError> {
        match self {
            Opener::File(p) => Ok(Box::new(
                crate::fsutil::open_regular(p).map_err(|e| DiffError::io(p, e))?,
            )),
            Opener::Range { path, offset, len } => {
                let mut f = crate::fsutil::open_regular(path).map_err(|e| DiffError::io(path, e))?;
                f.seek(SeekFrom::Start(*offset)).map_err(|e| DiffError::io(path, e))?;
                Ok(Box::new(f.take(*len)))
            }
        }
    }
}

/// One layer: where its bytes are, and the digest they must have when known.
#[derive(Debug, Clone)]
pub struct LayerSource {
    pub label: String,
    pub digest: Option<Digest>,
    pub opener: Opener,
}

/// One platform of an image: its layers bottom to top. `None` marks a layer that a build did not
/// produce (the `not-built` verdict).
#[derive(Debug, Clone)]
pub struct PlatformLayers {
    pub platform: String,
    pub layers: Vec<Option<LayerSource>>,
}

#[derive(Debug, Clone)]
pub enum Subject {
    Layer(LayerSource),
    Image(Vec<PlatformLayers>),
}

/// The hook through which image references (in the local content store or a registry) become
/// subjects. The registry client implements it; `retrace diff` without one refuses such operands
/// with a clear message.
pub trait ImageResolver: Sync {
    /// The image `reference` names; `offline` (the `store:` prefix) reads the local content store
    /// only, never the network.
    fn resolve(&self, reference: &str, offline: bool) -> Result<Subject, DiffError>;
}

pub fn resolve(spec: &str, resolver: Option<&dyn ImageResolver>) -> Result<Subject, DiffError> {
    for prefix in ["registry:", "store:", "docker://"] {
        if let Some(reference) = spec.strip_prefix(prefix) {
            return match resolver {
                Some(r) => r.resolve(reference, prefix == "store:"),
                None => Err(DiffError::Spec {
                    spec: spec.into(),
                    message:
                        "image references need a resolver (the registry client); pass a layer file, an OCI layout, \
                              a docker archive or a build dir"
                            .into(),
                }),
            };
        }
    }
    if let Some(path) = spec.strip_prefix("docker-archive:") {
        return docker_archive(Path::new(path));
    }
    if let Some(rest) = spec.strip_prefix("oci:") {
        // `oci:DIR:TAG`; a DIR that itself contains ':' is accepted when it exists as written.
        let (dir, tag) = match rest.rsplit_once(':') {
            Some((d, t)) if !Path::new(rest).exists() => (d, Some(t)),
            _ => (rest, None),
        };
        return oci_layout(Path::new(dir), tag);
    }
    if let Some((dir, digest)) = spec.rsplit_once('@') {
        let digest: Digest = digest.parse().map_err(|e| DiffError::Spec {
            spec: spec.into(),
            message: crate::error::chain(&e),
        })?;
        return oci_blob(Path::new(dir), &digest);
    }
    let path = Path::new(spec);
    if path.is_dir() {
        if path.join("report.json").is_file() {
            return build_dir(path);
        }
        if path.join("oci-layout").is_file() {
            return oci_layout(path, None);
        }
        return Err(DiffError::Spec {
            spec: spec.into(),
            message: "directory is neither a build output (report.json) nor an OCI layout (oci-layout)".into(),
        });
    }
    if !path.exists() {
        return Err(DiffError::Spec {
            spec: spec.into(),
            message: "no such file or directory (an operand is a layer file, DIR@sha256:…, oci:DIR, docker-archive:FILE, a build output dir, registry:REF or store:REF)".into(),
        });
    }
    Ok(Subject::Layer(LayerSource {
        label: spec.to_string(),
        digest: None,
        opener: Opener::File(path.to_path_buf()),
    }))
}

use crate::blob::blob_path;

/// The most bytes of one JSON document of a docker archive read.
const MAX_JSON_BYTES: u64 = 16 << 20;

/// The platform a descriptor names, in the `os/arch[/variant]` form.
fn platform_text(p: Option<&ManifestPlatform>) -> Option<String> {
    let p = p.filter(|p| !p.os.is_empty() && !p.architecture.is_empty())?;
    let variant = p.variant.as_deref().filter(|v| !v.is_empty());
    Some(crate::platform::Platform::new(&p.os, &p.architecture, variant).to_string())
}

/// The platform of an image from its config blob, when it can be read.
fn config_platform(layout: &Layout, config: &Digest) -> Option<String> {
    let bytes = layout.json_blob(config).ok()?;
    let config = ImageConfig::parse(&bytes, "config").ok()?;
    platform_text(Some(&config.platform()))
}

/// The most layers one image of an operand may have. Docker's graphdrivers stop at 125; each
/// layer is opened and compared, so an image claiming more would be work without end.
pub const MAX_LAYERS: usize = 4096;

/// The most bytes of manifests and indexes read in one walk of a layout: each is read and parsed
/// whole, so an index naming one 16 MiB manifest thousands of times would otherwise read it each
/// time. Real images read a few kilobytes.
pub const MAX_WALK_JSON_BYTES: u64 = 64 << 20;

/// Refuses an image of more than [`MAX_LAYERS`] layers, naming where it was described.
fn check_layers(path: &Path, layers: usize) -> Result<(), DiffError> {
    if layers <= MAX_LAYERS {
        return Ok(());
    }
    Err(DiffError::Layout {
        path: path.into(),
        message: format!("an image of {layers} layers, more than the limit of {MAX_LAYERS}"),
    })
}

/// How far a walk through nested indexes has gone, against [`IndexLimits`] and
/// [`MAX_WALK_JSON_BYTES`].
struct IndexWalk {
    limits: IndexLimits,
    depth: usize,
    visited: usize,
    json_bytes: u64,
}

impl IndexWalk {
    fn new() -> IndexWalk {
        IndexWalk {
            limits: IndexLimits::default(),
            // The layout's own index.json is the first level.
            depth: 1,
            visited: 0,
            json_bytes: 0,
        }
    }

    /// Counts one more manifest or index at `path`, and its size, refusing the walk past any bound
    /// before the blob is read.
    fn visit(&mut self, path: &Path) -> Result<(), DiffError> {
        self.visited += 1;
        // A blob that cannot be statted is refused by the read that follows, naming it.
        self.json_bytes += std::fs::metadata(path).map_or(0, |m| m.len());
        let refusal = if self.depth > self.limits.max_depth {
            format!("indexes nested more than {} deep", self.limits.max_depth)
        } else if self.visited > self.limits.max_manifests {
            format!(
                "more than {} manifests and indexes in one image",
                self.limits.max_manifests
            )
        } else if self.json_bytes > MAX_WALK_JSON_BYTES {
            format!("more than {MAX_WALK_JSON_BYTES} bytes of manifests and indexes in one image")
        } else {
            return Ok(());
        };
        Err(DiffError::Layout {
            path: path.into(),
            message: refusal,
        })
    }
}

/// The platforms of a manifest or index blob in `layout`.
fn image_from_blob(
    layout: &Layout,
    digest: &Digest,
    platform: Option<String>,
    walk: &mut IndexWalk,
) -> Result<Vec<PlatformLayers>, DiffError> {
    walk.visit(&layout.blob_path(digest))?;
    let image = match layout.manifest(digest, None)?.manifest {
        Manifest::Index(index) => {
            let mut out = Vec::new();
            walk.depth += 1;
            for m in &index.manifests {
                let p = platform_text(m.platform.as_ref());
                if p.as_deref().is_some_and(|p| p.starts_with("unknown/")) {
                    // Attestation manifests are not images of a platform.
                    continue;
                }
                out.extend(image_from_blob(layout, &m.digest, p, walk)?);
            }
            walk.depth -= 1;
            return Ok(out);
        }
        Manifest::Image(image) => image,
    };
    check_layers(&layout.blob_path(digest), image.layers.len())?;
    let platform = platform
        .or_else(|| config_platform(layout, &image.config.digest))
        .unwrap_or_else(|| "unknown".into());
    let mut layers = Vec::new();
    for (i, l) in image.layers.iter().enumerate() {
        let d = l.digest;
        layers.push(Some(LayerSource {
            label: format!("{platform} layer {} ({d})", i + 1),
            digest: Some(d),
            opener: Opener::File(layout.blob_path(&d)),
        }));
    }
    Ok(vec![PlatformLayers { platform, layers }])
}

fn oci_layout(dir: &Path, tag: Option<&str>) -> Result<Subject, DiffError> {
    let layout = Layout::open(dir)?;
    let index = layout.index()?;
    let mut out = Vec::new();
    let mut walk = IndexWalk::new();
    for m in &index.manifests {
        let name = m
            .annotations
            .as_ref()
            .and_then(|a| a.get(crate::oci::REF_NAME))
            .map(String::as_str);
        if let Some(tag) = tag {
            if name != Some(tag) && !name.is_some_and(|n| n.ends_with(&format!(":{tag}"))) {
                continue;
            }
        }
        out.extend(image_from_blob(
            &layout,
            &m.digest,
            platform_text(m.platform.as_ref()),
            &mut walk,
        )?);
    }
    if out.is_empty() {
        return Err(DiffError::Layout {
            path: dir.join("index.json"),
            message: match tag {
                Some(t) => format!("no manifest tagged `{t}`"),
                None => "no manifests".into(),
            },
        });
    }
    Ok(Subject::Image(out))
}

/// A blob by digest under `DIR/blobs/sha256/`: an OCI layout, a build output or a content store
/// (`retrace pull`'s cache), which keep blobs the same way; only an OCI layout is required to have
/// `oci-layout`.
fn oci_blob(dir: &Path, digest: &Digest) -> Result<Subject, DiffError> {
    let layout = Layout::at(dir);
    let path = layout.blob_path(digest);
    if !path.is_file() {
        Layout::open(dir).map_err(|_| DiffError::Layout {
            path: dir.into(),
            message: format!(
                "no blob {digest} under blobs/sha256/ (DIR@sha256:… names a blob of an OCI layout, a build \
                 output or a content store)"
            ),
        })?;
    }
    let mut head = [0u8; 1];
    let n = crate::fsutil::open_regular(&path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|e| DiffError::io(&path, e))?;
    if n == 1 && head[0] == b'{' {
        return Ok(Subject::Image(image_from_blob(
            &layout,
            digest,
            None,
            &mut IndexWalk::new(),
        )?));
    }
    Ok(Subject::Layer(LayerSource {
        label: format!("{}@{digest}", dir.display()),
        digest: Some(*digest),
        opener: Opener::File(path),
    }))
}

/// Where a build output dir keeps its OCI layout.
fn build_layout(dir: &Path) -> Option<PathBuf> {
    ["", "oci", "image", "layout"]
        .iter()
        .map(|s| if s.is_empty() { dir.to_path_buf() } else { dir.join(s) })
        .find(|p| p.join("oci-layout").is_file())
}

/// A `retrace build` output: the rebuilt layers named by report.json, read from the build's OCI
/// layout, platform by platform.
fn build_dir(dir: &Path) -> Result<Subject, DiffError> {
    let report = crate::report_json::Report::read(&dir.join("report.json"))?;
    let layout = build_layout(dir);
    let mut out = Vec::new();
    for p in report.platforms {
        let platform = p.platform;
        let mut layers: BTreeMap<usize, Option<LayerSource>> = BTreeMap::new();
        for l in &p.layers {
            let source = match (l.rebuilt, &layout) {
                (Some(d), Some(layout)) => Some(LayerSource {
                    label: format!("{platform} layer {} ({d})", l.index),
                    digest: Some(d),
                    opener: Opener::File(blob_path(layout, &d)),
                }),
                (Some(_), None) => {
                    return Err(DiffError::Layout {
                        path: dir.into(),
                        message: "report.json names rebuilt layers but the dir holds no OCI layout".into(),
                    })
                }
                (None, _) => None,
            };
            layers.insert(l.index, source);
        }
        out.push(PlatformLayers {
            platform,
            layers: layers.into_values().collect(),
        });
    }
    Ok(Subject::Image(out))
}

/// A `docker save` tarball: its members are indexed in one bounded pass over the headers, then
/// the manifest, config and layers are read in place.
fn docker_archive(path: &Path) -> Result<Subject, DiffError> {
    let archive_err = |source| DiffError::DockerArchive {
        path: path.into(),
        source,
    };
    let members = TarMembers::index(path).map_err(archive_err)?;
    let images = DockerManifest::read(&members).map_err(archive_err)?;
    let image = images.first().ok_or_else(|| DiffError::Layout {
        path: path.into(),
        message: "manifest.json lists no image".into(),
    })?;
    // The platform only labels the layers, so a config that cannot be read leaves it unknown.
    let platform = members
        .read_small(&image.config, MAX_JSON_BYTES)
        .ok()
        .and_then(|c| ImageConfig::parse(&c, "config").ok())
        .and_then(|c| platform_text(Some(&c.platform())))
        .unwrap_or_else(|| "unknown".into());
    check_layers(path, image.layers.len())?;
    let mut layers = Vec::new();
    for (i, name) in image.layers.iter().enumerate() {
        let member = members.find(name).map_err(archive_err)?;
        layers.push(Some(LayerSource {
            label: format!("{platform} layer {} ({name})", i + 1),
            digest: None,
            opener: Opener::Range {
                path: path.into(),
                offset: member.offset,
                len: member.size,
            },
        }));
    }
    Ok(Subject::Image(vec![PlatformLayers { platform, layers }]))
}
