//! Output files are never left half-written: everything is written to a temporary file in the
//! destination's own directory (so the final rename cannot cross file systems) and renamed into
//! place only once complete. A crash or an error leaves either the old file or none.
//!
//! Temporary files and directories being written are registered here, so the binary's signal
//! thread can remove them when SIGINT or SIGTERM ends the run ([`remove_temporaries`]). Finished
//! outputs get the permissions the user's umask gives a new file (a temporary file is created 0600).

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Temporary paths being written right now.
static TEMPORARIES: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// Registers a temporary path for removal on a signal for as long as the guard lives.
pub struct Temporary(PathBuf);

impl Temporary {
    pub fn register(path: &Path) -> Temporary {
        lock().insert(path.to_path_buf());
        Temporary(path.to_path_buf())
    }
}

impl Drop for Temporary {
    fn drop(&mut self) {
        lock().remove(&self.0);
    }
}

fn lock() -> std::sync::MutexGuard<'static, BTreeSet<PathBuf>> {
    // A panic while the set was held leaves it usable: it is a plain set of paths.
    TEMPORARIES.lock().unwrap_or_else(|e| e.into_inner())
}

/// Removes every registered temporary file and directory; the binary calls this on SIGINT and
/// SIGTERM before ending. Failures are ignored: the process is ending and has nowhere to report.
pub fn remove_temporaries() {
    let paths = std::mem::take(&mut *lock());
    for p in paths {
        if p.is_dir() {
            let _ = fs::remove_dir_all(&p);
        } else {
            let _ = fs::remove_file(&p);
        }
    }
}

/// The process's umask, read from the kernel's status of this process (Linux). Reading it with
/// umask(2) would briefly change it for every thread.
pub fn umask() -> u32 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022)
}

/// Gives `path` the mode a new file (`0o666`) or directory (`0o777`) gets under the umask.
pub fn set_default_mode(path: &Path, dir: bool) -> io::Result<()> {
    let base = if dir { 0o777 } else { 0o666 };
    fs::set_permissions(path, fs::Permissions::from_mode(base & !umask()))
}

/// A new temporary file in `dir` (created when missing), registered for removal on a signal for as
/// long as the guard lives; dropped, the file is removed.
pub fn temporary_file_in(dir: &Path) -> io::Result<(tempfile::NamedTempFile, Temporary)> {
    fs::create_dir_all(dir)?;
    let tmp = tempfile::Builder::new()
        .prefix(".retrace-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    let registered = Temporary::register(tmp.path());
    Ok((tmp, registered))
}

/// Writes `path` atomically: `fill` receives a buffered writer on a temporary file, which is
/// synced and renamed over `path` only when `fill` succeeds. The result has the mode of the file it
/// replaces, or the umask's mode for a new file.
///
/// A target that exists and is not a regular file (a device such as `/dev/null`, a FIFO) is written
/// in place: renaming over it would replace the device node with a file.
pub fn write_atomic<T>(path: &Path, fill: impl FnOnce(&mut dyn Write) -> io::Result<T>) -> io::Result<T> {
    let existing = fs::metadata(path).ok();
    let names_dir = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()).ends_with(b"/");
    if names_dir || existing.as_ref().is_some_and(fs::Metadata::is_dir) {
        return Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "names a directory; the output needs a file name",
        ));
    }
    if let Some(meta) = &existing {
        if !meta.is_file() {
            let mut out = BufWriter::new(fs::OpenOptions::new().write(true).open(path)?);
            let value = fill(&mut out)?;
            out.flush()?;
            return Ok(value);
        }
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let (tmp, _registered) = temporary_file_in(dir)?;
    let mut out = BufWriter::new(tmp);
    let value = fill(&mut out)?;
    let tmp = out.into_inner().map_err(|e| e.into_error())?;
    match existing.filter(fs::Metadata::is_file) {
        Some(meta) => fs::set_permissions(tmp.path(), meta.permissions())?,
        None => set_default_mode(tmp.path(), false)?,
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_fill_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.bin");
        let r: io::Result<()> = write_atomic(&target, |w| {
            w.write_all(b"partial")?;
            Err(io::Error::other("boom"))
        });
        assert!(r.is_err());
        assert!(!target.exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn devices_are_written_in_place_not_replaced() {
        write_atomic(Path::new("/dev/null"), |w| w.write_all(b"discarded")).unwrap();
        assert!(!fs::metadata("/dev/null").unwrap().is_file());
    }

    #[test]
    fn new_outputs_get_the_umask_mode_and_replaced_ones_keep_theirs() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("fresh");
        write_atomic(&fresh, |w| w.write_all(b"x")).unwrap();
        let mode = fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o666 & !umask());
        let kept = dir.path().join("kept");
        fs::write(&kept, b"old").unwrap();
        fs::set_permissions(&kept, fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&kept, |w| w.write_all(b"new")).unwrap();
        assert_eq!(fs::metadata(&kept).unwrap().permissions().mode() & 0o777, 0o640);
    }

    #[test]
    fn complete_fill_is_renamed_into_place() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sub/out.bin");
        write_atomic(&target, |w| w.write_all(b"done")).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"done");
    }
}
