//! `--inputs DIR`: local files that satisfy a recipe's sources by content, so a build runs without
//! the network. A file is found by the sha256 of its bytes (for `sha256:` and `url` sources) or by
//! the classic builder's `file:` hash (for `file:` sources), trying the usual build-context modes.
//! The directories are walked once per build, lazily, and bounded.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::digest::Digest;
use crate::layer::filehash::{candidate_modes, hash_context_stream};
use crate::layer::Profile;

/// At most this many files are indexed across all inputs directories (a mistyped `--inputs /`
/// must not hash a whole disk).
const MAX_FILES: usize = 10_000;
/// Directory depth below an inputs directory that is searched.
const MAX_DEPTH: usize = 8;
/// Larger files are not indexed: no rootfs tarball or context file seen comes near it.
const MAX_FILE_SIZE: u64 = 4 << 30;

/// Why the inputs directories could not be indexed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum InputsError {
    /// The index is kept and handed out again, so the I/O error is shared, not moved.
    #[error("--inputs {}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::sync::Arc<std::io::Error>,
    },
    #[error("--inputs: more than {MAX_FILES} files under {}; point it at the folder holding the inputs", .dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", "))]
    TooManyFiles { dirs: Vec<PathBuf> },
}

/// One indexed file.
#[derive(Debug, Clone)]
struct InputFile {
    path: PathBuf,
    sha256: Digest,
    mode: u32,
}

/// The files under the `--inputs` directories, indexed on first use.
#[derive(Debug, Default)]
pub struct Inputs {
    dirs: Vec<PathBuf>,
    index: OnceLock<Result<Vec<InputFile>, InputsError>>,
}

/// A file found for a `file:` reference, with the context mode under which it hashes to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextFile {
    pub path: PathBuf,
    pub mode: u32,
}

impl Inputs {
    pub fn new(dirs: Vec<PathBuf>) -> Inputs {
        Inputs {
            dirs,
            index: OnceLock::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.dirs.is_empty()
    }

    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    fn files(&self) -> Result<&[InputFile], InputsError> {
        self.index
            .get_or_init(|| index(&self.dirs))
            .as_deref()
            .map_err(Clone::clone)
    }

    /// A file whose bytes hash to `sha256`.
    pub fn by_sha256(&self, sha256: &Digest) -> Result<Option<PathBuf>, InputsError> {
        Ok(self
            .files()?
            .iter()
            .find(|f| f.sha256 == *sha256)
            .map(|f| f.path.clone()))
    }

    /// A file that, named by its base name, hashes to the `file:` hash `hex` under `profile`'s
    /// conventions with its own mode or one of the usual context modes.
    pub fn by_file_hash(&self, hex: &str, profile: &Profile) -> Result<Option<ContextFile>, InputsError> {
        for f in self.files()? {
            let unreadable = |e: std::io::Error| InputsError::Unreadable {
                path: f.path.clone(),
                source: std::sync::Arc::new(e),
            };
            let name = f
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            // Streamed: an input file may be up to MAX_FILE_SIZE, and there may be many.
            let mut file = crate::fsutil::open_regular(&f.path).map_err(unreadable)?;
            let size = file.metadata().map_err(unreadable)?.len();
            let modes = candidate_modes(f.mode);
            let hashes = hash_context_stream(&name, &modes, size, &mut file, &mut std::io::sink(), profile)
                .map_err(unreadable)?;
            if let Some(mode) = hashes.mode_for(hex) {
                return Ok(Some(ContextFile {
                    path: f.path.clone(),
                    mode,
                }));
            }
        }
        Ok(None)
    }
}

/// Walks `dirs` (not following symlinks out of them) and hashes every regular file.
fn index(dirs: &[PathBuf]) -> Result<Vec<InputFile>, InputsError> {
    let mut files = Vec::new();
    for dir in dirs {
        walk(dir, 0, &mut files, dirs)?;
    }
    Ok(files)
}

fn walk(dir: &Path, depth: usize, files: &mut Vec<InputFile>, dirs: &[PathBuf]) -> Result<(), InputsError> {
    use std::os::unix::fs::PermissionsExt;
    let unreadable = |path: &Path, e: std::io::Error| InputsError::Unreadable {
        path: path.to_path_buf(),
        source: std::sync::Arc::new(e),
    };
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| unreadable(dir, e))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(|e| unreadable(dir, e))?;
    // Sorted, so that two files satisfying one reference are always chosen in the same order.
    names.sort();
    for path in names {
        let meta = std::fs::symlink_metadata(&path).map_err(|e| unreadable(&path, e))?;
        if meta.is_dir() && depth < MAX_DEPTH {
            walk(&path, depth + 1, files, dirs)?;
        } else if meta.is_file() && meta.len() <= MAX_FILE_SIZE {
            if files.len() == MAX_FILES {
                return Err(InputsError::TooManyFiles { dirs: dirs.to_vec() });
            }
            let file = crate::fsutil::open_regular(&path).map_err(|e| unreadable(&path, e))?;
            let sha256 = Digest::of_reader(file).map_err(|e| unreadable(&path, e))?;
            files.push(InputFile {
                path,
                sha256,
                mode: meta.permissions().mode() & 0o7777,
            });
        }
    }
    Ok(())
}
