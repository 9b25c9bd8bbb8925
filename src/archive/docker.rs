//! The `manifest.json` of a `docker save` archive: one entry per image, naming its config and its
//! layer tars inside the archive. `oci` and the executor write it; the registry's archive source,
//! `diff` and the build's recipe sources read it, all through this one type.

use serde::{Deserialize, Deserializer, Serialize};

use super::{ArchiveError, TarMembers};

/// The most bytes of `manifest.json` read: it lists a few names per image.
pub const MAX_MANIFEST_BYTES: u64 = 16 << 20;

/// One image of a docker archive, in Docker's capitalised keys. The fields are in the order
/// serde_json sorts map keys, the order archives written before this type had, so they keep
/// their bytes. Keys Docker added later (`Parent`, `LayerSources`) are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DockerManifest {
    /// The config's member name (`<hex>.json`).
    #[serde(rename = "Config")]
    pub config: String,
    /// The layer tars' member names, bottom to top.
    #[serde(rename = "Layers", default, deserialize_with = "null_as_empty")]
    pub layers: Vec<String>,
    /// The names the image was saved under; `docker save` of an image id writes `null`.
    #[serde(rename = "RepoTags", default, deserialize_with = "null_as_empty")]
    pub repo_tags: Vec<String>,
}

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

impl DockerManifest {
    /// The images `manifest.json` of the archive lists, in its order.
    pub fn read(members: &TarMembers) -> Result<Vec<DockerManifest>, ArchiveError> {
        let bytes = members.read_small("manifest.json", MAX_MANIFEST_BYTES)?;
        serde_json::from_slice(&bytes).map_err(|e| ArchiveError::MemberJson {
            member: "manifest.json".into(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })
    }

    /// The `manifest.json` bytes listing `images`.
    pub fn to_json(images: &[DockerManifest]) -> Vec<u8> {
        // A list of structs of strings always serializes.
        serde_json::to_vec(images).expect("a docker manifest serializes")
    }
}
