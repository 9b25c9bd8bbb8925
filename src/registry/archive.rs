//! Docker archives (`docker save` output) as an offline source: `docker-archive:FILE`.
//!
//! An archive holds the image config and the *uncompressed* layer tars, named in its `manifest.json`.
//! Each layer is verified against the config's own record of it (`rootfs.diff_ids`) while it is copied
//! into the store, and the config against its file name (`<hex>.json`) when it has that form. There is
//! no registry manifest in an archive, so retrace writes an OCI image manifest listing the config and
//! the uncompressed layers (media type `application/vnd.oci.image.layer.v1.tar`); its digest is
//! retrace's, not a registry's, and `describe` refuses archives for that reason: a repo-info document
//! reports compressed transfer digests, sizes and dates that an archive does not contain.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use super::error::{RegistryError, Result};
use super::manifest::{Descriptor, FetchedManifest, ImageConfig, MAX_CONFIG_BYTES, OCI_CONFIG, OCI_MANIFEST};
use super::reference::Reference;
use super::store::Store;
use crate::archive::{ArchiveError, DockerManifest, TarMembers};
use crate::digest::{Digest, DigestWriter};

/// Layer media type of the manifest written for an archive: plain tar, as the archive holds them.
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

/// A `docker save` archive of one image: its members, indexed once under the archive reader's
/// limits, and what its `manifest.json` says about the image.
pub struct DockerArchive {
    pub path: PathBuf,
    pub members: TarMembers,
    pub image: DockerManifest,
}

fn bad(path: &Path, message: impl Into<String>) -> RegistryError {
    RegistryError::BadArchive {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

impl DockerArchive {
    pub fn open(path: &Path) -> Result<DockerArchive> {
        let archive_err = archive_error(path);
        let members = TarMembers::index(path).map_err(&archive_err)?;
        let mut images = DockerManifest::read(&members).map_err(|e| match e {
            ArchiveError::MissingMember { .. } => bad(path, "no manifest.json: not a `docker save` archive"),
            e => archive_err(e),
        })?;
        if images.len() != 1 {
            return Err(bad(
                path,
                format!(
                    "the archive holds {} images; retrace reads archives of one",
                    images.len()
                ),
            ));
        }
        Ok(DockerArchive {
            path: path.to_path_buf(),
            members,
            image: images.remove(0),
        })
    }

    /// The name the image was saved under, else `localhost/<file stem>`.
    pub fn reference(&self) -> Result<Reference> {
        if let Some(r) = self.image.repo_tags.first().and_then(|t| t.parse::<Reference>().ok()) {
            return Ok(r);
        }
        let stem = self
            .path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("image")
            .to_ascii_lowercase();
        let clean: String = stem
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        format!("localhost/{}", clean.trim_matches('-')).parse()
    }

    /// The config bytes, checked against the `<hex>.json` name when the file has one.
    pub fn config_bytes(&self) -> Result<Vec<u8>> {
        let bytes = self
            .members
            .read_small(&self.image.config, MAX_CONFIG_BYTES as u64)
            .map_err(archive_error(&self.path))?;
        let name = self.image.config.rsplit('/').next().unwrap_or("");
        let hex = name.strip_suffix(".json").unwrap_or(name);
        if let Ok(expected) = Digest::from_hex(hex) {
            let found = Digest::of(&bytes);
            if found != expected {
                return Err(RegistryError::DigestMismatch {
                    what: "archive config",
                    expected,
                    found,
                    url: format!("{}:{}", self.path.display(), self.image.config),
                    size: bytes.len() as u64,
                });
            }
        }
        Ok(bytes)
    }

    /// The manifest retrace writes for the archive's image (see the module comment).
    pub fn manifest(&self) -> Result<FetchedManifest> {
        let config_bytes = self.config_bytes()?;
        let config = ImageConfig::parse(&config_bytes, &format!("{}: config", self.path.display()))?;
        let diff_ids = config.rootfs.map(|r| r.diff_ids).unwrap_or_default();
        if diff_ids.len() != self.image.layers.len() {
            return Err(bad(
                &self.path,
                format!(
                    "{} layers in manifest.json but {} diff_ids in the config",
                    self.image.layers.len(),
                    diff_ids.len()
                ),
            ));
        }
        let sizes = self
            .image
            .layers
            .iter()
            .map(|n| self.members.find(n).map(|m| m.size))
            .collect::<std::result::Result<Vec<u64>, _>>()
            .map_err(archive_error(&self.path))?;
        let layers: Vec<serde_json::Value> = diff_ids
            .iter()
            .zip(sizes)
            .map(|(d, size)| serde_json::json!({"mediaType": OCI_LAYER_TAR, "digest": d.to_string(), "size": size}))
            .collect();
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": Digest::of(&config_bytes).to_string(), "size": config_bytes.len()},
            "layers": layers,
        });
        // A manifest is plain data with string map keys, so it always serializes.
        let bytes = serde_json::to_vec(&manifest).expect("manifest serializes");
        FetchedManifest::parse(bytes, Some(OCI_MANIFEST), &format!("{}: manifest", self.path.display()))
    }

    /// Copies the layer whose diff_id is `desc.digest` into the store, verifying it on the way.
    /// Returns false when the store had it already.
    pub fn import_layer(&self, desc: &Descriptor, diff_ids: &[Digest], store: &Store) -> Result<bool> {
        if store.has(&desc.digest) {
            store.verify(&desc.digest)?;
            return Ok(false);
        }
        let index = diff_ids
            .iter()
            .position(|d| *d == desc.digest)
            .ok_or_else(|| bad(&self.path, format!("no layer with diff_id {}", desc.digest)))?;
        let member = &self.image.layers[index];
        let mut content = self.members.open(member).map_err(archive_error(&self.path))?;
        let tmp = store.partial_path(&desc.digest)?;
        let found = {
            let file = File::create(&tmp).map_err(|e| RegistryError::io(&tmp, e))?;
            let mut w = DigestWriter::new(io::BufWriter::new(file));
            if let Err(e) = io::copy(&mut content, &mut w) {
                let _ = std::fs::remove_file(&tmp);
                return Err(RegistryError::io(&self.path, e));
            }
            let (d, size, inner) = w.finish();
            inner
                .into_inner()
                .map_err(|e| RegistryError::io(&tmp, e.into_error()))?;
            (d, size)
        };
        if found.0 != desc.digest {
            let _ = std::fs::remove_file(&tmp);
            return Err(RegistryError::DigestMismatch {
                what: "archive layer",
                expected: desc.digest,
                found: found.0,
                url: format!("{}:{member}", self.path.display()),
                size: found.1,
            });
        }
        store.commit(&tmp, &desc.digest)?;
        Ok(true)
    }
}

/// Wraps an archive reader's refusal with the archive's path.
fn archive_error(path: &Path) -> impl Fn(ArchiveError) -> RegistryError + '_ {
    move |source| RegistryError::Archive {
        path: path.to_path_buf(),
        source,
    }
}
