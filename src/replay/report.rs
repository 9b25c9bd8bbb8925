//! What a build found, per platform and layer: the build's side of the `report.json` types
//! ([`crate::report_json`], which `retrace report` and `retrace diff` read back), and the table
//! printed from them.

use crate::digest::Digest;

pub use crate::report_json::{LayerReport, PlatformReport, Report, Verdict};

impl LayerReport {
    /// A layer not built (yet): the verdict and reason are filled in by whoever builds it.
    pub fn new(slot: crate::plan::LayerSlot, step: String) -> LayerReport {
        LayerReport {
            index: slot.index,
            step,
            expected: slot.expected,
            rebuilt: None,
            replayed: None,
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

impl LayerReport {
    /// Takes the verdict [`super::check`] decided, with what explains it.
    pub fn record(&mut self, checked: super::check::Checked) {
        self.verdict = checked.verdict;
        self.reason = checked.reason;
        self.variant = checked.variant;
        self.variants_tried = checked.tried;
        self.recovered_mtimes = checked.recovered_mtimes;
        self.recovered_dates = checked.recovered_dates;
    }
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
