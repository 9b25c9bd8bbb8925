//! Image references as `retrace diff` operands (`registry:REF`, `docker://REF`, `store:REF`): the
//! registry client resolves the reference to its platform images, makes sure every layer blob is
//! in the content store (each verified against its digest before it is stored), and hands the diff
//! the stored files. `store:REF` reads the store alone and never touches the network.

use std::path::PathBuf;

use super::source::{ImageResolver, LayerSource, Opener, PlatformLayers, Subject};
use super::DiffError;
use crate::registry::manifest::{Descriptor, ImageConfig, Manifest, DOCKER_FOREIGN_LAYER};
use crate::registry::ImageSource;

/// Resolves image references through the store at `store` (the default store when `None`) and,
/// unless offline, the registry.
#[derive(Debug, Clone, Default)]
pub struct RegistryImages {
    pub store: Option<PathBuf>,
}

impl ImageResolver for RegistryImages {
    fn resolve(&self, reference: &str, offline: bool) -> Result<Subject, DiffError> {
        let fail = |message: String| DiffError::Spec {
            spec: reference.to_string(),
            message,
        };
        let failed = |source| DiffError::Image {
            spec: reference.to_string(),
            source,
        };
        let (source, r) = crate::registry::open(reference, offline, self.store.clone()).map_err(failed)?;
        let store = source
            .store()
            .ok_or_else(|| fail("the image source has no content store".into()))?
            .clone();
        let resolved = crate::registry::pull::resolve(&source, &r, None).map_err(failed)?;
        let mut platforms = Vec::new();
        for image in &resolved.images {
            let Manifest::Image(m) = &image.manifest.manifest else {
                return Err(fail(format!("{} is not an image manifest", image.manifest.digest)));
            };
            let platform = match &image.entry {
                Some(Descriptor { platform: Some(p), .. }) => p.to_string(),
                _ => {
                    let bytes = source.config(&r, &m.config).map_err(failed)?;
                    ImageConfig::parse(&bytes, "config")
                        .map_err(failed)?
                        .platform()
                        .to_string()
                }
            };
            if platform.starts_with("unknown/") {
                // Attestation manifests are not images of a platform.
                continue;
            }
            let mut layers = Vec::new();
            for (i, desc) in m.layers.iter().enumerate() {
                if desc.media_type == DOCKER_FOREIGN_LAYER || desc.urls.as_ref().is_some_and(|u| !u.is_empty()) {
                    // Foreign (Windows base) layers are not served by registries.
                    layers.push(None);
                    continue;
                }
                source.ensure_blob(&r, desc).map_err(failed)?;
                layers.push(Some(LayerSource {
                    label: format!("{platform} layer {} ({})", i + 1, desc.digest),
                    digest: Some(desc.digest),
                    opener: Opener::File(store.blob_path(&desc.digest)),
                }));
            }
            platforms.push(PlatformLayers { platform, layers });
        }
        Ok(Subject::Image(platforms))
    }
}
