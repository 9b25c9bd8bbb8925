//! `retrace diff A B`: what differs between two layers, two images or two builds, where, and
//! whether it matters.
//!
//! Operands are resolved by [`source`] (its module docs define the syntax), read by the safe
//! streaming reader into compact [`index::LayerIndex`]es (two at a time, in parallel), compared path
//! by path by [`compare()`], and rendered as text or JSON. Images are compared platform by platform,
//! layer by layer, and as flattened file systems (whiteouts and opaque directories applied).
//! `--semantic` ignores what cannot carry meaning: mtimes, entry order, header encoding and
//! compression.

pub mod budget;
pub mod cause;
pub mod compare;
pub mod images;
pub mod index;
pub mod nested;
pub mod render;
pub mod source;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::archive::{ArchiveError, Compression, Limits};
use crate::Digest;
use budget::{WorkBudget, WorkLimits};
use compare::{compare, same_order, Change, CompareOptions};
use index::{LayerIndex, Retention};
use source::{resolve, ImageResolver, LayerSource, PlatformLayers, Subject};

#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("layer {layer}")]
    Archive {
        layer: String,
        #[source]
        source: ArchiveError,
    },
    #[error("operand `{spec}`: {message}")]
    Spec { spec: String, message: String },
    #[error("{path}: {message}")]
    Layout { path: PathBuf, message: String },
    #[error("{path}")]
    DockerArchive {
        path: PathBuf,
        #[source]
        source: ArchiveError,
    },
    #[error(transparent)]
    Report(#[from] crate::report_json::ReportJsonError),
    /// An OCI layout operand that could not be read: its index, a manifest or a blob.
    #[error(transparent)]
    OciLayout(#[from] crate::registry::RegistryError),
    /// An image reference operand (`registry:`, `store:`, `docker://`) the registry client could
    /// not resolve or fetch.
    #[error("operand `{spec}`")]
    Image {
        spec: String,
        #[source]
        source: crate::registry::RegistryError,
    },
    #[error("cannot compare {a} with {b}")]
    Mismatched { a: String, b: String },
}

impl DiffError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> DiffError {
        DiffError::Io {
            path: path.into(),
            source,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    pub semantic: bool,
    pub report_dir: Option<PathBuf>,
    pub limits: Limits,
    pub retention: Retention,
    pub work: WorkLimits,
}

/// What the semantic mode leaves out, stated in every semantic report.
pub const SEMANTIC_IGNORES: [&str; 4] = ["mtime", "entry order", "header format", "compression"];

/// Facts about one side of a layer comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LayerFacts {
    pub source: String,
    pub digest: Digest,
    pub diff_id: Digest,
    pub compression: Compression,
    pub entries: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// `layer`, `<platform> layer <n>` or `<platform> flattened`.
    pub label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub a: Option<LayerFacts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub b: Option<LayerFacts>,
    pub differs: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub changes: Vec<Change>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffReport {
    pub a: String,
    pub b: String,
    pub semantic: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<String>,
    pub differs: bool,
    pub comparisons: Vec<Comparison>,
}

impl DiffReport {
    pub fn outcome(&self) -> crate::Outcome {
        if self.differs {
            crate::Outcome::Differ
        } else {
            crate::Outcome::Match
        }
    }
}

/// Runs `retrace diff A B`: resolves both operands, compares them, and writes the report dir
/// (report, text rendering, unified diffs) when one is asked for.
pub fn diff(
    a: &str,
    b: &str,
    opts: &DiffOptions,
    resolver: Option<&dyn ImageResolver>,
) -> Result<DiffReport, DiffError> {
    let sa = resolve(a, resolver)?;
    let sb = resolve(b, resolver)?;
    let budget = WorkBudget::new(opts.work);
    let copts = CompareOptions::thorough(opts.semantic, &budget);
    let comparisons = match (sa, sb) {
        (Subject::Layer(la), Subject::Layer(lb)) => {
            let (ia, ib) = read_pair(Some(&la), Some(&lb), opts)?;
            // `read_pair` reads every side it is given, so both indexes are there.
            vec![layer_comparison(
                "layer".into(),
                &la,
                &ia.unwrap(),
                &lb,
                &ib.unwrap(),
                &copts,
                opts,
            )?]
        }
        (Subject::Image(pa), Subject::Image(pb)) => compare_images(&pa, &pb, opts, &copts)?,
        _ => {
            return Err(DiffError::Mismatched {
                a: format!("`{a}`"),
                b: format!(
                    "`{b}` (one is a single layer, the other an image; name a layer of the image with DIR@sha256:…)"
                ),
            })
        }
    };
    let report = DiffReport {
        a: a.to_string(),
        b: b.to_string(),
        semantic: opts.semantic,
        ignored: if opts.semantic {
            SEMANTIC_IGNORES.iter().map(|s| s.to_string()).collect()
        } else {
            Vec::new()
        },
        differs: comparisons.iter().any(|c| c.differs),
        comparisons,
    };
    let mut report = report;
    if let Some(dir) = &opts.report_dir {
        render::write_report_dir(&mut report, dir)?;
    }
    Ok(report)
}

/// Reads two layers at once, one per core: decompression and hashing dominate the run time.
fn read_pair(
    a: Option<&LayerSource>,
    b: Option<&LayerSource>,
    opts: &DiffOptions,
) -> Result<(Option<LayerIndex>, Option<LayerIndex>), DiffError> {
    let read = |l: Option<&LayerSource>| -> Result<Option<LayerIndex>, DiffError> {
        let Some(l) = l else { return Ok(None) };
        let blob = l.opener.open()?;
        LayerIndex::read(blob, l.digest.as_ref(), &opts.limits, &opts.retention)
            .map(Some)
            .map_err(|source| DiffError::Archive {
                layer: l.label.clone(),
                source,
            })
    };
    on_both(read, a, b)
}

/// `read` of both sides at once, one on a scoped thread: the two layers are independent, and
/// decompressing them is most of a comparison's time.
fn on_both<A: Send, T: Send>(read: impl Fn(A) -> Result<T, DiffError> + Sync, a: A, b: A) -> Result<(T, T), DiffError> {
    let (ra, rb) = std::thread::scope(|s| {
        let ha = s.spawn(|| read(a));
        let rb = read(b);
        // The reader thread returns its errors; it panics only on a bug, which is passed on.
        (ha.join().expect("reader thread panicked"), rb)
    });
    Ok((ra?, rb?))
}

fn facts(l: &LayerSource, i: &LayerIndex) -> Option<LayerFacts> {
    let s = i.summary.as_ref()?;
    Some(LayerFacts {
        source: l.label.clone(),
        digest: s.blob_digest,
        diff_id: s.diff_id,
        compression: s.compression,
        entries: s.entries,
    })
}

/// Compares two layers; byte-identical blobs short-cut to "same".
fn layer_comparison(
    label: String,
    la: &LayerSource,
    a: &LayerIndex,
    lb: &LayerSource,
    b: &LayerIndex,
    opts: &CompareOptions,
    dopts: &DiffOptions,
) -> Result<Comparison, DiffError> {
    let (fa, fb) = (facts(la, a), facts(lb, b));
    let mut notes = Vec::new();
    let identical = matches!((&fa, &fb), (Some(x), Some(y)) if x.digest == y.digest);
    let mut changes = if identical { Vec::new() } else { compare(a, b, opts) };
    fetch_unretained(la, lb, &mut changes, opts, dopts)?;
    let mut differs = !changes.is_empty();
    if let (Some(x), Some(y)) = (&fa, &fb) {
        if !identical && !opts.semantic {
            differs = true;
            if x.compression != y.compression {
                notes.push(format!("compression differs: {} vs {}", x.compression, y.compression));
            }
            if x.diff_id == y.diff_id {
                notes.push("same uncompressed tar stream (diff_id); only the compressed bytes differ".into());
            } else {
                if !same_order(a, b) {
                    notes.push("entry order differs".into());
                } else if changes.is_empty() {
                    notes.push("tar streams differ only in header encoding or padding".into());
                }
            }
        }
    }
    Ok(Comparison {
        label,
        a: fa,
        b: fb,
        differs,
        notes,
        changes,
    })
}

/// Second pass for differing files whose content the first pass could not keep (budget
/// exhausted): both layers are read again, keeping only those files, and the differences explained.
fn fetch_unretained(
    la: &LayerSource,
    lb: &LayerSource,
    changes: &mut [Change],
    opts: &CompareOptions,
    dopts: &DiffOptions,
) -> Result<(), DiffError> {
    let wanted: std::collections::HashSet<String> = changes
        .iter()
        .filter(|c| c.notes.iter().any(|n| n == compare::NOT_RETAINED))
        .map(|c| c.path.clone())
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let read = |l: &LayerSource| {
        let blob = l.opener.open()?;
        LayerIndex::read_contents(blob, l.digest.as_ref(), &dopts.limits, &dopts.retention, &wanted).map_err(|source| {
            DiffError::Archive {
                layer: l.label.clone(),
                source,
            }
        })
    };
    let (ca, cb) = on_both(read, la, lb)?;
    for c in changes.iter_mut().filter(|c| wanted.contains(&c.path)) {
        // A file that did not fit the second pass's budget either keeps its note.
        if let (Some(x), Some(y)) = (ca.get(&c.path), cb.get(&c.path)) {
            c.notes.retain(|n| n != compare::NOT_RETAINED);
            let path = c.path.clone();
            compare::explain_bytes(&path, x, y, opts, c);
        }
    }
    Ok(())
}

/// Pairs the platforms of two images by name; two single-platform images are compared whatever
/// their platform names, since a rebuild may not know the published platform string.
fn pair_platforms<'a>(
    pa: &'a [PlatformLayers],
    pb: &'a [PlatformLayers],
) -> Vec<(String, Option<&'a PlatformLayers>, Option<&'a PlatformLayers>)> {
    if pa.len() == 1 && pb.len() == 1 {
        let name = if pa[0].platform == pb[0].platform {
            pa[0].platform.clone()
        } else {
            format!("{} vs {}", pa[0].platform, pb[0].platform)
        };
        return vec![(name, Some(&pa[0]), Some(&pb[0]))];
    }
    let mut out: Vec<(String, Option<&PlatformLayers>, Option<&PlatformLayers>)> = Vec::new();
    for a in pa {
        out.push((
            a.platform.clone(),
            Some(a),
            pb.iter().find(|b| b.platform == a.platform),
        ));
    }
    for b in pb {
        if !pa.iter().any(|a| a.platform == b.platform) {
            out.push((b.platform.clone(), None, Some(b)));
        }
    }
    out
}

fn compare_images(
    pa: &[PlatformLayers],
    pb: &[PlatformLayers],
    opts: &DiffOptions,
    copts: &CompareOptions,
) -> Result<Vec<Comparison>, DiffError> {
    let mut out = Vec::new();
    for (platform, a, b) in pair_platforms(pa, pb) {
        let (Some(a), Some(b)) = (a, b) else {
            out.push(Comparison {
                label: platform.clone(),
                a: None,
                b: None,
                differs: true,
                notes: vec![format!(
                    "platform {platform} only in {}",
                    if a.is_some() { "A" } else { "B" }
                )],
                changes: Vec::new(),
            });
            continue;
        };
        let mut flat_a = LayerIndex::empty();
        let mut flat_b = LayerIndex::empty();
        let mut flat_complete = true;
        let n = a.layers.len().max(b.layers.len());
        for i in 0..n {
            let label = format!("{platform} layer {}", i + 1);
            let la = a.layers.get(i).and_then(Option::as_ref);
            let lb = b.layers.get(i).and_then(Option::as_ref);
            let (ia, ib) = read_pair(la, lb, opts)?;
            let cmp = match (la, ia, lb, ib) {
                (Some(la), Some(ia), Some(lb), Some(ib)) => {
                    let c = layer_comparison(label, la, &ia, lb, &ib, copts, opts)?;
                    flat_a.apply(ia);
                    flat_b.apply(ib);
                    c
                }
                (la, ia, lb, ib) => {
                    let why = |present: bool, listed: bool| match (present, listed) {
                        (true, _) => "present",
                        (false, true) => "not built",
                        (false, false) => "absent",
                    };
                    let note = format!(
                        "layer {} in A, {} in B",
                        why(la.is_some(), i < a.layers.len()),
                        why(lb.is_some(), i < b.layers.len())
                    );
                    // A side with fewer layers is still a complete image; a listed layer that was
                    // not built leaves that side's flattened view partial.
                    if (la.is_none() && i < a.layers.len()) || (lb.is_none() && i < b.layers.len()) {
                        flat_complete = false;
                    }
                    let c = Comparison {
                        label,
                        a: la.zip(ia.as_ref()).and_then(|(l, x)| facts(l, x)),
                        b: lb.zip(ib.as_ref()).and_then(|(l, x)| facts(l, x)),
                        differs: true,
                        notes: vec![note],
                        changes: Vec::new(),
                    };
                    if let Some(ia) = ia {
                        flat_a.apply(ia);
                    }
                    if let Some(ib) = ib {
                        flat_b.apply(ib);
                    }
                    c
                }
            };
            out.push(cmp);
        }
        let changes = compare(&flat_a, &flat_b, copts);
        let mut notes = Vec::new();
        if !flat_complete {
            notes.push("some layers are missing on one side; the flattened views are partial".into());
        }
        out.push(Comparison {
            label: format!("{platform} flattened"),
            a: None,
            b: None,
            differs: !changes.is_empty() || !flat_complete,
            notes,
            changes,
        });
    }
    Ok(out)
}

/// Diffs two layer blob files directly; used by the cause classifier and by tests.
pub fn diff_layer_files(a: &Path, b: &Path, opts: &DiffOptions) -> Result<Comparison, DiffError> {
    let la = LayerSource {
        label: a.display().to_string(),
        digest: None,
        opener: source::Opener::File(a.into()),
    };
    let lb = LayerSource {
        label: b.display().to_string(),
        digest: None,
        opener: source::Opener::File(b.into()),
    };
    let (ia, ib) = read_pair(Some(&la), Some(&lb), opts)?;
    let budget = WorkBudget::new(opts.work);
    let copts = CompareOptions::thorough(opts.semantic, &budget);
    // `read_pair` reads every side it is given, so both indexes are there.
    layer_comparison("layer".into(), &la, &ia.unwrap(), &lb, &ib.unwrap(), &copts, opts)
}
