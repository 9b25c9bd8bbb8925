//! Rebuilding the layer of a base `ADD file:<hex> in /` step without an engine.
//!
//! A base layer is an extraction and a tar walk: the source tarball is verified against the
//! recorded `file:` hash, extracted in memory as Docker's `ADD` did ([`untar`]), and written with
//! the tar and gzip conventions of the document's Docker release. Builders of the same release
//! did not always produce the same bytes, so the known builder variants are tried in turn and
//! each trial is reported:
//! - `opaque-init-dirs`: Docker ran ADD in a container whose init layer backs `/`, `/etc` and
//!   `/dev`; on some builders' kernels overlayfs marked every directory newly created directly
//!   inside those opaque, so the layer has a `.wh..wh..opq` entry after each (seed 002 ppc64le).
//! - `go1.7-gzip-header`: a blob first pushed by a daemon built with Go 1.7 or older (and reused
//!   by later pushes) carries Go 1.7's gzip header MTIME (seed 002 386). Releases built with
//!   Go <= 1.7 write it always, so for them it is the profile, not a variant.
//!
//! [`rebuild_base_layer`] is the pure entry point shared by `retrace layer add` and the build
//! driver: it reads only the source file it is given and prints nothing.

pub mod facts;
pub mod untar;

use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::archive::{ArchiveError, Limits};
use crate::deflate::Generation;
use crate::gzip::{self, GO17_HEADER_MTIME};
use crate::layer::filehash::hash_context_headers;
use crate::layer::{write_tar_digest, Entry, EntryKind, Profile, CONTEXT_MODES};
use crate::Digest;

pub use facts::{base_steps, BaseFactsError, BaseStep};

/// Directories of Docker's container init layer that ADD's extraction finds already present, so
/// overlayfs copies them up instead of creating them.
const INIT_LAYER_DIRS: [&str; 6] = ["dev", "dev/pts", "dev/shm", "etc", "proc", "sys"];

/// The parents under which the opaque-marker builders marked new directories.
const OPAQUE_PARENTS: [&str; 3] = ["", "etc", "dev"];

#[derive(Debug, thiserror::Error)]
pub enum AddError {
    #[error("{path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {size} bytes exceeds the limit of {limit} bytes for a base layer source")]
    SourceTooLarge { path: PathBuf, size: u64, limit: u64 },
    #[error(
        "{path} does not hash to file:{expected} as `{name}` with any context mode ({modes}) and owner names `root` or empty"
    )]
    SourceMismatch {
        path: PathBuf,
        name: String,
        expected: String,
        modes: String,
    },
    #[error("{path}")]
    Archive {
        path: PathBuf,
        #[source]
        source: ArchiveError,
    },
    #[error("{path}: writing the layer")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// How the source matched its recorded hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceMatch {
    /// The name hashed (the source's path relative to the build context).
    pub name: String,
    /// The context mode that gave the hash, in octal.
    pub mode: String,
    /// The owner name the client sent (`root` or empty).
    pub owner_name: String,
}

/// One written candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trial {
    pub profile: String,
    pub variant: String,
    pub digest: Digest,
    pub diff_id: Digest,
    pub matched: bool,
}

/// The result of rebuilding a base layer. When nothing matched, `digest`, `diff_id`, `profile`,
/// `variant` and `blob` are those of the first trial (the release's plain output).
#[derive(Debug, Clone, Serialize)]
pub struct AddOutcome {
    pub matched: bool,
    pub expected: Digest,
    pub digest: Digest,
    pub diff_id: Digest,
    pub size: u64,
    pub profile: String,
    pub variant: String,
    pub tried: Vec<Trial>,
    pub source: SourceMatch,
    /// Parent directories the tarball did not list; their mtime was the extraction time, which
    /// no document records.
    pub implicit_dirs: Vec<String>,
    pub seconds: f64,
    /// The reported blob's bytes.
    #[serde(skip)]
    pub blob: Vec<u8>,
}

/// What the caller may choose about a rebuild.
#[derive(Debug, Clone)]
pub struct AddOptions {
    /// The source's path relative to the build context, as hashed; default: its file name.
    pub name: Option<String>,
    /// Bounds of the source and its extraction. The extracted tree, its tar and the blob are held
    /// in memory, so the default bounds the uncompressed tar (and the source) to 2 GiB, well
    /// above any base root file system (Debian's is ~125 MB).
    pub limits: Limits,
}

impl Default for AddOptions {
    fn default() -> AddOptions {
        AddOptions {
            name: None,
            limits: Limits {
                max_total_bytes: 2 << 30,
                ..Limits::default()
            },
        }
    }
}

/// Rebuilds the layer `step` made from the source file at `source`: verifies the source against
/// the step's `file:` hash, extracts it as the release's ADD did, and writes it with the release's
/// profile and each known builder variant until one gives `step.expected`. This is the entry point
/// for the build driver's base layers.
pub fn rebuild_base_layer(source: &Path, step: &BaseStep, opts: &AddOptions) -> Result<AddOutcome, AddError> {
    rebuild_base_layer_any(source, std::slice::from_ref(step), opts)
}

/// [`rebuild_base_layer`] for the first of `steps` whose `file:` hash the source gives (a
/// document may list the platform under several tags built from different tarballs).
pub fn rebuild_base_layer_any(source: &Path, steps: &[BaseStep], opts: &AddOptions) -> Result<AddOutcome, AddError> {
    let started = Instant::now();
    let read_error = |e| AddError::Read {
        path: source.to_path_buf(),
        source: e,
    };
    // One open file, read twice as a stream: first to verify, then to extract. The source is
    // never held in memory whole, and what is extracted is what the descriptor verified.
    let mut file = crate::fsutil::open_regular(source).map_err(read_error)?;
    let size = file.metadata().map_err(read_error)?.len();
    if size > opts.limits.max_total_bytes {
        return Err(AddError::SourceTooLarge {
            path: source.to_path_buf(),
            size,
            limit: opts.limits.max_total_bytes,
        });
    }
    let name = opts.name.clone().unwrap_or_else(|| {
        source
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    let hashes = source_hashes(&name, size, &mut file).map_err(read_error)?;
    let (step, profile, source_match) = select_step(source, &name, &hashes, steps)?;
    file.seek(std::io::SeekFrom::Start(0)).map_err(read_error)?;
    let reader = std::io::BufReader::new(file.take(size));
    let (tree, _) =
        untar::untar_read(reader, &opts.limits, step.created.unwrap_or(0)).map_err(|e| AddError::Archive {
            path: source.to_path_buf(),
            source: e,
        })?;
    let plain = tree.entries();
    let found = try_variants(&plain, &profile, step, source)?;
    Ok(AddOutcome {
        matched: found.matched,
        expected: step.expected,
        digest: found.reported.digest,
        diff_id: found.reported.diff_id,
        size: found.blob.len() as u64,
        profile: found.reported.profile,
        variant: found.reported.variant,
        tried: found.tried,
        source: source_match,
        implicit_dirs: tree.implicit_dirs,
        seconds: started.elapsed().as_secs_f64(),
        blob: found.blob,
    })
}

/// The first step the source verifies against, with its release's profile.
fn select_step<'s>(
    source: &Path,
    name: &str,
    hashes: &[SourceHash],
    steps: &'s [BaseStep],
) -> Result<(&'s BaseStep, Profile, SourceMatch), AddError> {
    let mut expected = Vec::new();
    for step in steps {
        // Releases up to 17.06 sent the context with owner names `root`, later ones empty.
        let owner = crate::layer::filehash::ContextConventions::for_profile(&step.profile).owner_name;
        if let Some(m) = matching_source(name, hashes, step, owner) {
            return Ok((step, step.profile.clone(), m));
        }
        expected.push(step.file_hash.hex());
    }
    Err(AddError::SourceMismatch {
        path: source.to_path_buf(),
        name: name.to_string(),
        expected: expected.join(" or file:"),
        modes: CONTEXT_MODES.map(|m| format!("{m:04o}")).join(", "),
    })
}

/// Finds the context mode and owner-name convention under which `content` hashes to the step's
/// `file:` hash, trying the release's own owner-name convention `own` first.
pub fn verify_source(name: &str, content: &[u8], step: &BaseStep, own: &str) -> Option<SourceMatch> {
    let hashes = source_hashes(name, content.len() as u64, &mut &content[..]).ok()?;
    matching_source(name, &hashes, step, own)
}

/// One `file:` hash of a source: under a context mode and an owner name.
#[derive(Debug, Clone, Copy)]
struct SourceHash {
    mode: u32,
    owner: &'static str,
    digest: Digest,
}

/// The `file:` hashes of a source of `size` bytes under every context mode and both owner-name
/// conventions, from one streaming read of `content`.
fn source_hashes(name: &str, size: u64, content: &mut dyn Read) -> std::io::Result<Vec<SourceHash>> {
    let headers: Vec<(u32, &'static str)> = ["", "root"]
        .into_iter()
        .flat_map(|owner| CONTEXT_MODES.map(|mode| (mode, owner)))
        .collect();
    let digests = hash_context_headers(name, &headers, size, content, &mut std::io::sink())?;
    Ok(headers
        .into_iter()
        .zip(digests)
        .map(|((mode, owner), digest)| SourceHash { mode, owner, digest })
        .collect())
}

/// The first (owner, mode) under which the source hashes to the step's `file:` hash, trying the
/// owner name `own` first.
fn matching_source(name: &str, hashes: &[SourceHash], step: &BaseStep, own: &str) -> Option<SourceMatch> {
    let other = if own.is_empty() { "root" } else { "" };
    for owner in [own, other] {
        for mode in CONTEXT_MODES {
            let found = hashes.iter().find(|h| h.owner == owner && h.mode == mode)?;
            if found.digest == step.file_hash {
                return Some(SourceMatch {
                    name: name.to_string(),
                    mode: format!("{mode:04o}"),
                    owner_name: owner.to_string(),
                });
            }
        }
    }
    None
}

/// Marks every directory newly created directly inside `/`, `/etc` or `/dev` opaque, as the
/// overlayfs of the opaque-marker builders did.
fn mark_init_layer_opaque(entries: &mut [Entry]) {
    for e in entries.iter_mut() {
        if e.kind != EntryKind::Dir || INIT_LAYER_DIRS.iter().any(|d| d.as_bytes() == e.path) {
            continue;
        }
        let parent = e
            .path
            .iter()
            .rposition(|&b| b == b'/')
            .map_or(&[][..], |i| &e.path[..i]);
        e.opaque = OPAQUE_PARENTS.iter().any(|p| p.as_bytes() == parent);
    }
}

/// How a blob was compressed: the DEFLATE generation and the gzip header MTIME bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BlobConvention {
    generation: Generation,
    go17_header: bool,
}

/// The blob conventions to try for a profile, its own first: a registry keeps the first push of
/// a blob and later pushes of the same layer reuse it, so a layer may carry the compression of
/// an earlier daemon (seed 002 386: a Go 1.7 header under 17.06; shared/bases s390x 17.06.1: a
/// June 2017 blob with Go 1.6's DEFLATE, as a gccgo-built daemon of that time wrote). Each entry
/// is named by what differs from the profile.
fn blob_conventions(profile: &Profile) -> Vec<(&'static str, BlobConvention)> {
    let own = BlobConvention {
        generation: profile.deflate_generation(),
        go17_header: profile.go17_gzip_header(),
    };
    let go17 = BlobConvention {
        generation: Generation::Go17,
        go17_header: true,
    };
    let go16 = BlobConvention {
        generation: Generation::Go15,
        go17_header: true,
    };
    let mut out = vec![("", own)];
    if own.generation == Generation::Go17 && !own.go17_header {
        out.push(("go1.7-gzip-header", go17));
    }
    if own.generation == Generation::Go17 {
        let name = if own.go17_header {
            "go1.6-deflate"
        } else {
            "go1.6-deflate+go1.7-gzip-header"
        };
        out.push((name, go16));
    }
    out
}

/// Writes the candidates in order and stops at the first that gives the expected digest. Each
/// entry variant's tar is written once and compressed once per DEFLATE generation; header
/// variants only rewrite four bytes. The profile's own DEFLATE is tried on both entry variants
/// before another generation is, so the likelier variants cost fewer compressions.
fn try_variants(plain: &[Entry], profile: &Profile, step: &BaseStep, source: &Path) -> Result<Found, AddError> {
    let mut opaque = plain.to_vec();
    mark_init_layer_opaque(&mut opaque);
    let mut trees = Vec::new();
    for (name, entries) in [("", plain), ("opaque-init-dirs", &opaque[..])] {
        let mut tar = Vec::new();
        let info = write_tar_digest(entries, profile, &mut tar).map_err(|e| AddError::Write {
            path: source.to_path_buf(),
            source: e,
        })?;
        trees.push((name, tar, info.diff_id));
    }
    let conventions = blob_conventions(profile);
    let own = conventions[0].1.generation;
    let mut tried = Vec::new();
    let mut first: Option<(Trial, Vec<u8>)> = None;
    for own_pass in [true, false] {
        for (tree_name, tar, diff_id) in &trees {
            let mut compressed: Option<(Generation, Vec<u8>)> = None;
            for (blob_name, conv) in conventions.iter().filter(|(_, c)| (c.generation == own) == own_pass) {
                // Conventions of one generation are adjacent, so one compression serves them all.
                let mut blob = match &compressed {
                    Some((g, blob)) if *g == conv.generation => blob.clone(),
                    _ => {
                        let blob = gzip::layer_gzip(tar, conv.generation);
                        compressed = Some((conv.generation, blob.clone()));
                        blob
                    }
                };
                if conv.go17_header {
                    gzip::set_header_mtime(&mut blob, GO17_HEADER_MTIME);
                }
                let digest = Digest::of(&blob);
                let variant: Vec<&str> = [*tree_name, blob_name].into_iter().filter(|s| !s.is_empty()).collect();
                let trial = Trial {
                    profile: profile.name().to_string(),
                    variant: if variant.is_empty() {
                        "plain".to_string()
                    } else {
                        variant.join("+")
                    },
                    digest,
                    diff_id: *diff_id,
                    matched: digest == step.expected,
                };
                tried.push(trial.clone());
                if trial.matched {
                    return Ok(Found {
                        matched: true,
                        reported: trial,
                        blob,
                        tried,
                    });
                }
                first.get_or_insert((trial, blob));
            }
        }
    }
    // The two passes together try every convention on both trees, and `conventions` always holds
    // the profile's own (indexed above), so the loop recorded at least one trial.
    let (trial, blob) = first.expect("at least one variant is tried");
    Ok(Found {
        matched: false,
        reported: trial,
        blob,
        tried,
    })
}

/// What the trials found: the matching trial (or the first one) with its blob, and every trial.
struct Found {
    matched: bool,
    reported: Trial,
    blob: Vec<u8>,
    tried: Vec<Trial>,
}

#[cfg(test)]
mod tests;
