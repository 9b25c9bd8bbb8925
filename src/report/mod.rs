//! `retrace report BUILD_DIR...`: the nightly summary over one or more `retrace build` outputs.
//!
//! Each build dir holds a `report.json` (recipe, platforms, per-layer verdicts). The summary keeps
//! every layer's verdict, totals per platform, build and overall, and, given the `--json` output of
//! an earlier run, which layers changed verdict since. It renders as text (stdout), JSON, JUnit XML
//! (one testcase per layer: differs = failure, not-built = skipped) and one self-contained HTML
//! page with a layer grid per platform.

mod html;
mod junit;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fsutil::write_atomic;

pub use html::render_html;
pub use junit::render_junit;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: line {line}, column {column}: {message}")]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(transparent)]
    Build(#[from] crate::report_json::ReportJsonError),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io {
        path: path.into(),
        source,
    }
}

pub use crate::verdict::Verdict;

/// One layer row of the summary: the part of a build's report.json row the summary keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRow {
    pub index: usize,
    #[serde(default)]
    pub step: String,
    #[serde(default)]
    pub expected: Option<String>,
    #[serde(default)]
    pub rebuilt: Option<String>,
    pub verdict: Verdict,
    #[serde(default)]
    pub reason: String,
}

impl From<crate::report_json::LayerReport> for LayerRow {
    fn from(l: crate::report_json::LayerReport) -> LayerRow {
        LayerRow {
            index: l.index,
            step: l.step,
            expected: Some(l.expected.to_string()),
            rebuilt: l.rebuilt.map(|d| d.to_string()),
            verdict: l.verdict,
            reason: l.reason,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub layers: u32,
    #[serde(rename = "match")]
    pub matched: u32,
    pub match_after_timestamps: u32,
    pub differs: u32,
    pub not_built: u32,
    /// Layers taken from a published blob, not rebuilt (absent in summaries written before).
    #[serde(default)]
    pub imported: u32,
}

impl Totals {
    fn add(&mut self, v: Verdict) {
        self.layers += 1;
        match v {
            Verdict::Match => self.matched += 1,
            Verdict::MatchAfterTimestamps => self.match_after_timestamps += 1,
            Verdict::Differs => self.differs += 1,
            Verdict::NotBuilt => self.not_built += 1,
            Verdict::Imported => self.imported += 1,
        }
    }

    fn merge(&mut self, o: &Totals) {
        self.layers += o.layers;
        self.matched += o.matched;
        self.match_after_timestamps += o.match_after_timestamps;
        self.differs += o.differs;
        self.not_built += o.not_built;
        self.imported += o.imported;
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformSummary {
    pub platform: String,
    pub totals: Totals,
    pub layers: Vec<LayerRow>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildSummary {
    pub recipe: String,
    /// The build dir as given on the command line.
    pub dir: String,
    pub totals: Totals,
    pub platforms: Vec<PlatformSummary>,
    /// Whether `retrace verify` checked the build output, and what it found (a build dir only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<String>,
}

/// A layer whose verdict is not what the previous summary said (`None`: absent then or now).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerdictChange {
    pub recipe: String,
    pub platform: String,
    pub index: usize,
    pub step: String,
    pub before: Option<Verdict>,
    pub after: Option<Verdict>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub totals: Totals,
    pub builds: Vec<BuildSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_totals: Option<Totals>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<Vec<VerdictChange>>,
}

impl Summary {
    /// 0 when no built layer differs, 1 otherwise; not-built layers were not checked and count as
    /// skipped, as in the JUnit output.
    pub fn outcome(&self) -> crate::Outcome {
        if self.totals.differs == 0 {
            crate::Outcome::Match
        } else {
            crate::Outcome::Differ
        }
    }
}

/// Where to write the renderings besides the text on stdout.
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    pub junit: Option<PathBuf>,
    pub html: Option<PathBuf>,
    pub json: Option<PathBuf>,
    pub previous: Option<PathBuf>,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ReportError> {
    // A previous summary is what this command wrote from a report.json, so it is smaller.
    let bytes = crate::fsutil::read_regular(path, crate::report_json::MAX_REPORT_BYTES).map_err(io_err(path))?;
    serde_json::from_slice(&bytes).map_err(|e| ReportError::Json {
        path: path.into(),
        line: e.line(),
        column: e.column(),
        message: crate::report_json::json_message(&e),
    })
}

/// Reads one build dir (or a report.json path) into its summary.
pub fn load_build(dir: &Path) -> Result<BuildSummary, ReportError> {
    let path = if dir.is_dir() {
        dir.join("report.json")
    } else {
        dir.to_path_buf()
    };
    let report = crate::report_json::Report::read(&path)?;
    let mut totals = Totals::default();
    let platforms = report
        .platforms
        .into_iter()
        .map(|p| {
            let mut t = Totals::default();
            let mut layers: Vec<LayerRow> = p.layers.into_iter().map(LayerRow::from).collect();
            layers.sort_by_key(|l| l.index);
            for l in &layers {
                t.add(l.verdict);
            }
            totals.merge(&t);
            PlatformSummary {
                platform: p.platform,
                totals: t,
                layers,
            }
        })
        .collect();
    Ok(BuildSummary {
        recipe: report.recipe,
        dir: dir.display().to_string(),
        totals,
        platforms,
        verification: dir.is_dir().then(|| crate::report_json::Verification::status(dir)),
    })
}

type Key = (String, String, usize);

fn verdicts(s: &Summary) -> BTreeMap<Key, (Verdict, String)> {
    let mut out = BTreeMap::new();
    for b in &s.builds {
        for p in &b.platforms {
            for l in &p.layers {
                out.insert(
                    (b.recipe.clone(), p.platform.clone(), l.index),
                    (l.verdict, l.step.clone()),
                );
            }
        }
    }
    out
}

/// Builds the summary of `builds`, compared with `previous` when given.
pub fn summarize(builds: Vec<BuildSummary>, previous: Option<&Summary>) -> Summary {
    let mut totals = Totals::default();
    for b in &builds {
        totals.merge(&b.totals);
    }
    let mut summary = Summary {
        totals,
        builds,
        previous_totals: None,
        changes: None,
    };
    if let Some(prev) = previous {
        let (before, after) = (verdicts(prev), verdicts(&summary));
        let mut keys: Vec<&Key> = before.keys().chain(after.keys()).collect();
        keys.sort();
        keys.dedup();
        let changes = keys
            .into_iter()
            .filter_map(|k| {
                let b = before.get(k);
                let a = after.get(k);
                (b.map(|x| x.0) != a.map(|x| x.0)).then(|| VerdictChange {
                    recipe: k.0.clone(),
                    platform: k.1.clone(),
                    index: k.2,
                    step: a.or(b).map(|x| x.1.clone()).unwrap_or_default(),
                    before: b.map(|x| x.0),
                    after: a.map(|x| x.0),
                })
            })
            .collect();
        summary.previous_totals = Some(prev.totals.clone());
        summary.changes = Some(changes);
    }
    summary
}

/// Runs `retrace report`: loads the builds and the previous summary, writes every requested
/// rendering atomically, and returns the summary for the text on stdout.
pub fn report(dirs: &[PathBuf], out: &Outputs) -> Result<Summary, ReportError> {
    let builds = dirs.iter().map(|d| load_build(d)).collect::<Result<Vec<_>, _>>()?;
    let previous: Option<Summary> = out.previous.as_deref().map(read_json).transpose()?;
    let summary = summarize(builds, previous.as_ref());
    let write = |path: &Path, text: String| write_atomic(path, |w| w.write_all(text.as_bytes())).map_err(io_err(path));
    if let Some(p) = &out.json {
        write(p, render_json(&summary))?;
    }
    if let Some(p) = &out.junit {
        write(p, render_junit(&summary))?;
    }
    if let Some(dir) = &out.html {
        write(&dir.join("index.html"), render_html(&summary))?;
    }
    Ok(summary)
}

pub fn render_json(s: &Summary) -> String {
    // The summary is plain data with string map keys, so it always serializes.
    let mut t = serde_json::to_string_pretty(s).expect("summary serializes");
    t.push('\n');
    t
}

fn totals_line(t: &Totals) -> String {
    format!(
        "{} layers: {} match, {} match after timestamps, {} differ, {} not built, {} imported (not rebuilt)",
        t.layers, t.matched, t.match_after_timestamps, t.differs, t.not_built, t.imported
    )
}

/// The summary as text for a terminal. Every text from report.json or the previous summary goes
/// through [`crate::escape::terminal`], so none can hold a control character that moves the cursor or
/// forges a line.
pub fn render_text(s: &Summary) -> String {
    let t = crate::escape::terminal;
    let mut out = String::new();
    for b in &s.builds {
        let _ = writeln!(out, "{} ({})", t(&b.recipe), t(&b.dir));
        if let Some(v) = &b.verification {
            let _ = writeln!(out, "  {}", t(&v.to_string()));
        }
        for p in &b.platforms {
            let _ = writeln!(out, "  {}: {}", t(&p.platform), totals_line(&p.totals));
            for l in &p.layers {
                let reason = if l.reason.is_empty() {
                    String::new()
                } else {
                    format!("  ({})", t(&l.reason))
                };
                let _ = writeln!(
                    out,
                    "    {:>3} {:<22} {}{reason}",
                    l.index,
                    l.verdict.as_str(),
                    t(&l.step)
                );
            }
        }
    }
    let _ = writeln!(out, "total: {}", totals_line(&s.totals));
    if let (Some(prev), Some(changes)) = (&s.previous_totals, &s.changes) {
        let _ = writeln!(out, "previous: {}", totals_line(prev));
        if changes.is_empty() {
            let _ = writeln!(out, "no verdict changed since the previous report");
        }
        for c in changes {
            let v = |v: Option<Verdict>| v.map(Verdict::as_str).unwrap_or("(absent)");
            let _ = writeln!(
                out,
                "changed: {} {} layer {}: {} -> {}  {}",
                t(&c.recipe),
                t(&c.platform),
                c.index,
                v(c.before),
                v(c.after),
                t(&c.step)
            );
        }
    }
    out
}

#[cfg(test)]
mod tests;
