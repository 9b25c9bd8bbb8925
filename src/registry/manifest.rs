//! The JSON documents a registry serves, reduced to the fields retrace uses. The raw bytes are always
//! kept next to the parsed form, because a manifest's identity is the digest of its exact bytes.

use serde::{Deserialize, Serialize};

use super::error::RegistryError;
use crate::digest::Digest;

pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_V1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_FOREIGN_LAYER: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// What retrace asks for when fetching a manifest, best first.
pub const MANIFEST_ACCEPT: &str = "application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.oci.image.manifest.v1+json";

/// Manifests are small; anything bigger than this is refused rather than read into memory.
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;
/// Image configs carry the history and can be a few hundred KiB; the same bound applies.
pub const MAX_CONFIG_BYTES: usize = 8 << 20;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(rename = "os.version", default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    #[serde(rename = "os.features", default, skip_serializing_if = "Option::is_none")]
    pub os_features: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<Vec<String>>,
}

impl Platform {
    /// The platform to compare by the one rule (`crate::platform`); the OS version and features
    /// are not part of it.
    pub fn platform(&self) -> crate::platform::Platform {
        crate::platform::Platform::new(&self.os, &self.architecture, self.variant.as_deref())
    }
}

impl std::fmt::Display for Platform {
    /// `linux/arm/v7`, the `--platform` spelling.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.platform().fmt(f)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<std::collections::BTreeMap<String, String>>,
}

/// A manifest list or OCI index.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Index {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
}

/// A single-platform image manifest (Docker v2 schema 2 or OCI).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageManifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// A parsed manifest of either kind. Both variants are a few words; boxing the larger would only add
/// an allocation per manifest.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Manifest {
    Index(Index),
    Image(ImageManifest),
}

/// A manifest as served: exact bytes, their digest, the media type and the parsed form.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    pub bytes: Vec<u8>,
    pub digest: Digest,
    pub media_type: String,
    pub manifest: Manifest,
}

impl FetchedManifest {
    /// Parses manifest bytes. The media type comes from the document itself when it names one (both
    /// Docker formats and OCI indexes usually do), else from the HTTP Content-Type, else from the
    /// shape (an OCI manifest may legitimately omit `mediaType`).
    pub fn parse(bytes: Vec<u8>, content_type: Option<&str>, what: &str) -> Result<FetchedManifest, RegistryError> {
        let json_err = |source| RegistryError::Json {
            what: what.to_string(),
            source,
        };
        let probe: serde_json::Value = serde_json::from_slice(&bytes).map_err(json_err)?;
        let declared = probe.get("mediaType").and_then(|v| v.as_str()).map(str::to_string);
        let content_type = content_type
            .map(|c| c.split(';').next().unwrap_or("").trim().to_string())
            .filter(|c| !c.is_empty() && c != "application/json" && c != "application/octet-stream");
        let shape_is_index = probe.get("manifests").is_some();
        let media_type = declared.or(content_type).unwrap_or_else(|| {
            if shape_is_index {
                OCI_INDEX.to_string()
            } else {
                OCI_MANIFEST.to_string()
            }
        });
        let manifest = match media_type.as_str() {
            DOCKER_MANIFEST_LIST | OCI_INDEX => Manifest::Index(serde_json::from_value(probe).map_err(json_err)?),
            DOCKER_MANIFEST_V2 | OCI_MANIFEST => Manifest::Image(serde_json::from_value(probe).map_err(json_err)?),
            other => {
                return Err(RegistryError::UnsupportedMediaType {
                    what: what.to_string(),
                    media_type: other.to_string(),
                })
            }
        };
        Ok(FetchedManifest {
            digest: Digest::of(&bytes),
            bytes,
            media_type,
            manifest,
        })
    }
}

/// The parts of an image config retrace reads. Unknown fields are ignored; the raw bytes stay in the
/// store for anyone who needs more.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ImageConfig {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ContainerConfig>,
    #[serde(default)]
    pub history: Vec<History>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rootfs: Option<RootFs>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContainerConfig {
    #[serde(rename = "Entrypoint", default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(rename = "Cmd", default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(rename = "Shell", default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

impl ImageConfig {
    pub fn parse(bytes: &[u8], what: &str) -> Result<ImageConfig, RegistryError> {
        serde_json::from_slice(bytes).map_err(|source| RegistryError::Json {
            what: what.to_string(),
            source,
        })
    }

    pub fn platform(&self) -> Platform {
        Platform {
            architecture: self.architecture.clone(),
            os: self.os.clone(),
            variant: self.variant.clone(),
            ..Platform::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_type_comes_from_the_document_then_the_header_then_the_shape() {
        let d = Digest::of(b"");
        let image = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"{OCI_CONFIG}","digest":"{d}","size":0}},"layers":[]}}"#
        );
        let m = FetchedManifest::parse(image.clone().into_bytes(), None, "t").unwrap();
        assert_eq!(m.media_type, OCI_MANIFEST);
        assert!(matches!(m.manifest, Manifest::Image(_)));
        let m = FetchedManifest::parse(image.into_bytes(), Some(DOCKER_MANIFEST_V2), "t").unwrap();
        assert_eq!(m.media_type, DOCKER_MANIFEST_V2);
        let list = format!(r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST_LIST}","manifests":[]}}"#);
        let m = FetchedManifest::parse(list.into_bytes(), Some(OCI_INDEX), "t").unwrap();
        assert_eq!(m.media_type, DOCKER_MANIFEST_LIST);
        let v1 = r#"{"schemaVersion":1,"fsLayers":[]}"#;
        let e = FetchedManifest::parse(v1.into(), Some(DOCKER_MANIFEST_V1_SIGNED), "t").unwrap_err();
        assert!(e.to_string().contains("unsupported media type"), "{e}");
    }
}
