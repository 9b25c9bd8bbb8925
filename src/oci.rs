//! Writes a rebuilt image out of retrace: as an OCI image layout directory (`oci-layout`,
//! `index.json`, `blobs/sha256/…`) or as a `docker load` archive (`manifest.json`, the config,
//! one uncompressed `layer.tar` per layer).
//!
//! Plain data in: the image config as a JSON value and the layer blobs with their digests. Every
//! blob is verified while it is copied (the gzip blob against its digest and size, the tar inside
//! it against its diff_id, the config's `rootfs.diff_ids` against the layers), and nothing is
//! visible at the destination until everything is complete: the layout is built in a temporary
//! directory next to it and renamed into place; the archive goes through `fsutil::write_new`.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::archive::DockerManifest;
use crate::digest::{Digest, DigestWriter};
use crate::layer::tar::write_plain_file_header;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// The annotation naming an image in a layout's index (`skopeo ... oci:DIR:NAME`).
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Bounds on walking image indexes read from outside (an OCI layout's `index.json` and the
/// indexes it names). A real multi-platform image is two levels deep (layout index, image index)
/// with a few dozen manifests; the bounds refuse indexes nested or fanned out to exhaust the stack
/// or the run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexLimits {
    /// Indexes nested inside one another, counting the layout's own `index.json`.
    pub max_depth: usize,
    /// Manifests and indexes visited in one walk, all levels together.
    pub max_manifests: usize,
}

impl Default for IndexLimits {
    fn default() -> IndexLimits {
        IndexLimits {
            max_depth: 4,
            max_manifests: 4096,
        }
    }
}

/// Where a layer's gzip blob is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobSource {
    Bytes(Vec<u8>),
    File(PathBuf),
}

/// One layer: its gzip blob and what it is expected to hash to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerBlob {
    /// sha256 of the gzip blob.
    pub digest: Digest,
    /// sha256 of the tar inside it.
    pub diff_id: Digest,
    /// Length of the gzip blob.
    pub size: u64,
    pub source: BlobSource,
}

/// An image to write: its config (serialized compactly, as Docker does) and its layers, bottom
/// first; `reference` (such as `retrace/httpd:2.4`) names it in the index / `RepoTags`.
/// `annotations` go into its manifest and the index's descriptor of it (an OCI layout only).
#[derive(Debug, Clone, PartialEq)]
pub struct ImageInput {
    pub config: Value,
    pub layers: Vec<LayerBlob>,
    pub reference: Option<String>,
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// What was written for one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrittenImage {
    pub manifest: Digest,
    pub manifest_size: u64,
    pub config: Digest,
}

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("{path}: already exists; refusing to overwrite an image layout")]
    AlreadyExists { path: PathBuf },

    #[error("layer {index}: blob has {what} {found}, expected {expected}")]
    BlobMismatch {
        index: usize,
        what: &'static str,
        expected: String,
        found: String,
    },

    #[error("config rootfs.diff_ids {found:?} do not match the layers' diff_ids {expected:?}")]
    DiffIdsMismatch { expected: Vec<String>, found: Vec<String> },

    #[error("{path}: decompressing a layer blob")]
    Layer {
        path: PathBuf,
        #[source]
        source: crate::archive::ArchiveError,
    },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> OciError + '_ {
    move |source| OciError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn config_bytes(image: &ImageInput) -> Result<Vec<u8>, OciError> {
    // When the config lists diff_ids, they must be exactly the layers' (a loader checks it too,
    // but naming the mismatch here is kinder).
    if let Some(ids) = image.config.pointer("/rootfs/diff_ids").and_then(Value::as_array) {
        let found: Vec<String> = ids.iter().map(|v| v.as_str().unwrap_or("").to_string()).collect();
        let expected: Vec<String> = image.layers.iter().map(|l| l.diff_id.to_string()).collect();
        if found != expected {
            return Err(OciError::DiffIdsMismatch { expected, found });
        }
    }
    // A `serde_json::Value` has only string keys, so it always serializes.
    Ok(serde_json::to_vec(&image.config).expect("a serde_json::Value always serializes"))
}

fn open_blob(layer: &LayerBlob) -> io::Result<Box<dyn Read + '_>> {
    Ok(match &layer.source {
        BlobSource::Bytes(b) => Box::new(b.as_slice()),
        BlobSource::File(p) => Box::new(crate::fsutil::open_regular(p)?),
    })
}

fn check(index: usize, what: &'static str, expected: impl ToString, found: impl ToString) -> Result<(), OciError> {
    let (expected, found) = (expected.to_string(), found.to_string());
    if expected == found {
        Ok(())
    } else {
        Err(OciError::BlobMismatch {
            index,
            what,
            expected,
            found,
        })
    }
}

/// Copies a layer's gzip blob to `out`, verifying its digest, size and the diff_id of the tar
/// inside it.
fn copy_verified_blob(index: usize, layer: &LayerBlob, out: &mut dyn Write, what_path: &Path) -> Result<(), OciError> {
    let mut reader = open_blob(layer).map_err(io_at(what_path))?;
    let mut blob = Vec::new();
    reader.read_to_end(&mut blob).map_err(io_at(what_path))?;
    check(index, "digest", layer.digest, Digest::of(&blob))?;
    check(index, "size", layer.size, blob.len())?;
    let mut tar_hash = DigestWriter::new(io::sink());
    gunzip(&blob, &mut tar_hash, what_path)?;
    check(index, "diff_id", layer.diff_id, tar_hash.finish().0)?;
    out.write_all(&blob).map_err(io_at(what_path))
}

/// Decompresses a layer blob into `out` through the archive reader's bounds: a blob the build
/// wrote is small, but an imported one came from outside, verified only against a digest that
/// outside document names.
fn gunzip(blob: &[u8], out: &mut dyn Write, path: &Path) -> Result<(), OciError> {
    crate::archive::decompress(blob, &crate::archive::Limits::default(), out)
        .map(|_| ())
        .map_err(|source| OciError::Layer {
            path: path.to_path_buf(),
            source,
        })
}

fn platform_of(config: &Value) -> Option<Value> {
    let os = config.get("os")?.as_str()?;
    let arch = config.get("architecture")?.as_str()?;
    let mut p = json!({ "architecture": arch, "os": os });
    if let Some(v) = config.get("variant").and_then(Value::as_str) {
        p["variant"] = json!(v);
    }
    Some(p)
}

/// Writes `images` as an OCI image layout at `dir`, which must not exist yet. The layout is
/// assembled in a temporary sibling directory and renamed into place when complete.
pub fn write_oci_layout(dir: &Path, images: &[ImageInput]) -> Result<Vec<WrittenImage>, OciError> {
    if dir.exists() {
        return Err(OciError::AlreadyExists {
            path: dir.to_path_buf(),
        });
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::create_dir_all(parent).map_err(io_at(parent))?;
    let tmp = tempfile::Builder::new()
        .prefix(".retrace-oci-")
        .tempdir_in(parent)
        .map_err(io_at(parent))?;
    let _registered = crate::fsutil::Temporary::register(tmp.path());
    // The temporary directory is created 0700; the layout gets what a new directory gets.
    crate::fsutil::set_default_mode(tmp.path(), true).map_err(io_at(tmp.path()))?;
    let written = update_oci_layout(tmp.path(), images, None)?;
    let tmp_path = tmp.keep();
    fs::rename(&tmp_path, dir).map_err(|e| {
        let _ = fs::remove_dir_all(&tmp_path);
        OciError::Io {
            path: dir.to_path_buf(),
            source: e,
        }
    })?;
    Ok(written)
}

/// Writes `images` into the OCI image layout at `dir`, which may already hold blobs (a build
/// writes its layer blobs there as it goes). Every blob is written atomically under its digest and
/// verified (a layer blob already present is re-read and checked against digest, size and
/// diff_id); `index.json`, naming exactly `images`, is replaced last, so a reader never sees an
/// index that points at a missing or partial blob.
///
/// With `group`, the images are the platforms of one image: `index.json` names a single image
/// index (annotated with `group` as its `org.opencontainers.image.ref.name`) that names the
/// per-platform manifests, the shape `skopeo inspect oci:DIR` and `--override-arch` expect.
pub fn update_oci_layout(
    dir: &Path,
    images: &[ImageInput],
    group: Option<&str>,
) -> Result<Vec<WrittenImage>, OciError> {
    let blobs = crate::blob::blobs_dir(dir);
    fs::create_dir_all(&blobs).map_err(io_at(&blobs))?;
    let put = |bytes: &[u8]| -> Result<Digest, OciError> {
        let written = crate::blob::BlobWriter::write_bytes(&blobs, bytes).map_err(io_at(&blobs))?;
        Ok(written.digest)
    };

    let mut manifests = Vec::new();
    let mut written = Vec::new();
    for image in images {
        let config = config_bytes(image)?;
        let config_digest = put(&config)?;
        let mut layers = Vec::new();
        for (i, layer) in image.layers.iter().enumerate() {
            let p = blobs.join(layer.digest.hex());
            if layer.source == BlobSource::File(p.clone()) {
                copy_verified_blob(i, layer, &mut io::sink(), &p)?;
            } else {
                let mut failure = None;
                crate::fsutil::write_new(&p, |w| {
                    copy_verified_blob(i, layer, w, &p).map_err(|e| {
                        failure = Some(e);
                        io::Error::other("layer blob not written")
                    })
                })
                .map_err(|e| failure.take().unwrap_or_else(|| io_at(&p)(e)))?;
            }
            layers.push(json!({ "mediaType": OCI_LAYER_GZIP, "digest": layer.digest, "size": layer.size }));
        }
        let mut manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": { "mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len() },
            "layers": layers,
        });
        if !image.annotations.is_empty() {
            manifest["annotations"] = json!(image.annotations);
        }
        // `json!` values have only string keys, so they always serialize.
        let manifest_bytes = serde_json::to_vec(&manifest).expect("serializes");
        let manifest_digest = put(&manifest_bytes)?;
        let mut desc = json!({
            "mediaType": OCI_MANIFEST,
            "digest": manifest_digest,
            "size": manifest_bytes.len(),
        });
        if let Some(p) = platform_of(&image.config) {
            desc["platform"] = p;
        }
        let mut annotations = image.annotations.clone();
        if let Some(r) = &image.reference {
            annotations.insert(REF_NAME.to_string(), r.clone());
        }
        if !annotations.is_empty() {
            desc["annotations"] = json!(annotations);
        }
        manifests.push(desc);
        written.push(WrittenImage {
            manifest: manifest_digest,
            manifest_size: manifest_bytes.len() as u64,
            config: config_digest,
        });
    }
    let layout_path = dir.join("oci-layout");
    crate::fsutil::write_new(&layout_path, |w| w.write_all(br#"{"imageLayoutVersion":"1.0.0"}"#))
        .map_err(io_at(&layout_path))?;
    let mut index = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests });
    if let Some(name) = group {
        // `json!` values have only string keys, so they always serialize.
        let bytes = serde_json::to_vec(&index).expect("serializes");
        let digest = put(&bytes)?;
        index = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{
            "mediaType": OCI_INDEX,
            "digest": digest,
            "size": bytes.len(),
            "annotations": { REF_NAME: name },
        }]});
    }
    let index_path = dir.join("index.json");
    crate::fsutil::write_new(&index_path, |w| {
        // `json!` values have only string keys, so they always serialize.
        w.write_all(&serde_json::to_vec_pretty(&index).expect("serializes"))
    })
    .map_err(io_at(&index_path))?;
    Ok(written)
}

/// Writes `image` as a `docker load` archive at `path` (replaced atomically).
pub fn write_docker_archive(path: &Path, image: &ImageInput) -> Result<WrittenImage, OciError> {
    let config = config_bytes(image)?;
    let config_digest = Digest::of(&config);
    let config_name = format!("{}.json", config_digest.hex());
    let layer_names: Vec<String> = image
        .layers
        .iter()
        .map(|l| format!("{}/layer.tar", l.diff_id.hex()))
        .collect();
    let manifest_bytes = DockerManifest::to_json(&[DockerManifest {
        config: config_name.clone(),
        layers: layer_names.clone(),
        repo_tags: image.reference.iter().cloned().collect(),
    }]);

    let mut failure: Option<OciError> = None;
    let result = crate::fsutil::write_new(path, |out| {
        let mut fill = || -> Result<(), OciError> {
            let mut member = |name: &str, data: &[u8]| -> Result<(), OciError> {
                write_plain_file_header(name, data.len() as u64, out).map_err(io_at(path))?;
                out.write_all(data).map_err(io_at(path))?;
                pad(out, data.len() as u64).map_err(io_at(path))
            };
            member(&config_name, &config)?;
            for (i, layer) in image.layers.iter().enumerate() {
                // The archive holds the uncompressed tar: verify the blob, then inflate it.
                let mut blob = Vec::new();
                copy_verified_blob(i, layer, &mut blob, path)?;
                let mut tar = Vec::new();
                gunzip(&blob, &mut tar, path)?;
                member(&layer_names[i], &tar)?;
            }
            member("manifest.json", &manifest_bytes)?;
            out.write_all(&[0u8; 1024]).map_err(io_at(path))
        };
        fill().map_err(|e| {
            failure = Some(e);
            io::Error::other("docker archive not written")
        })
    });
    match (result, failure) {
        (_, Some(e)) => Err(e),
        (Err(e), None) => Err(OciError::Io {
            path: path.to_path_buf(),
            source: e,
        }),
        (Ok(()), None) => Ok(WrittenImage {
            manifest: Digest::of(&manifest_bytes),
            manifest_size: manifest_bytes.len() as u64,
            config: config_digest,
        }),
    }
}

fn pad(out: &mut dyn Write, len: u64) -> io::Result<()> {
    let n = ((512 - len % 512) % 512) as usize;
    out.write_all(&[0u8; 512][..n])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{write_blob, Entry, Profile};

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

    fn image() -> ImageInput {
        let l1 = layer(&[
            Entry::dir("etc", 0o755),
            Entry::file("etc/motd", 0o644, b"hi\n".to_vec()),
        ]);
        let l2 = layer(&[Entry::file("x", 0o600, b"x".to_vec())]);
        let config = json!({
            "architecture": "amd64", "os": "linux",
            "config": { "Cmd": ["/bin/sh"] },
            "rootfs": { "type": "layers", "diff_ids": [l1.diff_id, l2.diff_id] },
            "history": [{ "created_by": "test" }, { "created_by": "test" }],
        });
        ImageInput {
            config,
            layers: vec![l1, l2],
            reference: Some("retrace/test:1".into()),
            annotations: Default::default(),
        }
    }

    #[test]
    fn oci_layout_is_self_consistent() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("img");
        let img = image();
        let written = write_oci_layout(&dir, std::slice::from_ref(&img)).unwrap();
        let index: Value = serde_json::from_slice(&fs::read(dir.join("index.json")).unwrap()).unwrap();
        let desc = &index["manifests"][0];
        assert_eq!(desc["digest"], json!(written[0].manifest));
        assert_eq!(
            desc["annotations"]["org.opencontainers.image.ref.name"],
            "retrace/test:1"
        );
        assert_eq!(desc["platform"]["architecture"], "amd64");
        // Every blob is named by its own digest.
        for entry in fs::read_dir(dir.join("blobs/sha256")).unwrap() {
            let entry = entry.unwrap();
            let bytes = fs::read(entry.path()).unwrap();
            assert_eq!(Digest::of(&bytes).hex(), entry.file_name().to_string_lossy());
        }
        assert_eq!(
            fs::read(dir.join("oci-layout")).unwrap(),
            br#"{"imageLayoutVersion":"1.0.0"}"#
        );
        // Nothing but the layout is left next to it.
        assert_eq!(fs::read_dir(t.path()).unwrap().count(), 1);
        // A second write refuses to clobber it.
        assert!(matches!(
            write_oci_layout(&dir, &[img]),
            Err(OciError::AlreadyExists { .. })
        ));
    }

    #[test]
    fn mismatched_blobs_and_diff_ids_are_refused_without_output() {
        let t = tempfile::tempdir().unwrap();
        let mut img = image();
        img.layers[1].digest = Digest::of(b"not it");
        let err = write_oci_layout(&t.path().join("a"), std::slice::from_ref(&img)).unwrap_err();
        assert!(
            matches!(
                err,
                OciError::BlobMismatch {
                    index: 1,
                    what: "digest",
                    ..
                }
            ),
            "{err}"
        );
        let err = write_docker_archive(&t.path().join("a.tar"), &img).unwrap_err();
        assert!(matches!(err, OciError::BlobMismatch { index: 1, .. }), "{err}");

        let mut img = image();
        img.layers.swap(0, 1);
        let err = write_oci_layout(&t.path().join("b"), &[img]).unwrap_err();
        assert!(matches!(err, OciError::DiffIdsMismatch { .. }), "{err}");
        assert_eq!(fs::read_dir(t.path()).unwrap().count(), 0, "no partial output");
    }

    #[test]
    fn docker_archive_lists_config_and_uncompressed_layers() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("img.tar");
        let img = image();
        let written = write_docker_archive(&path, &img).unwrap();
        let mut names = Vec::new();
        let mut archive = ::tar::Archive::new(fs::File::open(&path).unwrap());
        for e in archive.entries().unwrap() {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            if name.ends_with("/layer.tar") {
                assert_eq!(format!("{}/layer.tar", Digest::of(&data).hex()), name);
            }
            if name.ends_with(".json") && name != "manifest.json" {
                assert_eq!(format!("{}.json", written.config.hex()), name);
                assert_eq!(Digest::of(&data), written.config);
            }
            names.push(name);
        }
        assert_eq!(names.len(), 4);
        assert_eq!(names.last().unwrap(), "manifest.json");
    }
}
