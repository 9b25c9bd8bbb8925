//! What a build found, per platform and layer: written as `report.json` and printed as a table.

use serde::Serialize;

use crate::digest::Digest;

/// The verdict vocabulary is the one `retrace report` reads back, so both sides share one type.
pub use crate::verdict::Verdict;

#[derive(Debug, Clone, Serialize)]
pub struct LayerReport {
    /// 1-based, in document order.
    pub index: usize,
    pub step: String,
    pub expected: Digest,
    pub rebuilt: Option<Digest>,
    pub verdict: Verdict,
    pub reason: String,
    /// For a layer that still differs: what the comparison with the published layer found.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<crate::diff::cause::Cause>,
    /// For `match-after-timestamps`: the original mtime of every entry the replay re-timed, as the
    /// search recovered it (the rebuilt blob keeps the replay's own times).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub recovered_mtimes: super::layers::Recovered,
    /// Dates written into files (`/etc/shadow` last-change days) set back to the recorded step's
    /// day before the comparison, by path.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub recovered_dates: std::collections::BTreeMap<String, String>,
    /// The builder variant the published layer matched with (`plain`, `opaque-new-dirs`), so a
    /// nightly run learns which quirks a platform's builder had.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Every builder variant tried on a layer that did not match as committed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub variants_tried: Vec<String>,
    /// The build-context mode (`0664`) under which the step's `file:` source hashed to the
    /// document's hash: the builder's umask, which the source's own mode need not show.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_mode: Option<String>,
}

impl LayerReport {
    /// A layer not built (yet): the verdict and reason are filled in by whoever builds it.
    pub fn new(slot: crate::plan::LayerSlot, step: String) -> LayerReport {
        LayerReport {
            index: slot.index,
            step,
            expected: slot.expected,
            rebuilt: None,
            verdict: Verdict::NotBuilt,
            reason: String::new(),
            causes: Vec::new(),
            recovered_mtimes: Default::default(),
            recovered_dates: Default::default(),
            variant: None,
            variants_tried: Vec::new(),
            context_mode: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PlatformReport {
    pub platform: String,
    pub layers: Vec<LayerReport>,
    /// Why the platform stopped early, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why the platform stopped without an error (a step that needs the network, offline): its
    /// remaining layers are `not-built`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// Wall-clock seconds the platform's replay took.
    pub seconds: f64,
    /// How many layer-making steps were taken from the build cache.
    pub cached_steps: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub recipe: String,
    pub platforms: Vec<PlatformReport>,
    /// Build-wide notes: downloads that could not be had, a proxy that could not start.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// One line per platform for a terminal without progress bars (CI logs, pipes).
    #[serde(skip)]
    pub lines: Vec<String>,
}

impl Report {
    pub fn any_error(&self) -> bool {
        self.platforms.iter().any(|p| p.error.is_some())
    }

    /// Whether some layer differs or was not built (exit 1): imported layers were not checked,
    /// so they neither pass nor fail.
    pub fn any_differs(&self) -> bool {
        self.platforms
            .iter()
            .flat_map(|p| &p.layers)
            .any(|l| matches!(l.verdict, Verdict::Differs | Verdict::NotBuilt))
    }

    /// A fixed-width table: one row per layer, platforms one after another.
    pub fn table(&self) -> String {
        let mut rows = vec![[
            "PLATFORM".to_string(),
            "LAYER".into(),
            "VERDICT".into(),
            "EXPECTED".into(),
            "REBUILT".into(),
            "STEP".into(),
        ]];
        for p in &self.platforms {
            for l in &p.layers {
                rows.push([
                    p.platform.clone(),
                    l.index.to_string(),
                    l.verdict.as_str().to_string(),
                    short(&Some(l.expected)),
                    short(&l.rebuilt),
                    truncate(&l.step, 48),
                ]);
            }
        }
        let mut widths = [0usize; 6];
        for r in &rows {
            for (i, c) in r.iter().enumerate() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
        let mut out = String::new();
        for r in &rows {
            let line: Vec<String> = r
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if i == 5 {
                        c.clone()
                    } else {
                        format!("{:w$}", c, w = widths[i])
                    }
                })
                .collect();
            out.push_str(line.join("  ").trim_end());
            out.push('\n');
        }
        // Below the table, why each layer that differs does: a person reading the terminal should
        // not have to open report.json to learn the cause.
        for p in &self.platforms {
            for l in p.layers.iter().filter(|l| l.verdict == Verdict::Differs) {
                out.push_str(&format!("{} layer {}: {}\n", p.platform, l.index, l.reason));
            }
        }
        for p in &self.platforms {
            if let Some(e) = p.error.as_ref().or(p.stopped.as_ref()) {
                out.push_str(&format!("{}: stopped: {}\n", p.platform, e));
            }
        }
        out
    }
}

fn short(d: &Option<Digest>) -> String {
    match d {
        Some(d) => format!("sha256:{}", &d.hex()[..12]),
        None => "-".into(),
    }
}

/// The first `n` characters of a step on one line (history texts contain TABs and are long).
pub fn truncate(s: &str, n: usize) -> String {
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= n {
        one_line
    } else {
        format!("{}...", one_line.chars().take(n - 3).collect::<String>())
    }
}
