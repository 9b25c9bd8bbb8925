//! The `report.json` schema: what `retrace build` found, per platform and layer. The build writes
//! it, `retrace report` reads it into its summary and `retrace diff` reads it to find a build
//! output's rebuilt layers, all through these types. The module sits below all three, next to
//! [`Verdict`], so none of them imports another for it.
//!
//! The causes of a difference ([`Cause`], [`PackageChange`]) live here too: `diff` finds them and
//! the build records them, and as part of the file's vocabulary they are plain data that any stage
//! may hold without importing the stage that computes them.
//!
//! Reading is tolerant in both directions: a field a report.json from an earlier retrace lacks
//! takes its default (only the recipe, the platforms and each layer's index, expected digest and
//! verdict were always written), and a field this retrace does not know is ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
pub use crate::verdict::Verdict;

/// The original mtimes the timestamp search recovered, by path, as RFC 3339 times.
pub type Recovered = BTreeMap<String, String>;

/// One layer's row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerReport {
    /// 1-based, in document order.
    pub index: usize,
    #[serde(default)]
    pub step: String,
    pub expected: Digest,
    /// The blob the build output's OCI layout holds for this layer: for `match` and
    /// `match-after-timestamps`, the one whose sha256 is the published digest.
    #[serde(default)]
    pub rebuilt: Option<Digest>,
    /// The blob the replay itself wrote, when a builder variant, recovered dates or recovered
    /// mtimes were needed to turn it into `rebuilt`: kept apart from the layout, under
    /// `replayed/blobs/sha256/` in the build output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replayed: Option<Digest>,
    pub verdict: Verdict,
    #[serde(default)]
    pub reason: String,
    /// For a layer that still differs: what the comparison with the published layer found.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<Cause>,
    /// For `match-after-timestamps`: the original mtime of every entry the replay re-timed, as the
    /// search recovered it (`rebuilt` has them, `replayed` the replay's own times).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub recovered_mtimes: Recovered,
    /// Dates written into files (`/etc/shadow` last-change days) set back to the recorded step's
    /// day before the comparison, by path.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub recovered_dates: BTreeMap<String, String>,
    /// The builder variant the published layer matched with (`plain`, `opaque-new-dirs`), so a
    /// nightly run learns which quirks a platform's builder had.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Every builder variant tried on a layer that did not match as committed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants_tried: Vec<String>,
    /// The build-context mode (`0664`) under which the step's `file:` source hashed to the
    /// document's hash: the builder's umask, which the source's own mode need not show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_mode: Option<String>,
}

/// One input a platform's replay read, by content: what `retrace build --from-record` must find
/// again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRecord {
    /// The step that read it, by its position in the history as the platform's log numbers it.
    pub step: usize,
    /// The document's name for it: `file:<hex>`, `dir:<hex>`, `multi:<hex>`, a layer digest.
    pub reference: String,
    /// Its content: `sha256:<hex>` of a file (with the context mode its hash was verified under),
    /// `tree:sha256:<hex>` of a directory's files, modes and times, a layer's diff_id.
    pub content: String,
    /// Where this build found it (a path, or the published blob's origin).
    pub origin: String,
}

/// A file the build read, by path and sha256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    pub path: String,
    pub sha256: Digest,
}

/// A download the recipe pins for RUN steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadRecord {
    pub url: String,
    pub sha256: Digest,
}

/// What the build was made from, like a `.buildinfo`: the recipe and document by sha256, the
/// options that change what is built, and the downloads; each platform adds its engine, profile
/// and inputs. `retrace build --from-record` redoes the build from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildRecord {
    /// The retrace version that built.
    pub retrace: String,
    /// The recipe and the document; absent when the build was not given them as files (a library
    /// caller's recipe made in memory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe: Option<FileRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<FileRecord>,
    /// The platforms built, in the `--platform` form.
    pub platforms: Vec<String>,
    pub offline: bool,
    /// The `--inputs` directories.
    #[serde(default)]
    pub inputs: Vec<String>,
    pub search_candidates: u64,
    #[serde(default)]
    pub downloads: Vec<DownloadRecord>,
}

/// One platform's rows and how its replay went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlatformReport {
    pub platform: String,
    pub layers: Vec<LayerReport>,
    /// The Docker Engine version that replayed the platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// The layer byte profile the blobs were written with (`docker-18.06`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Every input the replay read, by content.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<InputRecord>,
    /// Why the platform stopped early, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why the platform stopped without an error (a step that needs the network, offline): its
    /// remaining layers are `not-built`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// Wall-clock seconds the platform's replay took.
    #[serde(default)]
    pub seconds: f64,
    /// How many layer-making steps were taken from the build cache.
    #[serde(default)]
    pub cached_steps: usize,
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub recipe: String,
    pub platforms: Vec<PlatformReport>,
    /// Build-wide notes: downloads that could not be had, a proxy that could not start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// What the build was made from (absent in reports of an earlier retrace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<BuildRecord>,
    /// One line per platform for a terminal without progress bars (CI logs, pipes); not part of
    /// the file.
    #[serde(skip)]
    pub lines: Vec<String>,
}

/// One cause found for a differing layer; a layer may have several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "cause")]
pub enum Cause {
    /// The tar streams are the same; only the compressed bytes differ.
    CompressionOnly,
    /// Same files, same contents; only modification times differ.
    OnlyTimestamps { paths: usize },
    /// Package databases list different versions.
    PackageVersions { packages: Vec<PackageChange> },
    /// Files whose differing content looks like an embedded date or time (or `.pyc` headers).
    EmbeddedTime { paths: Vec<String> },
    /// Files the published layer has and the rebuilt one lacks.
    MissingFiles { paths: Vec<String> },
    /// Files the rebuilt layer has and the published one lacks.
    ExtraFiles { paths: Vec<String> },
    /// Contents differ for no reason found above.
    ContentDiffers { paths: Vec<String> },
    /// Modes, owners, link targets, xattrs or header encoding differ.
    MetadataDiffers { paths: Vec<String> },
}

/// A package whose version differs between two package databases (absent = `None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageChange {
    pub name: String,
    pub a: Option<String>,
    pub b: Option<String>,
}

/// Why a report.json could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReportJsonError {
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: larger than {limit} bytes; not a report.json retrace wrote", path.display())]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("{}: line {line}, column {column}: {message}", path.display())]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

/// The most bytes of report.json read: a build of a thousand layers writes well under 1 MiB.
pub const MAX_REPORT_BYTES: u64 = 16 << 20;

impl Report {
    /// Reads the report.json at `path`.
    pub fn read(path: &Path) -> Result<Report, ReportJsonError> {
        Report::parse(&read_bounded(path)?, path)
    }

    /// Parses report.json's bytes; `path` names them in an error.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Report, ReportJsonError> {
        serde_json::from_slice(bytes).map_err(|e| ReportJsonError::Json {
            path: path.into(),
            line: e.line(),
            column: e.column(),
            message: json_message(&e),
        })
    }

    /// The file's bytes, pretty-printed as the build has always written them.
    pub fn to_json(&self) -> Vec<u8> {
        // Plain data with string map keys (serde_json writes a non-finite float as `null`), so
        // serializing cannot fail.
        serde_json::to_vec_pretty(self).expect("a build report serializes")
    }
}

/// The bytes of a report.json (or of the `verify.json` beside it), refused before reading when
/// larger than [`MAX_REPORT_BYTES`].
pub fn read_bounded(path: &Path) -> Result<Vec<u8>, ReportJsonError> {
    let io = |source| ReportJsonError::Io {
        path: path.into(),
        source,
    };
    // Only a regular file is read, and never past the limit, whatever its length claims.
    crate::fsutil::read_regular(path, MAX_REPORT_BYTES).map_err(|e| match e.kind() {
        std::io::ErrorKind::FileTooLarge => ReportJsonError::TooLarge {
            path: path.into(),
            limit: MAX_REPORT_BYTES,
        },
        _ => io(e),
    })
}

/// The file beside report.json where `retrace verify` records what it found.
pub const VERIFY_FILE: &str = "verify.json";

/// What `retrace verify` last found for a build output (`verify.json`), which `retrace report`
/// shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    /// sha256 of the report.json checked: a report changed since makes the record stale.
    pub report: Digest,
    /// The document whose digests were the published ones; none: report.json's `expected`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<String>,
    /// Rebuilt layers and platform images checked.
    #[serde(default)]
    pub layers: usize,
    #[serde(default)]
    pub images: usize,
    /// The first claim that did not hold; none when all held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub false_claim: Option<String>,
}

impl Verification {
    /// Writes the record into the build output `dir`, replacing an earlier one.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        // Plain data with string map keys, so serializing cannot fail.
        let json = serde_json::to_vec_pretty(self).expect("a verification serializes");
        crate::fsutil::write_atomic(&dir.join(VERIFY_FILE), |w| {
            std::io::Write::write_all(w, &json)?;
            std::io::Write::write_all(w, b"\n")
        })
    }

    /// One line on whether the build output `dir` was verified: never, successfully, with a false
    /// claim, or before its report.json last changed.
    pub fn status(dir: &Path) -> String {
        let path = dir.join(VERIFY_FILE);
        if !path.exists() {
            return "not verified (retrace verify)".into();
        }
        let record = read_bounded(&path).and_then(|bytes| {
            serde_json::from_slice::<Verification>(&bytes).map_err(|e| ReportJsonError::Json {
                line: e.line(),
                column: e.column(),
                message: json_message(&e),
                path: path.clone(),
            })
        });
        let record = match record {
            Ok(r) => r,
            Err(e) => return format!("verification unreadable: {}", crate::error::Chain(&e)),
        };
        let report = read_bounded(&dir.join("report.json")).map(|b| Digest::of(&b));
        if report.ok() != Some(record.report) {
            return "verification stale: report.json changed since retrace verify".into();
        }
        let against = record.document.as_deref().unwrap_or("report.json's expected digests");
        match &record.false_claim {
            None => format!(
                "verified against {against}: {} rebuilt layers, {} platform image(s)",
                record.layers, record.images
            ),
            Some(claim) => format!("verification failed: {claim}"),
        }
    }
}

/// serde_json's message without the " at line L column C" it appends, since the error states
/// them itself.
pub(crate) fn json_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_string()
}
