//! The byte-exact tar writer: entries in, the exact bytes Docker's pkg/archive produced out.
//!
//! Docker builds a layer tar by turning each file into a Go `tar.Header` (pkg/archive
//! `FileInfoHeader`, the overlay whiteout converter) and handing it to Go's archive/tar writer.
//! This module mirrors both halves: `headers_for` makes the Go header an entry becomes (with
//! the whiteout and opaque-directory conversions), and two encoders reproduce the archive/tar
//! generations Docker shipped with (`Go18` for 17.06, `Go110` for 18.06 and 20.10), field by
//! field, including their quirks. The rules are documented in docs/layer-bytes.md; comments
//! below name the Go behaviour each branch copies.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};

use super::entry::{Entry, EntryKind};
use super::profile::{Profile, TarDialect};
use crate::digest::{Digest, DigestWriter};
use crate::gzip::GzipWriter;

const BLOCK: usize = 512;
const NAME_SIZE: usize = 100;
const PREFIX_SIZE: usize = 155;

// Header field offsets and lengths (POSIX ustar layout).
const NAME: (usize, usize) = (0, 100);
const MODE: (usize, usize) = (100, 8);
const UID: (usize, usize) = (108, 8);
const GID: (usize, usize) = (116, 8);
const SIZE: (usize, usize) = (124, 12);
const MTIME: (usize, usize) = (136, 12);
const CHKSUM: (usize, usize) = (148, 8);
const TYPEFLAG: usize = 156;
const LINKNAME: (usize, usize) = (157, 100);
const MAGIC: (usize, usize) = (257, 8);
const UNAME: (usize, usize) = (265, 32);
const GNAME: (usize, usize) = (297, 32);
const DEVMAJOR: (usize, usize) = (329, 8);
const DEVMINOR: (usize, usize) = (337, 8);
const PREFIX: (usize, usize) = (345, 155);

// File type bits Docker puts into the mode field (Go 1.8's FileInfoHeader did it itself; later
// pkg/archive restores them with fillGo18FileTypeBits).
const S_IFIFO: i64 = 0o010000;
const S_IFCHR: i64 = 0o020000;
const S_IFDIR: i64 = 0o040000;
const S_IFBLK: i64 = 0o060000;
const S_IFREG: i64 = 0o100000;
const S_IFLNK: i64 = 0o120000;

/// Why an entry cannot be written the way the profile's Docker release would have written it.
/// Travels inside an `io::Error` of kind `InvalidInput` so the writer keeps an `io::Result` API.
/// `path` is the entry's name in its escaped one-line text form (`layer::name`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode tar entry `{path}` as {profile}")]
pub struct TarEncodeError {
    pub path: String,
    pub profile: &'static str,
    #[source]
    pub reason: HeaderError,
}

/// Why a Go tar writer refuses a header (or why the entry cannot become one). Values that come
/// from names are in their escaped one-line text form (`layer::name`), never raw bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Go 1.8's formatter refuses a string longer than its field.
    #[error("field {field} too long: \"{value}\"")]
    FieldTooLong { field: &'static str, value: String },
    /// A number that neither octal nor base-256 can hold in its field.
    #[error("field {field}: number {value} does not fit a {size}-byte field")]
    OutOfRange {
        field: &'static str,
        value: i64,
        size: usize,
    },
    /// An owner id or a size beyond Go's `int64`.
    #[error("{field} does not fit Go's int64")]
    TooLargeForGo { field: &'static str },
    #[error("path must be non-empty and have no trailing '/'")]
    BadPath,
    /// Go 1.8 never writes a PAX header for a PAX header.
    #[error("PAX header would need a PAX header")]
    NestedPax,
    #[error("needs a PAX header ({keys}), which Go 1.5 named after the daemon's unrecorded process id")]
    Go15Pax { keys: String },
    #[error("invalid PAX record \"{key}\"")]
    InvalidPaxRecord { key: String },
    #[error("only the GNU format could encode this header, which Docker's PAX-marked headers never use")]
    GnuOnly,
    #[error("no tar format can encode this header")]
    NoFormat,
}

/// A Go `tar.Header` reduced to the fields Docker's layer headers use. Go strings are bytes, and
/// Docker handed file names over unchanged, so `name` and `linkname` are bytes too.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct GoHeader {
    pub name: Vec<u8>,
    pub linkname: Vec<u8>,
    /// Permission, setuid/setgid/sticky and file type bits.
    pub mode: i64,
    pub uid: i64,
    pub gid: i64,
    pub size: i64,
    /// Seconds since the epoch; `None` is Go's zero `time.Time` (the opaque marker's).
    pub mtime: Option<i64>,
    pub typeflag: u8,
    pub uname: String,
    pub gname: String,
    pub devmajor: i64,
    pub devminor: i64,
    /// Written as `SCHILY.xattr.<name>` PAX records.
    pub xattrs: BTreeMap<String, Vec<u8>>,
    /// `Header.Format == FormatPAX`, set by pkg/archive's FileInfoHeader from 18.06 on.
    pub format_pax: bool,
}

/// Writes `entries` as the tar stream the profile's Docker release produced for them: per entry
/// its headers and padded data, then the two zero blocks of the end marker (no blocking to
/// 10240 bytes). Returns the number of bytes written.
///
/// Errors are those of `out`, or `InvalidInput` carrying a [`TarEncodeError`] for an entry the
/// release could not encode either (such as a uid beyond 2^56 for 17.06).
pub fn write_tar(entries: &[Entry], profile: &Profile, out: &mut (impl Write + ?Sized)) -> io::Result<u64> {
    let mut encoder = Encoder::new(profile);
    let mut written = 0u64;
    let mut buf = Vec::with_capacity(4 * BLOCK);
    // Type bits and device numbers of each path written so far: a hard link's header keeps those
    // of the inode it links to (pkg/archive fills them from the stat before turning the header
    // into a link), so a link to a fifo says 010000, not 0100000.
    let mut inode_facts: HashMap<&[u8], (i64, i64, i64)> = HashMap::new();
    for entry in entries {
        buf.clear();
        let (mut header, marker) = headers_for(entry, profile)?;
        if let EntryKind::Hardlink(target) = &entry.kind {
            if let Some(&(type_bits, major, minor)) = inode_facts.get(target.as_slice()) {
                header.mode = (header.mode & 0o7777) | type_bits;
                header.devmajor = major;
                header.devminor = minor;
            }
        } else {
            inode_facts.insert(
                entry.path.as_slice(),
                (header.mode & !0o7777, header.devmajor, header.devminor),
            );
        }
        encoder
            .encode(&header, &mut buf)
            .map_err(|reason| encode_error(entry, profile, reason))?;
        out.write_all(&buf)?;
        written += buf.len() as u64;
        // The whiteout conversion turns a device into an empty file; only real files carry data.
        if let EntryKind::File(data) = &entry.kind {
            out.write_all(data)?;
            let pad = padding(data.len() as u64);
            out.write_all(&ZERO_BLOCK[..pad])?;
            written += data.len() as u64 + pad as u64;
        }
        if let Some(marker) = marker {
            buf.clear();
            encoder
                .encode(&marker, &mut buf)
                .map_err(|reason| encode_error(entry, profile, reason))?;
            out.write_all(&buf)?;
            written += buf.len() as u64;
        }
    }
    out.write_all(&ZERO_BLOCK)?;
    out.write_all(&ZERO_BLOCK)?;
    Ok(written + 2 * BLOCK as u64)
}

/// The identity of an uncompressed layer tar: its digest (the image config's `diff_id`) and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct TarInfo {
    pub diff_id: Digest,
    pub size: u64,
}

/// [`write_tar`], hashing the bytes on their way to `out`.
pub fn write_tar_digest(entries: &[Entry], profile: &Profile, out: &mut (impl Write + ?Sized)) -> io::Result<TarInfo> {
    let mut hashing = DigestWriter::new(out);
    write_tar(entries, profile, &mut hashing)?;
    let (diff_id, size, _) = hashing.finish();
    Ok(TarInfo { diff_id, size })
}

/// The identity of a compressed layer blob: `digest` names the gzip blob (manifest), `diff_id`
/// the tar inside it (image config), `size` is the blob's length in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct BlobInfo {
    pub digest: Digest,
    pub diff_id: Digest,
    pub size: u64,
}

/// Writes the layer blob Docker pushed: the tar of [`write_tar`], gzip-compressed as the
/// release's Go compress/gzip at level 6 (`distribution/push.go compress()`: the DEFLATE and gzip
/// header of the profile's Go), hashing the tar and the blob in the same single pass.
pub fn write_blob(entries: &[Entry], profile: &Profile, out: &mut (impl Write + ?Sized)) -> io::Result<BlobInfo> {
    let blob_hashing = DigestWriter::new(out);
    let mtime = if profile.go17_gzip_header() {
        crate::gzip::GO17_HEADER_MTIME
    } else {
        [0; 4]
    };
    let gzip = GzipWriter::with_header_mtime(blob_hashing, 6, profile.deflate_generation(), mtime)
        .map_err(io::Error::other)?;
    let mut tar_hashing = DigestWriter::new(gzip);
    write_tar(entries, profile, &mut tar_hashing)?;
    let (diff_id, _, gzip) = tar_hashing.finish();
    let (digest, size, _) = gzip.finish()?.finish();
    Ok(BlobInfo { digest, diff_id, size })
}

/// The header of a plain regular file (mode 0644, owner 0:0, mtime 0) in the Go 1.10+ dialect,
/// for archives retrace itself writes around layers (`docker load` archives). Appends nothing
/// but the header: the caller writes the data and its padding.
pub(crate) fn write_plain_file_header(name: &str, size: u64, out: &mut (impl Write + ?Sized)) -> io::Result<()> {
    let h = GoHeader {
        name: name.as_bytes().to_vec(),
        mode: S_IFREG | 0o644,
        size: i64::try_from(size)
            .map_err(|_| plain_header_error(name, HeaderError::TooLargeForGo { field: "size" }))?,
        mtime: Some(0),
        typeflag: b'0',
        format_pax: true,
        ..GoHeader::default()
    };
    let mut buf = Vec::with_capacity(3 * BLOCK);
    go110_write_header(&h, &mut buf).map_err(|reason| plain_header_error(name, reason))?;
    out.write_all(&buf)
}

fn encode_error(entry: &Entry, profile: &Profile, reason: HeaderError) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        TarEncodeError {
            path: entry.path_text(),
            profile: profile.name(),
            reason,
        },
    )
}

/// The error of a header retrace writes around layers, in the Go 1.10+ dialect.
fn plain_header_error(name: &str, reason: HeaderError) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        TarEncodeError {
            path: crate::layer::name::text(name.as_bytes()),
            profile: "go1.10 tar",
            reason,
        },
    )
}

const ZERO_BLOCK: [u8; BLOCK] = [0; BLOCK];

fn padding(len: u64) -> usize {
    ((BLOCK as u64 - len % BLOCK as u64) % BLOCK as u64) as usize
}

/// The Go header Docker made for an entry, and the opaque-directory marker header that follows
/// it when overlayfs marked the directory opaque.
pub(crate) fn headers_for(entry: &Entry, profile: &Profile) -> io::Result<(GoHeader, Option<GoHeader>)> {
    let invalid = |reason| encode_error(entry, profile, reason);
    let too_large = |field| invalid(HeaderError::TooLargeForGo { field });
    let uid = i64::try_from(entry.uid).map_err(|_| too_large("uid"))?;
    let gid = i64::try_from(entry.gid).map_err(|_| too_large("gid"))?;
    if entry.path.is_empty() || entry.path.ends_with(b"/") {
        return Err(invalid(HeaderError::BadPath));
    }
    let mut h = GoHeader {
        name: entry.path.clone(),
        mode: i64::from(entry.mode & 0o7777),
        uid,
        gid,
        mtime: Some(entry.mtime),
        typeflag: b'0',
        uname: profile.uname(entry.uid).to_string(),
        gname: profile.gname(entry.gid).to_string(),
        // pkg/archive reads exactly one extended attribute into the header.
        xattrs: entry
            .xattrs
            .iter()
            .filter(|(k, _)| k.as_str() == "security.capability")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        format_pax: profile.marks_headers_pax(),
        ..GoHeader::default()
    };
    set_kind(&mut h, &entry.kind).map_err(invalid)?;
    let marker = (entry.kind == EntryKind::Dir && entry.opaque).then(|| opaque_marker(entry, &h));
    Ok((h, marker))
}

/// The type-specific fields of `h`: type bits, typeflag, size, link name, device numbers, and
/// the overlay whiteout conversion.
fn set_kind(h: &mut GoHeader, kind: &EntryKind) -> Result<(), HeaderError> {
    match kind {
        EntryKind::File(data) => {
            h.mode |= S_IFREG;
            h.size = i64::try_from(data.len()).map_err(|_| HeaderError::TooLargeForGo { field: "size" })?;
        }
        EntryKind::Dir => {
            h.mode |= S_IFDIR;
            h.typeflag = b'5';
            // canonicalTarName: directories end in '/'.
            h.name.push(b'/');
        }
        EntryKind::Symlink(target) => {
            h.mode |= S_IFLNK;
            h.typeflag = b'2';
            h.linkname = target.clone();
        }
        EntryKind::Hardlink(target) => {
            // The mode keeps the type bits of the linked inode (regular here; `write_tar` puts
            // those of the entry linked to when it is in the same layer); size is zeroed.
            h.mode |= S_IFREG;
            h.typeflag = b'1';
            h.linkname = target.clone();
        }
        EntryKind::CharDevice { major: 0, minor: 0 } | EntryKind::SharedWhiteout(_) => {
            // overlay2 whiteout: becomes the empty regular file `.wh.<name>`, mode exactly 0600,
            // keeping owner, names and mtime of the device node.
            h.name = super::whiteout::file_for(&h.name);
            h.mode = 0o600;
            if let EntryKind::SharedWhiteout(first) = kind {
                h.linkname = first.clone();
            }
        }
        EntryKind::CharDevice { major, minor } | EntryKind::BlockDevice { major, minor } => {
            let block = matches!(kind, EntryKind::BlockDevice { .. });
            h.mode |= if block { S_IFBLK } else { S_IFCHR };
            h.typeflag = if block { b'4' } else { b'3' };
            h.devmajor = i64::from(*major);
            h.devminor = i64::from(*minor);
        }
        EntryKind::Fifo => {
            h.mode |= S_IFIFO;
            h.typeflag = b'6';
        }
    }
    Ok(())
}

/// The overlay converter's marker after an opaque directory: a fresh header (Format unknown,
/// zero ModTime) with the directory's permission bits only and its owner.
fn opaque_marker(entry: &Entry, dir: &GoHeader) -> GoHeader {
    GoHeader {
        name: [entry.path.as_slice(), b"/", super::whiteout::OPAQUE].concat(),
        mode: dir.mode & 0o777,
        uid: dir.uid,
        gid: dir.gid,
        mtime: None,
        typeflag: b'0',
        uname: dir.uname.clone(),
        gname: dir.gname.clone(),
        ..GoHeader::default()
    }
}

/// One tar stream's encoder state.
pub(crate) struct Encoder {
    dialect: TarDialect,
    /// Go 1.8's `Writer.usedBinary`: once any header needed a base-256 number, every later
    /// header of the stream carries the GNU magic (the flag is never reset).
    used_binary: bool,
}

impl Encoder {
    pub(crate) fn new(profile: &Profile) -> Encoder {
        Encoder {
            dialect: profile.dialect(),
            used_binary: false,
        }
    }

    /// Appends the header blocks for `h` (PAX extended header and its records included) to `out`.
    pub(crate) fn encode(&mut self, h: &GoHeader, out: &mut Vec<u8>) -> Result<(), HeaderError> {
        match self.dialect {
            TarDialect::Go15 | TarDialect::Go16 | TarDialect::Go18 => {
                go18_write_header(h, true, self.dialect, &mut self.used_binary, out)
            }
            TarDialect::Go110 => go110_write_header(h, out),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Shared helpers.

fn field(blk: &mut [u8; BLOCK], f: (usize, usize)) -> &mut [u8] {
    &mut blk[f.0..f.0 + f.1]
}

/// Go's `isASCII` over a name's bytes. Go ranges over runes, but every byte of a multi-byte
/// UTF-8 sequence is >= 0x80 and each byte of an invalid sequence decodes to U+FFFD, so a name
/// is ASCII exactly when all its bytes are below 0x80, whether it is UTF-8 or not.
fn is_ascii(s: &[u8]) -> bool {
    s.is_ascii()
}

/// Go's `toASCII`: drops every non-ASCII rune and NUL, which for bytes (by the argument above)
/// means every byte >= 0x80 and NUL, so invalid UTF-8 loses exactly its bytes.
fn to_ascii(s: &[u8]) -> Vec<u8> {
    s.iter().copied().filter(|&b| b < 0x80 && b != 0).collect()
}

fn fits_in_octal(n: usize, x: i64) -> bool {
    let bits = (n as u32 - 1) * 3;
    x >= 0 && (n >= 22 || x < 1i64 << bits)
}

fn fits_in_base256(n: usize, x: i64) -> bool {
    let bits = (n as u32 - 1) * 8;
    n >= 9 || (x >= -(1i64 << bits) && x < 1i64 << bits)
}

/// Base-256 (GNU binary) number: big-endian two's complement with the top bit set.
fn put_base256(b: &mut [u8], mut x: i64) {
    for i in (0..b.len()).rev() {
        b[i] = x as u8;
        x >>= 8;
    }
    b[0] |= 0x80;
}

/// Go's `strconv.FormatInt(x, 8)`.
fn octal_string(x: i64) -> String {
    if x < 0 {
        format!("-{:o}", x.unsigned_abs())
    } else {
        format!("{x:o}")
    }
}

/// Sets the magic/version and computes the checksum (unsigned byte sum with the checksum field
/// counted as spaces), written as six octal digits, NUL, space.
fn finish_block(blk: &mut [u8; BLOCK], gnu: bool) {
    field(blk, MAGIC).copy_from_slice(if gnu { b"ustar  \0" } else { b"ustar\x0000" });
    field(blk, CHKSUM).copy_from_slice(b"        ");
    let sum: u32 = blk.iter().map(|&b| u32::from(b)).sum();
    let digits = format!("{sum:06o}");
    let ck = field(blk, CHKSUM);
    ck[..6].copy_from_slice(digits.as_bytes());
    ck[6] = 0;
    ck[7] = b' ';
}

/// One PAX record, `"%d %s=%s\n"` with the length counting itself.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let base = key.len() + value.len() + 3;
    let mut size = base + base.to_string().len();
    if (base + size.to_string().len()) != size {
        size = base + size.to_string().len();
    }
    let mut rec = Vec::with_capacity(size);
    rec.extend_from_slice(size.to_string().as_bytes());
    rec.push(b' ');
    rec.extend_from_slice(key.as_bytes());
    rec.push(b'=');
    rec.extend_from_slice(value);
    rec.push(b'\n');
    debug_assert_eq!(rec.len(), size);
    rec
}

fn pax_body(records: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    // BTreeMap<String> iterates in bytewise key order, as Go's sort.Strings.
    records.iter().flat_map(|(k, v)| pax_record(k, v)).collect()
}

/// Go's `path.Join(dir, "PaxHeaders.0", file)` over `path.Split(name)`.
fn pax_header_name(name: &[u8]) -> Vec<u8> {
    let cut = name.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
    let (dir, file) = name.split_at(cut);
    let parts: Vec<&[u8]> = [dir, b"PaxHeaders.0", file]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect();
    go_path_clean(&parts.join(&b'/'))
}

/// Go's `path.Clean` for the relative and absolute slash paths tar names are.
fn go_path_clean(p: &[u8]) -> Vec<u8> {
    if p.is_empty() {
        return b".".to_vec();
    }
    let rooted = p.starts_with(b"/");
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in p.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                if parts.last().is_some_and(|&l| l != b"..") {
                    parts.pop();
                } else if !rooted {
                    parts.push(b"..");
                }
            }
            _ => parts.push(part),
        }
    }
    let body = parts.join(&b'/');
    match (rooted, body.is_empty()) {
        (true, _) => [b"/", body.as_slice()].concat(),
        (false, true) => b".".to_vec(),
        (false, false) => body,
    }
}

/// Go's `splitUSTARPath`: a prefix/name split at a '/' that fits both fields.
fn split_ustar_path(name: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut length = name.len();
    if length <= NAME_SIZE || !is_ascii(name) {
        return None;
    } else if length > PREFIX_SIZE + 1 {
        length = PREFIX_SIZE + 1;
    } else if name[length - 1] == b'/' {
        length -= 1;
    }
    let i = name[..length].iter().rposition(|&b| b == b'/')?;
    let nlen = name.len() - i - 1;
    if i == 0 || nlen > NAME_SIZE || nlen == 0 || i > PREFIX_SIZE {
        return None;
    }
    Some((&name[..i], &name[i + 1..]))
}

// ---------------------------------------------------------------------------------------------
// Go 1.8 archive/tar (Docker 17.06).

mod go18 {
    use super::*;

    /// `formatter.formatString`: refuses (records an error, writes nothing) when too long;
    /// otherwise the ASCII form, NUL-terminated when shorter than the field.
    pub(super) fn format_string(b: &mut [u8], s: &[u8], field: &'static str, err: &mut Option<HeaderError>) {
        if s.len() > b.len() {
            *err = Some(HeaderError::FieldTooLong {
                field,
                value: crate::layer::name::text(s),
            });
            return;
        }
        let ascii = to_ascii(s);
        b[..ascii.len()].copy_from_slice(&ascii);
        if ascii.len() < b.len() {
            b[ascii.len()] = 0;
        }
    }

    /// `formatter.formatOctal`: zero-padded to leave room for a NUL.
    pub(super) fn format_octal(b: &mut [u8], x: i64, field: &'static str, err: &mut Option<HeaderError>) {
        let mut s = octal_string(x);
        while s.len() + 1 < b.len() {
            s.insert(0, '0');
        }
        format_string(b, s.as_bytes(), field, err);
    }

    /// `formatter.formatNumeric`: base-256, or octal zero and an error when even that overflows.
    pub(super) fn format_numeric(b: &mut [u8], x: i64, field: &'static str, err: &mut Option<HeaderError>) {
        if fits_in_base256(b.len(), x) {
            put_base256(b, x);
        } else {
            format_octal(b, 0, field, err);
            *err = Some(HeaderError::OutOfRange {
                field,
                value: x,
                size: b.len(),
            });
        }
    }
}

/// Go 1.8's `Writer.writeHeader(hdr, allowPax)`, appending blocks to `out`. In the `Go16` and
/// `Go15` dialects it is Go 1.5 to 1.7's, which split a long name into the USTAR prefix and name
/// fields when the name was the only field needing PAX (Go 1.8 turned that off: `const usePrefix
/// = false`); Go 1.5 also named PAX headers after the process id (refused below).
fn go18_write_header(
    h: &GoHeader,
    allow_pax: bool,
    dialect: TarDialect,
    used_binary: &mut bool,
    out: &mut Vec<u8>,
) -> Result<(), HeaderError> {
    let mut fields = Go18Fields {
        blk: [0u8; BLOCK],
        pax: BTreeMap::new(),
        err: None,
        used_binary,
    };
    fields.fill(h, matches!(dialect, TarDialect::Go15 | TarDialect::Go16));
    let Go18Fields {
        mut blk,
        mut pax,
        err,
        used_binary,
    } = fields;
    finish_block(&mut blk, *used_binary);
    if let Some(e) = err {
        return Err(e);
    }
    // Xattr records are added after the prefix check, as in Go.
    if allow_pax {
        for (k, v) in &h.xattrs {
            pax.insert(format!("SCHILY.xattr.{k}"), v.clone());
        }
    }
    if !pax.is_empty() {
        if !allow_pax {
            return Err(HeaderError::NestedPax);
        }
        go18_write_pax_header(h, &pax, dialect, used_binary, out)?;
    }
    out.extend_from_slice(&blk);
    Ok(())
}

/// Go 1.8's header block being formatted: the PAX records it turned out to need, the first
/// formatting error, and the stream's `usedBinary` flag.
struct Go18Fields<'a> {
    blk: [u8; BLOCK],
    pax: BTreeMap<String, Vec<u8>>,
    err: Option<HeaderError>,
    used_binary: &'a mut bool,
}

impl Go18Fields<'_> {
    /// Formats every field of `h` into the block, in Go's order.
    fn fill(&mut self, h: &GoHeader, use_prefix: bool) {
        // Out-of-range modification times (before the epoch, after 2^33-1) are written as 0:
        // Go 1.8 has no PAX `mtime` record, so such a time is lost.
        let mtime = match h.mtime {
            Some(t) if (0..(1i64 << 33)).contains(&t) => t,
            _ => 0,
        };
        self.string(NAME, &h.name, "path");
        go18::format_octal(field(&mut self.blk, MODE), h.mode, "mode", &mut self.err);
        self.numeric(UID, h.uid, "uid");
        self.numeric(GID, h.gid, "gid");
        self.numeric(SIZE, h.size, "size");
        self.numeric(MTIME, mtime, "mtime");
        self.blk[TYPEFLAG] = h.typeflag;
        self.string(LINKNAME, &h.linkname, "linkpath");
        self.string(UNAME, h.uname.as_bytes(), "uname");
        self.string(GNAME, h.gname.as_bytes(), "gname");
        self.numeric(DEVMAJOR, h.devmajor, "devmajor");
        self.numeric(DEVMINOR, h.devminor, "devminor");
        if use_prefix && self.pax.len() == 1 && self.pax.contains_key("path") {
            if let Some((prefix, suffix)) = split_ustar_path(&h.name) {
                self.pax.remove("path");
                go18::format_string(field(&mut self.blk, NAME), suffix, "name", &mut self.err);
                go18::format_string(field(&mut self.blk, PREFIX), prefix, "prefix", &mut self.err);
            }
        }
    }

    /// Strings that are too long or not ASCII (UTF-8 or not) go to a PAX record with their
    /// bytes unchanged; the field stays all NUL.
    fn string(&mut self, f: (usize, usize), s: &[u8], key: &'static str) {
        if s.len() > f.1 || !is_ascii(s) {
            self.pax.insert(key.to_string(), s.to_vec());
            return;
        }
        go18::format_string(field(&mut self.blk, f), s, key, &mut self.err);
    }

    /// Numbers whose octal form does not fit switch the stream to base-256 (preferPax is never
    /// set by Docker).
    fn numeric(&mut self, f: (usize, usize), x: i64, key: &'static str) {
        if octal_string(x).len() < f.1 {
            go18::format_octal(field(&mut self.blk, f), x, key, &mut self.err);
        } else {
            *self.used_binary = true;
            go18::format_numeric(field(&mut self.blk, f), x, key, &mut self.err);
        }
    }
}

/// Go 1.8's `writePAXHeader`: the extended header carries the entry's ModTime; its name is the
/// ASCII form of dir/PaxHeaders.0/base cut to 100 bytes; the records follow, sorted by key.
fn go18_write_pax_header(
    h: &GoHeader,
    pax: &BTreeMap<String, Vec<u8>>,
    dialect: TarDialect,
    used_binary: &mut bool,
    out: &mut Vec<u8>,
) -> Result<(), HeaderError> {
    if dialect == TarDialect::Go15 {
        // Go 1.5's writePAXHeader named the header `PaxHeaders.<pid>` after the daemon's
        // process id and wrote the records in map order; neither is recorded anywhere.
        return Err(HeaderError::Go15Pax {
            keys: pax.keys().cloned().collect::<Vec<_>>().join(", "),
        });
    }
    let body = pax_body(pax);
    let mut ext_name = to_ascii(&pax_header_name(&h.name));
    ext_name.truncate(NAME_SIZE);
    let ext = GoHeader {
        name: ext_name,
        size: body.len() as i64,
        mtime: h.mtime,
        typeflag: b'x',
        ..GoHeader::default()
    };
    go18_write_header(&ext, false, dialect, used_binary, out)?;
    out.extend_from_slice(&body);
    out.extend_from_slice(&ZERO_BLOCK[..padding(body.len() as u64)]);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Go 1.10+ archive/tar (Docker 18.06 vendored Go 1.10.3; Debian's 20.10 uses Go 1.19: the writer
// paths Docker exercises are identical).

mod go110 {
    use super::*;

    /// `formatter.formatString`: copies what fits, NUL-terminates when shorter, and when cut
    /// replaces a trailing '/' left at the cut by NUL.
    pub(super) fn format_string(b: &mut [u8], s: &[u8]) {
        let n = s.len().min(b.len());
        b[..n].copy_from_slice(&s[..n]);
        if s.len() < b.len() {
            b[s.len()] = 0;
        }
        if s.len() > b.len() && b[b.len() - 1] == b'/' {
            let cut = &s[..b.len()];
            let kept = cut.iter().rposition(|&c| c != b'/').map_or(0, |i| i + 1);
            b[kept] = 0;
        }
    }

    /// `formatter.formatOctal`: zero when the value does not fit (the caller already chose a
    /// format that records the real value elsewhere).
    pub(super) fn format_octal(b: &mut [u8], x: i64) {
        let x = if fits_in_octal(b.len(), x) { x } else { 0 };
        let mut s = octal_string(x);
        while s.len() + 1 < b.len() {
            s.insert(0, '0');
        }
        format_string(b, s.as_bytes());
    }
}

const USTAR: u8 = 1;
const PAX: u8 = 2;
const GNU: u8 = 4;

/// Go 1.10's `Header.allowedFormats` for the fields Docker sets: the formats that can encode
/// the header, the PAX records a PAX encoding needs, and whether PAX is preferred.
fn go110_allowed_formats(h: &GoHeader) -> Result<(u8, BTreeMap<String, Vec<u8>>), HeaderError> {
    let mut format = USTAR | PAX | GNU;
    let mut pax: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut prefer_pax = false;

    // Names are bytes here: Go checks only ASCII-ness and length, never UTF-8 validity, so a
    // name that is not UTF-8 gets a PAX record of its raw bytes like any non-ASCII name.
    let mut verify_string = |s: &[u8], size: usize, key: &str, format: &mut u8| {
        let too_long = s.len() > size;
        let allow_long_gnu = key == "path" || key == "linkpath";
        if s.contains(&0) || (too_long && !allow_long_gnu) {
            *format &= !GNU;
        }
        if !is_ascii(s) || too_long {
            let can_split = key == "path" && split_ustar_path(s).is_some();
            if !can_split {
                *format &= !USTAR;
            }
            pax.insert(key.to_string(), s.to_vec());
        }
    };
    verify_string(&h.name, 100, "path", &mut format);
    verify_string(&h.linkname, 100, "linkpath", &mut format);
    verify_string(h.uname.as_bytes(), 32, "uname", &mut format);
    verify_string(h.gname.as_bytes(), 32, "gname", &mut format);

    let mut verify_numeric = |n: i64, size: usize, key: Option<&str>, format: &mut u8| {
        if !fits_in_base256(size, n) {
            *format &= !GNU;
        }
        if !fits_in_octal(size, n) {
            *format &= !USTAR;
            match key {
                None => *format &= !PAX,
                Some(k) => {
                    pax.insert(k.to_string(), n.to_string().into_bytes());
                }
            }
        }
    };
    verify_numeric(h.mode, 8, None, &mut format);
    verify_numeric(h.uid, 8, Some("uid"), &mut format);
    verify_numeric(h.gid, 8, Some("gid"), &mut format);
    verify_numeric(h.size, 12, Some("size"), &mut format);
    verify_numeric(h.devmajor, 8, None, &mut format);
    verify_numeric(h.devminor, 8, None, &mut format);

    // ModTime: whole seconds here, so only an out-of-octal-range time needs a PAX record.
    if let Some(t) = h.mtime {
        if !fits_in_base256(12, t) {
            format &= !GNU;
        }
        if !fits_in_octal(12, t) {
            format &= !USTAR;
            prefer_pax = true;
            pax.insert("mtime".to_string(), t.to_string().into_bytes());
        }
    }

    if !h.xattrs.is_empty() {
        for (k, v) in &h.xattrs {
            pax.insert(format!("SCHILY.xattr.{k}"), v.clone());
        }
        format &= PAX;
    }
    for (k, v) in &pax {
        let bad_value = matches!(k.as_str(), "path" | "linkpath" | "uname" | "gname") && v.contains(&0);
        if k.is_empty() || k.contains('=') || k.contains('\0') || bad_value {
            return Err(HeaderError::InvalidPaxRecord {
                key: crate::layer::name::text(k.as_bytes()),
            });
        }
    }
    if h.format_pax {
        let want = if prefer_pax { PAX } else { PAX | USTAR };
        format &= want;
    }
    Ok((format, pax))
}

/// Go 1.10's `templateV7Plus` with the given string formatter and octal numbers.
fn go110_template(h: &GoHeader, fmt_str: impl Fn(&mut [u8], &[u8])) -> [u8; BLOCK] {
    let mut blk = [0u8; BLOCK];
    blk[TYPEFLAG] = h.typeflag;
    fmt_str(field(&mut blk, NAME), &h.name);
    fmt_str(field(&mut blk, LINKNAME), &h.linkname);
    go110::format_octal(field(&mut blk, MODE), h.mode);
    go110::format_octal(field(&mut blk, UID), h.uid);
    go110::format_octal(field(&mut blk, GID), h.gid);
    go110::format_octal(field(&mut blk, SIZE), h.size);
    go110::format_octal(field(&mut blk, MTIME), h.mtime.unwrap_or(0));
    fmt_str(field(&mut blk, UNAME), h.uname.as_bytes());
    fmt_str(field(&mut blk, GNAME), h.gname.as_bytes());
    go110::format_octal(field(&mut blk, DEVMAJOR), h.devmajor);
    go110::format_octal(field(&mut blk, DEVMINOR), h.devminor);
    blk
}

/// Go 1.10's `Writer.WriteHeader`: USTAR when possible, else PAX (GNU is never reached for the
/// headers Docker makes; such a header is refused rather than guessed).
fn go110_write_header(h: &GoHeader, out: &mut Vec<u8>) -> Result<(), HeaderError> {
    let (format, pax) = go110_allowed_formats(h)?;
    if format & USTAR != 0 {
        let mut h = h.clone();
        let mut prefix = Vec::new();
        if let Some((p, s)) = split_ustar_path(&h.name) {
            prefix = p.to_vec();
            h.name = s.to_vec();
        }
        let mut blk = go110_template(&h, go110::format_string);
        go110::format_string(field(&mut blk, PREFIX), &prefix);
        finish_block(&mut blk, false);
        out.extend_from_slice(&blk);
        Ok(())
    } else if format & PAX != 0 {
        if !pax.is_empty() {
            // writeRawFile: a minimal 'x' header, all numbers zero, no owner names or device
            // numbers, name = ASCII dir/PaxHeaders.0/base cut to 100 with trailing '/' trimmed.
            let body = pax_body(&pax);
            let mut name = to_ascii(&pax_header_name(&h.name));
            name.truncate(NAME_SIZE);
            let kept = name.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1);
            let mut blk = [0u8; BLOCK];
            blk[TYPEFLAG] = b'x';
            go110::format_string(field(&mut blk, NAME), &name[..kept]);
            go110::format_octal(field(&mut blk, MODE), 0);
            go110::format_octal(field(&mut blk, UID), 0);
            go110::format_octal(field(&mut blk, GID), 0);
            go110::format_octal(field(&mut blk, SIZE), body.len() as i64);
            go110::format_octal(field(&mut blk, MTIME), 0);
            finish_block(&mut blk, false);
            out.extend_from_slice(&blk);
            out.extend_from_slice(&body);
            out.extend_from_slice(&ZERO_BLOCK[..padding(body.len() as u64)]);
        }
        let mut blk = go110_template(h, |b, s| go110::format_string(b, &to_ascii(s)));
        finish_block(&mut blk, false);
        out.extend_from_slice(&blk);
        Ok(())
    } else if format & GNU != 0 {
        Err(HeaderError::GnuOnly)
    } else {
        Err(HeaderError::NoFormat)
    }
}

#[cfg(test)]
#[path = "tar_tests.rs"]
mod tests;
