//! A safe, streaming reader of layer blobs and build-context archives (tar, or tar compressed
//! with gzip, xz or bzip2: Docker's `ADD` auto-extracts all three).
//!
//! Layer blobs come from registries and build outputs that retrace does not control, so every
//! archive is treated as hostile: paths are normalized and refused when they could escape a target
//! directory (`..`, absolute paths, NUL bytes), entries reached through a symlink of the same archive
//! are refused, and the entry count, each entry's size, the total decompressed size and the
//! decompression ratio are bounded. Every refusal is a typed [`ArchiveError`] naming the entry at fault.
//!
//! Entries are handed to a callback one by one together with a reader over their content, so a
//! caller can hash a gigabyte layer without holding it in memory. When the blob's digest is known
//! it is verified over the very bytes that were parsed; a mismatch is reported after the last entry
//! (the callback's results must then be discarded, which [`read_archive`] makes explicit by
//! returning the error).

mod docker;
mod extract;
pub mod gotar;
mod headers;
mod members;

use std::cell::RefCell;
use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use flate2::read::MultiGzDecoder;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::Digest;
use gotar::GoTarError;

pub use docker::{DockerManifest, MAX_MANIFEST_BYTES};
pub use extract::extract_to;
pub use headers::{docker_extracts, Extraction};
pub use members::{Member, TarMembers, MAX_MEMBERS, MAX_MEMBER_LINKS};

/// Bounds applied while reading one archive. The defaults admit any real image layer seen so far
/// (the largest published layers are a few GiB) while refusing archives built to exhaust memory,
/// disk or time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Entries in the archive, counting directories and links.
    pub max_entries: u64,
    /// Declared size of one entry's content.
    pub max_entry_size: u64,
    /// Bytes of the uncompressed tar stream, headers and padding included.
    pub max_total_bytes: u64,
    /// Decompressed bytes per compressed byte, enforced once `ratio_grace_bytes` have been
    /// decompressed (small archives of zeros legitimately compress very well).
    pub max_ratio: u64,
    pub ratio_grace_bytes: u64,
    /// Bytes of one path or link target.
    pub max_path_len: usize,
    /// Bytes of all paths and link targets together: what an index of the archive holds in memory
    /// grows with it, whatever the entry count.
    pub max_path_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_entries: 2_000_000,
            max_entry_size: 16 << 30,
            max_total_bytes: 64 << 30,
            max_ratio: 1_000,
            ratio_grace_bytes: 64 << 20,
            max_path_len: 4096,
            max_path_bytes: 128 << 20,
        }
    }
}

/// How the blob was compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Xz,
    Bzip2,
    /// Recognised so that a reader can refuse it by name; retrace reads no zstd stream.
    Zstd,
}

impl Compression {
    /// The compression of a stream by its first bytes, as moby's `DetectCompression` reads them:
    /// gzip `1f 8b 08`, bzip2 `BZh`, xz `fd 37 7a 58 5a 00`, zstd `28 b5 2f fd`. The one
    /// sniffing rule of every reader.
    pub fn sniff(magic: &[u8]) -> Compression {
        match magic {
            [0x1f, 0x8b, 0x08, ..] => Compression::Gzip,
            [b'B', b'Z', b'h', ..] => Compression::Bzip2,
            [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Compression::Xz,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
            _ => Compression::None,
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Xz => "xz",
            Compression::Bzip2 => "bzip2",
            Compression::Zstd => "zstd",
        })
    }
}

/// Why an archive was refused. Every variant that concerns one entry names it, in the one-line text
/// form (`shown`), so a name with a newline or a terminal escape cannot break the message.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("reading archive")]
    Io(#[from] io::Error),
    #[error("reading archive: {}", path.display())]
    File {
        path: std::path::PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("blob digest mismatch: expected {expected}, found {found}")]
    DigestMismatch { expected: Digest, found: Digest },
    #[error("entry `{}`: path escapes the archive root ({reason})", shown(.entry))]
    PathEscape { entry: String, reason: &'static str },
    #[error("entry `{}`: NUL byte in path or link target", shown(.entry))]
    NulInPath { entry: String },
    #[error("entry `{}`: path or link target longer than {limit} bytes", shown(.entry))]
    PathTooLong { entry: String, limit: usize },
    #[error("entry `{}`: reached through symlink `{}` of the same archive", shown(.entry), shown(.symlink))]
    ThroughSymlink { entry: String, symlink: String },
    #[error("entry `{}`: hard link target `{}` escapes the archive root", shown(.entry), shown(.target))]
    HardlinkEscape { entry: String, target: String },
    #[error("entry `{}`: more than {limit} entries", shown(.entry))]
    TooManyEntries { entry: String, limit: u64 },
    #[error("entry `{}`: size {size} exceeds the limit of {limit} bytes", shown(.entry))]
    EntryTooLarge { entry: String, size: u64, limit: u64 },
    #[error("entry `{}`: paths and link targets exceed {limit} bytes in all", shown(.entry))]
    PathBytes { entry: String, limit: u64 },
    #[error("entry `{}`: an index of the archive would take more than {limit} bytes of memory", shown(.entry))]
    IndexTooLarge { entry: String, limit: u64 },
    #[error("archive exceeds {limit} decompressed bytes (at entry `{}`)", shown(.entry))]
    TotalTooLarge { entry: String, limit: u64 },
    #[error("entry `{}`: the extracted tree would take more than {limit} bytes of memory", shown(.entry))]
    TreeTooLarge { entry: String, limit: u64 },
    #[error(
        "decompression bomb refused: {decompressed} bytes (sparse holes included) from {compressed} archive bytes exceeds ratio {limit}:1 (at entry `{}`)", shown(.entry)
    )]
    GzipBomb {
        entry: String,
        compressed: u64,
        decompressed: u64,
        limit: u64,
    },
    #[error("unsupported compression ({0}); only tar, and tar compressed with gzip, xz or bzip2, are read")]
    UnsupportedCompression(&'static str),
    /// A fact retrace found wrong (content cut short, a bad PAX record).
    #[error("malformed archive at entry `{}`: {message}", shown(.entry))]
    Malformed { entry: String, message: String },
    /// Reading failed (a corrupt compressed stream); the error says why.
    #[error("malformed archive at entry `{}`", shown(.entry))]
    MalformedTar {
        entry: String,
        #[source]
        source: io::Error,
    },
    /// The tar reader refused the archive where Go's archive/tar refuses it; its error says why.
    #[error("malformed archive at entry `{}`", shown(.entry))]
    Tar {
        entry: String,
        #[source]
        source: GoTarError,
    },
    /// An entry of a type Docker's extraction fails on ([`docker_extracts`]).
    #[error("entry `{}`: type `{}`, which Docker does not extract (moby's createTarFile: unhandled tar header type)", shown(.entry), (*.typeflag as char).escape_default())]
    Unextractable { entry: String, typeflag: u8 },
    /// serde_json's message already ends with the line and column.
    #[error("member `{}`: {message}", shown(.member))]
    MemberJson {
        member: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("no member `{}`", shown(.member))]
    MissingMember { member: String },
    #[error("member `{}`: a chain of more than {limit} symbolic links", shown(.member))]
    MemberLinks { member: String, limit: usize },
    #[error(
        "the archive is {compression}-compressed; its members are read in place from a plain tar (as `docker save` writes): decompress it first"
    )]
    CompressedMembers { compression: Compression },
}

/// An entry's name (in this reader's encoding) with control characters escaped as well.
fn shown(name: &str) -> std::borrow::Cow<'_, str> {
    crate::layer::name::escape_text(name)
}

/// The kind of an entry, with the data only that kind has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "type", content = "target")]
pub enum Kind {
    File,
    Dir,
    Symlink(String),
    Hardlink(String),
    Char(u32, u32),
    Block(u32, u32),
    Fifo,
}

impl Kind {
    pub fn name(&self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Dir => "dir",
            Kind::Symlink(_) => "symlink",
            Kind::Hardlink(_) => "hardlink",
            Kind::Char(..) => "char",
            Kind::Block(..) => "block",
            Kind::Fifo => "fifo",
        }
    }
}

/// One entry's metadata as read from the archive, with its path already normalized: relative to
/// the layer root, no `./` prefix, no trailing `/`, every component checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveEntry {
    pub path: String,
    pub kind: Kind,
    /// Permission and setuid/setgid/sticky bits only.
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub uname: String,
    pub gname: String,
    /// Whole seconds since the epoch (PAX fractional times are floored).
    pub mtime: i64,
    pub size: u64,
    /// `SCHILY.xattr.*` PAX records, by attribute name.
    pub xattrs: BTreeMap<String, Vec<u8>>,
    /// How the header was encoded (`ustar`, `gnu`, `v7`, with `+pax` when PAX records preceded it);
    /// carries no meaning for the file system, so semantic comparisons ignore it.
    pub format: String,
}

/// What reading the whole archive established besides its entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveSummary {
    pub compression: Compression,
    /// Digest and size of the blob as stored.
    pub blob_digest: Digest,
    pub blob_size: u64,
    /// Digest of the uncompressed tar stream (the OCI `diff_id`).
    pub diff_id: Digest,
    pub tar_size: u64,
    pub entries: u64,
}

/// Counters shared by the reader layers: the compressed side hashes and counts what the
/// decompressor consumes, the uncompressed side counts what the tar parser consumes and enforces
/// the size and ratio bounds. Errors found inside `Read` impls are parked here so they come out
/// typed instead of as an opaque `io::Error` wrapped by the tar crate.
struct Meter {
    limits: Limits,
    compressed: u64,
    blob_hash: Sha256,
    decompressed: u64,
    /// Zero bytes that sparse entries expand to beyond their stored data: counted with the
    /// decompressed bytes, since reading them costs the same time.
    holes: u64,
    tar_hash: Sha256,
    /// Whether the decompression ratio is bounded (any compressed input).
    compressed_input: bool,
    current: String,
    error: Option<ArchiveError>,
}

type Shared = Rc<RefCell<Meter>>;

struct BlobSide<R> {
    inner: R,
    meter: Shared,
}

impl<R: Read> Read for BlobSide<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut m = self.meter.borrow_mut();
        m.compressed += n as u64;
        m.blob_hash.update(&buf[..n]);
        Ok(n)
    }
}

struct TarSide<R> {
    inner: R,
    meter: Shared,
}

impl<R: Read> Read for TarSide<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut m = self.meter.borrow_mut();
        m.decompressed += n as u64;
        m.tar_hash.update(&buf[..n]);
        if let Some(err) = m.refusal() {
            m.error.get_or_insert(err);
            return Err(io::Error::other("archive limit exceeded"));
        }
        Ok(n)
    }
}

impl Meter {
    fn new(limits: &Limits) -> Meter {
        Meter {
            limits: *limits,
            compressed: 0,
            blob_hash: Sha256::new(),
            decompressed: 0,
            holes: 0,
            tar_hash: Sha256::new(),
            compressed_input: false,
            current: String::from("(start of archive)"),
            error: None,
        }
    }

    /// Starts counting `entry`. A sparse entry expands to its full size while holding only its
    /// data: the holes are counted now, before any of them is read.
    fn enter(&mut self, entry: &ArchiveEntry, stored: u64) -> Result<(), ArchiveError> {
        self.current = entry.path.clone();
        if entry.size > stored {
            self.holes += entry.size - stored;
            if let Some(err) = self.refusal() {
                return Err(err);
            }
        }
        Ok(())
    }

    /// The size or ratio bound the bytes produced so far (sparse holes included) break, if any.
    fn refusal(&self) -> Option<ArchiveError> {
        let produced = self.decompressed.saturating_add(self.holes);
        if produced > self.limits.max_total_bytes {
            Some(ArchiveError::TotalTooLarge {
                entry: self.current.clone(),
                limit: self.limits.max_total_bytes,
            })
        } else if (self.compressed_input || self.holes > 0)
            && produced > self.limits.ratio_grace_bytes
            && produced > self.compressed.max(1).saturating_mul(self.limits.max_ratio)
        {
            Some(ArchiveError::GzipBomb {
                entry: self.current.clone(),
                compressed: self.compressed,
                decompressed: produced,
                limit: self.limits.max_ratio,
            })
        } else {
            None
        }
    }
}

/// Opens `path` and reads it with [`read_archive`].
pub fn read_archive_file(
    path: &Path,
    expected: Option<&Digest>,
    limits: &Limits,
    on_entry: impl FnMut(&ArchiveEntry, &mut dyn Read) -> Result<(), ArchiveError>,
) -> Result<ArchiveSummary, ArchiveError> {
    let file = crate::fsutil::open_regular(path).map_err(|source| ArchiveError::File {
        path: path.to_path_buf(),
        source,
    })?;
    read_archive(file, expected, limits, on_entry)
}

/// Streams the archive in `blob` (tar or gzip'd tar, detected by its magic bytes) and calls
/// `on_entry` for every entry in archive order, with a reader over its content. The callback need
/// not read the content; what it leaves is skipped. Returns the blob's facts once the whole blob has
/// been read and, when `expected` is given, found to hash to it.
pub fn read_archive(
    blob: impl Read,
    expected: Option<&Digest>,
    limits: &Limits,
    mut on_entry: impl FnMut(&ArchiveEntry, &mut dyn Read) -> Result<(), ArchiveError>,
) -> Result<ArchiveSummary, ArchiveError> {
    let meter: Shared = Rc::new(RefCell::new(Meter::new(limits)));
    let (compression, tar_side) = decoded(blob, &meter)?;
    let mut reader = gotar::Reader::new(tar_side);
    let mut walker = Walker::new(limits);
    loop {
        let previous = meter.borrow().current.clone();
        let hdr = match reader.next() {
            Ok(Some(hdr)) => hdr,
            Ok(None) => break,
            Err(e) => return Err(parked(&meter, e, &format!("after {previous}"))),
        };
        visit(&mut walker, &meter, &hdr, &mut reader, &mut on_entry)?;
    }
    let mut rest = reader.into_inner();
    drain(&mut rest, &meter)?;
    drop(rest);
    // The tar reader and decoder holding the other references were dropped above.
    let m = Rc::try_unwrap(meter).ok().expect("all readers dropped").into_inner();
    let blob_digest = Digest::from_bytes(m.blob_hash.finalize().into());
    if let Some(expected) = expected {
        if *expected != blob_digest {
            return Err(ArchiveError::DigestMismatch {
                expected: *expected,
                found: blob_digest,
            });
        }
    }
    Ok(ArchiveSummary {
        compression,
        blob_digest,
        blob_size: m.compressed,
        diff_id: Digest::from_bytes(m.tar_hash.finalize().into()),
        tar_size: m.decompressed,
        entries: walker.count,
    })
}

/// The raw blob as the decompressors read it: buffered, every byte hashed and counted on its way
/// into the buffer.
type Raw<R> = BufReader<BlobSide<R>>;

/// One of the decompressors `DecompressStream` picks, over the raw blob.
enum Decoder<R: Read> {
    None(Raw<R>),
    Gzip(MultiGzDecoder<Raw<R>>),
    Xz(xz2::bufread::XzDecoder<Raw<R>>),
    Bzip2(bzip2::bufread::MultiBzDecoder<Raw<R>>),
}

impl<R: Read> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoder::None(r) => r.read(buf),
            Decoder::Gzip(r) => r.read(buf),
            Decoder::Xz(r) => r.read(buf),
            Decoder::Bzip2(r) => r.read(buf),
        }
    }
}

impl<R: Read> Decoder<R> {
    /// The raw blob past what the decompressor has buffered (those bytes are hashed already).
    fn raw_rest(&mut self) -> &mut BlobSide<R> {
        match self {
            Decoder::None(r) => r.get_mut(),
            Decoder::Gzip(r) => r.get_mut().get_mut(),
            Decoder::Xz(r) => r.get_mut().get_mut(),
            Decoder::Bzip2(r) => r.get_mut().get_mut(),
        }
    }
}

/// The decompressed side of `blob` (gzip, xz, bzip2 or none, by its magic bytes), metered by
/// `meter` so every byte it yields counts against the limits.
fn decoded<R: Read>(blob: R, meter: &Shared) -> Result<(Compression, TarSide<Decoder<R>>), ArchiveError> {
    let mut raw = BufReader::with_capacity(
        256 << 10,
        BlobSide {
            inner: blob,
            meter: meter.clone(),
        },
    );
    let compression = detect_compression(raw.fill_buf().map_err(ArchiveError::Io)?)?;
    meter.borrow_mut().compressed_input = compression != Compression::None;
    let inner = match compression {
        Compression::Gzip => Decoder::Gzip(MultiGzDecoder::new(raw)),
        // Multi-stream, like the `xz -d` and Go compress/bzip2 readers Docker used.
        Compression::Xz => {
            // The xz header states the memory its decoder needs; past the limit the stream is
            // refused instead of allocated (liblzma's own default is no limit).
            let stream = xz2::stream::Stream::new_stream_decoder(XZ_MEMORY_LIMIT, xz2::stream::CONCATENATED)
                .map_err(|e| ArchiveError::Io(io::Error::other(e)))?;
            Decoder::Xz(xz2::bufread::XzDecoder::new_stream(raw, stream))
        }
        Compression::Bzip2 => Decoder::Bzip2(bzip2::bufread::MultiBzDecoder::new(raw)),
        // `detect_compression` refused zstd already.
        Compression::None | Compression::Zstd => Decoder::None(raw),
    };
    let side = TarSide {
        inner,
        meter: meter.clone(),
    };
    Ok((compression, side))
}

/// Reads what follows the end-of-archive marker so the digests cover the whole blob, exactly as
/// a registry computed them. Docker's reader stops at the marker and its layer store discards the
/// rest ignoring errors (`layer_store.go` `applyTar`), so bytes after the compressed stream that do
/// not decompress are read raw, not refused; only a limit stops it.
fn drain<R: Read>(rest: &mut TarSide<Decoder<R>>, meter: &Shared) -> Result<(), ArchiveError> {
    if io::copy(rest, &mut io::sink()).is_err() {
        if let Some(limit) = meter.borrow_mut().error.take() {
            return Err(limit);
        }
        io::copy(rest.inner.raw_rest(), &mut io::sink()).map_err(|e| parked(meter, e, "(end of archive)"))?;
    }
    Ok(())
}

/// Copies the decompressed bytes of `blob` (gzip, xz, bzip2, or a plain stream copied as it is)
/// to `out` without reading them as a tar: for a layer that must be stored as its tar. The same
/// total size and decompression ratio bounds as [`read_archive`] apply, so a bomb is refused
/// (as [`ArchiveError::GzipBomb`] or [`ArchiveError::TotalTooLarge`]) after at most
/// `max_total_bytes` were written. Returns the compression found and the bytes written.
pub fn decompress(
    blob: impl Read,
    limits: &Limits,
    out: &mut dyn io::Write,
) -> Result<(Compression, u64), ArchiveError> {
    let meter: Shared = Rc::new(RefCell::new(Meter::new(limits)));
    meter.borrow_mut().current = String::from("(decompressed stream)");
    let (compression, mut side) = decoded(blob, &meter)?;
    let written = io::copy(&mut side, out).map_err(|e| parked(&meter, e, "(decompressed stream)"))?;
    Ok((compression, written))
}

/// The most memory an xz stream's decoder may ask for: `xz -9` needs 65 MiB.
pub const XZ_MEMORY_LIMIT: u64 = 256 << 20;

/// The compression of a blob, by its magic bytes.
fn detect_compression(magic: &[u8]) -> Result<Compression, ArchiveError> {
    match Compression::sniff(magic) {
        Compression::Zstd => Err(ArchiveError::UnsupportedCompression("zstd")),
        known => Ok(known),
    }
}

/// The error behind a failed read: the limit a meter parked, else the tar reader's refusal, else
/// the read's own failure (a corrupt compressed stream is a malformed archive; other I/O failures,
/// a full disk while extracting, keep their kind).
fn parked(meter: &Shared, e: impl Into<GoTarError>, entry: &str) -> ArchiveError {
    if let Some(limit) = meter.borrow_mut().error.take() {
        return limit;
    }
    let entry = entry.to_string();
    match e.into() {
        GoTarError::Io(shared) => {
            let e = Arc::try_unwrap(shared).unwrap_or_else(|e| io::Error::new(e.kind(), e.to_string()));
            match e.kind() {
                io::ErrorKind::Other | io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof => {
                    ArchiveError::MalformedTar { entry, source: e }
                }
                _ => ArchiveError::Io(e),
            }
        }
        source => ArchiveError::Tar { entry, source },
    }
}

/// Describes one tar entry, hands it to `on_entry` and skips what the callback left of its content.
/// A PAX global header is passed over, as Docker passes over it.
fn visit<R: Read>(
    walker: &mut Walker,
    meter: &Shared,
    hdr: &gotar::Header,
    reader: &mut gotar::Reader<R>,
    on_entry: &mut impl FnMut(&ArchiveEntry, &mut dyn Read) -> Result<(), ArchiveError>,
) -> Result<(), ArchiveError> {
    if headers::docker_extracts(hdr.typeflag) == headers::Extraction::Ignore {
        return Ok(());
    }
    let entry = walker.describe(hdr)?;
    if entry.path.is_empty() {
        // The archive root itself (`./`) describes no file of the layer.
        if entry.kind != Kind::Dir {
            return Err(ArchiveError::PathEscape {
                entry: display_bytes(&hdr.name),
                reason: "non-directory entry at the archive root",
            });
        }
        return Ok(());
    }
    meter.borrow_mut().enter(&entry, reader.stored_size())?;
    let mut content = Counted { inner: reader, n: 0 };
    let outcome = on_entry(&entry, &mut content).and_then(|()| {
        // Skip what the callback left, counting it, so a blob cut short is reported
        // against the entry it cut rather than the next one.
        io::copy(&mut content, &mut io::sink())?;
        Ok(())
    });
    outcome.map_err(|err| match err {
        ArchiveError::Io(e) => parked(meter, e, &entry.path),
        other => other,
    })?;
    if content.n != entry.size && matches!(entry.kind, Kind::File) {
        return Err(ArchiveError::Malformed {
            entry: entry.path.clone(),
            message: format!("truncated: {} of {} content bytes", content.n, entry.size),
        });
    }
    Ok(())
}

/// Counts the content bytes an entry actually yielded.
struct Counted<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

/// Per-archive state of the safety checks.
struct Walker<'l> {
    limits: &'l Limits,
    /// Symlinks seen so far, by the hash of their path; an entry below one of them would be written
    /// through it on extraction. Hashing every ancestor of a path with one streaming hasher keeps
    /// the check linear in the path's length (hashing each ancestor afresh would be quadratic), and
    /// the per-process random key keeps an archive from choosing colliding paths.
    symlinks: HashMap<u64, Vec<String>>,
    hasher: RandomState,
    count: u64,
    path_bytes: u64,
}

impl<'l> Walker<'l> {
    fn new(limits: &'l Limits) -> Walker<'l> {
        Walker {
            limits,
            symlinks: HashMap::new(),
            hasher: RandomState::new(),
            count: 0,
            path_bytes: 0,
        }
    }

    fn key(&self, path: &str) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write(path.as_bytes());
        h.finish()
    }

    fn is_symlink(&self, path: &str) -> bool {
        self.symlinks
            .get(&self.key(path))
            .is_some_and(|paths| paths.iter().any(|p| p == path))
    }

    fn set_symlink(&mut self, path: &str, symlink: bool) {
        let key = self.key(path);
        let paths = self.symlinks.entry(key).or_default();
        paths.retain(|p| p != path);
        if symlink {
            paths.push(path.to_string());
        }
    }

    /// The first ancestor of `path` that is a symlink of this archive, found in one pass.
    fn symlink_ancestor<'p>(&self, path: &'p str) -> Option<&'p str> {
        if self.symlinks.is_empty() {
            return None;
        }
        let mut h = self.hasher.build_hasher();
        let mut start = 0;
        for (i, _) in path.match_indices('/') {
            h.write(&path.as_bytes()[start..i]);
            start = i;
            let ancestor = &path[..i];
            if let Some(paths) = self.symlinks.get(&h.finish()) {
                if paths.iter().any(|p| p == ancestor) {
                    return Some(ancestor);
                }
            }
        }
        None
    }

    /// Counts a link's target against the path budget and remembers which paths are symlinks. A
    /// hard link to a symlink is itself a symlink once extracted, so entries below it would be
    /// written through it just the same.
    fn record_links(&mut self, path: &str, kind: &Kind) -> Result<(), ArchiveError> {
        if let Kind::Symlink(target) | Kind::Hardlink(target) = kind {
            self.charge_path(target.len(), path)?;
        }
        let symlink = match kind {
            Kind::Symlink(_) => true,
            Kind::Hardlink(target) => self.is_symlink(target),
            _ => false,
        };
        if symlink || !self.symlinks.is_empty() {
            self.set_symlink(path, symlink);
        }
        Ok(())
    }

    /// Counts `bytes` of path or link text against [`Limits::max_path_bytes`].
    fn charge_path(&mut self, bytes: usize, entry: &str) -> Result<(), ArchiveError> {
        self.path_bytes += bytes as u64;
        if self.path_bytes > self.limits.max_path_bytes {
            return Err(ArchiveError::PathBytes {
                entry: entry.to_string(),
                limit: self.limits.max_path_bytes,
            });
        }
        Ok(())
    }
}

fn malformed(path: &str, message: String) -> ArchiveError {
    ArchiveError::Malformed {
        entry: path.to_string(),
        message,
    }
}

/// Why a path was refused, turned into an error once the entry's display name is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PathFault {
    Nul,
    Absolute,
    DotDot,
    TooLong(usize),
}

impl PathFault {
    fn into_error(self, entry: String) -> ArchiveError {
        match self {
            PathFault::Nul => ArchiveError::NulInPath { entry },
            PathFault::Absolute => ArchiveError::PathEscape {
                entry,
                reason: "absolute path",
            },
            PathFault::DotDot => ArchiveError::PathEscape {
                entry,
                reason: "`..` component",
            },
            PathFault::TooLong(limit) => ArchiveError::PathTooLong { entry, limit },
        }
    }
}

/// Normalizes an archive path to the form layers use (`usr/bin/x`): `.` components and empty
/// components are dropped, a trailing `/` removed. Refuses NUL bytes, absolute paths and any `..`
/// component (even one that would stay inside the root: no legitimate layer writer emits it).
/// The root itself normalizes to the empty string.
fn normalize(raw: &[u8], max_len: usize) -> Result<String, PathFault> {
    if raw.contains(&0) {
        return Err(PathFault::Nul);
    }
    if raw.len() > max_len {
        return Err(PathFault::TooLong(max_len));
    }
    if raw.first() == Some(&b'/') {
        return Err(PathFault::Absolute);
    }
    let mut out = Vec::with_capacity(raw.len());
    for comp in raw.split(|&b| b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => return Err(PathFault::DotDot),
            c => {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(c);
            }
        }
    }
    Ok(display_bytes(&out))
}

/// Paths are kept as text that encodes their bytes one to one: valid UTF-8 verbatim except the
/// backslash, written `\\`, and any byte that is not UTF-8 as `\xNN`. The backslash must be escaped
/// too, or the byte 0xff and the four characters `\xff` would be the same name and one file could
/// hide another. [`raw_bytes`] turns the text back into the bytes; reports stay valid JSON.
pub fn display_bytes(bytes: &[u8]) -> String {
    if let Ok(s) = std::str::from_utf8(bytes) {
        if !s.contains('\\') {
            return s.to_string();
        }
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                out.push_str("\\\\");
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// The bytes a [`display_bytes`] text stands for.
pub fn raw_bytes(text: &str) -> Vec<u8> {
    if !text.contains('\\') {
        return text.as_bytes().to_vec();
    }
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match rest {
            [b'\\', tail @ ..] => {
                out.push(b'\\');
                rest = tail;
            }
            [b'x', h, l, tail @ ..] if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                let hex = [*h, *l];
                let text = std::str::from_utf8(&hex).unwrap_or("00");
                out.push(u8::from_str_radix(text, 16).unwrap_or(0));
                rest = tail;
            }
            // Not produced by display_bytes; kept as it stands.
            _ => out.push(b),
        }
    }
    out
}

#[cfg(test)]
mod tests;
