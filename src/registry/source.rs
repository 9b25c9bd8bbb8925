//! Where an image comes from, behind one interface: a registry read through the local store, the store
//! alone (`--offline`), or an OCI layout directory (`oci:DIR[:TAG]`, always offline). `pull` and
//! `describe` are written against [`Source`] only, so online and offline runs share every line of
//! their logic and an offline `describe` after a `pull` writes the same document.

use std::io::ErrorKind;
use std::path::PathBuf;

use super::archive::DockerArchive;
use super::client::Client;
use super::error::{RegistryError, Result};
use super::layout::{self, Layout};
use super::manifest::{Descriptor, FetchedManifest, ImageConfig, MAX_CONFIG_BYTES};
use super::reference::Reference;
use super::store::{BlobMeta, Store};
use crate::digest::Digest;

pub enum Source {
    Online {
        client: Client,
        store: Store,
    },
    Offline {
        store: Store,
    },
    Layout(Layout),
    /// A `docker save` archive, imported into the store (see `archive.rs`).
    Archive {
        archive: DockerArchive,
        store: Store,
    },
}

/// The common interface, as a trait so tests and later stages can stand in their own sources.
pub trait ImageSource {
    /// A manifest by the reference's digest or tag; its bytes are verified when a digest pins them.
    fn manifest(&self, r: &Reference) -> Result<FetchedManifest>;
    /// A config blob's bytes, verified.
    fn config(&self, r: &Reference, desc: &Descriptor) -> Result<Vec<u8>>;
    /// What the registry says about a layer blob (size, type, Last-Modified) without downloading it.
    fn blob_meta(&self, r: &Reference, desc: &Descriptor) -> Result<BlobMeta>;
    /// Makes sure the blob is in the store, verified; returns true when bytes were transferred.
    fn ensure_blob(&self, r: &Reference, desc: &Descriptor) -> Result<bool>;
    /// The store blobs end up in.
    fn store(&self) -> Option<&Store>;
    /// Whether a repo-info document can be written from this source (it needs the registry's facts).
    fn describable(&self) -> Result<()> {
        Ok(())
    }
}

impl Source {
    /// Interprets a command-line image argument: `oci:DIR[:TAG]` is a layout, anything else a
    /// registry reference (read from the store only when `offline`).
    pub fn open(
        text: &str,
        offline: bool,
        store: Store,
        client: impl FnOnce() -> Result<Client>,
    ) -> Result<(Source, Reference)> {
        if let Some(path) = text.strip_prefix("docker-archive:") {
            let archive = DockerArchive::open(std::path::Path::new(path))?;
            let reference = archive.reference()?;
            return Ok((Source::Archive { archive, store }, reference));
        }
        if let Some(rest) = text.strip_prefix("oci:") {
            let (dir, tag) = split_layout_arg(rest);
            let reference = layout_reference(&dir, tag.as_deref())?;
            return Ok((Source::Layout(Layout::at(&dir)), reference));
        }
        let reference: Reference = text.parse()?;
        let source = if offline {
            Source::Offline { store }
        } else {
            Source::Online {
                client: client()?,
                store,
            }
        };
        Ok((source, reference))
    }
}

/// `DIR:TAG` where DIR itself may contain colons; a tag never contains `/`.
fn split_layout_arg(rest: &str) -> (PathBuf, Option<String>) {
    match rest.rsplit_once(':') {
        Some((dir, tag)) if !tag.contains('/') && !dir.is_empty() => (PathBuf::from(dir), Some(tag.to_string())),
        _ => (PathBuf::from(rest), None),
    }
}

/// Finds the image a layout argument names and the reference it was pulled as (from the
/// `io.containerd.image.name` annotation), so documents name it as the registry did.
fn layout_reference(dir: &std::path::Path, tag: Option<&str>) -> Result<Reference> {
    let desc = layout_entry(dir, tag)?;
    let name = desc
        .annotations
        .as_ref()
        .and_then(|a| a.get(layout::IMAGE_NAME))
        .and_then(|n| n.parse::<Reference>().ok());
    let mut reference = match name {
        Some(r) => r,
        None => {
            let base = dir
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("image")
                .to_ascii_lowercase();
            let clean: String = base
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            format!("localhost/{}", clean.trim_matches('-')).parse()?
        }
    };
    if reference.tag.is_none() {
        reference.tag = tag.map(str::to_string);
    }
    reference.digest = Some(desc.digest);
    Ok(reference)
}

fn layout_entry(dir: &std::path::Path, tag: Option<&str>) -> Result<Descriptor> {
    let index = Layout::at(dir).index()?;
    let found = match tag {
        Some(t) => index.manifests.iter().find(|m| {
            m.annotations
                .as_ref()
                .and_then(|a| a.get(layout::REF_NAME))
                .map(String::as_str)
                == Some(t)
        }),
        None if index.manifests.len() == 1 => index.manifests.first(),
        None => None,
    };
    found.cloned().ok_or_else(|| RegistryError::NotAvailableOffline {
        what: match tag {
            Some(t) => format!("tag `{t}`"),
            None => format!("a single image (index.json lists {})", index.manifests.len()),
        },
        place: dir.display().to_string(),
    })
}

/// A blob whose bytes hash to its digest but whose length is not its descriptor's: the descriptor
/// is wrong, and a summary must not report its size as verified.
fn check_size(desc: &Descriptor, found: u64) -> Result<()> {
    if found == desc.size {
        return Ok(());
    }
    Err(RegistryError::SizeMismatch {
        what: "blob",
        digest: desc.digest,
        expected: desc.size,
        found,
    })
}

fn not_offline(what: String, store: &Store) -> RegistryError {
    RegistryError::NotAvailableOffline {
        what,
        place: format!("the store {}", store.root().display()),
    }
}

/// Maps "file not found" in the store to the offline error that tells the user what to do.
fn store_read(store: &Store, d: &Digest, what: &str) -> Result<Vec<u8>> {
    match store.read(d) {
        Err(RegistryError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {
            Err(not_offline(format!("{what} {d}"), store))
        }
        other => other,
    }
}

impl ImageSource for Source {
    fn manifest(&self, r: &Reference) -> Result<FetchedManifest> {
        match self {
            Source::Online { client, store } => {
                let m = client.manifest(r)?;
                store.put(&m.bytes)?;
                if r.digest.is_none() {
                    store.put_ref(&r.registry, &r.repository, r.tag_or_latest(), &m.digest)?;
                }
                Ok(m)
            }
            Source::Offline { store } => {
                let d = match r.digest {
                    Some(d) => d,
                    None => store
                        .get_ref(&r.registry, &r.repository, r.tag_or_latest())
                        .ok_or_else(|| not_offline(format!("tag {r}"), store))?,
                };
                let bytes = store_read(store, &d, "manifest")?;
                FetchedManifest::parse(bytes, None, &format!("manifest {d}"))
            }
            Source::Layout(layout) => {
                let desc = match r.digest {
                    Some(d) => layout
                        .index()?
                        .manifests
                        .into_iter()
                        .find(|m| m.digest == d)
                        .unwrap_or(Descriptor {
                            media_type: String::new(),
                            digest: d,
                            size: 0,
                            urls: None,
                            platform: None,
                            annotations: None,
                        }),
                    None => layout_entry(layout.dir(), r.tag.as_deref())?,
                };
                let ct = Some(desc.media_type.as_str()).filter(|m| !m.is_empty());
                layout.manifest(&desc.digest, ct)
            }
            Source::Archive { archive, store } => {
                let m = archive.manifest()?;
                store.put(&m.bytes)?;
                Ok(m)
            }
        }
    }

    fn config(&self, r: &Reference, desc: &Descriptor) -> Result<Vec<u8>> {
        match self {
            Source::Online { client, store } => {
                if store.has(&desc.digest) {
                    match store.read(&desc.digest) {
                        Ok(bytes) => return Ok(bytes),
                        Err(RegistryError::DigestMismatch { .. }) => store.remove(&desc.digest)?,
                        Err(e) => return Err(e),
                    }
                }
                let bytes = client.blob_bytes(r, &desc.digest, MAX_CONFIG_BYTES)?;
                store.put(&bytes)?;
                Ok(bytes)
            }
            Source::Offline { store } => store_read(store, &desc.digest, "config"),
            Source::Layout(layout) => layout.json_blob(&desc.digest),
            Source::Archive { archive, store } => {
                let bytes = archive.config_bytes()?;
                store.put(&bytes)?;
                Ok(bytes)
            }
        }
    }

    fn blob_meta(&self, r: &Reference, desc: &Descriptor) -> Result<BlobMeta> {
        match self {
            Source::Online { client, store } => {
                let head = client.head_blob(r, &desc.digest)?;
                let meta = BlobMeta {
                    size: head.size.unwrap_or(desc.size),
                    media_type: head.media_type,
                    last_modified: head.last_modified,
                };
                store.put_meta(&desc.digest, &meta)?;
                Ok(meta)
            }
            Source::Offline { store } => Ok(store.meta(&desc.digest).unwrap_or(BlobMeta {
                size: desc.size,
                media_type: None,
                last_modified: None,
            })),
            Source::Layout(_) | Source::Archive { .. } => Ok(BlobMeta {
                size: desc.size,
                media_type: None,
                last_modified: None,
            }),
        }
    }

    fn ensure_blob(&self, r: &Reference, desc: &Descriptor) -> Result<bool> {
        match self {
            Source::Online { client, store } => {
                if store.has(&desc.digest) {
                    match store.verify(&desc.digest) {
                        Ok(size) => return check_size(desc, size).map(|()| false),
                        // Damaged on disk after it was stored: the registry still has the real
                        // bytes, so drop the bad copy and fetch again.
                        Err(RegistryError::DigestMismatch { .. }) => store.remove(&desc.digest)?,
                        Err(e) => return Err(e),
                    }
                }
                let meta = client.fetch_blob(r, &desc.digest, Some(desc.size), store)?;
                // A HEAD made by `describe` may already have recorded the registry's view; keep it.
                if store.meta(&desc.digest).is_none() {
                    store.put_meta(&desc.digest, &meta)?;
                }
                Ok(true)
            }
            Source::Offline { store } => {
                if !store.has(&desc.digest) {
                    return Err(not_offline(format!("blob {}", desc.digest), store));
                }
                let size = store.verify(&desc.digest)?;
                check_size(desc, size).map(|()| false)
            }
            Source::Layout(layout) => {
                check_size(desc, layout.verify_blob(&desc.digest)?)?;
                Ok(false)
            }
            Source::Archive { archive, store } => {
                let config_bytes = archive.config_bytes()?;
                if desc.digest == Digest::of(&config_bytes) {
                    let fresh = !store.has(&desc.digest);
                    store.put(&config_bytes)?;
                    return Ok(fresh);
                }
                let config = ImageConfig::parse(&config_bytes, "archive config")?;
                let diff_ids = config.rootfs.map(|r| r.diff_ids).unwrap_or_default();
                archive.import_layer(desc, &diff_ids, store)
            }
        }
    }

    fn store(&self) -> Option<&Store> {
        match self {
            Source::Online { store, .. } | Source::Offline { store } | Source::Archive { store, .. } => Some(store),
            Source::Layout(_) => None,
        }
    }

    fn describable(&self) -> Result<()> {
        match self {
            Source::Archive { archive, .. } => Err(RegistryError::NotDescribable {
                path: archive.path.clone(),
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_arguments_split_at_the_last_colon_only_for_tags() {
        assert_eq!(
            split_layout_arg("/tmp/x:latest"),
            (PathBuf::from("/tmp/x"), Some("latest".into()))
        );
        assert_eq!(split_layout_arg("/tmp/x"), (PathBuf::from("/tmp/x"), None));
        assert_eq!(split_layout_arg("/tmp/a:b/c"), (PathBuf::from("/tmp/a:b/c"), None));
    }
}

#[cfg(test)]
mod online_tests {
    use std::time::Duration;

    use super::*;
    use crate::registry::testserver::{Reply, TestServer};
    use crate::registry::ClientOptions;

    #[test]
    fn a_damaged_stored_blob_is_fetched_again() {
        let blob = b"the real layer bytes".to_vec();
        let d = Digest::of(&blob);
        let b = blob.clone();
        let server = TestServer::start(move |_| Reply::new(200, b.clone()));
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        std::fs::create_dir_all(store.blob_path(&d).parent().unwrap()).unwrap();
        std::fs::write(store.blob_path(&d), b"bit rot").unwrap();
        let client = Client::new(ClientOptions {
            backoff: Duration::from_millis(1),
            ..ClientOptions::default()
        })
        .unwrap();
        let source = Source::Online {
            client,
            store: store.clone(),
        };
        let r: Reference = format!("{}/test/image:v1", server.addr).parse().unwrap();
        let desc = Descriptor {
            media_type: String::new(),
            digest: d,
            size: blob.len() as u64,
            urls: None,
            platform: None,
            annotations: None,
        };
        assert!(source.ensure_blob(&r, &desc).unwrap(), "fetched again");
        assert_eq!(store.read(&d).unwrap(), blob);
        assert!(!source.ensure_blob(&r, &desc).unwrap(), "now served from the store");
    }

    /// A registry serving one image manifest whose only layer is `layer` (config `{}`).
    fn one_layer_registry(layer: serde_json::Value) -> TestServer {
        let config = b"{}".to_vec();
        let cd = Digest::of(&config);
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": crate::registry::manifest::DOCKER_MANIFEST_V2,
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": cd.to_string(), "size": 2},
            "layers": [layer],
        })
        .to_string();
        TestServer::start(move |req| {
            if req.path.contains("/manifests/") {
                Reply::new(200, manifest.clone()).header("Content-Type", crate::registry::manifest::DOCKER_MANIFEST_V2)
            } else {
                Reply::new(200, config.clone())
            }
        })
    }

    fn online(dir: &std::path::Path) -> Source {
        let client = Client::new(ClientOptions {
            backoff: Duration::from_millis(1),
            ..ClientOptions::default()
        })
        .unwrap();
        Source::Online {
            client,
            store: Store::new(dir),
        }
    }

    #[test]
    fn a_layer_with_external_urls_is_refused_not_skipped() {
        let d = Digest::of(b"elsewhere");
        let server = one_layer_registry(serde_json::json!({
            "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "digest": d.to_string(), "size": 9, "urls": ["http://example.invalid/layer"],
        }));
        let dir = tempfile::tempdir().unwrap();
        let r: Reference = format!("{}/test/image:v1", server.addr).parse().unwrap();
        let err = crate::registry::pull::pull(&online(dir.path()), &r, None, None).unwrap_err();
        assert!(
            matches!(err, RegistryError::ExternalUrls { digest, .. } if digest == d),
            "{err}"
        );
    }

    #[test]
    fn a_stored_blob_shorter_than_its_descriptor_is_refused() {
        let blob = b"the real layer bytes".to_vec();
        let d = Digest::of(&blob);
        let dir = tempfile::tempdir().unwrap();
        let source = online(dir.path());
        let Source::Online { store, .. } = &source else {
            unreachable!()
        };
        store.put(&blob).unwrap();
        let r: Reference = "127.0.0.1:9/test/image:v1".parse().unwrap();
        let desc = Descriptor {
            media_type: String::new(),
            digest: d,
            size: blob.len() as u64 + 100,
            urls: None,
            platform: None,
            annotations: None,
        };
        let err = source.ensure_blob(&r, &desc).unwrap_err();
        assert!(matches!(err, RegistryError::SizeMismatch { found: 20, .. }), "{err}");
    }
}
