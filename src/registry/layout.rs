//! The OCI image layout as a copy of fetched blobs (`oci-layout`, `index.json`,
//! `blobs/sha256/<hex>`), written by `retrace pull -o` and read by the offline source. It copies
//! manifests, configs and layers verbatim from the content store, so every digest stays the
//! registry's. `src/oci.rs` is the other writer: it makes the manifests and configs of images
//! retrace constructs (build outputs). Both write blobs under temporary names and the index last.

use std::fs;
use std::path::Path;

use super::error::{RegistryError, Result};
use super::manifest::{Descriptor, Index, OCI_INDEX};
use super::store::Store;
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
        let mut from = fs::File::open(&src).map_err(|e| RegistryError::io(&src, e))?;
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
    crate::fsutil::write_atomic(&layout, |w| w.write_all(br#"{"imageLayoutVersion":"1.0.0"}"#))
        .map_err(|e| RegistryError::io(&layout, e))?;
    let index = Index {
        schema_version: 2,
        media_type: Some(OCI_INDEX.to_string()),
        manifests: entries,
    };
    // An index is plain data with string map keys, so it always serializes.
    let json = serde_json::to_vec_pretty(&index).expect("index serializes");
    let path = dir.join("index.json");
    crate::fsutil::write_atomic(&path, |w| w.write_all(&json)).map_err(|e| RegistryError::io(&path, e))
}

/// Reads `index.json` of a layout.
pub fn read_index(dir: &Path) -> Result<Index> {
    let path = dir.join("index.json");
    let bytes = fs::read(&path).map_err(|e| RegistryError::io(&path, e))?;
    serde_json::from_slice(&bytes).map_err(|source| RegistryError::Json {
        what: path.display().to_string(),
        source,
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
