//! `retrace parse DOC...`: parse repo-info documents and print the model as JSON, as Dockerfiles or
//! as a short summary table.
//!
//! Documents are parsed one at a time and independently: a document that fails is reported in the
//! `errors` list (and makes the command exit 2) while the others are still printed.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use super::Console;
use crate::ir::Command;
use crate::mapping::{map_platform, Certainty, Mapping};
use crate::model::{Document, PlatformImage, TagSection};
use crate::parse::{parse_file, ParseError};
use crate::platform::{self, Platform};
use crate::{dockerfile, Digest, Error, Outcome};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Json,
    Dockerfile,
    Summary,
}

#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    /// The documents, parsed one at a time.
    pub paths: Vec<PathBuf>,
    /// `name:tag` or just `tag`.
    pub tag: Option<String>,
    /// Chosen by the rule in `crate::platform`.
    pub platform: Option<Platform>,
    pub format: Format,
}

/// What the command produced: the text for stdout and the documents that failed.
#[derive(Debug)]
pub struct ParseReport {
    pub output: String,
    pub errors: Vec<ParseError>,
}

/// Prints the selection of every document that parses and notes each that does not; a document
/// that fails makes the command fail after the others are printed.
pub fn run(opts: &ParseOptions, console: &mut Console<'_>) -> Result<Outcome, Error> {
    let report = render(opts)?;
    console.print(&report.output)?;
    for e in &report.errors {
        console.note(crate::error::Chain(e));
    }
    if !report.errors.is_empty() {
        return Err(Error::ParseFailures {
            failed: report.errors.len(),
            total: opts.paths.len(),
        });
    }
    Ok(Outcome::Match)
}

/// Parses every document and renders the selection. Returns `Err` only for a usage error (a tag or
/// platform that no parsed document has); parse failures are in `ParseReport::errors`.
pub fn render(opts: &ParseOptions) -> Result<ParseReport, Error> {
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    for path in &opts.paths {
        match parse_file(path) {
            Ok(doc) => docs.push((path.display().to_string(), doc)),
            Err(e) => errors.push(e),
        }
    }
    let selected = select(&docs, opts)?;
    let output = match opts.format {
        Format::Json => json(&selected, &errors),
        Format::Dockerfile => dockerfiles(&selected),
        Format::Summary => summary(&selected),
    };
    Ok(ParseReport { output, errors })
}

struct Selected<'a> {
    path: &'a str,
    tags: Vec<(&'a TagSection, Vec<(&'a PlatformImage, Mapping)>)>,
}

fn select<'a>(docs: &'a [(String, Document)], opts: &ParseOptions) -> Result<Vec<Selected<'a>>, Error> {
    let tags: Vec<(&str, Vec<&TagSection>)> = docs
        .iter()
        .map(|(path, doc)| {
            let kept = doc
                .tags
                .iter()
                .filter(|t| opts.tag.as_ref().is_none_or(|want| t.answers_to(want)))
                .collect();
            (path.as_str(), kept)
        })
        .collect();
    if !docs.is_empty() && opts.tag.is_some() && tags.iter().all(|(_, t)| t.is_empty()) {
        let have: Vec<&str> = docs
            .iter()
            .flat_map(|(_, d)| d.tags.iter().map(|t| t.tag.as_str()))
            .collect();
        return Err(Error::Usage(format!(
            "no document has the tag `{}`; tags present: {}",
            opts.tag.as_deref().unwrap_or_default(),
            have.join(", ")
        )));
    }
    // The platform is chosen across every document at once, so `linux/arm` is ambiguous when
    // any of them holds two arm variants.
    let images = tags.iter().flat_map(|(_, t)| t.iter().flat_map(|t| &t.platforms));
    let chosen = match &opts.platform {
        Some(want) if !docs.is_empty() => Some(platform::select(want, images, |p| p.platform.platform())?),
        _ => None,
    };
    let kept = |p: &PlatformImage| chosen.as_ref().is_none_or(|c| c.iter().any(|x| std::ptr::eq(*x, p)));
    Ok(tags
        .into_iter()
        .map(|(path, tags)| Selected {
            path,
            tags: tags
                .into_iter()
                .map(|t| {
                    (
                        t,
                        t.platforms
                            .iter()
                            .filter(|p| kept(p))
                            .map(|p| (p, map_platform(p)))
                            .collect(),
                    )
                })
                .collect(),
        })
        .collect())
}

#[derive(Serialize)]
struct JsonOut<'a> {
    documents: Vec<JsonDoc<'a>>,
    errors: &'a [ParseError],
}

#[derive(Serialize)]
struct JsonDoc<'a> {
    path: &'a str,
    tags: Vec<JsonTag<'a>>,
}

#[derive(Serialize)]
struct JsonTag<'a> {
    tag: &'a str,
    digest: Option<Digest>,
    media_type: Option<&'a str>,
    platforms: Vec<JsonPlatform<'a>>,
}

#[derive(Serialize)]
struct JsonPlatform<'a> {
    platform: String,
    os_version: Option<&'a str>,
    digest: Option<Digest>,
    docker_version: Option<&'a str>,
    media_type: Option<&'a str>,
    total_size: Option<u64>,
    image_id: Option<Digest>,
    entrypoint: Option<&'a Command>,
    cmd: Option<&'a Command>,
    shell: Option<&'a Command>,
    history: Vec<JsonStep<'a>>,
    layers: Vec<JsonLayer<'a>>,
    mapping: Certainty,
    mapping_reason: &'a str,
    undetermined_steps: &'a [usize],
}

#[derive(Serialize)]
struct JsonStep<'a> {
    created: Option<String>,
    instruction: &'a str,
    text: &'a str,
    layer: Option<usize>,
    layer_certain: bool,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    args: &'a [crate::model::BuildArg],
}

#[derive(Serialize)]
struct JsonLayer<'a> {
    digest: Digest,
    size: Option<u64>,
    last_modified: Option<String>,
    media_type: Option<&'a str>,
}

fn json(selected: &[Selected<'_>], errors: &[ParseError]) -> String {
    let documents = selected
        .iter()
        .map(|s| JsonDoc {
            path: s.path,
            tags: s
                .tags
                .iter()
                .map(|(t, platforms)| JsonTag {
                    tag: &t.tag,
                    digest: t.digest,
                    media_type: t.media_type.as_deref(),
                    platforms: platforms.iter().map(|(p, m)| json_platform(p, m)).collect(),
                })
                .collect(),
        })
        .collect();
    // The output is plain data with string map keys, so it always serializes.
    let mut s = serde_json::to_string_pretty(&JsonOut { documents, errors }).expect("plain data always serializes");
    s.push('\n');
    s
}

fn json_platform<'a>(p: &'a PlatformImage, m: &'a Mapping) -> JsonPlatform<'a> {
    JsonPlatform {
        platform: p.platform.to_string(),
        os_version: p.platform.os_version.as_deref(),
        digest: p.digest,
        docker_version: p.docker_version.as_deref(),
        media_type: p.media_type.as_deref(),
        total_size: p.total_size.as_ref().and_then(|s| s.bytes),
        image_id: p.image_id,
        entrypoint: p.entrypoint.as_ref(),
        cmd: p.cmd.as_ref(),
        shell: p.shell.as_ref(),
        history: p
            .history
            .iter()
            .enumerate()
            .map(|(i, e)| JsonStep {
                created: e.created.map(|t| t.to_string()),
                instruction: e.instruction.keyword(),
                text: &e.text,
                layer: m.steps.get(i).copied().flatten(),
                layer_certain: m.step_certain.get(i).copied().unwrap_or(false),
                args: &e.args,
            })
            .collect(),
        layers: p
            .layers
            .iter()
            .map(|l| JsonLayer {
                digest: l.digest,
                size: l.size,
                last_modified: l.last_modified.map(|t| t.to_string()),
                media_type: l.media_type.as_deref(),
            })
            .collect(),
        mapping: m.certainty,
        mapping_reason: &m.reason,
        undetermined_steps: &m.undetermined,
    }
}

fn dockerfiles(selected: &[Selected<'_>]) -> String {
    let mut out = String::new();
    for s in selected {
        for (t, platforms) in &s.tags {
            for (p, m) in platforms {
                if p.platform.is_attestation() {
                    continue;
                }
                if !out.is_empty() {
                    out.push('\n');
                }
                let _ = writeln!(out, "# ---- {} :: {} :: {} ----", s.path, t.tag, p.platform);
                out.push_str(&dockerfile::render(&t.tag, p, m));
            }
        }
    }
    out
}

fn summary(selected: &[Selected<'_>]) -> String {
    let mut out = String::new();
    for s in selected {
        let _ = writeln!(out, "{}", s.path);
        for (t, platforms) in &s.tags {
            let digest = t.digest.map_or_else(|| "-".to_string(), |d| short(&d));
            let _ = writeln!(out, "  {}  {}  {} platform(s)", t.tag, digest, platforms.len());
            let _ = writeln!(
                out,
                "    {:<22} {:<19} {:>5} {:>6} {:>10}  mapping",
                "PLATFORM", "MANIFEST", "STEPS", "LAYERS", "SIZE"
            );
            for (p, m) in platforms {
                let size = p.total_size.as_ref().map_or("-".to_string(), |s| s.display.clone());
                let _ = writeln!(
                    out,
                    "    {:<22} {:<19} {:>5} {:>6} {:>10}  {}",
                    p.platform.to_string(),
                    p.digest.map_or_else(|| "-".to_string(), |d| short(&d)),
                    p.history.len(),
                    p.layers.len(),
                    size,
                    match m.certainty {
                        Certainty::Certain => "certain".to_string(),
                        Certainty::Ambiguous => format!("AMBIGUOUS: {}", m.reason),
                    }
                );
            }
        }
    }
    out
}

fn short(d: &Digest) -> String {
    format!("sha256:{}", &d.hex()[..12])
}
