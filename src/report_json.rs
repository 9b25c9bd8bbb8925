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
    #[serde(default)]
    pub rebuilt: Option<Digest>,
    pub verdict: Verdict,
    #[serde(default)]
    pub reason: String,
    /// For a layer that still differs: what the comparison with the published layer found.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<Cause>,
    /// For `match-after-timestamps`: the original mtime of every entry the replay re-timed, as the
    /// search recovered it (the rebuilt blob keeps the replay's own times).
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

/// One platform's rows and how its replay went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlatformReport {
    pub platform: String,
    pub layers: Vec<LayerReport>,
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
        let io = |source| ReportJsonError::Io {
            path: path.into(),
            source,
        };
        let bytes = crate::fsutil::read_regular(path, MAX_REPORT_BYTES).map_err(|e| match e.kind() {
            std::io::ErrorKind::FileTooLarge => ReportJsonError::TooLarge {
                path: path.into(),
                limit: MAX_REPORT_BYTES,
            },
            _ => io(e),
        })?;
        Report::parse(&bytes, path)
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

/// serde_json's message without the " at line L column C" it appends, since the error states
/// them itself.
pub(crate) fn json_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_string()
}
