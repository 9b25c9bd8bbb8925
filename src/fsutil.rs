//! Output files are never left half-written: everything is written to a temporary file in the
//! destination's own directory (so the final rename cannot cross file systems) and renamed into
//! place only once complete. A crash or an error leaves either the old file or none.
//!
//! Temporary files and directories being written are registered here, so the binary's signal
//! thread can remove them when SIGINT or SIGTERM ends the run ([`remove_temporaries`]). Finished
//! outputs get the permissions the user's umask gives a new file (a temporary file is created 0600).

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, BufWriter, Read, Write};
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
/// This is for a path the user named (`-o FILE`): a target that exists and is not a regular file
/// (a device such as `/dev/null`, `/dev/stdout`'s pipe) is written in place, since renaming over it
/// would replace the device node with a file. Files inside an output directory go through
/// [`write_new`], which never writes through what is already there.
pub fn write_atomic<T>(path: &Path, fill: impl FnOnce(&mut dyn Write) -> io::Result<T>) -> io::Result<T> {
    if fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        let mut out = BufWriter::new(fs::OpenOptions::new().write(true).open(path)?);
        let value = fill(&mut out)?;
        out.flush()?;
        return Ok(value);
    }
    write_new(path, fill)
}

/// Writes `path`, a file inside an output directory, as a new file: `fill` writes a temporary file
/// created in the same directory (`O_CREAT|O_EXCL`, so never through a link), which is synced and
/// renamed over `path` only when `fill` succeeds. Whatever `path` was (a symlink to a device or to a
/// FIFO outside the directory, a device node) is replaced, never opened: no byte goes anywhere but
/// into the new file, and nothing can make the write wait. A regular file replaced keeps its mode;
/// anything else gives way to the umask's mode for a new file.
pub fn write_new<T>(path: &Path, fill: impl FnOnce(&mut dyn Write) -> io::Result<T>) -> io::Result<T> {
    let existing = fs::symlink_metadata(path).ok();
    let names_dir = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()).ends_with(b"/");
    if names_dir || existing.as_ref().is_some_and(fs::Metadata::is_dir) {
        return Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "names a directory; the output needs a file name",
        ));
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
    // rename(2) replaces the directory entry itself, a symlink included, never its target.
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(value)
}

/// Opens `path` for reading only when it is a regular file (a symlink to one is followed). A FIFO,
/// a device (`/dev/zero`), a socket or a directory is refused: none has an end that its size
/// promises, and opening a FIFO without a writer would wait forever. The check is made on the
/// opened descriptor, so what was checked is what is read.
pub fn open_regular(path: &Path) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_NONBLOCK makes opening a FIFO return at once; it changes nothing for a regular file.
    let nonblock = rustix::fs::OFlags::NONBLOCK.bits() as i32;
    let file = fs::OpenOptions::new().read(true).custom_flags(nonblock).open(path)?;
    let kind = file.metadata()?.file_type();
    if !kind.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a regular file but {}", kind_name(kind)),
        ));
    }
    Ok(file)
}

/// What a file that is not a regular one is, for an error.
fn kind_name(kind: fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

/// The whole regular file at `path`, refused (with [`io::ErrorKind::FileTooLarge`]) when it holds
/// more than `limit` bytes. The read itself stops after `limit + 1` bytes, whatever size the file
/// claims, so a file growing while it is read cannot take more memory either.
pub fn read_regular(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let file = open_regular(path)?;
    if file.metadata()?.len() > limit {
        return Err(too_large(limit));
    }
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(limit));
    }
    Ok(bytes)
}

/// The error of a file past its reader's limit.
pub fn too_large(limit: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!("larger than the limit of {limit} bytes"),
    )
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
    fn output_files_replace_links_instead_of_writing_through_them() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::write(&outside, b"untouched").unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR).unwrap();
        let out = dir.path().join("out");
        fs::create_dir(&out).unwrap();
        for (name, target) in [
            ("report.json", Path::new("/dev/null")),
            ("index.json", &fifo),
            ("oci-layout", &outside),
        ] {
            let link = out.join(name);
            std::os::unix::fs::symlink(target, &link).unwrap();
            write_new(&link, |w| w.write_all(b"new")).unwrap();
            let meta = fs::symlink_metadata(&link).unwrap();
            assert!(meta.is_file(), "{name} is still a link");
            assert_eq!(fs::read(&link).unwrap(), b"new");
        }
        assert_eq!(fs::read(&outside).unwrap(), b"untouched");
        assert!(!fs::metadata(&fifo).unwrap().is_file());
    }

    #[test]
    fn only_regular_files_are_read_and_only_up_to_their_limit() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR).unwrap();
        let linked = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &linked).unwrap();
        for (path, kind) in [
            (&fifo, "a FIFO"),
            (&linked, "a device"),
            (&dir.path().to_path_buf(), "a directory"),
        ] {
            let e = read_regular(path, 1 << 20).unwrap_err();
            assert_eq!(e.to_string(), format!("not a regular file but {kind}"));
        }
        let file = dir.path().join("file");
        fs::write(&file, b"12345").unwrap();
        assert_eq!(read_regular(&file, 5).unwrap(), b"12345");
        assert_eq!(read_regular(&file, 4).unwrap_err().kind(), io::ErrorKind::FileTooLarge);
    }

    #[test]
    fn complete_fill_is_renamed_into_place() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sub/out.bin");
        write_atomic(&target, |w| w.write_all(b"done")).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"done");
    }
}
