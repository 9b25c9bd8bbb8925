//! One layer read into a compact index: per path its metadata and content digest, plus the whiteouts
//! and opaque markers the flattened view applies. Contents are hashed while streaming; only small
//! text files and nested archives/package databases are retained (under a per-layer byte budget) so
//! they can be shown as unified diffs or descended into.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;

use sha2::{Digest as _, Sha256};

use crate::archive::{read_archive, ArchiveEntry, ArchiveError, ArchiveSummary, Kind, Limits};
use crate::layer::whiteout;
use crate::Digest;

/// What the index keeps of one entry: the archive reader's facts, plus the content digest and the
/// position. Field reads (`node.mode`, `node.mtime`...) go through to the entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The entry as read; its `path` is left empty, since the index is keyed by it.
    pub entry: ArchiveEntry,
    /// sha256 of the content, for regular files.
    pub digest: Option<Digest>,
    /// Position in the archive, to tell whether two layers list the same entries in the same order.
    pub pos: u32,
}

impl Node {
    pub fn from_entry(e: &ArchiveEntry, digest: Option<Digest>, pos: u32) -> Node {
        Node {
            entry: ArchiveEntry {
                path: String::new(),
                ..e.clone()
            },
            digest,
            pos,
        }
    }
}

impl std::ops::Deref for Node {
    type Target = ArchiveEntry;

    fn deref(&self) -> &ArchiveEntry {
        &self.entry
    }
}

/// Bounds on what an index retains in memory.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Largest text file kept for a unified diff.
    pub max_text: u64,
    /// Largest nested archive or package database kept for descending into.
    pub max_nested: u64,
    /// Total retained bytes per layer; past it, contents are hashed but not kept.
    pub budget: u64,
    /// Total bytes per layer the second pass (differing files the first could not keep) retains.
    pub second_pass_budget: u64,
    /// Memory one layer's index may take, estimated as [`NODE_BYTES`] per entry plus its path: the
    /// two operands are indexed at once, so two of these must fit with room to spare.
    pub max_index_bytes: u64,
}

/// What one indexed entry costs besides its path: the node, its map slot and its small strings.
pub const NODE_BYTES: u64 = 400;

impl Default for Retention {
    fn default() -> Retention {
        Retention {
            max_text: 256 << 10,
            max_nested: 64 << 20,
            budget: 32 << 20,
            second_pass_budget: 128 << 20,
            max_index_bytes: 320 << 20,
        }
    }
}

/// Whether a path names something the diff can descend into, so its content is worth keeping.
pub fn is_nested_candidate(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    path == "lib/apk/db/installed"
        || path == "var/lib/dpkg/status"
        || [".tar", ".tar.gz", ".tgz", ".whl", ".jar", ".zip", ".pyc"]
            .iter()
            .any(|ext| name.ends_with(ext))
}

/// Text as opposed to binary, by the usual heuristic: no NUL byte and valid UTF-8.
pub fn looks_like_text(bytes: &[u8]) -> bool {
    !bytes.contains(&0) && std::str::from_utf8(bytes).is_ok()
}

#[derive(Debug, Clone)]
pub struct LayerIndex {
    pub summary: Option<ArchiveSummary>,
    pub nodes: BTreeMap<String, Node>,
    /// Paths a `.wh.<name>` marker deletes from lower layers.
    pub whiteouts: BTreeSet<String>,
    /// Directories a `.wh..wh..opq` marker empties of lower layers' entries.
    pub opaque: BTreeSet<String>,
    /// Retained contents by path.
    pub contents: HashMap<String, Vec<u8>>,
    /// Paths whose content was not retained because the budget ran out.
    pub over_budget: BTreeSet<String>,
}

impl LayerIndex {
    pub fn empty() -> LayerIndex {
        LayerIndex {
            summary: None,
            nodes: BTreeMap::new(),
            whiteouts: BTreeSet::new(),
            opaque: BTreeSet::new(),
            contents: HashMap::new(),
            over_budget: BTreeSet::new(),
        }
    }

    /// Reads a layer blob, verifying it against `expected` when given.
    pub fn read(
        blob: impl Read,
        expected: Option<&Digest>,
        limits: &Limits,
        retention: &Retention,
    ) -> Result<LayerIndex, ArchiveError> {
        let mut index = LayerIndex::empty();
        let mut retained = 0u64;
        let mut pos = 0u32;
        let mut buf = vec![0u8; 128 << 10];
        let mut footprint = 0u64;
        let summary = read_archive(blob, expected, limits, |entry, content| {
            footprint += NODE_BYTES + entry.path.len() as u64;
            if footprint > retention.max_index_bytes {
                return Err(ArchiveError::IndexTooLarge {
                    entry: entry.path.clone(),
                    limit: retention.max_index_bytes,
                });
            }
            let digest = if entry.kind == Kind::File {
                let nested = is_nested_candidate(&entry.path);
                let keep_limit = if nested {
                    retention.max_nested
                } else {
                    retention.max_text
                };
                let mut hasher = Sha256::new();
                let mut kept: Option<Vec<u8>> =
                    (entry.size <= keep_limit).then(|| Vec::with_capacity(entry.size as usize));
                loop {
                    let n = content.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buf[..n]);
                    if let Some(k) = kept.as_mut() {
                        k.extend_from_slice(&buf[..n]);
                    }
                }
                if let Some(k) = kept {
                    if nested || looks_like_text(&k) {
                        if retained + k.len() as u64 <= retention.budget {
                            retained += k.len() as u64;
                            index.contents.insert(entry.path.clone(), k);
                        } else {
                            index.over_budget.insert(entry.path.clone());
                        }
                    }
                }
                Some(Digest::from_bytes(hasher.finalize().into()))
            } else {
                None
            };
            let (dir, name) = match entry.path.rsplit_once('/') {
                Some((d, n)) => (d, n),
                None => ("", entry.path.as_str()),
            };
            match whiteout::classify(name.as_bytes()) {
                whiteout::Name::Opaque => {
                    index.opaque.insert(dir.to_string());
                }
                whiteout::Name::Hides(hidden) => {
                    // `name` is text, so the part after its ASCII prefix is text too.
                    index.whiteouts.insert(join(dir, &String::from_utf8_lossy(hidden)));
                }
                whiteout::Name::Plain | whiteout::Name::Bookkeeping => {}
            }
            index
                .nodes
                .insert(entry.path.clone(), Node::from_entry(entry, digest, pos));
            pos += 1;
            Ok(())
        })?;
        index.summary = Some(summary);
        Ok(index)
    }

    /// Reads only the contents of `wanted` files (those the first pass hashed but could not keep),
    /// within the per-file bounds of `retention` and its second-pass budget: differing files can be
    /// many and large (nested archives of up to `max_nested` bytes each), so what does not fit stays
    /// unretained, and its change keeps the note saying so.
    pub fn read_contents(
        blob: impl Read,
        expected: Option<&Digest>,
        limits: &Limits,
        retention: &Retention,
        wanted: &std::collections::HashSet<String>,
    ) -> Result<HashMap<String, Vec<u8>>, ArchiveError> {
        let mut out = HashMap::new();
        let mut retained = 0u64;
        read_archive(blob, expected, limits, |entry, content| {
            let limit = if is_nested_candidate(&entry.path) {
                retention.max_nested
            } else {
                retention.max_text
            };
            let fits = retained + entry.size <= retention.second_pass_budget;
            if entry.kind == Kind::File && entry.size <= limit && fits && wanted.contains(&entry.path) {
                retained += entry.size;
                let mut bytes = Vec::with_capacity(entry.size as usize);
                content.read_to_end(&mut bytes)?;
                out.insert(entry.path.clone(), bytes);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Applies `upper` on top of this (already flattened) view the way overlay file systems do: its
    /// opaque directories lose their lower contents, its whiteouts delete, then its entries land.
    /// Marker entries themselves never appear in a flattened view.
    pub fn apply(&mut self, upper: LayerIndex) {
        for dir in &upper.opaque {
            self.remove_below(dir);
        }
        for path in &upper.whiteouts {
            self.remove_path(path);
            self.remove_below(path);
        }
        let LayerIndex {
            nodes,
            mut contents,
            over_budget,
            ..
        } = upper;
        for (path, node) in nodes {
            let name = path.rsplit('/').next().unwrap_or(&path);
            if whiteout::classify(name.as_bytes()) != whiteout::Name::Plain {
                continue;
            }
            if node.kind != Kind::Dir {
                // A non-directory replaces a lower directory and everything under it.
                self.remove_below(&path);
            }
            // An existing directory stays a directory with the upper metadata; its contents stay.
            match contents.remove(&path) {
                Some(c) => {
                    self.contents.insert(path.clone(), c);
                }
                None => {
                    self.contents.remove(&path);
                }
            }
            if over_budget.contains(&path) {
                self.over_budget.insert(path.clone());
            }
            self.nodes.insert(path, node);
        }
    }

    fn remove_path(&mut self, path: &str) {
        self.nodes.remove(path);
        self.contents.remove(path);
    }

    fn remove_below(&mut self, dir: &str) {
        let below: Vec<String> = if dir.is_empty() {
            self.nodes.keys().cloned().collect()
        } else {
            let prefix = format!("{dir}/");
            // '/' + 1 is '0', so this range is exactly the paths starting with `dir/`.
            let end = format!("{dir}0");
            self.nodes.range(prefix..end).map(|(k, _)| k.clone()).collect()
        };
        for p in below {
            self.remove_path(&p);
        }
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}
