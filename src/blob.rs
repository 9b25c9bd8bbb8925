//! The one content-addressed blob writer, and where a blob lives in an OCI layout or the content
//! store (`blobs/sha256/<hex>`). A [`BlobWriter`] writes to a temporary file in the blobs
//! directory, hashes the bytes as they pass, and on [`BlobWriter::complete`] syncs the file and
//! renames it to the digest it computed; dropped before that, it leaves nothing behind. So no blob
//! is ever visible under a name its bytes do not hash to, and none is half-written.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::digest::{Digest, DigestWriter};
use crate::fsutil::Temporary;

/// Where the blob `d` lives under `root`, an OCI layout or the content store.
pub fn blob_path(root: &Path, d: &Digest) -> PathBuf {
    blobs_dir(root).join(d.hex())
}

/// The directory of sha256 blobs under `root`.
pub fn blobs_dir(root: &Path) -> PathBuf {
    root.join("blobs/sha256")
}

/// Writes one blob into a `blobs/sha256` directory under the digest of what was written.
pub struct BlobWriter {
    dir: PathBuf,
    out: DigestWriter<BufWriter<NamedTempFile>>,
    _registered: Temporary,
}

/// Why a blob was not kept.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("the bytes hash to {found} ({size} bytes), not {expected}")]
    Mismatch { expected: Digest, found: Digest, size: u64 },
}

/// A blob written: its digest and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub digest: Digest,
    pub size: u64,
}

impl BlobWriter {
    /// Starts a blob in `dir` (a `blobs/sha256` directory, created when missing).
    pub fn new(dir: &Path) -> io::Result<BlobWriter> {
        let (tmp, registered) = crate::fsutil::temporary_file_in(dir)?;
        Ok(BlobWriter {
            dir: dir.to_path_buf(),
            out: DigestWriter::new(BufWriter::new(tmp)),
            _registered: registered,
        })
    }

    /// Writes all of `bytes` as one blob in `dir`.
    pub fn write_bytes(dir: &Path, bytes: &[u8]) -> io::Result<Written> {
        let mut w = BlobWriter::new(dir)?;
        w.write_all(bytes)?;
        w.complete()
    }

    /// Syncs the blob and renames it to its digest. An existing blob of that digest is replaced by
    /// identical bytes.
    pub fn complete(self) -> io::Result<Written> {
        self.finish(None).map_err(|e| match e {
            BlobError::Io(e) => e,
            // Without an expected digest there is nothing to mismatch.
            BlobError::Mismatch { .. } => unreachable!("no digest was expected"),
        })
    }

    /// Like [`BlobWriter::complete`], but keeps the blob only when it hashes to `expected`; on a
    /// mismatch nothing is kept.
    pub fn complete_expecting(self, expected: &Digest) -> Result<Written, BlobError> {
        self.finish(Some(expected))
    }

    fn finish(self, expected: Option<&Digest>) -> Result<Written, BlobError> {
        let (digest, size, out) = self.out.finish();
        if let Some(expected) = expected.filter(|e| **e != digest) {
            return Err(BlobError::Mismatch {
                expected: *expected,
                found: digest,
                size,
            });
        }
        let tmp = out.into_inner().map_err(|e| e.into_error())?;
        crate::fsutil::set_default_mode(tmp.path(), false)?;
        tmp.as_file().sync_all()?;
        tmp.persist(self.dir.join(digest.hex())).map_err(|e| e.error)?;
        Ok(Written { digest, size })
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn a_blob_appears_only_under_its_digest_once_complete() {
        let root = tempfile::tempdir().unwrap();
        let dir = blobs_dir(root.path());
        let mut w = BlobWriter::new(&dir).unwrap();
        w.write_all(b"hello ").unwrap();
        w.write_all(b"world").unwrap();
        let written = w.complete().unwrap();
        assert_eq!(written.digest, Digest::of(b"hello world"));
        assert_eq!(written.size, 11);
        let names: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from(written.digest.hex())]);
        assert_eq!(
            fs::read(blob_path(root.path(), &written.digest)).unwrap(),
            b"hello world"
        );

        // A mismatch keeps nothing.
        let mut w = BlobWriter::new(&dir).unwrap();
        w.write_all(b"other").unwrap();
        assert!(matches!(
            w.complete_expecting(&written.digest),
            Err(BlobError::Mismatch { size: 5, .. })
        ));
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);

        // A writer dropped before `complete` leaves nothing.
        let mut w = BlobWriter::new(&dir).unwrap();
        w.write_all(b"partial").unwrap();
        drop(w);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
    }
}
