//! Path-by-path comparison of two indexes: what was added, removed or changed, and in which fields.

use std::collections::BTreeMap;

use serde::Serialize;

use super::budget::WorkBudget;
use super::index::{looks_like_text, LayerIndex, Node};
use super::nested;
use crate::archive::Kind;

/// Whether a path exists on one side only or on both with differences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

/// One differing field of a path present on both sides, shown as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub a: String,
    pub b: String,
}

/// A package whose version differs between two package databases; defined with report.json's
/// types, since a [`crate::report_json::Cause`] holds it.
pub use crate::report_json::PackageChange;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub path: String,
    pub change: ChangeKind,
    /// Kind of the path (on side B when changed or added, side A when removed).
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    /// Unified diff of a text file, as text; written to the report dir, never serialized inline.
    #[serde(skip)]
    pub unified: Option<String>,
    /// Where the unified diff was written, relative to the report dir.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unified_diff: Option<String>,
    /// Differences inside a nested archive (tar, zip, wheel, jar).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nested: Vec<Change>,
    /// Differences between two package databases, package by package.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<PackageChange>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Change {
    fn new(path: &str, change: ChangeKind, kind: &Kind) -> Change {
        Change {
            path: path.to_string(),
            change,
            kind: kind.name().to_string(),
            fields: Vec::new(),
            unified: None,
            unified_diff: None,
            nested: Vec::new(),
            packages: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn has_field(&self, field: &str) -> bool {
        self.fields.iter().any(|f| f.field == field)
    }
}

/// What the comparison looks at.
#[derive(Debug, Clone, Copy)]
pub struct CompareOptions<'w> {
    /// Ignore what cannot carry meaning: mtimes, entry order, header encoding (format, user and
    /// group names), compression.
    pub semantic: bool,
    /// Produce unified diffs of differing text files.
    pub unified: bool,
    /// Descend into nested archives and package databases.
    pub descend: bool,
    /// The run's budget for nested archives and text diffs.
    pub budget: &'w WorkBudget,
}

impl<'w> CompareOptions<'w> {
    /// What `retrace diff` asks for: unified text diffs and nested archives included.
    pub fn thorough(semantic: bool, budget: &'w WorkBudget) -> CompareOptions<'w> {
        CompareOptions {
            semantic,
            unified: true,
            descend: true,
            budget,
        }
    }
}

fn mode_text(m: u32) -> String {
    format!("{m:04o}")
}

fn xattr_text(v: &[u8]) -> String {
    if looks_like_text(v) {
        String::from_utf8_lossy(v).into_owned()
    } else {
        let hex: String = v.iter().map(|b| format!("{b:02x}")).collect();
        format!("0x{hex}")
    }
}

/// The fields in which two nodes of the same path differ.
pub fn node_fields(a: &Node, b: &Node, semantic: bool) -> Vec<FieldChange> {
    let mut out = Vec::new();
    let mut push = |field: &str, x: String, y: String| {
        if x != y {
            out.push(FieldChange {
                field: field.to_string(),
                a: x,
                b: y,
            })
        }
    };
    push("type", a.kind.name().into(), b.kind.name().into());
    push("mode", mode_text(a.mode), mode_text(b.mode));
    push("owner", format!("{}:{}", a.uid, a.gid), format!("{}:{}", b.uid, b.gid));
    if a.kind == Kind::File && b.kind == Kind::File {
        push("size", a.size.to_string(), b.size.to_string());
        let d = |n: &Node| n.digest.map(|d| d.to_string()).unwrap_or_default();
        push("content", d(a), d(b));
    }
    match (&a.kind, &b.kind) {
        (Kind::Symlink(x), Kind::Symlink(y)) | (Kind::Hardlink(x), Kind::Hardlink(y)) => {
            push("link", x.clone(), y.clone())
        }
        (Kind::Char(a1, a2), Kind::Char(b1, b2)) | (Kind::Block(a1, a2), Kind::Block(b1, b2)) => {
            push("device", format!("{a1},{a2}"), format!("{b1},{b2}"))
        }
        _ => {}
    }
    let keys: std::collections::BTreeSet<&String> = a.xattrs.keys().chain(b.xattrs.keys()).collect();
    for k in keys {
        let v = |n: &Node| {
            n.xattrs
                .get(k)
                .map(|v| xattr_text(v))
                .unwrap_or_else(|| "(absent)".into())
        };
        push(&format!("xattr {k}"), v(a), v(b));
    }
    if !semantic {
        push("mtime", a.mtime.to_string(), b.mtime.to_string());
        push(
            "owner-name",
            format!("{}:{}", a.uname, a.gname),
            format!("{}:{}", b.uname, b.gname),
        );
        push("format", a.format.clone(), b.format.clone());
    }
    out
}

/// Compares two indexes path by path. `label_a`/`label_b` head unified diffs.
pub fn compare(a: &LayerIndex, b: &LayerIndex, opts: &CompareOptions) -> Vec<Change> {
    let mut out = Vec::new();
    let mut ia = a.nodes.iter().peekable();
    let mut ib = b.nodes.iter().peekable();
    loop {
        let next = match (ia.peek(), ib.peek()) {
            (None, None) => break,
            (Some((pa, _)), Some((pb, _))) => pa.cmp(pb),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
        };
        match next {
            std::cmp::Ordering::Less => {
                // `peek` just saw an item on this side (and on both for `Equal`).
                let (p, n) = ia.next().unwrap();
                out.push(Change::new(p, ChangeKind::Removed, &n.kind));
            }
            std::cmp::Ordering::Greater => {
                // `peek` just saw an item on this side.
                let (p, n) = ib.next().unwrap();
                out.push(Change::new(p, ChangeKind::Added, &n.kind));
            }
            std::cmp::Ordering::Equal => {
                // `peek` just saw an item on both sides.
                let (p, na) = ia.next().unwrap();
                let (_, nb) = ib.next().unwrap();
                let fields = node_fields(na, nb, opts.semantic);
                if fields.is_empty() {
                    continue;
                }
                let mut change = Change::new(p, ChangeKind::Changed, &nb.kind);
                let content_differs = fields.iter().any(|f| f.field == "content");
                change.fields = fields;
                if content_differs {
                    explain_content(p, a, b, opts, &mut change);
                }
                out.push(change);
            }
        }
    }
    out
}

/// For a file whose content differs: a unified diff when both sides are retained text, the inner
/// differences when it is an archive or package database.
/// The note left on a change whose content was hashed but not kept; the layer comparison fetches
/// such contents in a second, targeted pass.
pub const NOT_RETAINED: &str = "content not retained: the per-layer memory budget was exhausted";

fn explain_content(path: &str, a: &LayerIndex, b: &LayerIndex, opts: &CompareOptions, change: &mut Change) {
    match (a.contents.get(path), b.contents.get(path)) {
        (Some(x), Some(y)) => explain_bytes(path, x, y, opts, change),
        _ => {
            if a.over_budget.contains(path) || b.over_budget.contains(path) {
                change.notes.push(NOT_RETAINED.into());
            }
        }
    }
}

/// Explains a content difference from both sides' bytes: descends into containers, or diffs text.
pub fn explain_bytes(path: &str, ca: &[u8], cb: &[u8], opts: &CompareOptions, change: &mut Change) {
    if opts.descend {
        if let Some(found) = nested::descend(path, ca, cb, opts) {
            match found {
                Ok(nested::Descent::Entries(changes)) => change.nested = changes,
                Ok(nested::Descent::Packages(pkgs)) => change.packages = pkgs,
                Ok(nested::Descent::Note(note)) => change.notes.push(note),
                Err(e) => change
                    .notes
                    .push(format!("could not descend: {}", crate::error::Chain(&e))),
            }
            if !change.nested.is_empty() || !change.packages.is_empty() {
                return;
            }
        }
    }
    if looks_like_text(ca) && looks_like_text(cb) {
        change.notes.push("text differs".into());
        if opts.unified {
            if let Some(why) = opts.budget.text_refusal(ca.len(), cb.len()) {
                change.notes.push(why);
                return;
            }
            let started = std::time::Instant::now();
            let ta = std::str::from_utf8(ca).unwrap_or_default();
            let tb = std::str::from_utf8(cb).unwrap_or_default();
            // Past the deadline the diff is coarser (larger hunks) but still correct.
            let diff = similar::TextDiff::configure()
                .deadline(opts.budget.text_deadline())
                .diff_lines(ta, tb);
            let text = diff
                .unified_diff()
                .context_radius(3)
                .header(&format!("a/{path}"), &format!("b/{path}"))
                .to_string();
            opts.budget.charge_text(started.elapsed(), text.len());
            change.unified = Some(text);
        }
    }
}

/// Whether both indexes list their common paths in the same relative order.
pub fn same_order(a: &LayerIndex, b: &LayerIndex) -> bool {
    let mut common: BTreeMap<u32, u32> = BTreeMap::new();
    for (p, na) in &a.nodes {
        if let Some(nb) = b.nodes.get(p) {
            common.insert(na.pos, nb.pos);
        }
    }
    common.values().zip(common.values().skip(1)).all(|(x, y)| x < y)
}
