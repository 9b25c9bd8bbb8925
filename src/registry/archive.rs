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
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::error::{RegistryError, Result};
use super::manifest::{Descriptor, FetchedManifest, ImageConfig, MAX_CONFIG_BYTES, OCI_CONFIG, OCI_MANIFEST};
use super::reference::Reference;
use super::store::Store;
use crate::digest::{Digest, DigestWriter};

/// Layer media type of the manifest written for an archive: plain tar, as the archive holds them.
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

/// What `manifest.json` says about the (single) image of an archive.
#[derive(Debug, Clone)]
pub struct ArchiveImage {
    pub config_path: String,
    pub repo_tags: Vec<String>,
    pub layer_paths: Vec<String>,
}

pub struct DockerArchive {
    pub path: PathBuf,
    pub image: ArchiveImage,
}

fn bad(path: &Path, message: impl Into<String>) -> RegistryError {
    RegistryError::BadArchive {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

impl DockerArchive {
    pub fn open(path: &Path) -> Result<DockerArchive> {
        let mut magic = [0u8; 2];
        File::open(path)
            .and_then(|mut f| f.read_exact(&mut magic))
            .map_err(|e| RegistryError::io(path, e))?;
        if magic == [0x1f, 0x8b] {
            return Err(bad(
                path,
                "the archive is gzip-compressed; decompress it first (docker save writes plain tar)",
            ));
        }
        let bytes = read_member(path, "manifest.json", 1 << 20)?
            .ok_or_else(|| bad(path, "no manifest.json: not a `docker save` archive"))?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|source| RegistryError::Json {
            what: format!("{}: manifest.json", path.display()),
            source,
        })?;
        let list = v.as_array().ok_or_else(|| bad(path, "manifest.json is not a list"))?;
        if list.len() != 1 {
            return Err(bad(
                path,
                format!("the archive holds {} images; retrace reads archives of one", list.len()),
            ));
        }
        let entry = &list[0];
        let strings = |key: &str| -> Vec<String> {
            entry
                .get(key)
                .and_then(|x| x.as_array())
                .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
                .unwrap_or_default()
        };
        let config_path = entry
            .get("Config")
            .and_then(|c| c.as_str())
            .ok_or_else(|| bad(path, "manifest.json has no Config"))?
            .to_string();
        Ok(DockerArchive {
            path: path.to_path_buf(),
            image: ArchiveImage {
                config_path,
                repo_tags: strings("RepoTags"),
                layer_paths: strings("Layers"),
            },
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
        let bytes = read_member(&self.path, &self.image.config_path, MAX_CONFIG_BYTES)?
            .ok_or_else(|| bad(&self.path, format!("{} is missing", self.image.config_path)))?;
        let name = self.image.config_path.rsplit('/').next().unwrap_or("");
        let hex = name.strip_suffix(".json").unwrap_or(name);
        if let Ok(expected) = Digest::from_hex(hex) {
            let found = Digest::of(&bytes);
            if found != expected {
                return Err(RegistryError::DigestMismatch {
                    what: "archive config",
                    expected,
                    found,
                    url: format!("{}:{}", self.path.display(), self.image.config_path),
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
        if diff_ids.len() != self.image.layer_paths.len() {
            return Err(bad(
                &self.path,
                format!(
                    "{} layers in manifest.json but {} diff_ids in the config",
                    self.image.layer_paths.len(),
                    diff_ids.len()
                ),
            ));
        }
        let sizes = member_sizes(&self.path, &self.image.layer_paths)?;
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
        let member = &self.image.layer_paths[index];
        let tmp = store.partial_path(&desc.digest)?;
        let found = {
            let file = File::create(&tmp).map_err(|e| RegistryError::io(&tmp, e))?;
            let mut w = DigestWriter::new(io::BufWriter::new(file));
            let copied = copy_member(&self.path, member, &mut w)?;
            if !copied {
                let _ = std::fs::remove_file(&tmp);
                return Err(bad(&self.path, format!("{member} is missing")));
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

/// Member names in `docker save` archives may or may not start with `./`.
fn same_member(entry: &Path, name: &str) -> bool {
    let e = entry.to_string_lossy();
    e.trim_start_matches("./") == name.trim_start_matches("./")
}

fn read_member(path: &Path, name: &str, limit: usize) -> Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    let found = with_member(path, name, |r| {
        r.take(limit as u64 + 1).read_to_end(&mut out)?;
        Ok(())
    })?;
    if out.len() > limit {
        return Err(bad(path, format!("{name} is larger than {limit} bytes")));
    }
    Ok(found.then_some(out))
}

fn copy_member(path: &Path, name: &str, w: &mut impl Write) -> Result<bool> {
    with_member(path, name, |r| io::copy(r, w).map(|_| ()))
}

fn with_member(path: &Path, name: &str, f: impl FnOnce(&mut dyn Read) -> io::Result<()>) -> Result<bool> {
    // `docker save` stores a layer shared by several images once and links the others to it, so a
    // member may be a symbolic link to another member; follow a few of those.
    let mut name = name.trim_start_matches("./").to_string();
    for _ in 0..4 {
        let file = File::open(path).map_err(|e| RegistryError::io(path, e))?;
        let mut archive = tar::Archive::new(io::BufReader::new(file));
        let entries = archive.entries().map_err(|e| RegistryError::io(path, e))?;
        let mut link = None;
        for entry in entries {
            let mut entry = entry.map_err(|e| RegistryError::io(path, e))?;
            let entry_path = entry.path().map_err(|e| RegistryError::io(path, e))?.into_owned();
            if !same_member(&entry_path, &name) {
                continue;
            }
            if entry.header().entry_type().is_symlink() {
                let target = entry
                    .link_name()
                    .map_err(|e| RegistryError::io(path, e))?
                    .ok_or_else(|| bad(path, format!("{name} is a link without a target")))?;
                link = Some(resolve_link(&name, &target.to_string_lossy()));
                break;
            }
            f(&mut entry).map_err(|e| RegistryError::io(path, e))?;
            return Ok(true);
        }
        match link {
            Some(next) => name = next,
            None => return Ok(false),
        }
    }
    Err(bad(path, format!("{name}: too many links")))
}

/// `a/layer.tar` linking to `../b/layer.tar` means `b/layer.tar`.
fn resolve_link(member: &str, target: &str) -> String {
    let mut parts: Vec<&str> = member.split('/').collect();
    parts.pop();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

fn member_sizes(path: &Path, names: &[String]) -> Result<Vec<u64>> {
    names
        .iter()
        .map(|n| {
            let mut size = None;
            let found = with_member(path, n, |r| {
                size = Some(io::copy(r, &mut io::sink())?);
                Ok(())
            })?;
            match (found, size) {
                (true, Some(s)) => Ok(s),
                _ => Err(bad(path, format!("{n} is missing"))),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_resolve_relative_to_the_member() {
        assert_eq!(resolve_link("a/layer.tar", "../b/layer.tar"), "b/layer.tar");
        assert_eq!(resolve_link("a/layer.tar", "./c.tar"), "a/c.tar");
    }
}
