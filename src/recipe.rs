//! Build recipes: the YAML file that tells `retrace build` which document to replay and where every
//! input the document only names by hash comes from. The schema is documented in `docs/recipes.md`.
//!
//! Reading is strict on purpose: unknown fields are refused (a typo such as `platfroms:` would
//! otherwise silently mean "all platforms"), and every error names the recipe file, the field path
//! (`sources[2].sha256`) and, where YAML knows it, the line and column.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::digest::Digest;
use crate::layer::profile::{Profile, KNOWN_PROFILES};

/// Why a recipe was refused. Every variant names the file, and the field at fault.
#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    #[error("{file}")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The YAML does not fit the schema (unknown field, wrong type, missing field, bad value).
    #[error("{file}:{line}:{column}: field `{field}`: {message}")]
    Invalid {
        file: PathBuf,
        field: String,
        line: usize,
        column: usize,
        message: String,
    },

    #[error("{file}: larger than the limit of {limit} bytes")]
    TooLarge { file: PathBuf, limit: u64 },

    #[error("{file}:{line}:{column}: collections nested deeper than the limit of {limit}")]
    TooDeep {
        file: PathBuf,
        line: usize,
        column: usize,
        limit: usize,
    },

    /// The YAML fits the schema but says something inconsistent, such as a source with two origins.
    #[error("{file}: field `{field}`: {message}")]
    Semantic {
        file: PathBuf,
        field: String,
        message: String,
    },
}

pub use crate::platform::Platform;

/// The recipe as written, after schema validation. Relative paths are already resolved against
/// the recipe's directory, so the rest of the program never needs to know where the recipe was.
#[derive(Debug, Clone)]
pub struct Recipe {
    /// The file it was read from, for messages and the report.
    pub file: PathBuf,
    pub document: PathBuf,
    pub tag: String,
    /// Empty means every platform the document lists.
    pub platforms: Vec<Platform>,
    pub sources: Vec<Source>,
    pub downloads: Vec<Download>,
    pub cache: PathBuf,
    pub endpoints: Vec<Endpoint>,
    pub output: Option<PathBuf>,
    /// Replaces the document's `Docker Version` when choosing the layer byte profile.
    pub profile: Option<String>,
    /// Build arguments given to every RUN in addition to those the document records (`# ARGS:`).
    pub build_args: Vec<(String, String)>,
    /// Whether RUN containers get a network (`bridge`, the default) or none (`none`).
    pub network: String,
}

/// Where the content of one `file:<hex>` / `dir:<hex>` (or a base layer) comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The document's reference this source supplies: `file:<hex>`, `dir:<hex>`, or a layer digest
    /// `sha256:<hex>` for a published base layer.
    pub reference: String,
    /// Only for this platform; `None` means whichever platform names `reference`.
    pub platform: Option<Platform>,
    pub origin: Origin,
    /// The mtime (seconds since the epoch) the COPY'd file or directory tree had in the original
    /// build context. The document does not record it (the `file:` hash leaves mtimes out), yet
    /// the layer carries it; a user who knows it (a fixture that pins it, a git commit time) gives
    /// it here instead of leaving it to the timestamp search. `None` keeps the files' own mtimes.
    pub mtime: Option<i64>,
    /// Per-entry context mtimes, keyed by the entry's path below the source as the COPY wrote it
    /// below its destination (`sub/b.txt` for a directory source; a file source's own name). A
    /// key here wins over `mtime`; entries in neither keep their own mtime.
    pub mtimes: std::collections::BTreeMap<String, i64>,
}

/// The one place a source's bytes are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A local file (a rootfs tarball, possibly gzip-compressed, or a single file to COPY) or a
    /// directory (its content is what `dir:` names).
    Path(PathBuf),
    /// Several local files or directories, one per source of a `multi:` COPY, in its order.
    Paths(Vec<PathBuf>),
    /// The files a `COPY --from` read from a stage: `root` stands for the stage's root file
    /// system and `paths` are the COPY's sources inside it (`/bin/app`), in its order.
    Stage { root: PathBuf, paths: Vec<String> },
    /// A download, pinned by the sha256 of its bytes (optional for a `file:` source, which the
    /// document's own hash pins); kept in the cache dir.
    Url { url: String, sha256: Option<Digest> },
    /// A layer blob fetched by digest from a registry repository (`host[:port]/name`).
    RegistryBlob { repository: String, digest: Digest },
    /// A layer blob taken from an OCI image layout directory.
    OciLayout { path: PathBuf, digest: Digest },
    /// A layer taken from a `docker save` archive, named by the digest of its uncompressed tar.
    DockerArchive { path: PathBuf, diff_id: Digest },
}

/// A file a RUN step downloads, made available offline through the cache dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    pub url: String,
    pub sha256: Digest,
}

/// A Docker Engine endpoint and the platforms it builds. An endpoint with no platform list takes
/// every platform no other endpoint claims (usually the local daemon running foreign ones under QEMU).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `unix:///path` or `tcp://host:port`.
    pub host: String,
    pub platforms: Vec<Platform>,
}

impl Recipe {
    /// The endpoint that builds `platform`: the first that names it, else the first catch-all,
    /// else `DOCKER_HOST`, else the local socket.
    pub fn endpoint_for(&self, platform: &Platform) -> String {
        self.endpoints
            .iter()
            .find(|e| e.platforms.iter().any(|p| p.selects(platform)))
            .or_else(|| self.endpoints.iter().find(|e| e.platforms.is_empty()))
            .map(|e| e.host.clone())
            .unwrap_or_else(default_docker_host)
    }

    /// The source that supplies `reference` for `platform`, preferring a platform-specific one.
    pub fn source_for(&self, reference: &str, platform: &Platform) -> Option<&Source> {
        let matching = self.sources.iter().filter(|s| s.reference == reference);
        let mut fallback = None;
        for s in matching {
            match &s.platform {
                Some(p) if p.selects(platform) => return Some(s),
                Some(_) => {}
                None => fallback = fallback.or(Some(s)),
            }
        }
        fallback
    }
}

/// `DOCKER_HOST` when set, the local socket otherwise (what the docker CLI does).
pub fn default_docker_host() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unix:///var/run/docker.sock".to_string())
}

// The raw schema, exactly as in YAML. Kept private: callers get the resolved `Recipe`.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecipe {
    document: PathBuf,
    tag: String,
    #[serde(default)]
    platforms: Vec<Platform>,
    #[serde(default)]
    sources: Vec<RawSource>,
    #[serde(default)]
    downloads: Vec<RawDownload>,
    cache: Option<PathBuf>,
    #[serde(default)]
    endpoints: Vec<RawEndpoint>,
    output: Option<PathBuf>,
    profile: Option<String>,
    #[serde(default)]
    build_args: std::collections::BTreeMap<String, String>,
    network: Option<Network>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Network {
    Bridge,
    None,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    #[serde(rename = "for")]
    reference: String,
    platform: Option<Platform>,
    path: Option<PathBuf>,
    /// `multi:` sources: one local file or directory per source of the COPY, in its order.
    paths: Option<Vec<PathBuf>>,
    /// `COPY --from`: a directory standing for the stage's root file system ...
    stage: Option<PathBuf>,
    /// ... and the COPY's sources inside it (`/bin/app`), in the COPY's order.
    stage_paths: Option<Vec<String>>,
    url: Option<String>,
    sha256: Option<String>,
    registry: Option<String>,
    blob: Option<Digest>,
    oci_layout: Option<PathBuf>,
    docker_archive: Option<PathBuf>,
    diff_id: Option<Digest>,
    /// RFC 3339 (`2024-01-01T00:00:00Z`) or seconds since the epoch.
    mtime: Option<yaml_serde::Value>,
    /// Per-entry build-context mtimes, keyed by the path below the source.
    mtimes: Option<std::collections::BTreeMap<String, yaml_serde::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDownload {
    url: String,
    sha256: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEndpoint {
    host: String,
    #[serde(default)]
    platforms: Vec<Platform>,
}

/// The largest recipe read; real recipes are a few KiB.
pub const MAX_RECIPE_BYTES: u64 = 1 << 20;

/// The deepest nesting of YAML collections (block or flow: `[...]`, `{...}`) accepted. Recipes
/// need four or five levels; the YAML parser takes time quadratic in the depth, so parsing stops at
/// the first collection deeper than this.
pub const MAX_FLOW_DEPTH: usize = 32;

/// Reads and validates a recipe file.
pub fn load(file: &Path) -> Result<Recipe, RecipeError> {
    let read_error = |source| RecipeError::Read {
        file: file.to_path_buf(),
        source,
    };
    let bytes = crate::fsutil::read_regular(file, MAX_RECIPE_BYTES).map_err(|e| match e.kind() {
        std::io::ErrorKind::FileTooLarge => RecipeError::TooLarge {
            file: file.to_path_buf(),
            limit: MAX_RECIPE_BYTES,
        },
        _ => read_error(e),
    })?;
    let text = String::from_utf8(bytes)
        .map_err(|e| read_error(std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error())))?;
    parse(&text, file)
}

/// Refuses collections nested deeper than [`MAX_FLOW_DEPTH`], naming where the limit was passed.
/// The depth is the one YAML's own parser sees (libyaml, which yaml_serde reads the recipe with):
/// its sequence and mapping events, counted as they come, so nothing deeper than the limit is ever
/// parsed, and no quote, comment or plain scalar can hide a bracket from the count. A syntax error
/// is left to the deserializer, which reports it with its field.
fn check_flow_depth(text: &str, file: &Path) -> Result<(), RecipeError> {
    let too_deep = |mark: libyaml_rs::yaml_mark_t| RecipeError::TooDeep {
        file: file.to_path_buf(),
        line: mark.line as usize + 1,
        column: mark.column as usize + 1,
        limit: MAX_FLOW_DEPTH,
    };
    let mut parser = Box::new(std::mem::MaybeUninit::<libyaml_rs::yaml_parser_t>::uninit());
    let parser = parser.as_mut_ptr();
    // SAFETY: `parser` is initialized before any other use and deleted once below; `text`
    // outlives it; each event is deleted after its type and mark are copied out.
    unsafe {
        if libyaml_rs::yaml_parser_initialize(parser).fail {
            return Ok(());
        }
        libyaml_rs::yaml_parser_set_input_string(parser, text.as_ptr(), text.len() as u64);
        let mut depth = 0usize;
        let mut event = std::mem::MaybeUninit::<libyaml_rs::yaml_event_t>::uninit();
        let result = loop {
            if libyaml_rs::yaml_parser_parse(parser, event.as_mut_ptr()).fail {
                break Ok(());
            }
            let (kind, mark) = ((*event.as_ptr()).type_, (*event.as_ptr()).start_mark);
            libyaml_rs::yaml_event_delete(event.as_mut_ptr());
            match kind {
                libyaml_rs::YAML_SEQUENCE_START_EVENT | libyaml_rs::YAML_MAPPING_START_EVENT => depth += 1,
                libyaml_rs::YAML_SEQUENCE_END_EVENT | libyaml_rs::YAML_MAPPING_END_EVENT => depth -= 1,
                libyaml_rs::YAML_STREAM_END_EVENT => break Ok(()),
                _ => {}
            }
            if depth > MAX_FLOW_DEPTH {
                break Err(too_deep(mark));
            }
        };
        libyaml_rs::yaml_parser_delete(parser);
        result
    }
}

/// Validates recipe text; `file` names it in errors and anchors relative paths.
pub fn parse(text: &str, file: &Path) -> Result<Recipe, RecipeError> {
    check_flow_depth(text, file)?;
    let de = yaml_serde::Deserializer::from_str(text);
    let raw: RawRecipe = serde_path_to_error::deserialize(de).map_err(|e| {
        let field = match e.path().to_string() {
            p if p == "." => "(document root)".to_string(),
            p => p,
        };
        let inner = e.into_inner();
        let (line, column) = inner.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
        let message = strip_path(&strip_location(&inner.to_string()), &field);
        RecipeError::Invalid {
            file: file.to_path_buf(),
            field,
            line,
            column,
            message,
        }
    })?;
    resolve(raw, file)
}

/// A source's `mtime:`: RFC 3339 text or an integer number of seconds since the epoch.
fn parse_mtime(value: &yaml_serde::Value) -> Option<i64> {
    match value {
        yaml_serde::Value::Number(n) => n.as_i64(),
        yaml_serde::Value::String(s) => crate::time::parse_rfc3339(s.trim()),
        _ => None,
    }
}

/// yaml_serde appends " at line L column C" to its messages; the location is already in our
/// prefix, so it is removed to keep messages readable and golden files stable.
fn strip_location(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// yaml_serde also prefixes messages with its own view of the path (`sources[0]: `), which repeats
/// the field already named, so that prefix is dropped.
fn strip_path(msg: &str, field: &str) -> String {
    match msg.split_once(": ") {
        Some((prefix, rest)) if !prefix.contains(' ') && field.starts_with(prefix) => rest.to_string(),
        _ => msg.to_string(),
    }
}

/// Turns the raw schema into a [`Recipe`]: paths anchored at the recipe, every cross-field rule
/// checked, errors naming the field.
fn resolve(raw: RawRecipe, file: &Path) -> Result<Recipe, RecipeError> {
    let r = Resolver {
        file,
        base: file.parent().unwrap_or(Path::new(".")),
    };
    r.check_tag_and_platforms(&raw)?;
    r.check_profile(raw.profile.as_deref())?;
    let sources = raw
        .sources
        .into_iter()
        .enumerate()
        .map(|(i, s)| r.source(i, s))
        .collect::<Result<Vec<_>, _>>()?;
    let downloads = r.downloads(raw.downloads, raw.network)?;
    let endpoints = r.endpoints(raw.endpoints)?;
    Ok(Recipe {
        file: file.to_path_buf(),
        document: r.abs(&raw.document),
        tag: raw.tag,
        platforms: raw.platforms,
        sources,
        downloads,
        cache: raw.cache.map(|c| r.abs(&c)).unwrap_or_else(default_cache_dir),
        endpoints,
        output: raw.output.map(|o| r.abs(&o)),
        profile: raw.profile,
        build_args: raw.build_args.into_iter().collect(),
        network: match raw.network.unwrap_or(Network::Bridge) {
            Network::Bridge => "bridge".into(),
            Network::None => "none".into(),
        },
    })
}

/// The recipe file being resolved: anchors relative paths and names itself in errors.
struct Resolver<'a> {
    file: &'a Path,
    base: &'a Path,
}

impl Resolver<'_> {
    fn abs(&self, p: &Path) -> PathBuf {
        let expanded = expand_home(p);
        if expanded.is_absolute() {
            expanded
        } else {
            lexically_normal(&self.base.join(expanded))
        }
    }

    fn semantic(&self, field: impl Into<String>, message: impl Into<String>) -> RecipeError {
        RecipeError::Semantic {
            file: self.file.to_path_buf(),
            field: field.into(),
            message: message.into(),
        }
    }

    fn sha(&self, field: String, text: &str) -> Result<Digest, RecipeError> {
        let hex = text.strip_prefix("sha256:").unwrap_or(text);
        Digest::from_hex(hex).map_err(|e| self.semantic(field, crate::error::chain(&e)))
    }

    fn check_tag_and_platforms(&self, raw: &RawRecipe) -> Result<(), RecipeError> {
        if raw.tag.trim().is_empty() {
            return Err(self.semantic("tag", "must name the document's tag, e.g. `demo:latest`"));
        }
        for (i, p) in raw.platforms.iter().enumerate() {
            if raw.platforms[..i].iter().any(|q| q.same(p)) {
                return Err(self.semantic(format!("platforms[{i}]"), format!("`{p}` is listed twice")));
            }
        }
        Ok(())
    }

    fn check_profile(&self, profile: Option<&str>) -> Result<(), RecipeError> {
        let Some(p) = profile else { return Ok(()) };
        if Profile::resolve_release(p).is_ok() {
            return Ok(());
        }
        Err(self.semantic(
            "profile",
            format!(
                "`{p}` is neither a profile ({}) nor a Docker version such as 18.06.1-ce",
                KNOWN_PROFILES.join(", ")
            ),
        ))
    }

    fn source(&self, i: usize, s: RawSource) -> Result<Source, RecipeError> {
        let field = |name: &str| format!("sources[{i}].{name}");
        self.check_reference(&field("for"), &s.reference)?;
        let origin = self.origin(i, &s)?;
        let context = !s.reference.starts_with("sha256:");
        if !context && (s.mtime.is_some() || s.mtimes.is_some()) {
            let which = if s.mtime.is_some() { "mtime" } else { "mtimes" };
            return Err(self.semantic(
                field(which),
                "only a `file:`, `dir:` or `multi:` source has build-context mtimes; a layer keeps its own",
            ));
        }
        let mtime = s.mtime.as_ref().map(|v| self.mtime(field("mtime"), v)).transpose()?;
        let mtimes = s
            .mtimes
            .iter()
            .flatten()
            .map(|(k, v)| {
                Ok((
                    k.trim_matches('/').to_string(),
                    self.mtime(field(&format!("mtimes.{k}")), v)?,
                ))
            })
            .collect::<Result<_, RecipeError>>()?;
        Ok(Source {
            reference: s.reference,
            platform: s.platform,
            origin,
            mtime,
            mtimes,
        })
    }

    fn check_reference(&self, field: &str, reference: &str) -> Result<(), RecipeError> {
        let hashed = ["file:", "dir:", "multi:"]
            .iter()
            .find_map(|k| reference.strip_prefix(k));
        match hashed {
            Some(hex) => Digest::from_hex(hex).map(|_| ()).map_err(|e| self.semantic(field, crate::error::chain(&e))),
            None => reference.parse::<Digest>().map(|_| ()).map_err(|_| {
                self.semantic(
                    field,
                    format!("`{reference}` is neither `file:<hex>`, `dir:<hex>`, `multi:<hex>` nor a layer digest `sha256:<hex>`"),
                )
            }),
        }
    }

    fn mtime(&self, field: String, value: &yaml_serde::Value) -> Result<i64, RecipeError> {
        parse_mtime(value).ok_or_else(|| {
            self.semantic(
                field,
                "must be an RFC 3339 time (`2024-01-01T00:00:00Z`) or whole seconds since the epoch",
            )
        })
    }

    /// The one origin a source names, checked against what its reference can come from.
    fn origin(&self, i: usize, s: &RawSource) -> Result<Origin, RecipeError> {
        let kinds: Vec<&str> = [
            ("path", s.path.is_some()),
            ("paths", s.paths.is_some()),
            ("stage", s.stage.is_some()),
            ("url", s.url.is_some()),
            ("registry", s.registry.is_some()),
            ("oci_layout", s.oci_layout.is_some()),
            ("docker_archive", s.docker_archive.is_some()),
        ]
        .iter()
        .filter(|(_, set)| *set)
        .map(|(k, _)| *k)
        .collect();
        let [kind] = kinds.as_slice() else {
            let msg = if kinds.is_empty() {
                "needs exactly one origin: path, paths, stage, url, registry, oci_layout or docker_archive".to_string()
            } else {
                format!("has {} origins ({}); give exactly one", kinds.len(), kinds.join(", "))
            };
            return Err(self.semantic(format!("sources[{i}]"), msg));
        };
        let multi = s.reference.starts_with("multi:");
        let stage_paths = s.stage_paths.as_ref().map_or(0, Vec::len);
        let problem = match *kind {
            "paths" if !multi => Some(("paths", "lists the sources of a `multi:` COPY; a `file:` or `dir:` source takes `path:`")),
            "stage" if stage_paths == 0 => Some(("stage_paths", "a `stage:` source names the COPY's sources inside the stage, e.g. `stage_paths: [/bin/app]`")),
            "stage" if !multi && stage_paths != 1 => Some(("stage_paths", "a `file:` or `dir:` source from a stage names exactly one path; several make a `multi:` source")),
            "paths" | "stage" => None,
            _ if multi => Some(("for", "a `multi:` source is given as `paths:` (one per COPY source, in order) or as a `stage:` with `stage_paths:`")),
            _ if stage_paths > 0 => Some(("stage_paths", "needs `stage:`, the directory standing for the stage's root")),
            _ => None,
        };
        if let Some((name, message)) = problem {
            return Err(self.semantic(format!("sources[{i}].{name}"), message));
        }
        self.origin_of_kind(i, kind, s)
    }

    fn origin_of_kind(&self, i: usize, kind: &str, s: &RawSource) -> Result<Origin, RecipeError> {
        let field = |name: &str| format!("sources[{i}].{name}");
        let need = |value: Option<Digest>, name: &str, why: &str| value.ok_or_else(|| self.semantic(field(name), why));
        Ok(match kind {
            "path" => Origin::Path(self.abs(s.path.as_deref().unwrap_or(Path::new("")))),
            "paths" => Origin::Paths(s.paths.iter().flatten().map(|p| self.abs(p)).collect()),
            "stage" => Origin::Stage {
                root: self.abs(s.stage.as_deref().unwrap_or(Path::new(""))),
                paths: s.stage_paths.clone().unwrap_or_default(),
            },
            "url" => Origin::Url {
                url: s.url.clone().unwrap_or_default(),
                sha256: match s.sha256.as_deref() {
                    Some(text) => Some(self.sha(field("sha256"), text)?),
                    None if s.reference.starts_with("file:") => None,
                    None => return Err(self.semantic(
                        field("sha256"),
                        "a url source must be pinned by its sha256 (only `file:` sources are pinned by the document)",
                    )),
                },
            },
            "registry" => Origin::RegistryBlob {
                repository: s.registry.clone().unwrap_or_default(),
                digest: need(s.blob, "blob", "a registry source needs the `blob` digest to fetch")?,
            },
            "oci_layout" => Origin::OciLayout {
                path: self.abs(s.oci_layout.as_deref().unwrap_or(Path::new(""))),
                digest: need(
                    s.blob.or(s.diff_id),
                    "diff_id",
                    "an oci_layout source needs the layer's `diff_id` or `blob`",
                )?,
            },
            _ => Origin::DockerArchive {
                path: self.abs(s.docker_archive.as_deref().unwrap_or(Path::new(""))),
                diff_id: need(
                    s.diff_id,
                    "diff_id",
                    "a docker_archive source needs the layer's `diff_id`",
                )?,
            },
        })
    }

    fn downloads(&self, raw: Vec<RawDownload>, network: Option<Network>) -> Result<Vec<Download>, RecipeError> {
        let mut downloads = Vec::new();
        for (i, d) in raw.into_iter().enumerate() {
            let field = format!("downloads[{i}].url");
            if d.url.starts_with("https://") {
                return Err(self.semantic(
                    field,
                    format!(
                        "`{}`: RUN steps get downloads through an HTTP proxy, and an https fetch reaches a proxy as an encrypted tunnel it cannot answer from the cache; only http:// URLs can be served",
                        d.url
                    ),
                ));
            }
            if !d.url.starts_with("http://") {
                return Err(self.semantic(field, format!("`{}` is not an http:// URL", d.url)));
            }
            if matches!(network, Some(Network::None)) {
                return Err(self.semantic(
                    "downloads",
                    "RUN steps reach the download proxy over the bridge network, which `network: none` removes; use `network: bridge` (the default)",
                ));
            }
            downloads.push(Download {
                sha256: self.sha(format!("downloads[{i}].sha256"), &d.sha256)?,
                url: d.url,
            });
        }
        Ok(downloads)
    }

    fn endpoints(&self, raw: Vec<RawEndpoint>) -> Result<Vec<Endpoint>, RecipeError> {
        raw.into_iter()
            .enumerate()
            .map(|(i, e)| {
                if !["unix://", "tcp://", "http://"].iter().any(|s| e.host.starts_with(s)) {
                    return Err(self.semantic(
                        format!("endpoints[{i}].host"),
                        format!("`{}` must start with unix://, tcp:// or http://", e.host),
                    ));
                }
                Ok(Endpoint {
                    host: e.host,
                    platforms: e.platforms,
                })
            })
            .collect()
    }
}

/// `~/` at the start of a path means the user's home, as in a shell.
fn expand_home(p: &Path) -> PathBuf {
    match (p.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => p.to_path_buf(),
    }
}

/// `recipes/../retrace-out` as `retrace-out`: `..` cancels the component before it when that is
/// a plain name, so paths in messages read as the user would write them. Lexical only (a symlinked
/// directory followed by `..` is the one case this reads differently from the file system, and
/// recipes name project directories, not symlinks).
fn lexically_normal(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component> = Vec::new();
    for c in path.components() {
        match (c, out.last()) {
            (Component::CurDir, _) => {}
            (Component::ParentDir, Some(Component::Normal(_))) => {
                out.pop();
            }
            _ => out.push(c),
        }
    }
    if out.is_empty() {
        PathBuf::from(".")
    } else {
        out.iter().collect()
    }
}

fn default_cache_dir() -> PathBuf {
    match std::env::var_os("XDG_CACHE_HOME")
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache").into()))
    {
        Some(c) => PathBuf::from(c).join("retrace"),
        None => PathBuf::from(".retrace-cache"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_read_from_the_recipe_and_shown_without_dot_dot() {
        let r = parse(
            "document: ../testdata/demo/demo.md\ntag: a:b\noutput: ../retrace-out/demo\n",
            Path::new("recipes/demo.yaml"),
        )
        .unwrap();
        assert_eq!(r.document, Path::new("testdata/demo/demo.md"));
        assert_eq!(r.output.as_deref(), Some(Path::new("retrace-out/demo")));
        assert_eq!(lexically_normal(Path::new("../a/./b/../c")), Path::new("../a/c"));
        assert_eq!(lexically_normal(Path::new("a/..")), Path::new("."));
    }

    #[test]
    fn copy_sources_of_several_files_a_stage_and_per_entry_mtimes() {
        let h = "a".repeat(64);
        let r = parse(
            &format!(
                "document: d.md\ntag: a:b\nsources:\n  - for: multi:{h}\n    paths: [ctx/suid, ctx/sgid]\n  - for: multi:{h}\n    stage: st\n    stage_paths: [/bin2/suid, /etc/passwd]\n  - for: dir:{h}\n    path: ctx/mt\n    mtime: 5\n    mtimes: {{x: 2020-05-05T01:02:03Z, /sub/y: 7}}\n"
            ),
            Path::new("/r/x.yaml"),
        )
        .unwrap();
        assert_eq!(
            r.sources[0].origin,
            Origin::Paths(vec![PathBuf::from("/r/ctx/suid"), PathBuf::from("/r/ctx/sgid")])
        );
        assert_eq!(
            r.sources[1].origin,
            Origin::Stage {
                root: PathBuf::from("/r/st"),
                paths: vec!["/bin2/suid".into(), "/etc/passwd".into()]
            }
        );
        assert_eq!(r.sources[2].mtime, Some(5));
        let want = std::collections::BTreeMap::from([("sub/y".to_string(), 7), ("x".to_string(), 1_588_640_523)]);
        assert_eq!(r.sources[2].mtimes, want);
    }

    #[test]
    fn endpoint_choice_prefers_a_named_platform() {
        let r = parse(
            "document: d.md\ntag: a:b\nendpoints:\n  - host: tcp://arm:2375\n    platforms: [linux/arm64]\n  - host: unix:///x.sock\n",
            Path::new("/r/x.yaml"),
        )
        .unwrap();
        assert_eq!(r.endpoint_for(&"linux/arm64/v8".parse().unwrap()), "tcp://arm:2375");
        assert_eq!(r.endpoint_for(&"linux/s390x".parse().unwrap()), "unix:///x.sock");
        assert_eq!(r.document, PathBuf::from("/r/d.md"));
    }
}
