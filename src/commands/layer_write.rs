//! `retrace layer write DIR --profile P [-o OUT] [--tar] [--json]`: a diff directory written as
//! the layer a Docker release produced, and its digests.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::Console;
use crate::layer::{read_tree, unshare_whiteouts, write_blob, write_tar_digest, Profile, WalkOptions};
use crate::{Error, Outcome};

#[derive(Debug, Clone)]
pub struct LayerWriteOptions {
    /// The graphdriver diff directory (overlay2 `diff`).
    pub dir: PathBuf,
    /// A profile of docs/profiles.md.
    pub profile: String,
    /// Written atomically; without it only the digests are printed.
    pub output: Option<PathBuf>,
    /// The uncompressed tar instead of the gzip blob.
    pub tar: bool,
    /// Whiteouts sharing one inode (Linux >= 5.8) written as independent ones.
    pub unshare_whiteouts: bool,
    pub json: bool,
}

pub fn run(opts: &LayerWriteOptions, console: &mut Console<'_>) -> Result<Outcome, Error> {
    let profile = Profile::from_name(&opts.profile)?;
    let mut entries = read_tree(&opts.dir, &WalkOptions::default())?;
    if opts.unshare_whiteouts {
        unshare_whiteouts(&mut entries);
    }
    let output = opts.output.as_deref();
    // Both infos are plain data, so they always serialize.
    let (text, json) = if opts.tar {
        let info = write_to(output, |w| write_tar_digest(&entries, &profile, w))?;
        // Plain structs of strings and numbers always serialize.
        let json = serde_json::to_string(&info).expect("TarInfo serializes");
        (format!("diff_id {}\nsize {}", info.diff_id, info.size), json)
    } else {
        let info = write_to(output, |w| write_blob(&entries, &profile, w))?;
        // Plain structs of strings and numbers always serialize.
        let json = serde_json::to_string(&info).expect("BlobInfo serializes");
        (
            format!("digest {}\ndiff_id {}\nsize {}", info.digest, info.diff_id, info.size),
            json,
        )
    };
    console.println(if opts.json { json } else { text })?;
    Ok(Outcome::Match)
}

/// Runs a layer writer into `path` atomically, or into a sink when only the digests are wanted.
fn write_to<T>(path: Option<&Path>, write: impl FnOnce(&mut dyn Write) -> std::io::Result<T>) -> Result<T, Error> {
    match path {
        Some(p) => crate::fsutil::write_atomic(p, write).map_err(|e| Error::io(p, e)),
        // Writing into a sink cannot fail; what can (reading entry contents) names its file.
        None => write(&mut std::io::sink()).map_err(|e| Error::io("<layer>", e)),
    }
}
