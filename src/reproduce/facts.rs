//! The search input of one layer, taken from a parsed repo-info document: the published digest,
//! the Docker release that wrote the layer, the `created` times of the layer-making steps up to
//! it, and the latest time the document records (anything later was replayed).

use std::path::Path;

use crate::ir::{Instruction, Source};
use crate::layer::{Profile, ProfileError};
use crate::mapping::map_platform;
use crate::model::{Document, PlatformImage, TagSection};
use crate::parse::{parse_file, ParseError};
use crate::platform::{select, Platform, SelectError};

use std::collections::BTreeMap;

use super::{SearchInput, SearchLimits, StepTime};

/// What the search needs to know about one layer of one platform image.
#[derive(Debug, Clone)]
pub struct LayerFacts {
    /// The platform as the document names it (`os/arch[/variant]`).
    pub platform: String,
    pub docker_version: String,
    pub profile: Profile,
    pub input: SearchInput,
}

#[derive(Debug, thiserror::Error)]
pub enum FactsError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error("{doc}")]
    Platform {
        doc: String,
        #[source]
        source: SelectError,
    },
    #[error("{doc}: {platform} has {count} layers; layer {layer} does not exist (layers are numbered from 1)")]
    NoLayer {
        doc: String,
        platform: String,
        layer: usize,
        count: usize,
    },
    #[error("{doc}: {platform} records no Docker version, so the tar format of its layers is unknown")]
    NoDockerVersion { doc: String, platform: String },
    #[error("{doc}: {platform}")]
    Profile {
        doc: String,
        platform: String,
        #[source]
        source: ProfileError,
    },
    #[error("{doc}: {platform}: no history step with a recorded time made layer {layer}")]
    NoStep {
        doc: String,
        platform: String,
        layer: usize,
    },
}

/// The images of `platform` in `doc` (only in tag `tag` when given), chosen by the one rule.
pub(crate) fn platform_images<'d>(
    doc: &'d Document,
    name: &str,
    platform: &Platform,
    tag: Option<&str>,
) -> Result<Vec<&'d PlatformImage>, FactsError> {
    let in_tag = |t: &&TagSection| tag.is_none_or(|want| t.answers_to(want));
    let images = doc.tags.iter().filter(in_tag).flat_map(|t| &t.platforms);
    select(platform, images, |p| p.platform.platform()).map_err(|source| FactsError::Platform {
        doc: name.to_string(),
        source,
    })
}

/// The latest time `doc` records (a step's `created`, a layer's `Last Modified`): an entry with a
/// later mtime was set by a replay, not by the original build.
pub fn latest_time(doc: &Document) -> i64 {
    doc.tags
        .iter()
        .flat_map(|t| &t.platforms)
        .flat_map(|p| {
            let created = p.history.iter().filter_map(|h| h.created.map(|c| c.unix));
            let modified = p.layers.iter().filter_map(|l| l.last_modified.map(|m| m.unix));
            created.chain(modified).collect::<Vec<_>>()
        })
        .max()
        .unwrap_or(i64::MIN)
}

/// Whether a step extracts a root file system tarball: the classic builder's `ADD file:<hex> in /`.
fn is_base_tarball(instruction: &Instruction) -> bool {
    match instruction {
        Instruction::Add(copy) => {
            matches!(&copy.source, Source::Hashed { what, .. } if what == "file") && copy.destination.trim() == "/"
        }
        _ => false,
    }
}

/// Reads `doc` and gathers the facts of layer `layer` (1-based) of `platform`. When several tags
/// list the platform, the first one is used (they describe the same image).
pub fn layer_facts(doc: &Path, platform: &Platform, layer: usize) -> Result<LayerFacts, FactsError> {
    layer_facts_in(&parse_file(doc)?, &doc.display().to_string(), platform, layer)
}

/// [`layer_facts`] of a document already parsed, named `name` in messages.
pub fn layer_facts_in(
    document: &Document,
    name: &str,
    platform: &Platform,
    layer: usize,
) -> Result<LayerFacts, FactsError> {
    let name = name.to_string();
    let image = *platform_images(document, &name, platform, None)?
        .first()
        // `select` returns at least one image or an error, so there is a first.
        .expect("select returns at least one image");
    let platform = image.platform.to_string();
    if layer == 0 || layer > image.layers.len() {
        return Err(FactsError::NoLayer {
            doc: name,
            platform,
            layer,
            count: image.layers.len(),
        });
    }
    let docker_version = image
        .docker_version
        .clone()
        .ok_or_else(|| FactsError::NoDockerVersion {
            doc: name.clone(),
            platform: platform.clone(),
        })?;
    let profile = Profile::resolve(&docker_version).map_err(|source| FactsError::Profile {
        doc: name.clone(),
        platform: platform.clone(),
        source,
    })?;
    let mapping = map_platform(image);
    let mut steps = Vec::with_capacity(layer);
    for want_layer in 1..=layer {
        let step = mapping
            .steps
            .iter()
            .position(|s| *s == Some(want_layer))
            .map(|i| &image.history[i])
            .and_then(|h| h.created.map(|c| (c.unix, h)))
            .ok_or_else(|| FactsError::NoStep {
                doc: name.clone(),
                platform: platform.clone(),
                layer: want_layer,
            })?;
        let base_tarball = want_layer == 1 && is_base_tarball(&step.1.instruction);
        steps.push(StepTime {
            created: step.0,
            base_tarball,
            copies_context: !base_tarball && matches!(step.1.instruction, Instruction::Add(_) | Instruction::Copy(_)),
        });
    }
    Ok(LayerFacts {
        platform,
        docker_version,
        profile,
        input: SearchInput {
            expected: image.layers[layer - 1].digest,
            steps,
            replayed_after: latest_time(document),
            own_step_since: None,
            kept: BTreeMap::new(),
            limits: SearchLimits::default(),
        },
    })
}
