//! The OCI image layout as a copy of fetched blobs (`oci-layout`, `index.json`,
//! `blobs/sha256/<hex>`), written by `retrace pull -o` and read by the offline source. It copies
//! manifests, configs and layers verbatim from the content store, so every digest stays the
//! registry's. `src/oci.rs` is the other writer: it makes the manifests and configs of images
//! retrace constructs (build outputs). Both write blobs under temporary names and the index last.

use std::fs;
use std::path::{Path, PathBuf};

use super::error::{RegistryError, Result};
use super::manifest::{Descriptor, FetchedManifest, Index, OCI_INDEX};
use super::store::Store;
use super::store::{named_by, rehash};
use crate::digest::Digest;

pub use crate::oci::REF_NAME;
/// The full reference the image was pulled as (containerd's annotation, also used by skopeo).
pub const IMAGE_NAME: &str = "io.containerd.image.name";

pub use crate::blob::blob_path;
use crate::blob::{BlobError, BlobWriter};

/// Writes a layout holding `blobs` (copied from the store, re-verified on the way) with `index.json`
/// listing `entries`. Existing blobs in `dir` are kept, so several pulls can share one layout; the
/// index is replaced.
pub fn write(dir: &Path, store: &Store, blobs: &[Digest], entries: Vec<Descriptor>) -> Result<()> {
    let blob_dir = crate::blob::blobs_dir(dir);
    fs::create_dir_all(&blob_dir).map_err(|e| RegistryError::io(&blob_dir, e))?;
    for d in blobs {
        let dest = blob_path(dir, d);
        if dest.is_file() {
            continue;
        }
        // The copy is verified while it is written: a damaged store blob is never kept.
        let src = store.blob_path(d);
        let mut w = BlobWriter::new(&blob_dir).map_err(|e| RegistryError::io(&blob_dir, e))?;
        let mut from = crate::fsutil::open_regular(&src).map_err(|e| RegistryError::io(&src, e))?;
        std::io::copy(&mut from, &mut w).map_err(|e| RegistryError::io(&src, e))?;
        w.complete_expecting(d).map_err(|e| match e {
            BlobError::Io(e) => RegistryError::io(&dest, e),
            BlobError::Mismatch { expected, found, size } => RegistryError::DigestMismatch {
                what: "stored blob",
                expected,
                found,
                url: src.display().to_string(),
                size,
            },
        })?;
    }
    let layout = dir.join("oci-layout");
    crate::fsutil::write_new(&layout, |w| w.write_all(br#"{"imageLayoutVersion":"1.0.0"}"#))
        .map_err(|e| RegistryError::io(&layout, e))?;
    let index = Index {
        schema_version: 2,
        media_type: Some(OCI_INDEX.to_string()),
        manifests: entries,
    };
    // An index is plain data with string map keys, so it always serializes.
    let json = serde_json::to_vec_pretty(&index).expect("index serializes");
    let path = dir.join("index.json");
    crate::fsutil::write_new(&path, |w| w.write_all(&json)).map_err(|e| RegistryError::io(&path, e))
}

/// A JSON document of a layout (its index, a manifest, a config) larger than this is refused
/// before it is read: real ones are kilobytes.
pub const MAX_LAYOUT_JSON: u64 = 16 << 20;

/// An OCI image layout on disk, as retrace reads it: the one reader of layouts, used by the `oci:`
/// source of `pull` and `describe` and by `diff`. Every JSON document is bounded and typed, and
/// every blob is checked against the digest that names it before it is used.
#[derive(Debug, Clone)]
pub struct Layout {
    dir: PathBuf,
}

impl Layout {
    /// The layout at `dir`, which must hold an `oci-layout` file.
    pub fn open(dir: &Path) -> Result<Layout> {
        let marker = dir.join("oci-layout");
        if !marker.is_file() {
            return Err(RegistryError::NotLayout { path: dir.into() });
        }
        Ok(Layout::at(dir))
    }

    /// `dir` read the layout's way without requiring `oci-layout`: a build output and the content
    /// store keep their blobs under `blobs/sha256/` too, and an `oci:` source names its directory
    /// explicitly.
    pub fn at(dir: &Path) -> Layout {
        Layout { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        blob_path(&self.dir, d)
    }

    /// `index.json`, typed.
    pub fn index(&self) -> Result<Index> {
        let path = self.dir.join("index.json");
        let bytes = read_bounded(&path)?;
        serde_json::from_slice(&bytes).map_err(|source| RegistryError::Json {
            what: path.display().to_string(),
            source,
        })
    }

    /// A JSON blob (a manifest, an index, a config), bounded and verified against `d`.
    pub fn json_blob(&self, d: &Digest) -> Result<Vec<u8>> {
        let path = self.blob_path(d);
        let bytes = read_bounded(&path)?;
        named_by(&path, d, Digest::of(&bytes), bytes.len() as u64, LAYOUT_BLOB)?;
        Ok(bytes)
    }

    /// The manifest or index blob `d`, typed; `media_type` is its descriptor's, when known.
    pub fn manifest(&self, d: &Digest, media_type: Option<&str>) -> Result<FetchedManifest> {
        FetchedManifest::parse(self.json_blob(d)?, media_type, &format!("manifest {d}"))
    }

    /// Re-hashes blob `d` of any size in a streaming pass; its size.
    pub fn verify_blob(&self, d: &Digest) -> Result<u64> {
        rehash(&self.blob_path(d), d, LAYOUT_BLOB)
    }
}

/// The whole regular file at `path`, refused when it is larger than [`MAX_LAYOUT_JSON`].
fn read_bounded(path: &Path) -> Result<Vec<u8>> {
    crate::fsutil::read_regular(path, MAX_LAYOUT_JSON).map_err(|e| match e.kind() {
        std::io::ErrorKind::FileTooLarge => RegistryError::BodyTooLarge {
            what: "layout JSON document",
            url: path.display().to_string(),
            limit: MAX_LAYOUT_JSON,
        },
        _ => RegistryError::io(path, e),
    })
}

/// What a damaged blob of a layout is called in an error.
const LAYOUT_BLOB: &str = "layout blob";
