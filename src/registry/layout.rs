//! The OCI image layout as a copy of fetched blobs (`oci-layout`, `index.json`,
//! `blobs/sha256/<hex>`), written by `retrace pull -o` and read by the offline source. It copies
//! manifests, configs and layers verbatim from the content store, so every digest stays the
//! registry's. `src/oci.rs` is the other writer: it makes the manifests and configs of images
//! retrace constructs (build outputs). Both write blobs under temporary names and the index last.

use std::fs;
use std::path::{Path, PathBuf};

use super::error::{RegistryError, Result};
use super::manifest::{Descriptor, Index, OCI_INDEX};
use super::store::Store;
use crate::digest::Digest;

pub use crate::oci::REF_NAME;
/// The full reference the image was pulled as (containerd's annotation, also used by skopeo).
pub const IMAGE_NAME: &str = "io.containerd.image.name";

pub fn blob_path(dir: &Path, d: &Digest) -> PathBuf {
    dir.join("blobs/sha256").join(d.hex())
}

/// Writes a layout holding `blobs` (copied from the store, re-verified on the way) with `index.json`
/// listing `entries`. Existing blobs in `dir` are kept, so several pulls can share one layout; the
/// index is replaced.
pub fn write(dir: &Path, store: &Store, blobs: &[Digest], entries: Vec<Descriptor>) -> Result<()> {
    let blob_dir = dir.join("blobs/sha256");
    fs::create_dir_all(&blob_dir).map_err(|e| RegistryError::io(&blob_dir, e))?;
    for d in blobs {
        let dest = blob_path(dir, d);
        if dest.is_file() {
            continue;
        }
        store.verify(d)?;
        let src = store.blob_path(d);
        let tmp = blob_dir.join(format!(".{}.tmp", d.hex()));
        let _registered = crate::fsutil::Temporary::register(&tmp);
        fs::copy(&src, &tmp).map_err(|e| RegistryError::io(&tmp, e))?;
        crate::fsutil::set_default_mode(&tmp, false).map_err(|e| RegistryError::io(&tmp, e))?;
        fs::rename(&tmp, &dest).map_err(|e| RegistryError::io(&dest, e))?;
    }
    let layout = dir.join("oci-layout");
    crate::fsutil::write_atomic(&layout, |w| w.write_all(br#"{"imageLayoutVersion":"1.0.0"}"#))
        .map_err(|e| RegistryError::io(&layout, e))?;
    let index = Index {
        schema_version: 2,
        media_type: Some(OCI_INDEX.to_string()),
        manifests: entries,
    };
    let json = serde_json::to_vec_pretty(&index).expect("index serializes");
    let path = dir.join("index.json");
    crate::fsutil::write_atomic(&path, |w| w.write_all(&json)).map_err(|e| RegistryError::io(&path, e))
}

/// Reads `index.json` of a layout.
pub fn read_index(dir: &Path) -> Result<Index> {
    let path = dir.join("index.json");
    let bytes = fs::read(&path).map_err(|e| RegistryError::io(&path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| RegistryError::Json {
        what: path.display().to_string(),
        message: e.to_string(),
    })
}

/// Reads a blob of a layout and checks its digest.
pub fn read_blob(dir: &Path, d: &Digest) -> Result<Vec<u8>> {
    let path = blob_path(dir, d);
    let bytes = fs::read(&path).map_err(|e| RegistryError::io(&path, e))?;
    let found = Digest::of(&bytes);
    if found != *d {
        return Err(RegistryError::DigestMismatch {
            what: "layout blob",
            expected: *d,
            found,
            url: path.display().to_string(),
            size: bytes.len() as u64,
        });
    }
    Ok(bytes)
}
