//! The verdict a build gives each layer. It sits below both the build (which decides it) and the
//! nightly report (which reads it back from `report.json`), so neither imports the other.

use serde::{Deserialize, Serialize};

/// A layer's verdict, as `retrace build` writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The rebuilt layer is byte for byte the published one.
    Match,
    /// It is, once the timestamp search set the entries' mtimes to recovered values.
    MatchAfterTimestamps,
    Differs,
    /// The step that makes it did not run (an earlier step failed, a source is missing, or the
    /// step needs the network and the build is offline).
    NotBuilt,
    /// The recipe supplied the published blob itself (a base layer by its digest): the layer was
    /// taken, not rebuilt, so it proves nothing and is counted apart from rebuilt layers.
    Imported,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Match => "match",
            Verdict::MatchAfterTimestamps => "match-after-timestamps",
            Verdict::Differs => "differs",
            Verdict::NotBuilt => "not-built",
            Verdict::Imported => "imported",
        }
    }

    /// Whether the layer was rebuilt and found to be the published one.
    pub fn is_match(self) -> bool {
        matches!(self, Verdict::Match | Verdict::MatchAfterTimestamps)
    }
}
