//! Safe extraction of a layer into a fresh directory, built on the checked reader: every path has
//! already been normalized (no `..`, no absolute path, nothing below a symlink of the archive), and
//! extraction itself never follows a symlink at the final component either, because an existing
//! entry is removed before its replacement is created with `create_new`.

use std::fs;
use std::io::{self, Read};
use std::path::Path;

use super::{raw_bytes, read_archive, ArchiveError, ArchiveSummary, Kind, Limits};
use crate::Digest;

/// The file name an entry's path text stands for, with its original bytes.
fn os(text: &str) -> std::ffi::OsString {
    std::os::unix::ffi::OsStringExt::from_vec(raw_bytes(text))
}

/// Extracts the archive in `blob` into `root`, which must not exist or be an empty directory (a
/// pre-existing symlink inside it could otherwise redirect writes). Devices and FIFOs are skipped:
/// they carry no content and creating them needs privileges a diff never should use.
pub fn extract_to(
    blob: impl Read,
    expected: Option<&Digest>,
    limits: &Limits,
    root: &Path,
) -> Result<ArchiveSummary, ArchiveError> {
    let io_err = |e: io::Error, what: &Path| ArchiveError::File {
        path: what.to_path_buf(),
        source: e,
    };
    if root.exists() {
        let mut listing = fs::read_dir(root).map_err(|e| io_err(e, root))?;
        if listing.next().is_some() {
            return Err(ArchiveError::Io(io::Error::other(format!(
                "{}: extraction target is not empty",
                root.display()
            ))));
        }
    } else {
        fs::create_dir_all(root).map_err(|e| io_err(e, root))?;
    }
    let root = root.canonicalize().map_err(|e| io_err(e, root))?;
    read_archive(blob, expected, limits, |entry, content| {
        let target = root.join(os(&entry.path));
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| io_err(e, parent))?;
        }
        // Whatever sits at the target already (an earlier entry of the same path) is replaced, never
        // written through.
        if let Ok(meta) = fs::symlink_metadata(&target) {
            if meta.is_dir() && entry.kind == Kind::Dir {
                return Ok(());
            }
            let removed = if meta.is_dir() {
                fs::remove_dir_all(&target)
            } else {
                fs::remove_file(&target)
            };
            removed.map_err(|e| io_err(e, &target))?;
        }
        match &entry.kind {
            Kind::Dir => fs::create_dir(&target).map_err(|e| io_err(e, &target))?,
            Kind::File => {
                let mut out = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&target)
                    .map_err(|e| io_err(e, &target))?;
                io::copy(content, &mut out)?;
            }
            Kind::Symlink(to) => std::os::unix::fs::symlink(os(to), &target).map_err(|e| io_err(e, &target))?,
            Kind::Hardlink(to) => {
                let source = root.join(os(to));
                fs::hard_link(&source, &target).map_err(|e| io_err(e, &source))?
            }
            Kind::Char(..) | Kind::Block(..) | Kind::Fifo => {}
        }
        Ok(())
    })
}
