//! From a parsed repo-info document to the plan's plain input: one [`PlanInput`] per platform of
//! the recipe's tag, with each history entry's instruction reduced to what a replay does and the
//! step-to-layer mapping decided by `crate::mapping`.

use crate::ir::{Command, Instruction, Source};
use crate::mapping::map_platform;
use crate::model::{Document, PlatformImage};
use crate::plan::{InputStep, PlanInput, Step};
use crate::recipe::{Platform, Recipe};

use super::BuildError;

/// The plan inputs of every platform the recipe's tag lists (attestation entries skipped).
pub fn plan_inputs(recipe: &Recipe) -> Result<Vec<PlanInput>, BuildError> {
    let doc = crate::parse::parse_file(&recipe.document)?;
    inputs_of(&doc, &recipe.tag).map_err(|source| BuildError::NoTag {
        document: recipe.document.clone(),
        source,
    })
}

/// A recipe's tag that the document does not list, or lists with no image.
#[derive(Debug, thiserror::Error)]
pub enum NoTagError {
    #[error("no tag `{tag}` (the document has: {have})")]
    Missing { tag: String, have: String },
    #[error("tag `{tag}` has no image to rebuild: the document says {note}")]
    NoImage { tag: String, note: String },
}

/// The plan inputs of `tag` in `doc`; `tag` may be `name:tag` or just the tag part.
pub fn inputs_of(doc: &Document, tag: &str) -> Result<Vec<PlanInput>, NoTagError> {
    let section = doc.tags.iter().find(|t| t.answers_to(tag)).ok_or_else(|| {
        let have: Vec<&str> = doc.tags.iter().map(|t| t.tag.as_str()).collect();
        NoTagError::Missing {
            tag: tag.to_string(),
            have: have.join(", "),
        }
    })?;
    if let Some(note) = &section.note {
        return Err(NoTagError::NoImage {
            tag: section.tag.clone(),
            note: note.clone(),
        });
    }
    let recorded_latest = crate::reproduce::facts::latest_time(doc);
    Ok(section
        .platforms
        .iter()
        .filter(|p| !p.platform.is_attestation())
        .map(|p| input_of(p, recorded_latest))
        .collect())
}

fn input_of(image: &PlatformImage, recorded_latest: i64) -> PlanInput {
    let mapping = map_platform(image);
    let p = &image.platform;
    PlanInput {
        platform: Platform::new(&p.os, &p.architecture, p.variant.as_deref()),
        docker_version: image.docker_version.clone(),
        layers: image.layers.iter().map(|l| l.digest).collect(),
        recorded_latest: Some(recorded_latest),
        steps: image
            .history
            .iter()
            .enumerate()
            .map(|(i, h)| InputStep {
                text: h.text.clone(),
                created: h.created.map(|t| t.unix),
                args: h.args.iter().map(|a| (a.name.clone(), a.value.clone())).collect(),
                step: step_of(&h.instruction, &h.text),
                makes_layer: Some(mapping.steps.get(i).copied().flatten().map(|n| n - 1)),
            })
            .collect(),
    }
}

fn argv(c: &Command) -> Vec<String> {
    match c {
        Command::Exec(v) => v.clone(),
        Command::Shell(s) => vec!["/bin/sh".into(), "-c".into(), s.clone()],
    }
}

/// What the replay does for one IR instruction.
pub fn step_of(instruction: &Instruction, text: &str) -> Step {
    match instruction {
        Instruction::Run(r) if !r.windows_base => Step::Run {
            script: r.recorded.clone(),
            exec: r.exec_argv(),
        },
        Instruction::Add(c) | Instruction::Copy(c) => {
            let source = match &c.source {
                Source::Hashed { what, digest } => format!("{what}:{}", digest.hex()),
                Source::Paths { paths } => paths.join(" "),
            };
            Step::Copy {
                add: matches!(instruction, Instruction::Add(_)),
                source,
                dest: c.destination.clone(),
                chown: c
                    .flags
                    .iter()
                    .find_map(|f| f.strip_prefix("--chown=").map(str::to_string)),
            }
        }
        Instruction::Env(kv) => Step::Env(kv.iter().map(|k| (k.key.clone(), k.value.clone())).collect()),
        Instruction::Cmd(c) => Step::Cmd(argv(c)),
        Instruction::Entrypoint(c) => Step::Entrypoint(argv(c)),
        Instruction::Expose(p) => Step::Expose(p.clone()),
        Instruction::Workdir(w) => Step::Workdir(w.clone()),
        Instruction::Volume(v) => Step::Volume(v.clone()),
        Instruction::User(u) => Step::User(u.clone()),
        Instruction::Label(kv) => Step::Label(kv.iter().map(|k| (k.key.clone(), k.value.clone())).collect()),
        Instruction::Shell(s) => Step::Shell(s.args.clone()),
        Instruction::Stopsignal(s) => Step::StopSignal(s.clone()),
        _ => Step::Other(text.to_string()),
    }
}
