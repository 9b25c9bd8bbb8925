//! `retrace hash-file PATH [--profile P] [--name N]`: the `file:<hex>` source hash the classic
//! builder records for `COPY`/`ADD` of a file.

use std::path::PathBuf;

use super::Console;
use crate::layer::{hash_file_on_disk, Profile};
use crate::{Error, Outcome};

#[derive(Debug, Clone)]
pub struct HashFileOptions {
    pub path: PathBuf,
    /// A profile of docs/profiles.md (its release's owner-name convention).
    pub profile: String,
    /// The file's path relative to the build context (default: its base name).
    pub name: Option<String>,
}

pub fn run(opts: &HashFileOptions, console: &mut Console<'_>) -> Result<Outcome, Error> {
    let profile = Profile::from_name(&opts.profile)?;
    let digest = hash_file_on_disk(&opts.path, opts.name.as_deref(), &profile).map_err(|e| Error::io(&opts.path, e))?;
    console.println(format!("file:{}", digest.hex()))?;
    Ok(Outcome::Match)
}
