//! The local content store shared by every command: `blobs/sha256/<hex>` holds blobs whose bytes were
//! verified against their digest before they were renamed into place, so a path under `blobs/` is
//! always trustworthy content. Next to it:
//!
//! - `meta/sha256/<hex>.json`: what the registry said about a blob (size, media type, Last-Modified),
//!   so `describe --offline` can write the same document as online;
//! - `refs/<registry>/<repository>/<tag>`: the manifest digest a tag pointed at when last fetched;
//! - `tmp/`: partial downloads (`<hex>.partial`, resumed with HTTP Range) and temporary files, on the
//!   same file system as `blobs/` so the final rename is atomic.
//!
//! Location: `$RETRACE_STORE`, else `$XDG_CACHE_HOME/retrace`, else `~/.cache/retrace`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{RegistryError, Result};
use crate::digest::{Digest, DigestWriter};

#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// What a registry reported about a blob, kept for offline use.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobMeta {
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The HTTP `Last-Modified` header, as sent (RFC 1123).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
}

impl Store {
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    /// The store every command uses unless told otherwise.
    pub fn default_location() -> PathBuf {
        if let Some(p) = std::env::var_os("RETRACE_STORE") {
            return PathBuf::from(p);
        }
        if let Some(p) = std::env::var_os("XDG_CACHE_HOME") {
            return PathBuf::from(p).join("retrace");
        }
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        home.join(".cache/retrace")
    }

    pub fn open_default() -> Store {
        Store::new(Store::default_location())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        crate::blob::blob_path(&self.root, d)
    }

    pub fn has(&self, d: &Digest) -> bool {
        self.blob_path(d).is_file()
    }

    pub fn tmp_dir(&self) -> Result<PathBuf> {
        let dir = self.root.join("tmp");
        fs::create_dir_all(&dir).map_err(|e| RegistryError::io(&dir, e))?;
        Ok(dir)
    }

    /// Where a resumable download of `d` keeps its bytes until they are verified.
    pub fn partial_path(&self, d: &Digest) -> Result<PathBuf> {
        Ok(self.tmp_dir()?.join(format!("{}.partial", d.hex())))
    }

    /// Stores bytes already in memory. They are hashed here, so the digest returned is the truth.
    pub fn put(&self, bytes: &[u8]) -> Result<Digest> {
        let d = Digest::of(bytes);
        if self.has(&d) {
            return Ok(d);
        }
        let dir = crate::blob::blobs_dir(&self.root);
        crate::blob::BlobWriter::write_bytes(&dir, bytes).map_err(|e| RegistryError::io(&dir, e))?;
        Ok(d)
    }

    /// Stores bytes that must hash to `expected`; a mismatch stores nothing.
    pub fn put_expecting(&self, bytes: &[u8], expected: &Digest, url: &str) -> Result<()> {
        let found = Digest::of(bytes);
        if found != *expected {
            return Err(RegistryError::DigestMismatch {
                what: "blob",
                expected: *expected,
                found,
                url: url.to_string(),
                size: bytes.len() as u64,
            });
        }
        self.put(bytes).map(|_| ())
    }

    /// Moves a file whose content is known to hash to `d` into `blobs/`. The caller has verified it;
    /// the file is synced first so a crash cannot leave a truncated blob under a digest name.
    pub fn commit(&self, file: &Path, d: &Digest) -> Result<PathBuf> {
        let dest = self.blob_path(d);
        // A blob path is `<root>/blobs/sha256/<hex>`, so it has a parent.
        let dir = dest.parent().unwrap();
        fs::create_dir_all(dir).map_err(|e| RegistryError::io(dir, e))?;
        fs::File::open(file)
            .and_then(|f| f.sync_all())
            .map_err(|e| RegistryError::io(file, e))?;
        fs::rename(file, &dest).map_err(|e| RegistryError::io(&dest, e))?;
        Ok(dest)
    }

    /// Reads a whole blob (manifests, configs) and checks it still hashes to its name, because a
    /// store on disk can be damaged after the fact.
    pub fn read(&self, d: &Digest) -> Result<Vec<u8>> {
        let path = self.blob_path(d);
        let bytes = crate::fsutil::read_regular(&path, super::manifest::MAX_CONFIG_BYTES as u64)
            .map_err(|e| RegistryError::io(&path, e))?;
        named_by(&path, d, Digest::of(&bytes), bytes.len() as u64, STORED)?;
        Ok(bytes)
    }

    /// Re-hashes a stored blob of any size in a streaming pass.
    pub fn verify(&self, d: &Digest) -> Result<u64> {
        rehash(&self.blob_path(d), d, STORED)
    }

    /// Deletes a blob (used when a stored copy turns out to be damaged).
    pub fn remove(&self, d: &Digest) -> Result<()> {
        let path = self.blob_path(d);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(RegistryError::io(&path, e)),
        }
    }

    pub fn open(&self, d: &Digest) -> Result<fs::File> {
        let path = self.blob_path(d);
        crate::fsutil::open_regular(&path).map_err(|e| RegistryError::io(&path, e))
    }

    fn meta_path(&self, d: &Digest) -> PathBuf {
        self.root.join("meta/sha256").join(format!("{}.json", d.hex()))
    }

    pub fn put_meta(&self, d: &Digest, meta: &BlobMeta) -> Result<()> {
        let path = self.meta_path(d);
        // `BlobMeta` is plain data, so it always serializes.
        let json = serde_json::to_vec_pretty(meta).expect("BlobMeta serializes");
        crate::fsutil::write_new(&path, |w| w.write_all(&json)).map_err(|e| RegistryError::io(&path, e))
    }

    pub fn meta(&self, d: &Digest) -> Option<BlobMeta> {
        let bytes = crate::fsutil::read_regular(&self.meta_path(d), MAX_META_BYTES).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    fn ref_path(&self, registry: &str, repository: &str, tag: &str) -> PathBuf {
        self.root.join("refs").join(registry).join(repository).join(tag)
    }

    /// Records which manifest a tag named, so an offline command can resolve the tag later.
    pub fn put_ref(&self, registry: &str, repository: &str, tag: &str, d: &Digest) -> Result<()> {
        let path = self.ref_path(registry, repository, tag);
        crate::fsutil::write_new(&path, |w| writeln!(w, "{d}")).map_err(|e| RegistryError::io(&path, e))
    }

    pub fn get_ref(&self, registry: &str, repository: &str, tag: &str) -> Option<Digest> {
        // A ref file holds one digest: 72 bytes and a newline.
        let bytes = crate::fsutil::read_regular(&self.ref_path(registry, repository, tag), 4096).ok()?;
        String::from_utf8(bytes).ok()?.trim().parse().ok()
    }
}

/// The most bytes of a blob's metadata file read: it names a media type and a few URLs.
const MAX_META_BYTES: u64 = 1 << 20;

/// What a damaged blob of the store is called in an error.
const STORED: &str = "stored blob";

/// Re-hashes the blob file at `path`, named `d`, in a streaming pass and checks it against `d`;
/// its size. `what` names whose blob it is (the store's, a layout's) in the error.
pub(super) fn rehash(path: &Path, d: &Digest, what: &'static str) -> Result<u64> {
    let file = crate::fsutil::open_regular(path).map_err(|e| RegistryError::io(path, e))?;
    let mut w = DigestWriter::new(io::sink());
    io::copy(&mut io::BufReader::new(file), &mut w).map_err(|e| RegistryError::io(path, e))?;
    let (found, size, _) = w.finish();
    named_by(path, d, found, size, what)?;
    Ok(size)
}

/// Whether the blob file at `path`, named `d`, hashed to `d` (`found`): files on disk can be
/// damaged after the fact, so a mismatch names the file.
pub(super) fn named_by(path: &Path, d: &Digest, found: Digest, size: u64, what: &'static str) -> Result<()> {
    if found == *d {
        return Ok(());
    }
    Err(RegistryError::DigestMismatch {
        what,
        expected: *d,
        found,
        url: path.display().to_string(),
        size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_matching_bytes_are_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let d = store.put(b"hello").unwrap();
        assert_eq!(d, Digest::of(b"hello"));
        assert_eq!(store.read(&d).unwrap(), b"hello");
        let wrong = Digest::of(b"other");
        let e = store.put_expecting(b"hello!", &wrong, "test://x").unwrap_err();
        assert!(matches!(e, RegistryError::DigestMismatch { .. }), "{e}");
        assert!(!store.has(&wrong));
        assert!(!store.has(&Digest::of(b"hello!")));
    }

    #[test]
    fn a_damaged_blob_is_caught_on_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let d = store.put(b"config").unwrap();
        fs::write(store.blob_path(&d), b"c0nfig").unwrap();
        assert!(store.read(&d).is_err());
        assert!(store.verify(&d).is_err());
    }

    #[test]
    fn refs_and_meta_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let d = Digest::of(b"m");
        store.put_ref("127.0.0.1:5000", "retrace/demo", "latest", &d).unwrap();
        assert_eq!(store.get_ref("127.0.0.1:5000", "retrace/demo", "latest"), Some(d));
        assert_eq!(store.get_ref("127.0.0.1:5000", "retrace/demo", "other"), None);
        let meta = BlobMeta {
            size: 3,
            media_type: Some("x".into()),
            last_modified: Some("Wed, 30 Jan 2019 22:21:08 GMT".into()),
        };
        store.put_meta(&d, &meta).unwrap();
        assert_eq!(store.meta(&d), Some(meta));
    }
}
