//! A DEFLATE encoder whose output is byte-identical to Go's `compress/flate` (Go 1.8 through
//! 1.19 produce the same bytes), because Docker compressed every pushed layer with Go's
//! `compress/gzip` and a layer digest is the sha256 of those exact bytes. No general-purpose
//! encoder (zlib, miniz, ...) makes the same choices, so retrace carries this one.
//!
//! Levels, as in Go:
//! - `-2` Huffman-only: 65535-byte blocks of literals, each Huffman-coded or stored;
//! - `0` stored blocks only;
//! - `1` Go's Snappy-style fast matcher (module `fast`);
//! - `2..=9` hash-chain matching, greedy for 2-3 and lazy for 4-9 (module `lazy`, with the hash
//!   chains of module `go17`, or `go15` for the Go 1.5/1.6 generation); `-1` means 6.
//!
//! Every stream ends, like Go's `Close`, with an empty final stored block. Output does not depend
//! on how the input is split across `write` calls.

mod bitwriter;
mod fast;
mod go15;
mod go17;
mod huffman;
mod lazy;
mod token;

use std::io::{self, Write};

use bitwriter::{BitWriter, MAX_STORE_BLOCK_SIZE};

/// Huffman-only compression (Go's `flate.HuffmanOnly`).
pub const HUFFMAN_ONLY: i32 = -2;
/// Go's `flate.DefaultCompression`, which means level 6.
pub const DEFAULT_COMPRESSION: i32 = -1;
pub const NO_COMPRESSION: i32 = 0;
pub const BEST_SPEED: i32 = 1;
pub const BEST_COMPRESSION: i32 = 9;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeflateError {
    #[error("invalid compression level {0}: want a value in -2..=9")]
    InvalidLevel(i32),
    #[error("compression level {0} of Go 1.5/1.6 is not reproduced; only levels 4..=9 (Docker used 6)")]
    UnsupportedGo15Level(i32),
}

/// Which Go release's compress/flate to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub enum Generation {
    /// Go 1.5 and 1.6 (3-byte hash chains; module `go15`), levels 4-9 only.
    Go15,
    /// Go 1.7 and later (the same bytes from 1.7 through 1.19).
    #[default]
    Go17,
}

/// Compressed bytes are handed to the inner writer in pieces of about this size.
const OUTPUT_CHUNK: usize = 64 * 1024;

/// Per-level encoding state.
enum Engine {
    /// Level 0: input is cut into 65535-byte stored blocks.
    Stored(Vec<u8>),
    /// Level -2: input is cut into 65535-byte Huffman-only blocks.
    HuffmanOnly(Vec<u8>),
    Fast(Box<fast::Fast>),
    Lazy(Box<lazy::Lazy<go17::Chain17>>),
    Lazy15(Box<lazy::Lazy<go15::Chain15>>),
}

impl Engine {
    fn with_generation(level: i32, generation: Generation) -> Result<Engine, DeflateError> {
        match generation {
            Generation::Go17 => Engine::new(level),
            Generation::Go15 => {
                let level = if level == DEFAULT_COMPRESSION { 6 } else { level };
                go15::lazy15(level)
                    .map(|l| Engine::Lazy15(Box::new(l)))
                    .ok_or(DeflateError::UnsupportedGo15Level(level))
            }
        }
    }

    fn new(level: i32) -> Result<Engine, DeflateError> {
        Ok(match level {
            HUFFMAN_ONLY => Engine::HuffmanOnly(Vec::with_capacity(MAX_STORE_BLOCK_SIZE)),
            NO_COMPRESSION => Engine::Stored(Vec::with_capacity(MAX_STORE_BLOCK_SIZE)),
            BEST_SPEED => Engine::Fast(Box::new(fast::Fast::new())),
            DEFAULT_COMPRESSION => Engine::Lazy(Box::new(lazy::Lazy::new(6, go17::Chain17::new()))),
            2..=9 => Engine::Lazy(Box::new(lazy::Lazy::new(level, go17::Chain17::new()))),
            _ => return Err(DeflateError::InvalidLevel(level)),
        })
    }

    fn write(&mut self, data: &[u8], bw: &mut BitWriter) {
        match self {
            Engine::Stored(buf) => buffer_blocks(buf, data, false, bw),
            Engine::HuffmanOnly(buf) => buffer_blocks(buf, data, true, bw),
            Engine::Fast(f) => f.write(data, bw),
            Engine::Lazy(l) => l.write(data, bw),
            Engine::Lazy15(l) => l.write(data, bw),
        }
    }

    fn close(&mut self, bw: &mut BitWriter) {
        match self {
            Engine::Stored(buf) => flush_buffered(buf, false, bw),
            Engine::HuffmanOnly(buf) => flush_buffered(buf, true, bw),
            Engine::Fast(f) => f.close(bw),
            Engine::Lazy(l) => l.close(bw),
            Engine::Lazy15(l) => l.close(bw),
        }
    }
}

impl Engine {
    /// Readies the engine for a new stream: the lazy matcher keeps its tables (see
    /// `Lazy::reset`), the others are cheap to make anew.
    fn reset(&mut self, level: i32, generation: Generation) -> Result<(), DeflateError> {
        match self {
            Engine::Lazy(l) => l.reset(),
            Engine::Lazy15(l) => l.reset(),
            other => *other = Engine::with_generation(level, generation)?,
        }
        Ok(())
    }
}

/// Compresses many independent inputs one after another with one set of tables and Huffman
/// encoders, for callers (the timestamp search) that compress millions of small buffers: each
/// result is byte for byte what [`deflate`] returns for the same input.
pub struct ReusableDeflate {
    level: i32,
    generation: Generation,
    engine: Engine,
    bw: BitWriter,
}

impl ReusableDeflate {
    pub fn new(level: i32) -> Result<ReusableDeflate, DeflateError> {
        ReusableDeflate::with_generation(level, Generation::Go17)
    }

    /// A reusable compressor reproducing the compress/flate of `generation`.
    pub fn with_generation(level: i32, generation: Generation) -> Result<ReusableDeflate, DeflateError> {
        Ok(ReusableDeflate {
            level,
            generation,
            engine: Engine::with_generation(level, generation)?,
            bw: BitWriter::new(Vec::new()),
        })
    }

    /// Appends the raw DEFLATE stream of `data` to `out`.
    pub fn deflate_into(&mut self, data: &[u8], out: &mut Vec<u8>) {
        self.engine
            .reset(self.level, self.generation)
            // The engine checked the level and generation when it was made; resetting reuses them.
            .expect("the level was valid when the engine was made");
        // The bit writer ends every stream flushed, so only its output vector changes hands.
        std::mem::swap(&mut self.bw.sink.out, out);
        self.engine.write(data, &mut self.bw);
        self.engine.close(&mut self.bw);
        self.bw.write_stored_header(0, true);
        self.bw.flush();
        std::mem::swap(&mut self.bw.sink.out, out);
    }
}

/// Collects input into 65535-byte blocks, writing each full block once more input arrives.
fn buffer_blocks(buf: &mut Vec<u8>, mut data: &[u8], huffman: bool, bw: &mut BitWriter) {
    while !data.is_empty() {
        if buf.len() == MAX_STORE_BLOCK_SIZE {
            flush_buffered(buf, huffman, bw);
        }
        let n = data.len().min(MAX_STORE_BLOCK_SIZE - buf.len());
        buf.extend_from_slice(&data[..n]);
        data = &data[n..];
    }
}

/// Go's `store` / `storeHuff` steps: one block for whatever is buffered (nothing if empty).
fn flush_buffered(buf: &mut Vec<u8>, huffman: bool, bw: &mut BitWriter) {
    if buf.is_empty() {
        return;
    }
    if huffman {
        bw.write_block_huff(false, buf);
    } else {
        bw.write_stored_block(buf, false);
    }
    buf.clear();
}

/// A raw DEFLATE writer producing Go's `compress/flate` bytes. Call [`DeflateWriter::finish`] to
/// end the stream; dropping the writer without it loses buffered output.
pub struct DeflateWriter<W: Write> {
    inner: W,
    engine: Engine,
    bw: BitWriter,
    /// Set once the inner writer failed: like Go's writer, a failed stream stays failed, since
    /// part of the output may be lost and anything written after would be corrupt.
    failed: bool,
}

impl<W: Write> DeflateWriter<W> {
    /// A writer at `level` (-2..=9, -1 = 6). Errors with [`DeflateError::InvalidLevel`] otherwise.
    pub fn new(inner: W, level: i32) -> Result<DeflateWriter<W>, DeflateError> {
        DeflateWriter::with_prefix(inner, level, &[])
    }

    /// Like `new`, with `prefix` (e.g. a gzip header) emitted before the compressed stream.
    pub(crate) fn with_prefix(inner: W, level: i32, prefix: &[u8]) -> Result<DeflateWriter<W>, DeflateError> {
        DeflateWriter::with_generation(inner, level, prefix, Generation::Go17)
    }

    /// Like `with_prefix`, reproducing the compress/flate of `generation`.
    pub(crate) fn with_generation(
        inner: W,
        level: i32,
        prefix: &[u8],
        generation: Generation,
    ) -> Result<DeflateWriter<W>, DeflateError> {
        let engine = Engine::with_generation(level, generation)?;
        let mut out = Vec::with_capacity(OUTPUT_CHUNK * 2);
        out.extend_from_slice(prefix);
        Ok(DeflateWriter {
            inner,
            engine,
            bw: BitWriter::new(out),
            failed: false,
        })
    }

    /// Hands completed output to the inner writer once enough has accumulated.
    fn drain(&mut self, all: bool) -> io::Result<()> {
        let out = &mut self.bw.sink.out;
        if out.len() >= OUTPUT_CHUNK || (all && !out.is_empty()) {
            if let Err(e) = self.inner.write_all(out) {
                self.failed = true;
                return Err(e);
            }
            out.clear();
        }
        Ok(())
    }

    fn check(&self) -> io::Result<()> {
        if self.failed {
            return Err(io::Error::other("deflate: an earlier write to the output failed"));
        }
        Ok(())
    }

    /// Ends the stream (Go's `Close`: remaining blocks, then an empty final stored block) and
    /// returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.check()?;
        self.engine.close(&mut self.bw);
        self.bw.write_stored_header(0, true);
        self.bw.flush();
        self.drain(true)?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for DeflateWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.check()?;
        self.engine.write(buf, &mut self.bw);
        self.drain(false)?;
        Ok(buf.len())
    }

    /// Passes completed output on. Unlike Go's `Flush` this does not end a block (which would
    /// change the bytes): partial output stays buffered until more input or `finish`.
    fn flush(&mut self) -> io::Result<()> {
        self.check()?;
        self.drain(true)?;
        self.inner.flush()
    }
}

/// Raw DEFLATE of `data` at `level`, as Go's `flate.NewWriter` + `Write` + `Close` produce it.
pub fn deflate(data: &[u8], level: i32) -> Result<Vec<u8>, DeflateError> {
    let mut w = DeflateWriter::new(Vec::with_capacity(data.len() / 2 + 64), level)?;
    // The writer's sink is a Vec, whose writes cannot fail.
    w.write_all(data).expect("writing to a Vec cannot fail");
    Ok(w.finish().expect("writing to a Vec cannot fail"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accepts `limit` bytes, then fails every write.
    struct Failing {
        limit: usize,
        written: usize,
    }

    impl Write for Failing {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.written + buf.len() > self.limit {
                return Err(io::Error::other("disk full"));
            }
            self.written += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn output_errors_are_sticky() {
        let mut w = DeflateWriter::new(
            Failing {
                limit: 1000,
                written: 0,
            },
            0,
        )
        .unwrap();
        let data = vec![7u8; 1 << 20];
        assert!(w.write_all(&data).is_err());
        assert!(w.write(b"more").is_err());
        assert!(w.finish().is_err());
    }
}
