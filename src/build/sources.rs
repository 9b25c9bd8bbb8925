//! Resolving the inputs a document only names by hash (`file:<hex>`, `dir:<hex>`, a base layer
//! digest) to verified local bytes, following the recipe. Nothing here talks to Docker.
//!
//! Every source is verified before use: a URL download by its pinned sha256, a layer blob by its
//! digest, a `file:` source by the classic builder's per-file hash. A mismatch is refused with the
//! expected and found values; a missing download names the URL and where to put it.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::recipe::{Origin, Platform, Recipe};

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{platform}: the recipe gives no source for `{reference}`; add `sources: [{{for: \"{reference}\", path: ...}}]`")]
    Missing { platform: String, reference: String },

    #[error("`{reference}`: {url} is not in the download cache and could not be downloaded ({why}); fetch it with `curl -fLo {} '{url}'` and run again", path.display())]
    NotCached {
        reference: String,
        url: String,
        path: PathBuf,
        why: String,
    },

    #[error("`{reference}`: layer blob {digest} is not available: {message}")]
    BlobUnavailable {
        reference: String,
        digest: Digest,
        message: String,
    },

    /// The supplied bytes are not the ones the document names.
    #[error("`{reference}` from {origin}: hash mismatch: expected {expected}, found {found}")]
    Mismatch {
        reference: String,
        origin: String,
        expected: String,
        found: String,
    },

    #[error("`{reference}`: {path}: {source}")]
    Io {
        reference: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The bytes behind a reference, ready to use.
#[derive(Debug, Clone)]
pub enum Resolved {
    /// An uncompressed layer (or rootfs) tar, kept in the cache dir under its diff_id.
    LayerTar { path: PathBuf, diff_id: Digest },
    /// A single file to COPY.
    File(PathBuf),
    /// A directory to COPY.
    Dir(PathBuf),
}

impl Resolved {
    /// A digest of the content, part of the build cache key of the step using it.
    pub fn content_key(&self) -> io::Result<String> {
        Ok(match self {
            Resolved::LayerTar { diff_id, .. } => diff_id.to_string(),
            Resolved::File(p) => Digest::of_reader(std::fs::File::open(p)?)?.to_string(),
            Resolved::Dir(p) => format!("dir:{}", p.display()),
        })
    }
}

/// Resolves the base layer of a platform: `reference` is what the first step added
/// (`file:<hex>`), `layer` the published digest of layer 1; a recipe source may name either.
pub fn resolve_base(
    recipe: &Recipe,
    platform: &Platform,
    reference: &str,
    layer: &Digest,
) -> Result<Resolved, SourceError> {
    let layer_ref = layer.to_string();
    let (source, by_layer) = match recipe.source_for(&layer_ref, platform) {
        Some(s) => (s, true),
        None => (
            recipe
                .source_for(reference, platform)
                .ok_or_else(|| SourceError::Missing {
                    platform: platform.to_string(),
                    reference: reference.to_string(),
                })?,
            false,
        ),
    };
    let reference = &source.reference;
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SourceError::Io {
            reference: reference.clone(),
            path,
            source,
        }
    };
    let raw: PathBuf = match &source.origin {
        Origin::Path(p) => p.clone(),
        Origin::Url { url, sha256 } => cached_download(recipe, reference, url, sha256)?,
        Origin::RegistryBlob { repository, digest } => {
            registry_blob(recipe, repository, digest).map_err(|message| SourceError::BlobUnavailable {
                reference: reference.clone(),
                digest: *digest,
                message,
            })?
        }
        Origin::OciLayout { path, digest } => {
            let blob = path.join("blobs/sha256").join(digest.hex());
            if !blob.is_file() {
                return Err(SourceError::BlobUnavailable {
                    reference: reference.clone(),
                    digest: *digest,
                    message: format!("{} is missing", blob.display()),
                });
            }
            blob
        }
        Origin::DockerArchive { path, diff_id } => docker_archive_layer(recipe, path, diff_id).map_err(io_err(path))?,
    };
    // A published layer named by digest must hash to it, compressed as fetched.
    if by_layer {
        let found = Digest::of_reader(std::fs::File::open(&raw).map_err(io_err(&raw))?).map_err(io_err(&raw))?;
        if found != *layer {
            // The recipe may also have supplied the uncompressed tar; then its diff_id is checked
            // later against the config, so only a compressed blob must match here.
            if is_gzip(&raw).map_err(io_err(&raw))? {
                return Err(SourceError::Mismatch {
                    reference: reference.clone(),
                    origin: raw.display().to_string(),
                    expected: layer.to_string(),
                    found: found.to_string(),
                });
            }
        }
    }
    let (path, diff_id) = uncompressed(recipe, &raw).map_err(io_err(&raw))?;
    Ok(Resolved::LayerTar { path, diff_id })
}

/// Resolves a COPY/ADD source and checks it against the document's `file:`/`dir:` hash.
pub fn resolve_copy(recipe: &Recipe, platform: &Platform, reference: &str) -> Result<Resolved, SourceError> {
    let source = recipe
        .source_for(reference, platform)
        .ok_or_else(|| SourceError::Missing {
            platform: platform.to_string(),
            reference: reference.to_string(),
        })?;
    let path = match &source.origin {
        Origin::Path(p) => p.clone(),
        Origin::Url { url, sha256 } => cached_download(recipe, reference, url, sha256)?,
        _ => {
            return Err(SourceError::Mismatch {
                reference: reference.to_string(),
                origin: "a layer blob".into(),
                expected: "a file or directory".into(),
                found: "a layer".into(),
            })
        }
    };
    let io_err = |source| SourceError::Io {
        reference: reference.to_string(),
        path: path.clone(),
        source,
    };
    let meta = std::fs::metadata(&path).map_err(io_err)?;
    if let Some(hex) = reference.strip_prefix("file:") {
        if !meta.is_file() {
            return Err(io_err(io::Error::other("a file: source must be a regular file")));
        }
        let found = file_hash(&path).map_err(io_err)?;
        if found.hex() != hex {
            return Err(SourceError::Mismatch {
                reference: reference.to_string(),
                origin: path.display().to_string(),
                expected: format!("file:{hex}"),
                found: format!("file:{}", found.hex()),
            });
        }
        Ok(Resolved::File(path))
    } else if meta.is_dir() {
        // A `dir:` hash covers the whole context tar of the directory, which depends on the
        // builder's client; it is not re-derived here, so directories are used as given.
        Ok(Resolved::Dir(path))
    } else {
        Ok(Resolved::File(path))
    }
}

/// The classic builder's hash of one build-context file (tarsum v1 per-file sum, layer-bytes.md):
/// the header fields the docker client put in the context tar, then the content. The client sent
/// the file as `name` = its base name, uid/gid 0 and no user/group names (docker's archive code
/// clears them on the client side), and the mode from the file system.
pub fn file_hash(path: &Path) -> io::Result<Digest> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let mode = 0o100000 | (meta.permissions().mode() & 0o7777);
    let mut data = Vec::new();
    std::fs::File::open(path)?.read_to_end(&mut data)?;
    let mut text = Vec::new();
    for (k, v) in [
        ("name", name),
        ("mode", (mode & 0o7777).to_string()),
        ("uid", "0".into()),
        ("gid", "0".into()),
        ("size", data.len().to_string()),
        ("typeflag", "0".into()),
        ("linkname", String::new()),
        ("uname", String::new()),
        ("gname", String::new()),
        ("devmajor", "0".into()),
        ("devminor", "0".into()),
    ] {
        text.extend_from_slice(k.as_bytes());
        text.extend_from_slice(v.as_bytes());
    }
    text.extend_from_slice(&data);
    Ok(Digest::of(&text))
}

/// A download from the cache dir, fetched first when missing and verified; offline, a missing one
/// names the URL and the path to put it at.
fn cached_download(
    recipe: &Recipe,
    reference: &str,
    url: &str,
    sha256: &Option<Digest>,
) -> Result<PathBuf, SourceError> {
    let path = download_path(recipe, url, sha256);
    if !path.is_file() {
        if let Err(why) = download(url, &path) {
            return Err(SourceError::NotCached {
                reference: reference.to_string(),
                url: url.to_string(),
                path,
                why,
            });
        }
    }
    let Some(sha256) = sha256 else { return Ok(path) };
    let io_err = |source| SourceError::Io {
        reference: reference.to_string(),
        path: path.clone(),
        source,
    };
    let found = Digest::of_reader(std::fs::File::open(&path).map_err(io_err)?).map_err(io_err)?;
    if found != *sha256 {
        // The cache is content-addressed: wrong bytes must not stay under the pinned name.
        let _ = std::fs::remove_file(&path);
        return Err(SourceError::Mismatch {
            reference: reference.to_string(),
            origin: url.to_string(),
            expected: sha256.to_string(),
            found: found.to_string(),
        });
    }
    Ok(path)
}

/// A download RUN steps need (`downloads:`), in the cache and verified: fetched first when
/// missing and the network allows.
pub fn prefetch(recipe: &Recipe, download: &crate::recipe::Download) -> Result<PathBuf, SourceError> {
    cached_download(recipe, &download.url, &download.url, &Some(download.sha256))
}

/// Where a download lives in the cache dir: under its sha256 when pinned, else under the hash of
/// its URL (a `file:` source is then verified by the document's hash).
pub fn download_path(recipe: &Recipe, url: &str, sha256: &Option<Digest>) -> PathBuf {
    match sha256 {
        Some(d) => recipe.cache.join("downloads/sha256").join(d.hex()),
        None => recipe
            .cache
            .join("downloads/url")
            .join(Digest::of(url.as_bytes()).hex()),
    }
}

/// The largest download a source may be (a rootfs or a source tarball; a bound against a server
/// that never stops sending).
const MAX_DOWNLOAD: u64 = 8 << 30;

/// Fetches `url` into `path`: streamed into a temporary file beside it, renamed into place only
/// when complete, so an interrupted download leaves nothing under the final name. The caller
/// verifies the content against its pinned digest.
fn download(url: &str, path: &Path) -> Result<(), String> {
    use std::io::Write as _;
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(format!(
            "only http:// and https:// downloads are supported, not `{url}`"
        ));
    }
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(20))
        .timeout(std::time::Duration::from_secs(3600))
        .user_agent(concat!("retrace/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())?;
    let response = client.get(url).send().map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("the server answered {}", response.status()));
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let copied = io::copy(&mut response.take(MAX_DOWNLOAD + 1), tmp.as_file_mut()).map_err(|e| e.to_string())?;
    if copied > MAX_DOWNLOAD {
        return Err(format!("larger than the {} GiB limit", MAX_DOWNLOAD >> 30));
    }
    tmp.as_file_mut().flush().map_err(|e| e.to_string())?;
    tmp.persist(path)
        .map_err(|e| format!("{}: {}", path.display(), e.error))?;
    Ok(())
}

/// The published layer `digest` of the recipe's image, for comparing a rebuilt layer with it:
/// from the content stores, else fetched from the repository of the recipe's `tag`.
pub fn published_layer(recipe: &Recipe, digest: &Digest) -> Result<PathBuf, String> {
    let reference: crate::registry::Reference = recipe
        .tag
        .parse()
        .map_err(|e| format!("the recipe's tag `{}` is not an image reference: {e}", recipe.tag))?;
    registry_blob(
        recipe,
        &format!("{}/{}", reference.registry, reference.repository),
        digest,
    )
}

/// A layer blob named by digest: from the recipe's content store, else from the default store
/// (`retrace pull` fills it), else fetched from `repository` into the recipe's store. The client
/// stores a blob only once its bytes hash to `digest`, so a corrupt download never lands.
fn registry_blob(recipe: &Recipe, repository: &str, digest: &Digest) -> Result<PathBuf, String> {
    use crate::registry::{Client, ClientOptions, Reference, Store};
    let store = Store::new(&recipe.cache);
    for candidate in [store.blob_path(digest), Store::open_default().blob_path(digest)] {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    let fetch = || -> Result<PathBuf, String> {
        let reference: Reference = repository
            .parse()
            .map_err(|e| format!("`{repository}` is not a repository reference: {e}"))?;
        let client = ClientOptions::from_environment()
            .and_then(Client::new)
            .map_err(|e| e.to_string())?;
        client
            .fetch_blob(&reference, digest, None, &store)
            .map_err(|e| e.to_string())?;
        Ok(store.blob_path(digest))
    };
    fetch().map_err(|why| {
        format!(
            "not in the content store {} and fetching it from {repository} failed: {why}; run `retrace pull` for the image or point the source at a local file",
            store.root().display()
        )
    })
}

fn is_gzip(path: &Path) -> io::Result<bool> {
    let mut magic = [0u8; 2];
    let n = std::fs::File::open(path)?.read(&mut magic)?;
    Ok(n == 2 && magic == [0x1f, 0x8b])
}

/// The uncompressed tar of a (possibly gzip-compressed) layer, stored once in the cache dir under
/// its diff_id (written to a temporary file and renamed, so an interrupted run leaves nothing).
fn uncompressed(recipe: &Recipe, raw: &Path) -> io::Result<(PathBuf, Digest)> {
    if !is_gzip(raw)? {
        let diff_id = Digest::of_reader(std::fs::File::open(raw)?)?;
        return Ok((raw.to_path_buf(), diff_id));
    }
    let dir = recipe.cache.join("layers");
    std::fs::create_dir_all(&dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
    let mut hasher = crate::digest::DigestWriter::new(io::BufWriter::new(tmp.as_file_mut()));
    io::copy(
        &mut flate2::read::GzDecoder::new(io::BufReader::new(std::fs::File::open(raw)?)),
        &mut hasher,
    )?;
    let (diff_id, _, mut w) = hasher.finish();
    io::Write::flush(&mut w)?;
    drop(w);
    let path = dir.join(format!("{}.tar", diff_id.hex()));
    tmp.persist(&path).map_err(|e| e.error)?;
    Ok((path, diff_id))
}

/// The layer tar with `diff_id` from a `docker save` archive, copied into the cache dir.
fn docker_archive_layer(recipe: &Recipe, archive: &Path, diff_id: &Digest) -> io::Result<PathBuf> {
    let out = recipe.cache.join("layers").join(format!("{}.tar", diff_id.hex()));
    if out.is_file() {
        return Ok(out);
    }
    let mut ar = tar::Archive::new(std::fs::File::open(archive)?);
    for entry in ar.entries()? {
        let mut entry = entry?;
        let name = entry.path()?.to_string_lossy().to_string();
        if !name.ends_with(".tar") {
            continue;
        }
        let dir = recipe.cache.join("layers");
        std::fs::create_dir_all(&dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
        let mut hasher = crate::digest::DigestWriter::new(tmp.as_file_mut());
        io::copy(&mut entry, &mut hasher)?;
        let (found, _, _) = hasher.finish();
        if found == *diff_id {
            tmp.persist(&out).map_err(|e| e.error)?;
            return Ok(out);
        }
    }
    Err(io::Error::other(format!(
        "no layer with diff_id {diff_id} in the archive"
    )))
}
