//! Output files are never left half-written: everything is written to a temporary file in the
//! destination's own directory (so the final rename cannot cross file systems) and renamed into
//! place only once complete. A crash or an error leaves either the old file or none.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Writes `path` atomically: `fill` receives a buffered writer on a temporary file, which is
/// synced and renamed over `path` only when `fill` succeeds.
///
/// A target that exists and is not a regular file (a device such as `/dev/null`, a FIFO) is written
/// in place: renaming over it would replace the device node with a file.
pub fn write_atomic<T>(path: &Path, fill: impl FnOnce(&mut dyn Write) -> io::Result<T>) -> io::Result<T> {
    if let Ok(meta) = fs::metadata(path) {
        if !meta.is_file() && !meta.is_dir() {
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
    fs::create_dir_all(dir)?;
    let tmp = tempfile::Builder::new()
        .prefix(".retrace-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    let mut out = BufWriter::new(tmp);
    let value = fill(&mut out)?;
    let tmp = out.into_inner().map_err(|e| e.into_error())?;
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
    fn complete_fill_is_renamed_into_place() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sub/out.bin");
        write_atomic(&target, |w| w.write_all(b"done")).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"done");
    }
}
