//! gzip output byte-identical to Go's `compress/gzip` `Writer` with an empty `Header`, which is
//! what Docker used for every layer it pushed: a 10-byte header with no name and no timestamp,
//! Go's DEFLATE stream, then CRC-32 and the length mod 2^32, both little-endian.

use std::io::{self, Read, Write};
use std::path::Path;

pub use crate::deflate::DeflateError;
use crate::deflate::{DeflateWriter, Generation, BEST_COMPRESSION, BEST_SPEED};

/// The header Go writes: magic, CM=8 (deflate), FLG=0, MTIME=0, XFL, OS=255 (unknown). Go sets
/// XFL to 2 for level 9 and 4 for level 1, 0 otherwise.
fn header(level: i32) -> [u8; 10] {
    let xfl = match level {
        BEST_COMPRESSION => 2,
        BEST_SPEED => 4,
        _ => 0,
    };
    [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 0xff]
}

/// The header MTIME bytes (offsets 4..8) Go 1.7 and earlier wrote for a `Header` left empty:
/// `uint32(time.Time{}.Unix())`, i.e. 0x886E0900 little-endian, where Go 1.8 and later write zeros
/// (Go 1.8 started testing `ModTime.After(time.Unix(0, 0))`). Docker 1.10 to 17.05 were built with
/// Go 1.5 to 1.7, so every blob they pushed starts this way.
pub const GO17_HEADER_MTIME: [u8; 4] = [0x00, 0x09, 0x6e, 0x88];

/// Rewrites the MTIME field of a gzip blob's header (which is not covered by the CRC).
pub fn set_header_mtime(blob: &mut [u8], mtime: [u8; 4]) {
    if blob.len() >= 8 {
        blob[4..8].copy_from_slice(&mtime);
    }
}

/// A gzip writer producing Go's bytes; [`GzipWriter::finish`] writes the trailer.
pub struct GzipWriter<W: Write> {
    deflate: DeflateWriter<W>,
    crc: crc32fast::Hasher,
    size: u32,
}

impl<W: Write> GzipWriter<W> {
    /// A writer at `level` (-2..=9, -1 = 6, Docker's default).
    pub fn new(inner: W, level: i32) -> Result<GzipWriter<W>, DeflateError> {
        GzipWriter::with_generation(inner, level, Generation::Go17)
    }

    /// A writer reproducing the compress/flate of `generation` (the header is Go 1.8's; see
    /// [`set_header_mtime`] for the older one).
    pub fn with_generation(inner: W, level: i32, generation: Generation) -> Result<GzipWriter<W>, DeflateError> {
        GzipWriter::with_header_mtime(inner, level, generation, [0; 4])
    }

    /// Like [`GzipWriter::with_generation`] with the header's MTIME bytes given (zeros, or
    /// [`GO17_HEADER_MTIME`] for blobs of Go 1.7 and earlier).
    pub fn with_header_mtime(
        inner: W,
        level: i32,
        generation: Generation,
        mtime: [u8; 4],
    ) -> Result<GzipWriter<W>, DeflateError> {
        let mut head = header(level);
        set_header_mtime(&mut head, mtime);
        Ok(GzipWriter {
            deflate: DeflateWriter::with_generation(inner, level, &head, generation)?,
            crc: crc32fast::Hasher::new(),
            size: 0,
        })
    }

    /// Ends the DEFLATE stream, appends CRC-32 and ISIZE and returns the inner writer.
    pub fn finish(self) -> io::Result<W> {
        let mut inner = self.deflate.finish()?;
        let mut trailer = [0u8; 8];
        trailer[..4].copy_from_slice(&self.crc.finalize().to_le_bytes());
        trailer[4..].copy_from_slice(&self.size.to_le_bytes());
        inner.write_all(&trailer)?;
        inner.flush()?;
        Ok(inner)
    }
}

impl<W: Write> Write for GzipWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.deflate.write(buf)?;
        self.crc.update(&buf[..n]);
        self.size = self.size.wrapping_add(n as u32);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.deflate.flush()
    }
}

/// A layer blob's gzip: level 6, the `gzip.DefaultCompression` that Docker's `pkg/archive` uses, with the
/// compress/flate of `generation`.
pub fn layer_gzip(data: &[u8], generation: Generation) -> Vec<u8> {
    // Every generation implements level 6 (Go 1.5's encoder lacks only some other levels), so the
    // writer cannot refuse it.
    gzip_generation(data, 6, generation).expect("every generation implements level 6")
}

/// gzip of `data` at `level`, as Go's `gzip.NewWriterLevel` + `Write` + `Close` produce it.
pub fn gzip(data: &[u8], level: i32) -> Result<Vec<u8>, DeflateError> {
    gzip_generation(data, level, Generation::Go17)
}

/// [`gzip`] with the compress/flate of `generation`.
pub fn gzip_generation(data: &[u8], level: i32, generation: Generation) -> Result<Vec<u8>, DeflateError> {
    let mut w = GzipWriter::with_generation(Vec::with_capacity(data.len() / 2 + 64), level, generation)?;
    // The writer's sink is a Vec, whose writes cannot fail.
    w.write_all(data).expect("writing to a Vec cannot fail");
    Ok(w.finish().expect("writing to a Vec cannot fail"))
}

/// [`gzip`] for many small inputs in a row, reusing the compressor's tables: same bytes, a
/// fraction of the setup cost.
pub struct ReusableGzip {
    level: i32,
    mtime: [u8; 4],
    deflate: crate::deflate::ReusableDeflate,
}

impl ReusableGzip {
    pub fn new(level: i32) -> Result<ReusableGzip, DeflateError> {
        ReusableGzip::with_header_mtime(level, Generation::Go17, [0; 4])
    }

    /// A reusable compressor with the DEFLATE of `generation` and the header MTIME bytes `mtime`
    /// (zeros, or [`GO17_HEADER_MTIME`]), as [`GzipWriter::with_header_mtime`] writes them.
    pub fn with_header_mtime(level: i32, generation: Generation, mtime: [u8; 4]) -> Result<ReusableGzip, DeflateError> {
        Ok(ReusableGzip {
            level,
            mtime,
            deflate: crate::deflate::ReusableDeflate::with_generation(level, generation)?,
        })
    }

    /// Replaces `out` with the gzip of `data`.
    pub fn gzip_into(&mut self, data: &[u8], out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&header(self.level));
        set_header_mtime(out, self.mtime);
        self.deflate.deflate_into(data, out);
        out.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    }
}

/// Why `retrace layer compress` failed, naming the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum CompressError {
    #[error(transparent)]
    Level(#[from] DeflateError),
    #[error("reading {path}")]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("writing {path}")]
    Write {
        path: std::path::PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Gzips everything `input` yields into `output`, streaming in 1 MiB reads; returns the number
/// of input bytes. An invalid level is reported as an `io::Error` wrapping the
/// [`DeflateError`] (callers that want it typed check the level first, as `compress_file` does).
pub fn compress_stream(mut input: impl Read, output: impl Write, level: i32) -> io::Result<u64> {
    let mut w = GzipWriter::new(output, level).map_err(io::Error::other)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        w.write_all(&buf[..n])?;
        total += n as u64;
    }
    w.finish()?;
    Ok(total)
}

/// How [`CompressError::Write`] names standard output.
pub const STDOUT: &str = "<stdout>";

/// `retrace layer compress`: gzips the file `input` exactly as Go (and so Docker) would, into
/// `output` (written atomically) or to `stdout` when `output` is `None` or `-`.
pub fn compress_file(
    input: &Path,
    output: Option<&Path>,
    level: i32,
    stdout: &mut dyn Write,
) -> Result<(), CompressError> {
    // Reject a bad level before touching any file.
    GzipWriter::new(io::sink(), level)?;
    let file = std::fs::File::open(input).map_err(|source| CompressError::Read {
        path: input.to_owned(),
        source,
    })?;
    // Read errors and write errors arrive through the same io::Result; tag reads so the message
    // can name the right file.
    let reader = TagRead(file);
    let result = match output {
        // write_atomic writes devices and FIFOs (e.g. /dev/null) in place rather than renaming over them.
        Some(path) if path != Path::new("-") => {
            crate::fsutil::write_atomic(path, |w| compress_stream(reader, w, level).map(|_| ())).map_err(|e| (e, path))
        }
        _ => {
            // The buffer is flushed here rather than on drop, where a write error would be lost.
            let mut out = io::BufWriter::with_capacity(1 << 20, stdout);
            compress_stream(reader, &mut out, level)
                .and_then(|_| out.flush())
                .map_err(|e| (e, Path::new(STDOUT)))
        }
    };
    result.map_err(|(e, out_path)| {
        if is_read_error(&e) {
            CompressError::Read {
                path: input.to_owned(),
                source: untag(e),
            }
        } else {
            CompressError::Write {
                path: out_path.to_owned(),
                source: e,
            }
        }
    })
}

/// Marks errors coming from the input file, so they are not reported as write errors.
struct TagRead<R>(R);

#[derive(Debug)]
struct ReadFailure(io::Error);

impl std::fmt::Display for ReadFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ReadFailure {}

impl<R: Read> Read for TagRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| io::Error::new(e.kind(), ReadFailure(e)))
    }
}

fn is_read_error(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<ReadFailure>())
}

fn untag(e: io::Error) -> io::Error {
    let kind = e.kind();
    match e.into_inner() {
        Some(inner) => match inner.downcast::<ReadFailure>() {
            Ok(f) => f.0,
            Err(other) => io::Error::new(kind, other),
        },
        None => io::Error::from(kind),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Go's zero `time.Time` is 0001-01-01 UTC, `Unix()` = -62135596800 (62135596800 s between
    /// year 1 and 1970); Go <= 1.7 wrote `uint32` of it, little-endian.
    #[test]
    fn go17_header_mtime_is_uint32_of_the_zero_time() {
        let zero_time_unix: i64 = -62_135_596_800;
        assert_eq!((zero_time_unix as u32).to_le_bytes(), GO17_HEADER_MTIME);
        let mut blob = gzip(b"x", 6).unwrap();
        set_header_mtime(&mut blob, GO17_HEADER_MTIME);
        assert_eq!(&blob[..10], &[0x1f, 0x8b, 8, 0, 0x00, 0x09, 0x6e, 0x88, 0, 0xff]);
    }
}
