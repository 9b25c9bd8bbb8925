//! Descending into files that are themselves containers: tar archives, zip-based archives (wheels,
//! jars) and the package databases of Alpine (`lib/apk/db/installed`) and Debian
//! (`var/lib/dpkg/status`), compared package by package.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};

use sha2::{Digest as _, Sha256};

use super::budget::WorkBudget;
use super::compare::{compare, Change, CompareOptions, PackageChange};
use super::index::{LayerIndex, Node, Retention};
use crate::archive::{ArchiveEntry, ArchiveError, ArchiveSummary, Compression, Kind, Limits};
use crate::Digest;

/// Why a nested archive could not be read; the diff notes it and goes on.
#[derive(Debug, thiserror::Error)]
pub enum DescendError {
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Zip(#[from] zip::result::ZipError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("more than {limit} entries")]
    TooManyEntries { limit: u64 },
    #[error("entry `{path}` larger than {limit} bytes")]
    EntryTooLarge { path: String, limit: u64 },
    /// The run's budget for nested archives is spent; `note` says how much it was.
    #[error("{note}")]
    BudgetSpent { note: String },
}

pub enum Descent {
    Entries(Vec<Change>),
    Packages(Vec<PackageChange>),
    Note(String),
}

/// Limits for archives found inside layers: they were already bounded as content of the layer,
/// these bounds keep the descent itself cheap. `left` is what remains of the run's budget for
/// nested archives, which caps the bytes this one may expand to.
fn nested_limits(left: u64) -> Limits {
    Limits {
        max_entries: 200_000,
        max_entry_size: 256 << 20,
        max_total_bytes: left.min(1 << 30),
        ..Limits::default()
    }
}

/// `None` when the path is not something the diff descends into.
pub fn descend(path: &str, a: &[u8], b: &[u8], opts: &CompareOptions) -> Option<Result<Descent, DescendError>> {
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
    let budget = opts.budget;
    let is_tar = [".tar", ".tar.gz", ".tgz"].iter().any(|e| name.ends_with(e));
    let is_zip = [".whl", ".jar", ".zip"].iter().any(|e| name.ends_with(e));
    if !is_tar && !is_zip {
        return None;
    }
    if budget.nested_left() == 0 {
        return Some(Ok(Descent::Note(budget.nested_spent_note())));
    }
    let read = |bytes: &[u8]| -> Result<LayerIndex, DescendError> {
        let index = if is_tar {
            let index = LayerIndex::read(bytes, None, &nested_limits(budget.nested_left()), &Retention::default());
            index.map_err(|e| match e {
                ArchiveError::TotalTooLarge { .. } if budget.nested_left() < 1 << 30 => DescendError::BudgetSpent {
                    note: budget.nested_spent_note(),
                },
                e => e.into(),
            })?
        } else {
            zip_index(bytes, budget)?
        };
        budget.charge_nested(index.summary.as_ref().map_or(0, |s| s.tar_size));
        Ok(index)
    };
    Some(read(a).and_then(|ia| Ok(Descent::Entries(compare(&ia, &read(b)?, &inner)))))
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
/// DOS modification times (as the mtime). Every entry's content is inflated to hash it, so the bytes
/// count against the run's nested-archive budget: entries of a crafted zip may all point at the
/// same compressed data, each inflating to the maximum.
fn zip_index(bytes: &[u8], budget: &WorkBudget) -> Result<LayerIndex, DescendError> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))?;
    let mut index = LayerIndex::empty();
    let limits = nested_limits(budget.nested_left());
    if zip.len() as u64 > limits.max_entries {
        return Err(DescendError::TooManyEntries {
            limit: limits.max_entries,
        });
    }
    let mut inflated = 0u64;
    let mut buf = vec![0u8; 64 << 10];
    for i in 0..zip.len() {
        let mut f = zip.by_index(i)?;
        let path = crate::archive::display_bytes(f.name_raw())
            .trim_end_matches('/')
            .to_string();
        if f.size() > limits.max_entry_size {
            return Err(DescendError::EntryTooLarge {
                path,
                limit: limits.max_entry_size,
            });
        }
        let is_dir = f.is_dir();
        let keep = !is_dir && f.size() <= Retention::default().max_text;
        let mut content = Vec::new();
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut n = usize::from(!is_dir);
        while n > 0 {
            n = f.read(&mut buf)?;
            (size, inflated) = (size + n as u64, inflated + n as u64);
            if size > limits.max_entry_size {
                return Err(DescendError::EntryTooLarge {
                    path,
                    limit: limits.max_entry_size,
                });
            }
            if inflated > limits.max_total_bytes {
                return Err(DescendError::BudgetSpent {
                    note: budget.nested_spent_note(),
                });
            }
            hasher.update(&buf[..n]);
            if keep {
                content.extend_from_slice(&buf[..n]);
            }
        }
        let mtime = f.last_modified().map_or(0, dos_time_to_unix);
        let entry = ArchiveEntry {
            path: String::new(),
            kind: if is_dir { Kind::Dir } else { Kind::File },
            mode: f.unix_mode().unwrap_or(0) & 0o7777,
            uid: 0,
            gid: 0,
            uname: String::new(),
            gname: String::new(),
            mtime,
            size,
            xattrs: BTreeMap::new(),
            format: "zip".into(),
        };
        let digest = (!is_dir).then(|| Digest::from_bytes(hasher.finalize().into()));
        let node = Node::from_entry(&entry, digest, i as u32);
        if keep {
            index.contents.insert(path.clone(), content);
        }
        index.nodes.insert(path, node);
    }
    index.summary = Some(ArchiveSummary {
        compression: Compression::None,
        blob_digest: Digest::of(bytes),
        blob_size: bytes.len() as u64,
        diff_id: Digest::of(bytes),
        tar_size: inflated,
        entries: zip.len() as u64,
    });
    Ok(index)
}

/// A zip entry's DOS time as seconds since the epoch. DOS times carry no zone; like `unzip -l`,
/// they are read as written, here as UTC, so the number is comparable with tar mtimes.
fn dos_time_to_unix(t: zip::DateTime) -> i64 {
    let (y, m, d) = (i64::from(t.year()), i64::from(t.month()), i64::from(t.day()));
    // Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + i64::from(t.hour()) * 3600 + i64::from(t.minute()) * 60 + i64::from(t.second())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dos_times_become_seconds_since_the_epoch() {
        // 2019-01-30 22:19:52 UTC, as `date -u -d` gives it: 1548886792.
        let t = zip::DateTime::from_date_and_time(2019, 1, 30, 22, 19, 52).unwrap();
        assert_eq!(dos_time_to_unix(t), 1_548_886_792);
        let leap = zip::DateTime::from_date_and_time(2000, 2, 29, 0, 0, 0).unwrap();
        assert_eq!(dos_time_to_unix(leap), 951_782_400);
    }
}
