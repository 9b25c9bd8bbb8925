//! The record of a build's inputs (report.json's `record` and each platform's `inputs`), and the
//! check that a build redone from a record (`retrace build --from-record`) reads exactly the inputs
//! it names.

use std::collections::BTreeMap;
use std::path::Path;

use super::sources::Resolved;
use super::BuildOptions;
use crate::digest::Digest;
use crate::recipe::Recipe;
use crate::report_json::{BuildRecord, DownloadRecord, FileRecord, InputRecord};

/// Why a record could not be made or followed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("{}", path.display())]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: holds no record of its inputs (written by an earlier retrace)", path.display())]
    NoRecord { path: std::path::PathBuf },
    #[error("{path}: hashes to {found}, but the record names {recorded}")]
    Changed {
        path: String,
        recorded: Digest,
        found: Digest,
    },
    #[error("`{reference}` is {found}, but the record names {recorded}")]
    Input {
        reference: String,
        recorded: String,
        found: String,
    },
    #[error("the record names no recipe or document file to redo the build from")]
    NoFiles,
    #[error("the record's platform `{0}` is not os/arch[/variant]")]
    Platform(String),
    #[error("`{reference}` is not in the record: the recorded build read no such input at this step")]
    NotRecorded { reference: String },
}

fn file_record(path: &Path) -> Result<FileRecord, RecordError> {
    let io = |source| RecordError::Io {
        path: path.to_path_buf(),
        source,
    };
    let sha256 = Digest::of_reader(std::fs::File::open(path).map_err(io)?).map_err(io)?;
    Ok(FileRecord {
        path: path.display().to_string(),
        sha256,
    })
}

/// The build-wide part of the record: the recipe and document by sha256 (when they are files:
/// the command line's build read both just before), the options that change what is built, the
/// downloads the recipe pins.
pub fn build_record(recipe: &Recipe, platforms: &[String], opts: &BuildOptions) -> BuildRecord {
    BuildRecord {
        retrace: env!("CARGO_PKG_VERSION").to_string(),
        recipe: file_record(&recipe.file).ok(),
        document: file_record(&recipe.document).ok(),
        platforms: platforms.to_vec(),
        offline: opts.offline,
        inputs: opts.inputs.iter().map(|p| p.display().to_string()).collect(),
        search_candidates: opts.search_candidates,
        downloads: recipe
            .downloads
            .iter()
            .map(|d| DownloadRecord {
                url: d.url.clone(),
                sha256: d.sha256,
            })
            .collect(),
    }
}

/// The recipe and document the record names, checked unchanged; the options it records are put
/// into `opts`. Returns the recipe's path.
pub fn follow(record: &BuildRecord, opts: &mut BuildOptions) -> Result<std::path::PathBuf, RecordError> {
    let (Some(recipe), Some(document)) = (&record.recipe, &record.document) else {
        return Err(RecordError::NoFiles);
    };
    for file in [recipe, document] {
        let found = file_record(Path::new(&file.path))?;
        if found.sha256 != file.sha256 {
            return Err(RecordError::Changed {
                path: file.path.clone(),
                recorded: file.sha256,
                found: found.sha256,
            });
        }
    }
    opts.platforms = record
        .platforms
        .iter()
        .map(|p| p.parse().map_err(|_| RecordError::Platform(p.clone())))
        .collect::<Result<_, _>>()?;
    opts.offline = record.offline;
    opts.inputs = record.inputs.iter().map(Into::into).collect();
    opts.search_candidates = record.search_candidates;
    Ok(recipe.path.clone().into())
}

/// An input of step `step`, by content: a file's sha256 (with the mode its hash was verified
/// under), a tree's content key, a layer's diff_id.
pub fn input(step: usize, reference: &str, resolved: &Resolved, origin: Option<&str>) -> std::io::Result<InputRecord> {
    let (content, found_at) = match resolved {
        Resolved::File { path, mode } => (
            format!(
                "{}{}",
                Digest::of_reader(std::fs::File::open(path)?)?,
                mode.map(|m| format!(" mode {m:04o}")).unwrap_or_default()
            ),
            path.display().to_string(),
        ),
        Resolved::LayerTar { diff_id, path } => (diff_id.to_string(), path.display().to_string()),
        Resolved::Dir(_) | Resolved::Parts(_) => {
            let parts = resolved.parts().unwrap_or_default();
            let paths: Vec<String> = parts.iter().map(|p| p.path.display().to_string()).collect();
            (resolved.content_key()?, paths.join(", "))
        }
    };
    Ok(InputRecord {
        step,
        reference: reference.to_string(),
        content,
        origin: origin.map_or(found_at, str::to_string),
    })
}

/// The inputs a build redone from a record must read, by platform and step.
pub type Expected = BTreeMap<(String, usize), InputRecord>;

/// Whether `found`, read for `platform`, is the input the record names for its step.
pub fn check(expected: &Expected, platform: &str, found: &InputRecord) -> Result<(), RecordError> {
    let Some(recorded) = expected.get(&(platform.to_string(), found.step)) else {
        return Err(RecordError::NotRecorded {
            reference: found.reference.clone(),
        });
    };
    if recorded.reference != found.reference || recorded.content != found.content {
        return Err(RecordError::Input {
            reference: found.reference.clone(),
            recorded: recorded.content.clone(),
            found: found.content.clone(),
        });
    }
    Ok(())
}
