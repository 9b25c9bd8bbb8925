//! One self-contained HTML page (inline CSS, no scripts, no external assets) showing each build as
//! a grid: one row per platform, one cell per layer, each cell coloured and labelled with its
//! verdict so it reads at a glance and without colour.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::{BuildSummary, Summary, Totals, Verdict, VerdictChange};
use crate::escape::html as esc;

const STYLE: &str = r#"
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px; color: #1f2328; background: #fff; }
h1 { font-size: 22px; margin: 0 0 12px; }
h2 { font-size: 17px; margin: 28px 0 8px; }
.totals { display: flex; gap: 10px; flex-wrap: wrap; margin: 8px 0 4px; }
.badge { border-radius: 6px; padding: 6px 12px; font-weight: 600; border: 1px solid transparent; }
table.grid { border-collapse: separate; border-spacing: 4px; }
table.grid th { text-align: left; font-weight: 600; padding: 2px 8px 2px 0; white-space: nowrap; }
table.grid th.idx { text-align: center; color: #59636e; font-weight: 500; }
td.cell { width: 116px; height: 40px; white-space: nowrap; border-radius: 6px; text-align: center; vertical-align: middle; font-size: 12px; font-weight: 600; border: 1px solid transparent; }
span.pill { display: inline-block; border-radius: 6px; padding: 2px 8px; font-size: 12px; font-weight: 600; white-space: nowrap; border: 1px solid transparent; }
td.none { background: repeating-linear-gradient(45deg, #f6f8fa, #f6f8fa 4px, #fff 4px, #fff 8px); }
.match { background: #dafbe1; color: #116329; border-color: #4ac26b; }
.match-after-timestamps { background: #ddf4ff; color: #0550ae; border-color: #54aeff; }
.differs { background: #ffebe9; color: #a40e26; border-color: #ff8182; }
.not-built { background: #eaeef2; color: #424a53; border-color: #afb8c1; }
.imported { background: #fbefff; color: #6e40c9; border-color: #d2a8ff; }
table.list { border-collapse: collapse; margin-top: 6px; }
table.list td, table.list th { border-bottom: 1px solid #d1d9e0; padding: 4px 10px 4px 0; text-align: left; vertical-align: top; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; }
.muted { color: #59636e; }
"#;

fn label(v: Verdict) -> &'static str {
    match v {
        Verdict::Match => "\u{2713} match",
        Verdict::MatchAfterTimestamps => "\u{2248} timestamps",
        Verdict::Differs => "\u{2717} differs",
        Verdict::NotBuilt => "\u{2013} not built",
        Verdict::Imported => "\u{2193} imported",
    }
}

fn badges(out: &mut String, t: &Totals) {
    let _ = writeln!(out, "<div class=\"totals\">");
    let _ = writeln!(
        out,
        "<span class=\"badge\" style=\"border-color:#d1d9e0\">{} layers</span>",
        t.layers
    );
    for (v, n, text) in [
        (Verdict::Match, t.matched, "match bit for bit"),
        (
            Verdict::MatchAfterTimestamps,
            t.match_after_timestamps,
            "match after timestamp recovery",
        ),
        (Verdict::Differs, t.differs, "differ"),
        (Verdict::NotBuilt, t.not_built, "not built"),
        (Verdict::Imported, t.imported, "imported, not rebuilt"),
    ] {
        let _ = writeln!(out, "<span class=\"badge {}\">{n} {text}</span>", v.as_str());
    }
    let _ = writeln!(out, "</div>");
}

pub fn render_html(s: &Summary) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>retrace report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>retrace report</h1>\n"
    );
    badges(&mut out, &s.totals);
    if let (Some(prev), Some(changes)) = (&s.previous_totals, &s.changes) {
        since_previous(&mut out, prev, changes);
    }
    for b in &s.builds {
        let _ = writeln!(
            out,
            "<h2>{} <span class=\"muted\">{}</span></h2>",
            esc(&b.recipe),
            esc(&b.dir)
        );
        grid(&mut out, b);
        notable(&mut out, b);
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// The verdicts that changed since the previous report.
fn since_previous(out: &mut String, prev: &Totals, changes: &[VerdictChange]) {
    let _ = writeln!(out, "<h2>Since the previous report</h2>");
    let _ = writeln!(
        out,
        "<p class=\"muted\">Previously {} layers: {} match, {} after timestamps, {} differ, {} not built, {} imported.</p>",
        prev.layers, prev.matched, prev.match_after_timestamps, prev.differs, prev.not_built, prev.imported
    );
    if changes.is_empty() {
        let _ = writeln!(out, "<p>No verdict changed.</p>");
    } else {
        let _ = writeln!(out, "<table class=\"list\"><tr><th>recipe</th><th>platform</th><th>layer</th><th>before</th><th>now</th><th>step</th></tr>");
        for c in changes {
            let cell = |v: Option<Verdict>| match v {
                Some(v) => format!("<td><span class=\"pill {}\">{}</span></td>", v.as_str(), label(v)),
                None => "<td><span class=\"pill\">absent</span></td>".into(),
            };
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td>{}{}<td><code>{}</code></td></tr>",
                esc(&c.recipe),
                esc(&c.platform),
                c.index,
                cell(c.before),
                cell(c.after),
                esc(&c.step)
            );
        }
        let _ = writeln!(out, "</table>");
    }
}

/// The most cells (platforms times layer columns) one build's grid draws. A real build has a few
/// platforms of a few dozen layers; past this, the grid is replaced by a line saying so, and the
/// list of notable layers below it still names every layer that differs.
pub const MAX_GRID_CELLS: usize = 100_000;

/// The grid of one build: a row per platform, a column per layer index that some platform has
/// (not every index up to the largest, which a report.json may set to anything), so the page grows
/// with what the report holds.
fn grid(out: &mut String, b: &BuildSummary) {
    let columns: BTreeSet<usize> = b
        .platforms
        .iter()
        .flat_map(|p| p.layers.iter().map(|l| l.index))
        .collect();
    let cells = columns.len().saturating_mul(b.platforms.len());
    if cells > MAX_GRID_CELLS {
        let _ = writeln!(
            out,
            "<p class=\"muted\">No grid: {} platforms by {} layers is more than {MAX_GRID_CELLS} cells.</p>",
            b.platforms.len(),
            columns.len()
        );
        return;
    }
    let _ = write!(out, "<table class=\"grid\">\n<tr><th>platform</th>");
    for i in &columns {
        let _ = write!(out, "<th class=\"idx\">{i}</th>");
    }
    out.push_str("</tr>\n");
    for p in &b.platforms {
        let _ = write!(out, "<tr><th>{}</th>", esc(&p.platform));
        // The first row of an index, as a search through the rows would find it.
        let mut by_index = BTreeMap::new();
        for l in p.layers.iter().rev() {
            by_index.insert(l.index, l);
        }
        for i in &columns {
            match by_index.get(i) {
                Some(l) => {
                    let title = format!(
                        "layer {}: {}\n{}\nexpected {}\nrebuilt {}",
                        l.index,
                        l.step,
                        l.reason,
                        l.expected.as_deref().unwrap_or("(unknown)"),
                        l.rebuilt.as_deref().unwrap_or("(none)")
                    );
                    let _ = write!(
                        out,
                        "<td class=\"cell {}\" title=\"{}\">{}</td>",
                        l.verdict.as_str(),
                        esc(&title),
                        label(l.verdict)
                    );
                }
                None => out.push_str("<td class=\"cell none\"></td>"),
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

/// The layers of one build that differ or were not built, with their reasons.
fn notable(out: &mut String, b: &BuildSummary) {
    let notable: Vec<_> = b
        .platforms
        .iter()
        .flat_map(|p| p.layers.iter().map(move |l| (p, l)))
        .filter(|(_, l)| matches!(l.verdict, Verdict::Differs | Verdict::NotBuilt))
        .collect();
    if !notable.is_empty() {
        let _ = writeln!(out, "<table class=\"list\"><tr><th>platform</th><th>layer</th><th>verdict</th><th>step</th><th>reason</th></tr>");
        for (p, l) in notable {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td><span class=\"pill {}\">{}</span></td><td><code>{}</code></td><td>{}</td></tr>",
                esc(&p.platform),
                l.index,
                l.verdict.as_str(),
                label(l.verdict),
                esc(&l.step),
                esc(&l.reason)
            );
        }
        let _ = writeln!(out, "</table>");
    }
}
