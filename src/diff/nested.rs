//! Descending into files that are themselves containers: tar archives, zip-based archives (wheels,
//! jars) and the package databases of Alpine (`lib/apk/db/installed`) and Debian
//! (`var/lib/dpkg/status`), compared package by package.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};

use super::compare::{compare, Change, CompareOptions, PackageChange};
use super::index::{LayerIndex, Node, Retention};
use crate::archive::{ArchiveEntry, Kind, Limits};
use crate::Digest;

pub enum Descent {
    Entries(Vec<Change>),
    Packages(Vec<PackageChange>),
    Note(String),
}

/// Limits for archives found inside layers: they were already bounded as content of the layer,
/// these bounds keep the descent itself cheap.
fn nested_limits() -> Limits {
    Limits {
        max_entries: 200_000,
        max_entry_size: 256 << 20,
        max_total_bytes: 1 << 30,
        ..Limits::default()
    }
}

/// `None` when the path is not something the diff descends into.
pub fn descend(path: &str, a: &[u8], b: &[u8], opts: &CompareOptions) -> Option<Result<Descent, String>> {
    let name = path.rsplit('/').next().unwrap_or(path);
    if path == "lib/apk/db/installed" {
        return Some(Ok(Descent::Packages(compare_packages(
            &parse_db(a, "P:", "V:"),
            &parse_db(b, "P:", "V:"),
        ))));
    }
    if path == "var/lib/dpkg/status" {
        let (pa, pb) = (parse_db(a, "Package:", "Version:"), parse_db(b, "Package:", "Version:"));
        return Some(Ok(Descent::Packages(compare_packages(&pa, &pb))));
    }
    if name.ends_with(".pyc") {
        return Some(Ok(Descent::Note(pyc_note(a, b))));
    }
    // Nested archives are compared without descending further: one level is what a reader needs.
    let inner = CompareOptions {
        descend: false,
        ..*opts
    };
    if [".tar", ".tar.gz", ".tgz"].iter().any(|e| name.ends_with(e)) {
        let read = |bytes: &[u8]| {
            LayerIndex::read(bytes, None, &nested_limits(), &Retention::default()).map_err(|e| e.to_string())
        };
        return Some(read(a).and_then(|ia| Ok(Descent::Entries(compare(&ia, &read(b)?, &inner)))));
    }
    if [".whl", ".jar", ".zip"].iter().any(|e| name.ends_with(e)) {
        return Some(zip_index(a).and_then(|ia| Ok(Descent::Entries(compare(&ia, &zip_index(b)?, &inner)))));
    }
    None
}

/// Name -> version from a database of blank-line separated paragraphs.
pub fn parse_db(bytes: &[u8], name_key: &str, version_key: &str) -> BTreeMap<String, String> {
    let text = String::from_utf8_lossy(bytes);
    let mut out = BTreeMap::new();
    for para in text.split("\n\n") {
        let mut name = None;
        let mut version = None;
        for line in para.lines() {
            if let Some(v) = line.strip_prefix(name_key) {
                name = Some(v.trim().to_string());
            } else if let Some(v) = line.strip_prefix(version_key) {
                version = Some(v.trim().to_string());
            }
        }
        if let Some(n) = name {
            out.insert(n, version.unwrap_or_default());
        }
    }
    out
}

pub fn compare_packages(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<PackageChange> {
    let names: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    names
        .into_iter()
        .filter(|n| a.get(*n) != b.get(*n))
        .map(|n| PackageChange {
            name: n.clone(),
            a: a.get(n).cloned(),
            b: b.get(n).cloned(),
        })
        .collect()
}

/// Python 3.7+ `.pyc` files start with a 16-byte header: magic, flags, then either the source
/// mtime and size (flags = 0) or a source hash. Only the mtime variant embeds a time.
pub fn pyc_only_header_differs(a: &[u8], b: &[u8]) -> bool {
    a.len() >= 16 && b.len() >= 16 && a[..8] == b[..8] && a[16..] == b[16..] && a[4..8] == [0, 0, 0, 0]
}

fn pyc_note(a: &[u8], b: &[u8]) -> String {
    if pyc_only_header_differs(a, b) {
        let t = |x: &[u8]| u32::from_le_bytes([x[8], x[9], x[10], x[11]]);
        format!(
            "only the .pyc header differs: embedded source mtime {} vs {}",
            t(a),
            t(b)
        )
    } else {
        "compiled bytecode differs beyond the .pyc header".into()
    }
}

/// Reads a zip archive into an index: files with their content digests, directories, modes and
/// DOS modification times (as the mtime).
fn zip_index(bytes: &[u8]) -> Result<LayerIndex, String> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| e.to_string())?;
    let mut index = LayerIndex::empty();
    let limits = nested_limits();
    if zip.len() as u64 > limits.max_entries {
        return Err(format!("more than {} entries", limits.max_entries));
    }
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).map_err(|e| e.to_string())?;
        let path = f.name().trim_end_matches('/').to_string();
        if f.size() > limits.max_entry_size {
            return Err(format!("entry `{path}` larger than {} bytes", limits.max_entry_size));
        }
        let is_dir = f.is_dir();
        let mut content = Vec::new();
        if !is_dir {
            // Bounded by the declared size above; `take` guards against a lying header.
            (&mut f)
                .take(limits.max_entry_size + 1)
                .read_to_end(&mut content)
                .map_err(|e| e.to_string())?;
        }
        let mtime = f
            .last_modified()
            .map(|t| {
                // DOS times have no zone; shown as a sortable number YYYYMMDDhhmmss.
                (t.year() as i64) * 10_000_000_000
                    + (t.month() as i64) * 100_000_000
                    + (t.day() as i64) * 1_000_000
                    + (t.hour() as i64) * 10_000
                    + (t.minute() as i64) * 100
                    + t.second() as i64
            })
            .unwrap_or(0);
        let entry = ArchiveEntry {
            path: String::new(),
            kind: if is_dir { Kind::Dir } else { Kind::File },
            mode: f.unix_mode().unwrap_or(0) & 0o7777,
            uid: 0,
            gid: 0,
            uname: String::new(),
            gname: String::new(),
            mtime,
            size: content.len() as u64,
            xattrs: BTreeMap::new(),
            format: "zip".into(),
        };
        let node = Node::from_entry(&entry, (!is_dir).then(|| Digest::of(&content)), i as u32);
        if !is_dir && content.len() <= Retention::default().max_text as usize {
            index.contents.insert(path.clone(), content);
        }
        index.nodes.insert(path, node);
    }
    Ok(index)
}
