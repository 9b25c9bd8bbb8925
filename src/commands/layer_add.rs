//! `retrace layer add SOURCE --document DOC --platform P [--layer N] [--json] [-o OUT]`: rebuild
//! the layer of a base `ADD file:<hex> in /` step from its source tarball, without an engine.

use std::path::PathBuf;

use super::Console;
use crate::add::{base_steps, rebuild_base_layer_any, AddError, AddOptions, AddOutcome, BaseFactsError, BaseStep};
use crate::Outcome;

/// Where the step's facts come from.
#[derive(Debug, Clone)]
pub enum StepFacts {
    /// A repo-info document, its platform, the layer (1-based) and optionally a tag.
    Document {
        document: PathBuf,
        platform: crate::platform::Platform,
        layer: usize,
        /// Only the platform's image in this tag (`3.6` or `alpine:3.6`); by default every image
        /// of the platform is a candidate and the one whose `file:` hash the source gives is used.
        tag: Option<String>,
    },
    /// The facts given directly (a document version that is no longer published).
    Given(BaseStep),
}

#[derive(Debug, Clone)]
pub struct LayerAddOptions {
    pub source: PathBuf,
    pub facts: StepFacts,
    /// The source's path relative to the build context, as hashed; default: its file name.
    pub name: Option<String>,
    /// Where to write the reported blob (atomically).
    pub output: Option<PathBuf>,
    pub json: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum LayerAddError {
    #[error(transparent)]
    Facts(#[from] BaseFactsError),
    #[error(transparent)]
    Add(#[from] AddError),
    /// Writing the blob failed.
    #[error("{path}")]
    Output {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Console(#[from] super::OutputError),
}

/// Runs the rebuild and prints its report; the outcome says whether the layer matched.
pub fn run(opts: &LayerAddOptions, console: &mut Console<'_>) -> Result<Outcome, crate::Error> {
    Ok(rebuild(opts, console)?)
}

fn rebuild(opts: &LayerAddOptions, console: &mut Console<'_>) -> Result<Outcome, LayerAddError> {
    let steps = match &opts.facts {
        StepFacts::Document {
            document,
            platform,
            layer,
            tag,
        } => base_steps(document, platform, *layer, tag.as_deref())?,
        StepFacts::Given(step) => vec![step.clone()],
    };
    let add_opts = AddOptions {
        name: opts.name.clone(),
        ..AddOptions::default()
    };
    let outcome = rebuild_base_layer_any(&opts.source, &steps, &add_opts)?;
    if let Some(path) = &opts.output {
        crate::fsutil::write_atomic(path, |w| w.write_all(&outcome.blob)).map_err(|source| LayerAddError::Output {
            path: path.clone(),
            source,
        })?;
    }
    let text = if opts.json {
        // The outcome is plain data, so it always serializes.
        let mut json = serde_json::to_string(&outcome).expect("the outcome serializes");
        json.push('\n');
        json
    } else {
        render_text(&outcome)
    };
    console.print(text)?;
    Ok(if outcome.matched {
        Outcome::Match
    } else {
        Outcome::Differ
    })
}

/// The human-readable report: the verdict, how the source was verified, and every trial.
pub fn render_text(o: &AddOutcome) -> String {
    let mut s = if o.matched {
        format!(
            "matched {} with profile {}, variant {} in {:.3} s\n",
            o.expected, o.profile, o.variant, o.seconds
        )
    } else {
        format!(
            "no match for {} after {} trials in {:.3} s; profile {} gives {}\n",
            o.expected,
            o.tried.len(),
            o.seconds,
            o.profile,
            o.digest
        )
    };
    s.push_str(&format!(
        "source {} verified with context mode {} and owner names {:?}\n",
        o.source.name, o.source.mode, o.source.owner_name
    ));
    if !o.implicit_dirs.is_empty() {
        s.push_str(&format!(
            "directories the tarball does not list (their mtime is unknown): {}\n",
            o.implicit_dirs.join(", ")
        ));
    }
    for t in &o.tried {
        let mark = if t.matched { "=" } else { " " };
        s.push_str(&format!("  {mark} {} {} {}\n", t.profile, t.variant, t.digest));
    }
    s
}
