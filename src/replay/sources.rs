//! Resolving the inputs a document only names by hash (`file:<hex>`, `dir:<hex>`, a base layer
//! digest) to verified local bytes, following the recipe. Nothing here talks to Docker.
//!
//! Every source is verified before use: a URL download by its pinned sha256, a layer blob by its
//! digest, a `file:` source by the classic builder's per-file hash. A mismatch is refused with the
//! expected and found values; a missing download names the URL and where to put it.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::inputs::{Inputs, InputsError};
use crate::archive::{ArchiveError, TarMembers};
use crate::digest::Digest;
use crate::layer::filehash::{candidate_modes, hash_context_stream};
use crate::layer::Profile;
use crate::recipe::{Origin, Platform, Recipe, Source};

/// Where a build's sources come from: the recipe, the `--inputs` directories (searched first, by
/// content), and whether anything may be fetched from the network.
#[derive(Debug)]
pub struct SourceEnv<'a> {
    pub recipe: &'a Recipe,
    /// `--offline`: nothing is downloaded or fetched from a registry; only the caches, the
    /// content stores and the inputs directories are used.
    pub offline: bool,
    pub inputs: Inputs,
}

impl<'a> SourceEnv<'a> {
    pub fn new(recipe: &'a Recipe, offline: bool, inputs: Vec<PathBuf>) -> SourceEnv<'a> {
        SourceEnv {
            recipe,
            offline,
            inputs: Inputs::new(inputs),
        }
    }

    /// Only the recipe: online, no inputs directories.
    pub fn recipe_only(recipe: &'a Recipe) -> SourceEnv<'a> {
        SourceEnv::new(recipe, false, Vec::new())
    }
}

/// How a base layer was obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseOrigin {
    /// The published blob itself (named by its digest in the recipe): taken, not rebuilt.
    Published { origin: String },
    /// A root file system tarball verified by the step's `file:` hash under `context_mode`.
    Tarball { path: PathBuf, context_mode: u32 },
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(
        "{platform}: the recipe gives no source for `{reference}`; add `sources: [{{for: \"{reference}\", {origin}}}]`"
    )]
    Missing {
        platform: String,
        reference: String,
        /// The origin to add: `path: ...`, or for a COPY of several sources `paths: [...]`.
        origin: &'static str,
    },

    #[error("`{reference}`: {url} is not in the download cache and could not be downloaded; fetch it with `curl -fLo {} '{url}'` and run again", path.display())]
    NotCached {
        reference: String,
        url: String,
        path: PathBuf,
        #[source]
        source: DownloadError,
    },

    #[error("`{reference}`: layer blob {digest} is not available")]
    BlobUnavailable {
        reference: String,
        digest: Digest,
        #[source]
        source: BlobFetchError,
    },

    /// The supplied bytes are not the ones the document names.
    #[error("`{reference}` from {origin}: hash mismatch: expected {expected}, found {found}")]
    Mismatch {
        reference: String,
        origin: String,
        expected: String,
        found: String,
    },

    /// A `file:` source whose bytes give the document's hash under none of the usual modes.
    #[error("`{reference}` from {origin}: no build-context mode gives the document's hash (tried {}); with its own mode it hashes to file:{found}", .modes.iter().map(|m| format!("{m:04o}")).collect::<Vec<_>>().join(", "))]
    FileHashMismatch {
        reference: String,
        origin: String,
        found: String,
        modes: Vec<u32>,
    },

    /// A directory, several sources or a stage's files that do not give the document's hash.
    #[error("`{reference}` from {origin}: the builder's hash of these files is {found}, not the document's; {hint}")]
    TreeHashMismatch {
        reference: String,
        origin: String,
        found: String,
        hint: &'static str,
    },

    #[error("`{reference}`: {origin} cannot supply it: {why}")]
    WrongOrigin {
        reference: String,
        origin: String,
        why: &'static str,
    },

    #[error(transparent)]
    Inputs(#[from] InputsError),

    #[error("`{reference}`: {}", path.display())]
    Io {
        reference: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A supplied archive or layer the archive reader refused (a gzip bomb, a limit, a missing
    /// member) or could not read.
    #[error("`{reference}`: {}", path.display())]
    Archive {
        reference: String,
        path: PathBuf,
        #[source]
        source: ArchiveError,
    },
}

/// The bytes behind a reference, ready to use.
#[derive(Debug, Clone)]
pub enum Resolved {
    /// An uncompressed layer (or rootfs) tar, kept in the cache dir under its diff_id.
    LayerTar { path: PathBuf, diff_id: Digest },
    /// A single file to COPY, with the build-context mode its `file:` hash was verified under
    /// (the mode the layer records), when it was verified by one.
    File { path: PathBuf, mode: Option<u32> },
    /// A directory to COPY.
    Dir(PathBuf),
    /// Several sources (a `multi:` COPY) or the files of a stage (`COPY --from`), in order.
    Parts(Vec<Part>),
}

/// One source of a COPY: a file or a directory on disk, or read from a tarball.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Where it is on disk, or where it would be for one read from a tarball (its base name is
    /// the name a file is copied under).
    pub path: PathBuf,
    /// The entries read from a tarball (`stage:` given as a `docker export`); `None` reads `path`.
    pub entries: Option<Vec<crate::layer::filehash::SourceEntry>>,
    /// The build-context mode a file's hash was verified under (the mode the layer records).
    pub mode: Option<u32>,
    /// Read from a stage (`COPY --from`): owners come from the files, not the context's root.
    pub stage: bool,
}

impl Resolved {
    /// A digest of the content, part of the build cache key of the step using it.
    pub fn content_key(&self) -> io::Result<String> {
        Ok(match self {
            Resolved::LayerTar { diff_id, .. } => diff_id.to_string(),
            Resolved::File { path, mode } => format!(
                "{}{}",
                Digest::of_reader(std::fs::File::open(path)?)?,
                mode.map(|m| format!(" mode {m:o}")).unwrap_or_default()
            ),
            Resolved::Dir(_) | Resolved::Parts(_) => {
                // The document's hash pins the content but not the mtimes or owners the layer
                // records, so those are part of the key too.
                let mut key = Vec::new();
                for part in self.parts().unwrap_or_default() {
                    key.extend(format!("{} {:?} {}\n", part.path.display(), part.mode, part.stage).into_bytes());
                    for mut e in part.read()? {
                        if let crate::layer::filehash::SourceKind::File(_) = e.kind {
                            key.extend(Digest::of(&e.content()?).hex().into_bytes());
                        }
                        e.data = None;
                        key.extend(format!("{e:?}\n").into_bytes());
                    }
                }
                format!("tree:{}", Digest::of(&key))
            }
        })
    }

    /// The sources a COPY writes, in order; `None` for a layer.
    pub fn parts(&self) -> Option<Vec<Part>> {
        let context = |path: &PathBuf, mode| Part {
            path: path.clone(),
            entries: None,
            mode,
            stage: false,
        };
        match self {
            Resolved::LayerTar { .. } => None,
            Resolved::File { path, mode } => Some(vec![context(path, *mode)]),
            Resolved::Dir(path) => Some(vec![context(path, None)]),
            Resolved::Parts(parts) => Some(parts.clone()),
        }
    }
}

impl Part {
    /// Its entries in the builder's walk order.
    pub fn read(&self) -> io::Result<Vec<crate::layer::filehash::SourceEntry>> {
        match &self.entries {
            Some(entries) => Ok(entries.clone()),
            None => crate::layer::filehash::read_source(&self.path),
        }
    }
}

/// Resolves the base layer of a platform: `reference` is what the first step added
/// (`file:<hex>`), `layer` the published digest of layer 1. A recipe source naming the digest
/// imports the published blob; otherwise the `file:` tarball is found (recipe, then inputs),
/// verified by its hash, and unpacked to a tar.
pub fn resolve_base(
    env: &SourceEnv,
    platform: &Platform,
    reference: &str,
    layer: &Digest,
    profile: &Profile,
) -> Result<(Resolved, BaseOrigin), SourceError> {
    if let Some(source) = env.recipe.source_for(&layer.to_string(), platform) {
        return published_base(env, source, layer);
    }
    let file = context_file(env, platform, reference, profile)?;
    let (path, mode) = match file {
        Resolved::File { path, mode: Some(mode) } => (path, mode),
        _ => {
            return Err(SourceError::WrongOrigin {
                reference: reference.to_string(),
                origin: "a directory".into(),
                why: "a base layer is added from a root file system tarball",
            })
        }
    };
    // The tarball is rebuilt into the layer by `layer add` (an extraction and a tar walk, no
    // engine); the build driver imports that layer for the steps after it.
    Ok((
        Resolved::File {
            path: path.clone(),
            mode: Some(mode),
        },
        BaseOrigin::Tarball {
            path,
            context_mode: mode,
        },
    ))
}

/// The layer tar inside a gzip `blob` (a rebuilt base layer), stored once in the cache dir under
/// its diff_id, for the engine to import.
pub fn blob_layer_tar(recipe: &Recipe, blob: &[u8]) -> Result<(PathBuf, Digest), ArchiveError> {
    unpacked(recipe, blob)
}

/// The published blob a recipe source supplies for a base layer, checked against its digest.
fn published_base(env: &SourceEnv, source: &Source, layer: &Digest) -> Result<(Resolved, BaseOrigin), SourceError> {
    let reference = &source.reference;
    let unavailable = |digest: &Digest, source| SourceError::BlobUnavailable {
        reference: reference.clone(),
        digest: *digest,
        source,
    };
    let (raw, origin): (PathBuf, String) = match &source.origin {
        Origin::Paths(_) | Origin::Stage { .. } => {
            return Err(SourceError::WrongOrigin {
                reference: reference.clone(),
                origin: "several paths or a stage".into(),
                why: "a published layer is one blob or tar",
            })
        }
        Origin::Path(p) => (p.clone(), p.display().to_string()),
        Origin::Url { url, sha256 } => (cached_download(env, reference, url, sha256)?, url.clone()),
        Origin::RegistryBlob { repository, digest } => (
            registry_blob(env, repository, digest).map_err(|e| unavailable(digest, e))?,
            format!("{repository}@{digest}"),
        ),
        Origin::OciLayout { path, digest } => {
            let blob = crate::blob::blob_path(path, digest);
            if !blob.is_file() {
                return Err(unavailable(digest, BlobFetchError::NotInLayout { blob }));
            }
            (blob, format!("oci:{}@{digest}", path.display()))
        }
        Origin::DockerArchive { path, diff_id } => (
            docker_archive_layer(env.recipe, path, diff_id).map_err(archive_error(reference, path))?,
            format!("docker-archive:{}", path.display()),
        ),
    };
    // A published layer named by digest must hash to it before anything reads it: the blob as
    // fetched, or an uncompressed tar (a `docker save` layer) once gzip'd as Docker pushed it.
    let io_err = io_error(reference, &raw);
    let mut found = Digest::of_reader(std::fs::File::open(&raw).map_err(&io_err)?).map_err(&io_err)?;
    if found != *layer && !is_gzip(&raw).map_err(&io_err)? {
        found = pushed_digest(&raw).map_err(&io_err)?;
    }
    if found != *layer {
        return Err(SourceError::Mismatch {
            reference: reference.clone(),
            origin: raw.display().to_string(),
            expected: layer.to_string(),
            found: found.to_string(),
        });
    }
    let (path, diff_id) = uncompressed(env.recipe, &raw).map_err(archive_error(reference, &raw))?;
    Ok((Resolved::LayerTar { path, diff_id }, BaseOrigin::Published { origin }))
}

fn io_error<'a>(reference: &'a str, path: &'a Path) -> impl Fn(io::Error) -> SourceError + 'a {
    move |source| SourceError::Io {
        reference: reference.to_string(),
        path: path.to_path_buf(),
        source,
    }
}

fn archive_error<'a>(reference: &'a str, path: &'a Path) -> impl Fn(ArchiveError) -> SourceError + 'a {
    move |source| SourceError::Archive {
        reference: reference.to_string(),
        path: path.to_path_buf(),
        source,
    }
}

/// Resolves a COPY/ADD source and checks it against the document's `file:`/`dir:` hash.
pub fn resolve_copy(
    env: &SourceEnv,
    platform: &Platform,
    reference: &str,
    profile: &Profile,
) -> Result<Resolved, SourceError> {
    context_file(env, platform, reference, profile)
}

/// The local bytes of a build-context reference: the recipe's source (a path, or a download from
/// the cache, the inputs or the network), else a file under `--inputs` with the same `file:` hash.
/// A `file:` source is verified by its hash under the profile's conventions, trying its own mode
/// and then the usual context modes; the mode that matched is the one the layer records.
fn context_file(
    env: &SourceEnv,
    platform: &Platform,
    reference: &str,
    profile: &Profile,
) -> Result<Resolved, SourceError> {
    let hex = reference.strip_prefix("file:");
    let Some(source) = env.recipe.source_for(reference, platform) else {
        if let Some((hex, found)) = hex.and_then(|h| env.inputs.by_file_hash(h, profile).transpose().map(|f| (h, f))) {
            // Found by content a moment ago, in a directory others may change: used only
            // through the verified private copy, like a recipe's file.
            let (path, mode) = verified_copy(env, reference, hex, &found?.path, profile)?;
            return Ok(Resolved::File { path, mode: Some(mode) });
        }
        return Err(SourceError::Missing {
            platform: platform.to_string(),
            reference: reference.to_string(),
            origin: if reference.starts_with("multi:") {
                "paths: [...] (one per COPY source, in order; `stage:` + `stage_paths:` for COPY --from)"
            } else {
                "path: ..."
            },
        });
    };
    let path = match &source.origin {
        Origin::Path(p) => p.clone(),
        Origin::Paths(paths) => return super::trees::context_parts(reference, paths, profile),
        Origin::Stage { root, paths } => return super::trees::stage_parts(reference, root, paths, profile),
        Origin::Url { url, sha256 } => cached_download(env, reference, url, sha256)?,
        _ => {
            return Err(SourceError::WrongOrigin {
                reference: reference.to_string(),
                origin: "a layer blob".into(),
                why: "a build-context source is a file or a directory",
            })
        }
    };
    let meta = std::fs::metadata(&path).map_err(io_error(reference, &path))?;
    let Some(hex) = hex else {
        // A directory is verified by the `dir:` hash of its context entries; any other file
        // named by a `dir:` reference (an archive standing for it) is used as given.
        return Ok(if meta.is_dir() {
            super::trees::verify_context_dir(reference, &path, profile)?;
            Resolved::Dir(path)
        } else {
            Resolved::File { path, mode: None }
        });
    };
    if !meta.is_file() {
        return Err(io_error(reference, &path)(io::Error::other(
            "a file: source must be a regular file",
        )));
    }
    let (path, mode) = verified_copy(env, reference, hex, &path, profile)?;
    Ok(Resolved::File { path, mode: Some(mode) })
}

/// Verifies the file at `path` against the `file:` hash `hex` and, in the same single read,
/// copies it to a private file in the cache (`verified/<hex>/<name>`); returns the copy and the
/// context mode that matched, or the refusal naming the modes tried and what the file hashes to
/// with its own. Everything after (the build cache key, the layer, the engine) reads the copy, so
/// a file changed after it was verified cannot reach them. The copy keeps the file's name, mode,
/// owner and mtime, which a COPY records.
fn verified_copy(
    env: &SourceEnv,
    reference: &str,
    hex: &str,
    path: &Path,
    profile: &Profile,
) -> Result<(PathBuf, u32), SourceError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let io_err = io_error(reference, path);
    let mut file = crate::fsutil::open_regular(path).map_err(&io_err)?;
    let meta = file.metadata().map_err(&io_err)?;
    let own = meta.permissions().mode() & 0o7777;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = env.recipe.cache.join("verified");
    let copy_err = io_error(reference, &dir);
    let (tmp, _registered) = crate::fsutil::temporary_file_in(&dir).map_err(&copy_err)?;
    let mut out = io::BufWriter::new(tmp);
    let modes = candidate_modes(own);
    let hashes = hash_context_stream(&name, &modes, meta.len(), &mut file, &mut out, profile).map_err(&io_err)?;
    let Some(mode) = hashes.mode_for(hex) else {
        return Err(SourceError::FileHashMismatch {
            reference: reference.to_string(),
            origin: path.display().to_string(),
            found: hashes.own().hex(),
            modes,
        });
    };
    let tmp = out.into_inner().map_err(|e| copy_err(e.into_error()))?;
    // The owner is not part of the hash; a caller that is not root keeps its own.
    let _ = std::os::unix::fs::fchown(tmp.as_file(), Some(meta.uid()), Some(meta.gid()));
    let kept = meta.modified().and_then(|t| tmp.as_file().set_modified(t));
    kept.and_then(|()| std::fs::set_permissions(tmp.path(), meta.permissions()))
        .map_err(&copy_err)?;
    let home = dir.join(hex);
    std::fs::create_dir_all(&home).map_err(&copy_err)?;
    let copy = home.join(&name);
    tmp.persist(&copy).map_err(|e| copy_err(e.error))?;
    Ok((copy, mode))
}

/// A download: from the cache dir, else a file under `--inputs` with its pinned sha256, else
/// fetched (unless offline) and verified. A missing one names the URL and the path to put it at.
fn cached_download(
    env: &SourceEnv,
    reference: &str,
    url: &str,
    sha256: &Option<Digest>,
) -> Result<PathBuf, SourceError> {
    let path = download_path(env.recipe, url, sha256);
    if !path.is_file() {
        if let Some(local) = sha256.as_ref().map(|d| env.inputs.by_sha256(d)).transpose()?.flatten() {
            // Indexed by the sha256 of its bytes a moment ago; verified again below.
            return verified(reference, &local, url, sha256);
        }
        let fetched = if env.offline {
            Err(Fetch::Failed(offline_why(env)))
        } else {
            download(url, &path, sha256)
        };
        match fetched {
            // Hashed while it streamed and kept only when it matched: no second read.
            Ok(()) => return Ok(path),
            Err(Fetch::Failed(source)) => {
                return Err(SourceError::NotCached {
                    reference: reference.to_string(),
                    url: url.to_string(),
                    path,
                    source,
                })
            }
            Err(Fetch::Mismatch { found }) => {
                return Err(SourceError::Mismatch {
                    reference: reference.to_string(),
                    origin: url.to_string(),
                    expected: sha256.map(|d| d.to_string()).unwrap_or_default(),
                    found: found.to_string(),
                })
            }
        }
    }
    // Already in the cache: checked again, as anything may have changed it since.
    let kept = verified(reference, &path, url, sha256);
    if matches!(kept, Err(SourceError::Mismatch { .. })) {
        // The cache is content-addressed: wrong bytes must not stay under the pinned name.
        let _ = std::fs::remove_file(&path);
    }
    kept
}

/// Why nothing was fetched: the build is offline, and which inputs directories were searched.
fn offline_why(env: &SourceEnv) -> DownloadError {
    DownloadError::Offline {
        inputs: env.inputs.dirs().to_vec(),
    }
}

/// Why a download could not be had.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// `--offline` fetches nothing; `inputs` are the `--inputs` directories that were searched.
    #[error("offline (--offline), and {}", offline_inputs(inputs))]
    Offline { inputs: Vec<PathBuf> },
    #[error("only http:// and https:// downloads are supported, not `{url}`")]
    Scheme { url: String },
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    #[error("the server answered {0}")]
    Status(reqwest::StatusCode),
    #[error("larger than the {} GiB limit", MAX_DOWNLOAD >> 30)]
    TooLarge,
    /// Reading the response or writing the temporary file beside the cache entry failed.
    #[error(transparent)]
    Transfer(io::Error),
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Which `--inputs` directories an offline build searched, as the end of a sentence.
fn offline_inputs(inputs: &[PathBuf]) -> String {
    if inputs.is_empty() {
        return "no --inputs directory was given".into();
    }
    let dirs: Vec<String> = inputs.iter().map(|d| d.display().to_string()).collect();
    format!("no file under {} has its content", dirs.join(", "))
}

/// `path` when its bytes hash to `sha256` (or nothing is pinned).
fn verified(reference: &str, path: &Path, url: &str, sha256: &Option<Digest>) -> Result<PathBuf, SourceError> {
    let Some(sha256) = sha256 else {
        return Ok(path.to_path_buf());
    };
    let io_err = io_error(reference, path);
    let found = Digest::of_reader(std::fs::File::open(path).map_err(&io_err)?).map_err(&io_err)?;
    if found != *sha256 {
        return Err(SourceError::Mismatch {
            reference: reference.to_string(),
            origin: url.to_string(),
            expected: sha256.to_string(),
            found: found.to_string(),
        });
    }
    Ok(path.to_path_buf())
}

/// A download RUN steps need (`downloads:`), in the cache and verified: fetched first when
/// missing and the network allows.
pub fn prefetch(env: &SourceEnv, download: &crate::recipe::Download) -> Result<PathBuf, SourceError> {
    cached_download(env, &download.url, &download.url, &Some(download.sha256))
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

/// Why a download was not kept.
enum Fetch {
    /// It could not be had (no network, a server error, too large).
    Failed(DownloadError),
    /// It was had, but its bytes are not the pinned ones.
    Mismatch { found: Digest },
}

impl From<DownloadError> for Fetch {
    fn from(why: DownloadError) -> Fetch {
        Fetch::Failed(why)
    }
}

impl From<reqwest::Error> for Fetch {
    fn from(why: reqwest::Error) -> Fetch {
        Fetch::Failed(why.into())
    }
}

/// Fetches `url` into `path`: streamed into a temporary file beside it and hashed on the way,
/// renamed into place only when complete and (when pinned) verified, so neither an interrupted
/// download nor wrong bytes ever sit under the final, content-addressed name.
fn download(url: &str, path: &Path, sha256: &Option<Digest>) -> Result<(), Fetch> {
    use std::io::Write as _;
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(Fetch::Failed(DownloadError::Scheme { url: url.to_string() }));
    }
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(20))
        .timeout(std::time::Duration::from_secs(3600))
        .user_agent(concat!("retrace/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let response = client.get(url).send()?;
    if !response.status().is_success() {
        return Err(Fetch::Failed(DownloadError::Status(response.status())));
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let at = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DownloadError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(at(dir))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(at(dir))?;
    let _registered = crate::fsutil::Temporary::register(tmp.path());
    let mut hashing = crate::digest::DigestWriter::new(tmp.as_file_mut());
    let copied = io::copy(&mut response.take(MAX_DOWNLOAD + 1), &mut hashing).map_err(DownloadError::Transfer)?;
    let (found, _, file) = hashing.finish();
    if copied > MAX_DOWNLOAD {
        return Err(Fetch::Failed(DownloadError::TooLarge));
    }
    if sha256.is_some_and(|e| e != found) {
        return Err(Fetch::Mismatch { found });
    }
    file.flush().map_err(DownloadError::Transfer)?;
    tmp.persist(path).map_err(|e| at(path)(e.error))?;
    Ok(())
}

/// Why a layer blob named by digest could not be had.
#[derive(Debug, thiserror::Error)]
pub enum BlobFetchError {
    #[error("the recipe's tag `{tag}` is not an image reference")]
    Tag {
        tag: String,
        source: crate::registry::RegistryError,
    },
    #[error("offline: not in the content store {} (`retrace pull` fills it)", store.display())]
    Offline { store: PathBuf },
    /// The recipe's OCI layout lacks the blob it names.
    #[error("{} is missing", blob.display())]
    NotInLayout { blob: PathBuf },
    #[error(
        "not in the content store {} and fetching it from {repository} failed; run `retrace pull` for the image or point the source at a local file",
        store.display()
    )]
    Fetch {
        store: PathBuf,
        repository: String,
        source: crate::registry::RegistryError,
    },
}

/// The published layer `digest` of the recipe's image, for comparing a rebuilt layer with it:
/// from the content stores, else (unless offline) fetched from the repository of the recipe's `tag`.
pub fn published_layer(env: &SourceEnv, digest: &Digest) -> Result<PathBuf, BlobFetchError> {
    let reference: crate::registry::Reference = env.recipe.tag.parse().map_err(|source| BlobFetchError::Tag {
        tag: env.recipe.tag.clone(),
        source,
    })?;
    registry_blob(env, &format!("{}/{}", reference.registry, reference.repository), digest)
}

/// A layer blob named by digest: from the recipe's content store, else from the default store
/// (`retrace pull` fills it), else fetched from `repository` into the recipe's store unless the
/// build is offline. The client stores a blob only once its bytes hash to `digest`, so a corrupt
/// download never lands.
fn registry_blob(env: &SourceEnv, repository: &str, digest: &Digest) -> Result<PathBuf, BlobFetchError> {
    use crate::registry::{Client, ClientOptions, Reference, Store};
    let store = Store::new(&env.recipe.cache);
    for candidate in [store.blob_path(digest), Store::open_default().blob_path(digest)] {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    if env.offline {
        return Err(BlobFetchError::Offline {
            store: store.root().to_path_buf(),
        });
    }
    let fetch = || -> Result<PathBuf, crate::registry::RegistryError> {
        let reference: Reference = repository.parse()?;
        let client = ClientOptions::from_environment().and_then(Client::new)?;
        client.fetch_blob(&reference, digest, None, &store)?;
        Ok(store.blob_path(digest))
    };
    fetch().map_err(|source| BlobFetchError::Fetch {
        store: store.root().to_path_buf(),
        repository: repository.to_string(),
        source,
    })
}

/// The digest of the blob Docker pushed for the uncompressed layer tar at `path`: Go's gzip at
/// level 6 of its bytes, which retrace's encoder reproduces exactly.
fn pushed_digest(path: &Path) -> io::Result<Digest> {
    let mut hashing = crate::digest::DigestWriter::new(io::sink());
    crate::gzip::compress_stream(std::fs::File::open(path)?, &mut hashing, 6)?;
    Ok(hashing.finish().0)
}

fn is_gzip(path: &Path) -> io::Result<bool> {
    let mut magic = Vec::with_capacity(8);
    std::fs::File::open(path)?.take(8).read_to_end(&mut magic)?;
    Ok(crate::archive::Compression::sniff(&magic) == crate::archive::Compression::Gzip)
}

/// The uncompressed tar of a (possibly gzip-compressed) layer, stored once in the cache dir under
/// its diff_id (written to a temporary file and renamed, so an interrupted run leaves nothing).
fn uncompressed(recipe: &Recipe, raw: &Path) -> Result<(PathBuf, Digest), ArchiveError> {
    if !is_gzip(raw)? {
        let diff_id = Digest::of_reader(std::fs::File::open(raw)?)?;
        return Ok((raw.to_path_buf(), diff_id));
    }
    unpacked(recipe, io::BufReader::new(std::fs::File::open(raw)?))
}

/// Un-gzips `gz` into the cache dir's `layers/<diff_id>.tar`. Decompression goes through the
/// archive reader's bounds ([`crate::archive::decompress`]): a gzip bomb is refused before it
/// fills the disk, and its partial output is removed.
fn unpacked(recipe: &Recipe, gz: impl Read) -> Result<(PathBuf, Digest), ArchiveError> {
    let dir = recipe.cache.join("layers");
    std::fs::create_dir_all(&dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".retrace-")
        .suffix(".tmp")
        .tempfile_in(&dir)?;
    // Removed on SIGINT/SIGTERM too: a killed build leaves no partial layer in the cache.
    let _registered = crate::fsutil::Temporary::register(tmp.path());
    let mut hasher = crate::digest::DigestWriter::new(io::BufWriter::new(tmp.as_file_mut()));
    crate::archive::decompress(gz, &crate::archive::Limits::default(), &mut hasher)?;
    let (diff_id, _, mut w) = hasher.finish();
    io::Write::flush(&mut w)?;
    drop(w);
    let path = dir.join(format!("{}.tar", diff_id.hex()));
    tmp.persist(&path).map_err(|e| e.error)?;
    Ok((path, diff_id))
}

/// The layer tar with `diff_id` from a recipe's `docker save` archive, copied into the cache dir.
/// The archive's members are found through the archive reader's bounded index, and each `.tar`
/// member is hashed until one has the diff_id.
fn docker_archive_layer(recipe: &Recipe, archive: &Path, diff_id: &Digest) -> Result<PathBuf, ArchiveError> {
    let dir = recipe.cache.join("layers");
    let out = dir.join(format!("{}.tar", diff_id.hex()));
    if out.is_file() {
        return Ok(out);
    }
    let members = TarMembers::index(archive)?;
    for member in members.iter().filter(|m| m.path.ends_with(".tar")) {
        let Ok(mut content) = members.open(&member.path) else {
            // A directory or device named `.tar` holds no layer.
            continue;
        };
        std::fs::create_dir_all(&dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
        let mut hasher = crate::digest::DigestWriter::new(tmp.as_file_mut());
        io::copy(&mut content, &mut hasher)?;
        let (found, _, _) = hasher.finish();
        if found == *diff_id {
            tmp.persist(&out).map_err(|e| e.error)?;
            return Ok(out);
        }
    }
    Err(ArchiveError::MissingMember {
        member: format!("a layer with diff_id {diff_id}"),
    })
}
