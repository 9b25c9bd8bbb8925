//! The build cache: a step that already ran on the same parent image with the same inputs is not
//! run again. Entries are small JSON files named by the hash of the key, written atomically once
//! the step's image exists, so a build killed at any point leaves only complete entries; an entry
//! whose image the engine no longer has is ignored.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::replay::exec::{ImageId, Snapshot};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    pub image: ImageId,
    pub started: i64,
    pub finished: i64,
}

pub struct BuildCache {
    dir: PathBuf,
}

/// What identifies a step's result: the engine, the parent image, the step's action and the
/// digests of its inputs.
pub fn key(endpoint: &str, parent: Option<&ImageId>, action: &impl Serialize, inputs: &[String]) -> Digest {
    let text = serde_json::json!({
        "endpoint": endpoint,
        "parent": parent.map(|p| p.0.clone()),
        "action": action,
        "inputs": inputs,
    });
    Digest::of(text.to_string().as_bytes())
}

impl BuildCache {
    pub fn new(dir: &Path) -> BuildCache {
        BuildCache { dir: dir.to_path_buf() }
    }

    fn path(&self, key: &Digest) -> PathBuf {
        self.dir.join(format!("{}.json", key.hex()))
    }

    pub fn get(&self, key: &Digest) -> Option<Entry> {
        // An entry names an image and two times: well under a kilobyte.
        let text = crate::fsutil::read_regular(&self.path(key), 1 << 20).ok()?;
        serde_json::from_slice(&text).ok()
    }

    pub fn put(&self, key: &Digest, snap: &Snapshot) -> std::io::Result<()> {
        let entry = Entry {
            image: snap.image.clone(),
            started: snap.started,
            finished: snap.finished,
        };
        crate::fsutil::write_new(&self.path(key), |w| {
            serde_json::to_writer_pretty(&mut *w, &entry).map_err(std::io::Error::other)
        })
    }
}

impl From<Entry> for Snapshot {
    fn from(e: Entry) -> Snapshot {
        Snapshot {
            image: e.image,
            started: e.started,
            finished: e.finished,
        }
    }
}
