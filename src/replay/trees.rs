//! COPY sources beyond a single context file: a directory (`dir:`), several sources (`multi:`)
//! and the files of a stage (`COPY --from`), each verified by the hash the classic builder
//! recorded before anything uses it.
//!
//! What the builder hashed (moby `builder/dockerfile/copy.go`, measured on Debian's 20.10):
//! - `dir:` is sha256 over the sorted tarsums of every entry of the tree, the directory itself
//!   included (`hashStringSlice("dir", ...)`), joined by `,`.
//! - `multi:` is sha256 over the sources' own references (`file:<hex>`, `dir:<hex>`) in the
//!   Dockerfile's order, joined by `,`.
//! - A context entry is hashed from the client's tar; a stage entry from its own `lstat`, so its
//!   mode carries the file type bits and its owner the stage's ids and the daemon host's names.

use std::path::{Path, PathBuf};

use super::sources::{Part, Resolved, SourceError};
use crate::layer::filehash::{multi_hash, read_source, HashConvention, SourceEntry, SourceKind, SourceOrigin};
use crate::layer::{Profile, CONTEXT_MODES};

/// The most combinations of file modes tried for a `multi:` source of context files.
const MAX_MODE_COMBINATIONS: usize = 100_000;

/// One source as read from disk, with the name the builder hashed it under.
struct Read {
    path: PathBuf,
    name: String,
    entries: Vec<SourceEntry>,
}

fn read(reference: &str, path: &Path, name: &str) -> Result<Read, SourceError> {
    let entries = read_source(path).map_err(|source| SourceError::Io {
        reference: reference.to_string(),
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Read {
        path: path.to_path_buf(),
        name: name.to_string(),
        entries,
    })
}

fn io_err<'a>(reference: &'a str, path: &'a Path) -> impl Fn(std::io::Error) -> SourceError + 'a {
    let reference = reference.to_string();
    move |source| SourceError::Io {
        reference: reference.clone(),
        path: path.to_path_buf(),
        source,
    }
}

/// The context name of a recipe path: its base name, as for a source at the context's root.
fn base_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Checks a context directory against its `dir:` reference, trying the release's owner-name
/// convention and then the other one.
pub fn verify_context_dir(reference: &str, path: &Path, profile: &Profile) -> Result<(), SourceError> {
    let source = read(reference, path, &base_name(path))?;
    let mut first = None;
    for conv in HashConvention::candidates(SourceOrigin::Context, profile) {
        let found = conv
            .source_reference(&source.entries, &source.name)
            .map_err(io_err(reference, path))?;
        if found == reference {
            return Ok(());
        }
        first.get_or_insert(found);
    }
    Err(SourceError::TreeHashMismatch {
        reference: reference.to_string(),
        origin: path.display().to_string(),
        found: first.unwrap_or_default(),
        hint: "the directory must hold exactly the files, modes and hard links the build context had, under the name it had at the context's root",
    })
}

/// A `multi:` source given as local paths, one per COPY source: each hashed as a context
/// source (files under their own mode or a usual context mode), the references combined in order.
pub fn context_parts(reference: &str, paths: &[PathBuf], profile: &Profile) -> Result<Resolved, SourceError> {
    let sources = paths
        .iter()
        .map(|p| read(reference, p, &base_name(p)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut first = None;
    for conv in HashConvention::candidates(SourceOrigin::Context, profile) {
        let options = sources
            .iter()
            .map(|s| part_options(&conv, s).map_err(io_err(reference, &s.path)))
            .collect::<Result<Vec<_>, _>>()?;
        match find_combination(reference, &options) {
            Combination::Found(modes) => {
                let parts = sources
                    .iter()
                    .zip(modes)
                    .map(|(s, mode)| Part {
                        path: s.path.clone(),
                        entries: None,
                        mode,
                        stage: false,
                    })
                    .collect();
                return Ok(Resolved::Parts(parts));
            }
            Combination::Missed(found) => {
                first.get_or_insert(found);
            }
        }
    }
    Err(SourceError::TreeHashMismatch {
        reference: reference.to_string(),
        origin: paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
        found: first.unwrap_or_default(),
        hint: "list one path per source of the COPY, in the Dockerfile's order, each named as it was at the context's root",
    })
}

/// The references a source may have had: a directory has one; a file one per candidate mode.
fn part_options(conv: &HashConvention, s: &Read) -> std::io::Result<Vec<(String, Option<u32>)>> {
    match s.entries.as_slice() {
        [one] if matches!(one.kind, SourceKind::File(_)) => {
            let mut modes = vec![one.mode];
            modes.extend(CONTEXT_MODES.iter().filter(|m| **m != one.mode));
            modes
                .into_iter()
                .map(|mode| {
                    let e = SourceEntry { mode, ..one.clone() };
                    Ok((format!("file:{}", conv.entry_hash(&e, &s.name)?.hex()), Some(mode)))
                })
                .collect()
        }
        _ => Ok(vec![(conv.source_reference(&s.entries, &s.name)?, None)]),
    }
}

/// The outcome of a search for the modes under which the parts hash to a reference.
enum Combination {
    /// The mode chosen for each part (`None` for a directory).
    Found(Vec<Option<u32>>),
    /// No combination within the bound did; the reference of the parts' first options, which a
    /// refusal reports as what retrace computed.
    Missed(String),
}

/// The first choice of one option per part whose `multi:` hash is `reference`, trying the
/// parts' first options together first.
fn find_combination(reference: &str, options: &[Vec<(String, Option<u32>)>]) -> Combination {
    let mut index = vec![0usize; options.len()];
    let first = multi_reference(options, &index);
    for _ in 0..MAX_MODE_COMBINATIONS {
        if multi_reference(options, &index) == reference {
            return Combination::Found(index.iter().zip(options).map(|(&i, o)| o[i].1).collect());
        }
        // The next combination, the last part varying fastest.
        let Some(pos) = (0..options.len()).rev().find(|&p| index[p] + 1 < options[p].len()) else {
            break;
        };
        index[pos] += 1;
        index[pos + 1..].iter_mut().for_each(|i| *i = 0);
    }
    Combination::Missed(first)
}

fn multi_reference(options: &[Vec<(String, Option<u32>)>], index: &[usize]) -> String {
    let refs: Vec<String> = index.iter().zip(options).map(|(&i, o)| o[i].0.clone()).collect();
    match refs.as_slice() {
        [one] => one.clone(),
        _ => format!("multi:{}", multi_hash(&refs).hex()),
    }
}

/// The files a `COPY --from` read, under `root` (standing for the stage's root file system) at
/// `paths`: hashed as the daemon hashed a stage's files, checked against `reference` (`file:`,
/// `dir:` or, for several paths, `multi:`).
pub fn stage_parts(reference: &str, root: &Path, paths: &[String], profile: &Profile) -> Result<Resolved, SourceError> {
    let from_tar = root.is_file();
    let all = if from_tar {
        read_tarball(root).map_err(io_err(reference, root))?
    } else {
        Vec::new()
    };
    let sources = paths
        .iter()
        .map(|p| {
            let inside = p.trim_matches('/');
            let path = root.join(inside);
            if !from_tar {
                return read(reference, &path, inside);
            }
            let entries = subtree(&all, inside);
            if entries.is_empty() {
                let missing =
                    std::io::Error::new(std::io::ErrorKind::NotFound, format!("no `{inside}` in the tarball"));
                return Err(io_err(reference, root)(missing));
            }
            Ok(Read {
                path,
                name: inside.to_string(),
                entries,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut first = None;
    for conv in HashConvention::candidates(SourceOrigin::Stage, profile) {
        let refs = sources
            .iter()
            .map(|s| {
                conv.source_reference(&s.entries, &s.name)
                    .map_err(io_err(reference, &s.path))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let found = match refs.as_slice() {
            [one] => one.clone(),
            _ => format!("multi:{}", multi_hash(&refs).hex()),
        };
        if found == reference {
            let parts = sources
                .iter()
                .map(|s| Part {
                    path: s.path.clone(),
                    entries: from_tar.then(|| s.entries.clone()),
                    mode: None,
                    stage: true,
                })
                .collect();
            return Ok(Resolved::Parts(parts));
        }
        first.get_or_insert(found);
    }
    Err(SourceError::TreeHashMismatch {
        reference: reference.to_string(),
        origin: format!("stage {} ({})", root.display(), paths.join(", ")),
        found: first.unwrap_or_default(),
        hint: "`stage:` must hold the stage's files with their modes and numeric owners, at the paths the COPY named",
    })
}

/// Every entry of a tarball standing for a stage's root (`docker export` of a container of the
/// stage), read by the bounded archive reader; paths are relative to the root.
fn read_tarball(tar: &Path) -> std::io::Result<Vec<SourceEntry>> {
    use crate::archive::{read_archive_file, Kind, Limits};
    let mut out = Vec::new();
    read_archive_file(tar, None, &Limits::default(), |e, content| {
        let kind = match &e.kind {
            Kind::Dir => SourceKind::Dir,
            Kind::File => SourceKind::File(e.size),
            Kind::Symlink(t) => SourceKind::Symlink(t.clone()),
            Kind::Hardlink(t) => SourceKind::Hardlink(t.clone()),
            // Devices and FIFOs are not COPY'd from stages in any fixture seen; they would need
            // the engine to make them, so they are left out of a stage's files.
            _ => return Ok(()),
        };
        let mut data = Vec::new();
        if let SourceKind::File(_) = kind {
            content.read_to_end(&mut data)?;
        }
        out.push(SourceEntry {
            rel: e.path.clone(),
            disk: tar.join(&e.path),
            data: Some(data.into()),
            kind,
            mode: e.mode,
            uid: e.uid,
            gid: e.gid,
            mtime: e.mtime,
        });
        Ok(())
    })
    .map_err(|e| std::io::Error::other(format!("{}: {}", tar.display(), crate::error::Chain(&e))))?;
    Ok(out)
}

/// The entries of `all` at and below `inside`, re-rooted there, in the builder's walk order
/// (names sorted per directory). Hard links keep the first name in that order as the file; a
/// link whose file lies outside the subtree becomes a file, as the builder's walk of the stage
/// sees only the subtree.
fn subtree(all: &[SourceEntry], inside: &str) -> Vec<SourceEntry> {
    let below = |p: &str| -> Option<String> {
        if p == inside {
            Some(String::new())
        } else if inside.is_empty() {
            Some(p.to_string())
        } else {
            p.strip_prefix(inside)?.strip_prefix('/').map(str::to_string)
        }
    };

    let files: std::collections::HashMap<String, &SourceEntry> = all
        .iter()
        .filter(|e| matches!(e.kind, SourceKind::File(_)))
        .map(|e| (e.rel.clone(), e))
        .collect();
    // Each picked entry with the file its content belongs to (by its path in the tarball): itself,
    // or the file a hard link names.
    let mut picked: Vec<(String, SourceEntry)> = all
        .iter()
        .filter_map(|e| below(&e.rel).map(|rel| (rel, e)))
        .map(|(rel, e)| {
            let group = match &e.kind {
                SourceKind::Hardlink(t) => t.clone(),
                _ => e.rel.clone(),
            };
            (group, SourceEntry { rel, ..e.clone() })
        })
        .collect();
    picked.sort_by(|a, b| a.1.rel.split('/').cmp(b.1.rel.split('/')));
    let mut first: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for (key, e) in &mut picked {
        if !matches!(e.kind, SourceKind::File(_) | SourceKind::Hardlink(_)) {
            continue;
        }
        let key = key.clone();
        let Some(file) = files.get(&key) else { continue };
        match first.get(&key) {
            Some(rel) => e.kind = SourceKind::Hardlink(rel.clone()),
            None => {
                first.insert(key, e.rel.clone());
                e.kind = SourceKind::File(file.data.as_ref().map_or(0, |d| d.len() as u64));
                e.data = file.data.clone();
            }
        }
    }
    picked.into_iter().map(|(_, e)| e).collect()
}
