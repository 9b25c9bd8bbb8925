//! The facts of one base `ADD file:<hex> in /` step, taken from a repo-info document.

use std::path::Path;

use crate::ir::{Instruction, Source};
use crate::layer::Profile;
use crate::mapping::map_platform;
use crate::model::PlatformImage;
use crate::parse::parse_file;
use crate::platform::Platform;
use crate::reproduce::facts::{platform_images, FactsError};
use crate::Digest;

/// What rebuilding a base layer needs to know about its step: the source's recorded hash, the
/// digest to reach and the release that wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseStep {
    /// The `file:<hex>` hash the classic builder recorded for the source.
    pub file_hash: Digest,
    /// The published layer digest.
    pub expected: Digest,
    /// The profile of the release that wrote the layer: the document's `Docker Version`, or the
    /// recipe's `profile:` that overrides it, resolved once by [`Profile::resolve`].
    pub profile: Profile,
    /// The step's `created` time (seconds), if recorded.
    pub created: Option<i64>,
}

/// Why a document gives no base step: the lookups shared with the timestamp search
/// ([`FactsError`]), or a layer made by some other step.
#[derive(Debug, thiserror::Error)]
pub enum BaseFactsError {
    #[error(transparent)]
    Facts(#[from] FactsError),
    #[error("{doc}:{line}: layer {layer} of {platform} was made by `{text}`, not by `ADD file:<hex> in /`")]
    NotBaseAdd {
        doc: String,
        line: usize,
        platform: String,
        layer: usize,
        text: String,
    },
}

/// Reads `doc` and returns the facts of layer `layer` (1-based) of every image of `platform`
/// (chosen by the one rule of `crate::platform`), optionally only in
/// tag `tag`. A document often lists the same platform under several tags built at different
/// times, so the caller picks the step whose `file:` hash its source gives. Images whose layer was
/// not made by `ADD file:<hex> in /` are left out; when none is left, the first one's step is
/// named in the error.
pub fn base_steps(
    doc: &Path,
    platform: &Platform,
    layer: usize,
    tag: Option<&str>,
) -> Result<Vec<BaseStep>, BaseFactsError> {
    let document = parse_file(doc).map_err(FactsError::from)?;
    let name = doc.display().to_string();
    let images = platform_images(&document, &name, platform, tag)?;
    let mut steps: Vec<BaseStep> = Vec::new();
    let mut first_error = None;
    for image in images {
        match step_of(&name, image, layer) {
            Ok(step) if !steps.contains(&step) => steps.push(step),
            Ok(_) => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match (steps.is_empty(), first_error) {
        (true, Some(e)) => Err(e),
        _ => Ok(steps),
    }
}

/// The base step of one platform image.
fn step_of(name: &str, image: &PlatformImage, layer: usize) -> Result<BaseStep, BaseFactsError> {
    let platform = image.platform.to_string();
    if layer == 0 || layer > image.layers.len() {
        return Err(FactsError::NoLayer {
            doc: name.to_string(),
            platform,
            layer,
            count: image.layers.len(),
        }
        .into());
    }
    let docker_version = image
        .docker_version
        .clone()
        .ok_or_else(|| FactsError::NoDockerVersion {
            doc: name.to_string(),
            platform: platform.clone(),
        })?;
    let profile = Profile::resolve(&docker_version).map_err(|source| FactsError::Profile {
        doc: name.to_string(),
        platform: platform.clone(),
        source,
    })?;
    let mapping = map_platform(image);
    let step = mapping
        .steps
        .iter()
        .position(|s| *s == Some(layer))
        .map(|i| &image.history[i])
        .ok_or_else(|| FactsError::NoStep {
            doc: name.to_string(),
            platform: platform.clone(),
            layer,
        })?;
    let file_hash = match &step.instruction {
        Instruction::Add(copy) if copy.destination.trim() == "/" => match &copy.source {
            Source::Hashed { what, digest } if what == "file" => Some(*digest),
            _ => None,
        },
        _ => None,
    };
    let file_hash = file_hash.ok_or_else(|| BaseFactsError::NotBaseAdd {
        doc: name.to_string(),
        line: step.line,
        platform: platform.clone(),
        layer,
        text: step.text.chars().take(80).collect(),
    })?;
    Ok(BaseStep {
        file_hash,
        expected: image.layers[layer - 1].digest,
        profile,
        created: step.created.map(|c| c.unix),
    })
}
