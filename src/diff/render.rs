//! Rendering a diff report as text, and writing the report dir: `diff.json`, `diff.txt` and one
//! unified diff per differing text file, under a directory per comparison.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::compare::{Change, ChangeKind};
use super::{Comparison, DiffError, DiffReport};
use crate::fsutil::write_atomic;

fn short(d: &crate::Digest) -> String {
    let t = d.to_string();
    t[..19].to_string()
}

fn write_change(out: &mut String, c: &Change, indent: &str) {
    let sign = match c.change {
        ChangeKind::Added => '+',
        ChangeKind::Removed => '-',
        ChangeKind::Changed => '~',
    };
    let _ = write!(out, "{indent}{sign} {} ({})", c.path, c.kind);
    if !c.fields.is_empty() {
        let fields: Vec<String> = c
            .fields
            .iter()
            .map(|f| {
                // Content digests are long; the first hex digits are enough to tell them apart.
                // mtimes are epoch seconds in JSON (exact, sortable); a person reads dates.
                let shorten = |v: &str| match (f.field.as_str(), v.parse::<crate::Digest>(), v.parse::<i64>()) {
                    (_, Ok(d), _) => short(&d),
                    ("mtime", _, Ok(secs)) => crate::model::Timestamp { unix: secs }.to_rfc3339(),
                    _ => v.to_string(),
                };
                format!("{}: {} -> {}", f.field, shorten(&f.a), shorten(&f.b))
            })
            .collect();
        let _ = write!(out, "  {}", fields.join("; "));
    }
    out.push('\n');
    for n in &c.notes {
        let _ = writeln!(out, "{indent}    {n}");
    }
    if let Some(p) = &c.unified_diff {
        let _ = writeln!(out, "{indent}    unified diff: {p}");
    }
    for p in &c.packages {
        let _ = writeln!(
            out,
            "{indent}    package {}: {} -> {}",
            p.name,
            p.a.as_deref().unwrap_or("(absent)"),
            p.b.as_deref().unwrap_or("(absent)")
        );
    }
    for n in &c.nested {
        write_change(out, n, &format!("{indent}    "));
    }
}

fn write_comparison(out: &mut String, c: &Comparison) {
    let _ = writeln!(out, "== {}: {}", c.label, if c.differs { "DIFFERS" } else { "same" });
    for (side, f) in [("a", &c.a), ("b", &c.b)] {
        if let Some(f) = f {
            let _ = writeln!(
                out,
                "   {side}: {} ({}, {} entries, diff_id {})",
                f.digest,
                f.compression,
                f.entries,
                short(&f.diff_id)
            );
        }
    }
    for n in &c.notes {
        let _ = writeln!(out, "   note: {n}");
    }
    for ch in &c.changes {
        write_change(out, ch, "   ");
    }
}

pub fn render_text(r: &DiffReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "retrace diff {} {}", r.a, r.b);
    if r.semantic {
        let _ = writeln!(out, "semantic: ignoring {}", r.ignored.join(", "));
    }
    for c in &r.comparisons {
        write_comparison(&mut out, c);
    }
    let paths: usize = r.comparisons.iter().map(|c| c.changes.len()).sum();
    let differing = r.comparisons.iter().filter(|c| c.differs).count();
    let _ = writeln!(
        out,
        "result: {}",
        if r.differs {
            format!(
                "DIFFERENT ({differing} of {} comparisons, {paths} path change{})",
                r.comparisons.len(),
                if paths == 1 { "" } else { "s" }
            )
        } else {
            "same".into()
        }
    );
    out
}

pub fn render_json(r: &DiffReport) -> String {
    let mut s = serde_json::to_string_pretty(r).expect("report serializes");
    s.push('\n');
    s
}

/// A comparison label as a directory name: `linux/amd64 layer 3` -> `linux-amd64-layer-3`.
fn slug(label: &str) -> String {
    let s: String = label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '-' })
        .collect();
    s.split('-').filter(|p| !p.is_empty()).collect::<Vec<_>>().join("-")
}

/// Archive paths were normalized by the reader, but paths inside nested zips were not: every
/// component that could climb out of the report dir is neutralized here before it names a file.
fn safe_rel(path: &str) -> PathBuf {
    let mut out = PathBuf::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => out.push("_.."),
            c => out.push(c.replace('\0', "_")),
        }
    }
    out
}

fn write_unified(dir: &Path, rel_dir: &Path, changes: &mut [Change], prefix: &str) -> Result<(), DiffError> {
    for c in changes.iter_mut() {
        if let Some(text) = c.unified.take() {
            let rel = rel_dir.join(safe_rel(&format!("{prefix}{}.diff", c.path)));
            let path = dir.join(&rel);
            write_atomic(&path, |w| w.write_all(text.as_bytes())).map_err(|e| DiffError::io(&path, e))?;
            c.unified_diff = Some(rel.to_string_lossy().into_owned());
        }
        let nested_prefix = format!("{prefix}{}!/", c.path);
        write_unified(dir, rel_dir, &mut c.nested, &nested_prefix)?;
    }
    Ok(())
}

/// Writes the unified diffs (recording where in the report), then `diff.json` and `diff.txt`.
pub fn write_report_dir(r: &mut DiffReport, dir: &Path) -> Result<(), DiffError> {
    for c in r.comparisons.iter_mut() {
        let rel_dir = PathBuf::from(slug(&c.label));
        write_unified(dir, &rel_dir, &mut c.changes, "")?;
    }
    let json = dir.join("diff.json");
    write_atomic(&json, |w| w.write_all(render_json(r).as_bytes())).map_err(|e| DiffError::io(&json, e))?;
    let txt = dir.join("diff.txt");
    write_atomic(&txt, |w| w.write_all(render_text(r).as_bytes())).map_err(|e| DiffError::io(&txt, e))?;
    Ok(())
}
