//! Rendering a diff report as text, and writing the report dir: `diff.json`, `diff.txt` and one
//! unified diff per differing text file, under a directory per comparison.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::compare::{Change, ChangeKind};
use super::{Comparison, DiffError, DiffReport};
use crate::fsutil::write_atomic;
use crate::layer::name::escape_text;

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
    // Paths and link names are in the archive reader's text form; a newline or terminal escape
    // inside a name must not break the line, so control characters are escaped too.
    let _ = write!(out, "{indent}{sign} {} ({})", escape_text(&c.path), c.kind);
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
                    _ => escape_text(v).into_owned(),
                };
                format!("{}: {} -> {}", f.field, shorten(&f.a), shorten(&f.b))
            })
            .collect();
        let _ = write!(out, "  {}", fields.join("; "));
    }
    out.push('\n');
    for n in &c.notes {
        let _ = writeln!(out, "{indent}    {}", escape_text(n));
    }
    if let Some(p) = &c.unified_diff {
        let _ = writeln!(out, "{indent}    unified diff: {}", escape_text(p));
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
    // The report is plain data with string map keys, so it always serializes.
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

/// Chooses the file of each unified diff: the changed file's own path plus `.diff` when that is a
/// usable name, else a numbered file under `_/`. A path is unusable when a component is too long
/// for a file system (255 bytes) or when it collides with an earlier diff: a file `x` gives
/// `x.diff`, which cannot also be the directory that a file `x.diff/y` needs.
#[derive(Default)]
struct Namer {
    files: HashSet<PathBuf>,
    dirs: HashSet<PathBuf>,
    numbered: usize,
}

impl Namer {
    fn name(&mut self, rel_dir: &Path, path: &str) -> PathBuf {
        let wanted = rel_dir.join(safe_rel(&format!("{path}.diff")));
        let too_long = wanted.components().any(|c| c.as_os_str().len() > 255);
        let collides = self.files.contains(&wanted)
            || self.dirs.contains(&wanted)
            || wanted.ancestors().skip(1).any(|a| self.files.contains(a));
        let rel = if too_long || collides {
            self.numbered += 1;
            rel_dir.join("_").join(format!("{}.diff", self.numbered))
        } else {
            wanted
        };
        self.dirs.extend(rel.ancestors().skip(1).map(Path::to_path_buf));
        self.files.insert(rel.clone());
        rel
    }
}

fn write_unified(
    dir: &Path,
    rel_dir: &Path,
    changes: &mut [Change],
    prefix: &str,
    namer: &mut Namer,
) -> Result<(), DiffError> {
    for c in changes.iter_mut() {
        if let Some(text) = c.unified.take() {
            // Named after the escaped path, so no file name of the report holds a control character.
            let rel = namer.name(rel_dir, &escape_text(&format!("{prefix}{}", c.path)));
            let path = dir.join(&rel);
            write_atomic(&path, |w| w.write_all(text.as_bytes())).map_err(|e| DiffError::io(&path, e))?;
            c.unified_diff = Some(rel.to_string_lossy().into_owned());
        }
        let nested_prefix = format!("{prefix}{}!/", c.path);
        write_unified(dir, rel_dir, &mut c.nested, &nested_prefix, namer)?;
    }
    Ok(())
}

/// Writes the report dir: the unified diffs (recording where in the report), then `diff.json` and
/// `diff.txt`. Everything is written into a fresh directory beside `dir`, which replaces `dir` only
/// once complete, so the report dir is complete or absent. An existing `dir` is replaced only when
/// it is empty or an earlier report (it holds `diff.json`), never another directory.
pub fn write_report_dir(r: &mut DiffReport, dir: &Path) -> Result<(), DiffError> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let replaceable = match std::fs::read_dir(dir) {
        Ok(mut listing) => listing.next().is_none() || dir.join("diff.json").is_file(),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    };
    if !replaceable {
        return Err(DiffError::Layout {
            path: dir.into(),
            message: "exists and is not an earlier report dir (no diff.json); refusing to replace it".into(),
        });
    }
    std::fs::create_dir_all(parent).map_err(|e| DiffError::io(parent, e))?;
    let fresh = tempfile::Builder::new()
        .prefix(".retrace-report-")
        .tempdir_in(parent)
        .map_err(|e| DiffError::io(parent, e))?;
    let _registered = crate::fsutil::Temporary::register(fresh.path());
    crate::fsutil::set_default_mode(fresh.path(), true).map_err(|e| DiffError::io(fresh.path(), e))?;
    let mut namer = Namer::default();
    for c in r.comparisons.iter_mut() {
        let rel_dir = PathBuf::from(slug(&c.label));
        write_unified(fresh.path(), &rel_dir, &mut c.changes, "", &mut namer)?;
    }
    let json = fresh.path().join("diff.json");
    write_atomic(&json, |w| w.write_all(render_json(r).as_bytes())).map_err(|e| DiffError::io(&json, e))?;
    let txt = fresh.path().join("diff.txt");
    write_atomic(&txt, |w| w.write_all(render_text(r).as_bytes())).map_err(|e| DiffError::io(&txt, e))?;
    replace_dir(fresh, dir)
}

/// Moves the complete report into place, the earlier one (if any) aside first and then away.
fn replace_dir(fresh: tempfile::TempDir, dir: &Path) -> Result<(), DiffError> {
    if dir.exists() {
        let old = fresh.path().with_extension("old");
        std::fs::rename(dir, &old).map_err(|e| DiffError::io(dir, e))?;
        std::fs::remove_dir_all(&old).map_err(|e| DiffError::io(&old, e))?;
    }
    std::fs::rename(fresh.path(), dir).map_err(|e| DiffError::io(dir, e))?;
    // The directory now lives under its final name; dropping the guard must not delete it.
    let _ = fresh.keep();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A newline, a terminal escape or a non-UTF-8 byte inside a name stays on the change's line.
    #[test]
    fn names_are_escaped_in_text() {
        let change = |path: &str| Change {
            path: path.to_string(),
            change: ChangeKind::Added,
            kind: "file".to_string(),
            fields: Vec::new(),
            unified: None,
            unified_diff: None,
            nested: Vec::new(),
            packages: Vec::new(),
            notes: vec![format!("moved from {path}")],
        };
        let mut out = String::new();
        // The archive reader's form of the bytes `a\nb\xe9\x1b[0m`.
        write_change(&mut out, &change("a\nb\\xe9\u{1b}[0m"), "");
        assert_eq!(
            out,
            "+ a\\x0ab\\xe9\\x1b[0m (file)\n    moved from a\\x0ab\\xe9\\x1b[0m\n"
        );
        let mut namer = Namer::default();
        let mut changes = vec![Change {
            unified: Some("--- a\n+++ b\n".to_string()),
            ..change("x\ny")
        }];
        let dir = tempfile::tempdir().unwrap();
        write_unified(dir.path(), Path::new("l"), &mut changes, "", &mut namer).unwrap();
        assert_eq!(changes[0].unified_diff.as_deref(), Some("l/x\\x0ay.diff"));
    }
}
