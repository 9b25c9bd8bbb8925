//! A tar reader with the semantics of Go's archive/tar (Go 1.19, the toolchain of Debian's Docker
//! 20.10; the reader has not changed in substance since Go 1.10), which is how the Docker daemon
//! reads every layer, `ADD` archive and image tarball. retrace must see the archive Docker sees:
//! the same entries accepted or refused, the same names (raw bytes), sizes, times and contents.
//! The differences from the `tar` crate that mattered are listed in `docs/tar-reading.md`.
//!
//! [`Reader::next`] returns one [`Header`] at a time, with the fields Go's `tar.Header` has; the
//! reader itself then reads that entry's content (sparse files expanded), bounded by its size.
//! Nothing is allocated by a declared size: PAX and GNU long-name headers are refused past
//! 1 MiB (Go's own limit) and sparse maps past [`sparse::MAX_SPARSE_ENTRIES`] fragments.

mod block;
mod pax;
mod sparse;

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::sync::Arc;

use block::{Parser, BLOCK};
pub use sparse::MAX_SPARSE_ENTRIES;

/// The largest PAX or GNU long-name header read (Go's `maxSpecialFileSize`).
pub const MAX_SPECIAL: usize = 1 << 20;

/// Go's `tar.Format`, a set of the formats a header could be in; `0` is Go's `FormatUnknown`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Format(pub u8);

impl Format {
    pub const UNKNOWN: Format = Format(0);
    pub const V7: Format = Format(1);
    pub const USTAR: Format = Format(2);
    pub const PAX: Format = Format(4);
    pub const GNU: Format = Format(8);
    pub const STAR: Format = Format(16);

    pub fn has(self, other: Format) -> bool {
        self.0 & other.0 != 0
    }

    fn may_only_be(&mut self, other: Format) {
        self.0 &= other.0;
    }
}

/// A time as Go's `time.Unix(secs, nanos)` holds it: whole seconds (floored) and nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GoTime {
    pub secs: i64,
    pub nanos: u32,
}

impl GoTime {
    pub fn unix(secs: i64) -> GoTime {
        GoTime { secs, nanos: 0 }
    }

    /// Normalizes nanoseconds outside `0..1e9` into the seconds, as `time.Unix` does.
    pub fn new(secs: i64, nanos: i64) -> GoTime {
        const NS: i64 = 1_000_000_000;
        let secs = secs.wrapping_add(nanos.div_euclid(NS));
        GoTime {
            secs,
            nanos: nanos.rem_euclid(NS) as u32,
        }
    }
}

/// One entry's header, field for field as Go's `tar.Header` has it after `Reader.Next`. Times
/// Go leaves zero are `None`. Names and all text are raw bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    pub typeflag: u8,
    pub name: Vec<u8>,
    pub linkname: Vec<u8>,
    pub size: i64,
    pub mode: i64,
    pub uid: i64,
    pub gid: i64,
    pub uname: Vec<u8>,
    pub gname: Vec<u8>,
    pub mtime: Option<GoTime>,
    pub atime: Option<GoTime>,
    pub ctime: Option<GoTime>,
    pub devmajor: i64,
    pub devminor: i64,
    /// `SCHILY.xattr.*` records, by attribute name.
    pub xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Every record of the PAX header that preceded this one (empty when none did).
    pub pax_records: BTreeMap<Vec<u8>, Vec<u8>>,
    pub format: Format,
}

/// Go's rule of which entry types have no content whatever their size field says
/// (`isHeaderOnlyType`): their size is not skipped, so what follows is the next header.
pub fn header_only(typeflag: u8) -> bool {
    matches!(typeflag, b'1' | b'2' | b'3' | b'4' | b'5' | b'6')
}

/// Why the reader stopped. Each variant stands for one error Go's reader returns, so a
/// differential test can compare the two ([`GoTarError::go_class`]); the text says more than Go's.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GoTarError {
    #[error("invalid tar header: {0}")]
    Header(String),
    #[error("a PAX or GNU long-name header of more than {MAX_SPECIAL} bytes")]
    FieldTooLong,
    #[error("the archive ends inside an entry")]
    UnexpectedEof,
    #[error("a sparse file's map names data the entry does not hold")]
    MissData,
    #[error("a sparse file holds data its map does not name")]
    UnrefData,
    /// A bound of this reader Go does not have.
    #[error("{0}")]
    Limit(String),
    #[error("reading the archive")]
    Io(#[source] Arc<io::Error>),
}

impl GoTarError {
    /// The Go error this one stands for: `header` (`tar.ErrHeader`), `too-long`
    /// (`tar.ErrFieldTooLong`), `eof` (`io.ErrUnexpectedEOF`), `miss-data`, `unref-data`, and
    /// `limit` or `io` for failures Go would report differently or not at all.
    pub fn go_class(&self) -> &'static str {
        match self {
            GoTarError::Header(_) => "header",
            GoTarError::FieldTooLong => "too-long",
            GoTarError::UnexpectedEof => "eof",
            GoTarError::MissData => "miss-data",
            GoTarError::UnrefData => "unref-data",
            GoTarError::Limit(_) => "limit",
            GoTarError::Io(_) => "io",
        }
    }
}

impl From<io::Error> for GoTarError {
    fn from(e: io::Error) -> GoTarError {
        // A content read that failed carries this reader's own error inside.
        match e.get_ref().and_then(|inner| inner.downcast_ref::<GoTarError>()) {
            Some(own) => own.clone(),
            None => GoTarError::Io(Arc::new(e)),
        }
    }
}

/// How the current entry's content is read: as stored, or (a sparse file) expanded from its data
/// fragments and holes, at a logical position.
enum Content {
    Regular,
    Sparse {
        holes: Vec<(i64, i64)>,
        at: usize,
        pos: i64,
    },
}

/// Go's archive/tar reader over `r`.
pub struct Reader<R> {
    r: R,
    /// Stored bytes of the current entry not yet read.
    remaining: u64,
    /// Padding after the stored bytes, up to the next block.
    pad: u64,
    /// The current entry's stored size.
    stored: u64,
    content: Content,
    blk: [u8; BLOCK],
    /// Go's reader keeps the first error (or the end) and returns it ever after.
    stopped: Option<Result<(), GoTarError>>,
    /// Passes over bytes of `r`, returning how many there were (fewer at its end): by reading,
    /// or by seeking where `r` can (Go's `discard` seeks an `io.Seeker`).
    skip: Skip<R>,
}

/// How a [`Reader`] passes over `n` bytes of its input; the bytes passed over.
pub type Skip<R> = fn(&mut R, u64) -> io::Result<u64>;

fn skip_by_reading<R: Read>(r: &mut R, n: u64) -> io::Result<u64> {
    io::copy(&mut r.take(n), &mut io::sink())
}

/// What `next` gathers from the meta headers (`x`, `L`, `K`) before an entry's own header.
struct Pending {
    pax: Option<pax::Records>,
    long_name: Vec<u8>,
    long_link: Vec<u8>,
    format: Format,
}

impl<R: Read> Reader<R> {
    pub fn new(r: R) -> Reader<R> {
        Reader::with_skip(r, skip_by_reading::<R>)
    }

    /// A reader that passes over content it is not asked for with `skip`.
    pub fn with_skip(r: R, skip: Skip<R>) -> Reader<R> {
        Reader {
            skip,
            r,
            remaining: 0,
            pad: 0,
            stored: 0,
            content: Content::Regular,
            blk: [0; BLOCK],
            stopped: None,
        }
    }

    /// The underlying reader, positioned after the end-of-archive marker when `next` returned
    /// `Ok(None)` (Go reads nothing past it).
    pub fn into_inner(self) -> R {
        self.r
    }

    pub fn get_ref(&self) -> &R {
        &self.r
    }

    /// Bytes of the current entry stored in the archive: its size, unless it is sparse (then
    /// its data fragments and, in format 1.0, its map) or of a type without content.
    pub fn stored_size(&self) -> u64 {
        self.stored
    }

    /// The next entry's header, or `None` at the end of the archive. Content the caller did not
    /// read is skipped. Not an `Iterator`: the reader is also the content's `Read`, which an
    /// iterator's items could not borrow.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Header>, GoTarError> {
        if let Some(stopped) = &self.stopped {
            return stopped.clone().map(|()| None);
        }
        let outcome = self.next_header();
        match &outcome {
            Ok(Some(_)) => {}
            Ok(None) => self.stopped = Some(Ok(())),
            Err(e) => self.stopped = Some(Err(e.clone())),
        }
        outcome
    }

    fn next_header(&mut self) -> Result<Option<Header>, GoTarError> {
        let mut pending = Pending {
            pax: None,
            long_name: Vec::new(),
            long_link: Vec::new(),
            format: Format(Format::USTAR.0 | Format::PAX.0 | Format::GNU.0),
        };
        loop {
            if !self.skip_rest()? {
                return Ok(None);
            }
            let Some(hdr) = self.read_header()? else {
                return Ok(None);
            };
            self.start_content(&hdr)?;
            pending.format.may_only_be(hdr.format);
            match hdr.typeflag {
                b'x' | b'g' => {
                    pending.format.may_only_be(Format::PAX);
                    let records = pax::parse(&self.special()?)?;
                    if hdr.typeflag == b'g' {
                        return Ok(Some(global(hdr, records, pending.format)));
                    }
                    pending.pax = Some(records);
                }
                b'L' | b'K' => {
                    pending.format.may_only_be(Format::GNU);
                    let text = Parser::string(&self.special()?);
                    if hdr.typeflag == b'L' {
                        pending.long_name = text;
                    } else {
                        pending.long_link = text;
                    }
                }
                _ => return self.entry(hdr, pending).map(Some),
            }
        }
    }

    /// An entry's own header completed by what preceded it (Go's `next`, default case).
    fn entry(&mut self, mut hdr: Header, pending: Pending) -> Result<Header, GoTarError> {
        if let Some(records) = &pending.pax {
            pax::merge(&mut hdr, records)?;
        }
        if !pending.long_name.is_empty() {
            hdr.name = pending.long_name;
        }
        if !pending.long_link.is_empty() {
            hdr.linkname = pending.long_link;
        }
        if hdr.typeflag == 0 {
            // Pre-POSIX archives mark a directory by the trailing slash alone.
            hdr.typeflag = if hdr.name.ends_with(b"/") { b'5' } else { b'0' };
        }
        self.start_content(&hdr)?;
        self.sparse(&mut hdr)?;
        let mut format = pending.format;
        if format.has(Format::USTAR) && format.has(Format::PAX) {
            format.may_only_be(Format::USTAR);
        }
        hdr.format = format;
        Ok(hdr)
    }

    /// Skips the rest of the previous entry's content and its padding. `false` when the archive
    /// ends inside the padding, which Go takes as its end.
    fn skip_rest(&mut self) -> Result<bool, GoTarError> {
        let left = self.remaining;
        let skipped = (self.skip)(&mut self.r, left)?;
        self.remaining = 0;
        if skipped < left {
            return Err(GoTarError::UnexpectedEof);
        }
        let pad = std::mem::take(&mut self.pad);
        let padded = (self.skip)(&mut self.r, pad)?;
        Ok(padded == pad)
    }

    /// The next header block, `None` at the end-of-archive marker (two zero blocks) or when the
    /// archive ends exactly where a header would start.
    fn read_header(&mut self) -> Result<Option<Header>, GoTarError> {
        if !self.read_block()? {
            return Ok(None);
        }
        if block::is_zero(&self.blk) {
            if !self.read_block()? || block::is_zero(&self.blk) {
                return Ok(None);
            }
            return Err(GoTarError::Header("a zero block followed by a header".into()));
        }
        let Some(format) = block::format_of(&self.blk) else {
            return Err(GoTarError::Header("checksum mismatch".into()));
        };
        block::decode(&self.blk, format).map(Some)
    }

    /// Reads one block: `false` when the archive ended before it, an error when it ended inside.
    fn read_block(&mut self) -> Result<bool, GoTarError> {
        let n = read_full(&mut self.r, &mut self.blk)?;
        match n {
            0 => Ok(false),
            BLOCK => Ok(true),
            _ => Err(GoTarError::UnexpectedEof),
        }
    }

    /// Go's `handleRegularFile`: the content that follows this header, none for the types that
    /// have none, and a negative size refused.
    fn start_content(&mut self, hdr: &Header) -> Result<(), GoTarError> {
        let size = if header_only(hdr.typeflag) { 0 } else { hdr.size };
        if size < 0 {
            return Err(GoTarError::Header("negative size".into()));
        }
        self.remaining = size as u64;
        self.stored = size as u64;
        self.pad = (BLOCK as u64 - self.remaining % BLOCK as u64) % BLOCK as u64;
        self.content = Content::Regular;
        Ok(())
    }

    /// The whole content of a PAX or GNU long-name header, refused past [`MAX_SPECIAL`] bytes.
    fn special(&mut self) -> Result<Vec<u8>, GoTarError> {
        let mut buf = Vec::new();
        (&mut *self).take(MAX_SPECIAL as u64 + 1).read_to_end(&mut buf)?;
        if buf.len() > MAX_SPECIAL {
            return Err(GoTarError::FieldTooLong);
        }
        Ok(buf)
    }

    /// Go's `handleSparseFile`: reads the entry's sparse map, if it has one, and switches its
    /// content to the expanded file.
    fn sparse(&mut self, hdr: &mut Header) -> Result<(), GoTarError> {
        let fragments = if hdr.typeflag == b'S' {
            sparse::old_gnu(hdr, &mut self.blk, &mut self.r)?
        } else {
            match sparse::pax_version(hdr) {
                None => return Ok(()),
                Some(in_data) => {
                    sparse::pax_name_and_size(hdr)?;
                    if in_data {
                        sparse::map_1x0(&mut Stored(self))?
                    } else {
                        sparse::map_0x1(hdr)?
                    }
                }
            }
        };
        if header_only(hdr.typeflag) || !sparse::valid(&fragments, hdr.size) {
            return Err(GoTarError::Header("sparse map out of order or past the size".into()));
        }
        self.content = Content::Sparse {
            holes: sparse::holes(&fragments, hdr.size),
            at: 0,
            pos: 0,
        };
        Ok(())
    }

    /// Reads stored content (Go's `regFileReader`): never past the entry, an early end an error.
    fn read_stored(&mut self, buf: &mut [u8]) -> Result<usize, GoTarError> {
        let want = buf.len().min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = loop {
            match self.r.read(&mut buf[..want]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        if n == 0 {
            return Err(GoTarError::UnexpectedEof);
        }
        self.remaining -= n as u64;
        Ok(n)
    }

    /// Reads a sparse file's logical content (Go's `sparseFileReader.Read`): data fragments from
    /// the archive, holes as zeros.
    fn read_sparse(&mut self, buf: &mut [u8]) -> Result<usize, GoTarError> {
        let Some((pos, _, _, end)) = self.sparse_at() else {
            return Ok(0);
        };
        let len = buf.len().min(clamp(end - pos));
        let mut done = 0;
        while done < len {
            let Some((pos, hole_start, hole_end, _)) = self.sparse_at() else {
                break;
            };
            let step = if pos < hole_start {
                let want = (len - done).min(clamp(hole_start - pos));
                if read_full(&mut Stored(self), &mut buf[done..done + want])? < want {
                    return Err(GoTarError::MissData);
                }
                want
            } else {
                let want = (len - done).min(clamp(hole_end - pos));
                buf[done..done + want].fill(0);
                want
            };
            done += step;
            self.advance(step as i64);
        }
        Ok(done)
    }

    /// The logical position, the current hole's start and end, and the file's logical size.
    fn sparse_at(&self) -> Option<(i64, i64, i64, i64)> {
        let Content::Sparse { holes, at, pos } = &self.content else {
            return None;
        };
        let (start, len) = holes[*at];
        let end = holes.last().map_or(0, |&(o, l)| o + l);
        Some((*pos, start, start + len, end))
    }

    /// Moves the logical position on, to the next hole once past the current one (the last hole
    /// stays: it marks the end).
    fn advance(&mut self, n: i64) {
        if let Content::Sparse { holes, at, pos } = &mut self.content {
            *pos += n;
            if *pos >= holes[*at].0 + holes[*at].1 && *at + 1 < holes.len() {
                *at += 1;
            }
        }
    }
}

/// A non-negative count as a buffer length.
fn clamp(n: i64) -> usize {
    usize::try_from(n.max(0)).unwrap_or(usize::MAX)
}

/// The stored content of the current entry as a reader, for the sparse map and data.
struct Stored<'a, R>(&'a mut Reader<R>);

impl<R: Read> Read for Stored<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read_stored(buf).map_err(io::Error::other)
    }
}

impl<R: Read> Read for Reader<R> {
    /// Reads the current entry's content. An error stops the reader: `next` returns it too.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(Err(e)) = &self.stopped {
            return Err(io::Error::other(e.clone()));
        }
        let outcome = match self.content {
            Content::Regular => self.read_stored(buf),
            Content::Sparse { .. } => self.read_sparse(buf).and_then(|n| self.unreferenced(n)),
        };
        outcome.map_err(|e| {
            self.stopped = Some(Err(e.clone()));
            io::Error::other(e)
        })
    }
}

impl<R: Read> Reader<R> {
    /// Once a sparse file's logical end is reached, stored data left over is an error.
    fn unreferenced(&self, n: usize) -> Result<usize, GoTarError> {
        if let Some((pos, _, _, end)) = self.sparse_at() {
            if pos >= end && self.remaining > 0 {
                return Err(GoTarError::UnrefData);
            }
        }
        Ok(n)
    }
}

/// A PAX global header as Go hands it over: its name, type, records and extended attributes.
fn global(mut hdr: Header, records: pax::Records, format: Format) -> Header {
    let merged = pax::merge(&mut hdr, &records).is_ok();
    Header {
        name: hdr.name,
        typeflag: hdr.typeflag,
        xattrs: hdr.xattrs,
        pax_records: if merged { records } else { BTreeMap::new() },
        format,
        ..Header::default()
    }
}

/// Reads until `buf` is full or the reader ends; the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> Result<usize, GoTarError> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(n)
}

/// Fills `buf` or fails with `short`.
fn read_exact_or(r: &mut impl Read, buf: &mut [u8], short: GoTarError) -> Result<(), GoTarError> {
    if read_full(r, buf)? < buf.len() {
        return Err(short);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
