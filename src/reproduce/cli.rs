//! Glue between the search core and the rest of retrace: the real tar writer and gzip, a diff
//! directory read like Docker read it, and (in [`facts`](super::facts)) the search input taken from a document.
//! The `retrace layer reproduce` command itself is `crate::commands::layer_reproduce`.

use std::path::Path;

use crate::gzip::ReusableGzip;
use crate::layer::{read_tree, write_tar, Entry, LayerError, Profile, WalkOptions};
use crate::Digest;

use super::{search_with_progress, BlobHasher, ReproduceError, SearchInput, SearchReport};

/// The blob a Docker release pushed for a tar: its Go's gzip at level 6 (that Go's DEFLATE and
/// header), then sha256. Keeps one compressor and one output buffer per worker thread across
/// candidates.
pub struct GzipSha256 {
    gzip: ReusableGzip,
    blob: Vec<u8>,
}

impl GzipSha256 {
    /// The hasher of the blobs `profile`'s release pushed, the same bytes as [`Profile::gzip`].
    pub fn for_profile(profile: &Profile) -> GzipSha256 {
        GzipSha256 {
            gzip: profile.reusable_gzip(),
            blob: Vec::with_capacity(4096),
        }
    }
}

impl BlobHasher for GzipSha256 {
    fn blob_digest(&mut self, tar: &[u8]) -> Digest {
        self.gzip.gzip_into(tar, &mut self.blob);
        Digest::of(&self.blob)
    }
}

/// Searches the original mtimes of `entries` with the tar bytes of `profile`.
pub fn reproduce_entries(
    entries: &[Entry],
    input: &SearchInput,
    profile: &Profile,
) -> Result<SearchReport, ReproduceError> {
    reproduce_entries_with_progress(entries, input, profile, &|_| {})
}

/// [`reproduce_entries`], reporting the candidates hashed so far to `progress` as it goes.
pub fn reproduce_entries_with_progress(
    entries: &[Entry],
    input: &SearchInput,
    profile: &Profile,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<SearchReport, ReproduceError> {
    let tar = |entries: &[Entry]| {
        let mut out = Vec::new();
        write_tar(entries, profile, &mut out)?;
        Ok(out)
    };
    search_with_progress(entries, input, tar, || GzipSha256::for_profile(profile), progress)
}

/// Why a directory could not be reproduced at all (as opposed to not matching).
#[derive(Debug, thiserror::Error)]
pub enum ReproduceDirError {
    #[error(transparent)]
    Walk(#[from] LayerError),
    #[error(transparent)]
    Search(#[from] ReproduceError),
}

/// Reads the rebuilt diff directory `dir` as Docker's graphdriver would have and searches the
/// original mtimes of its replayed entries.
pub fn reproduce_dir(dir: &Path, input: &SearchInput, profile: &Profile) -> Result<SearchReport, ReproduceDirError> {
    reproduce_dir_with_progress(dir, input, profile, &|_| {})
}

/// [`reproduce_dir`], reporting the candidates hashed so far to `progress` as it goes.
pub fn reproduce_dir_with_progress(
    dir: &Path,
    input: &SearchInput,
    profile: &Profile,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<SearchReport, ReproduceDirError> {
    let entries = read_tree(dir, &WalkOptions::default())?;
    Ok(reproduce_entries_with_progress(&entries, input, profile, progress)?)
}
