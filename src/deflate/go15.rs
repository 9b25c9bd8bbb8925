//! Levels 4-9 of Go 1.5 and 1.6's compress/flate, which Docker 1.10 to 1.12 were built with.
//!
//! Go 1.7 rewrote the matcher (module `lazy` follows that one), so the older releases chose other
//! matches and their blobs differ. What differs from Go 1.7+ here:
//! - matches are at least 3 bytes (a 3-byte match farther than 4096 bytes back is ignored);
//! - positions are hashed over 3 bytes with the rolling hash `(h << 6 + b) & (2^17 - 1)`, which
//!   equals `(b0 << 12 + b1 << 6 + b2) & (2^17 - 1)` of the position's own 3 bytes;
//! - the matcher needs 3 + 258 bytes of lookahead, so the window slides at other positions.
//!
//! The block writer (stored/fixed/dynamic choice and Huffman code construction) is unchanged
//! between those releases and is shared with the newer engines.

use super::bitwriter::BitWriter;
use super::token::{literal_token, match_token, Token};

const WINDOW_SIZE: usize = 1 << 15;
const WINDOW_MASK: usize = WINDOW_SIZE - 1;
const MIN_MATCH_LENGTH: usize = 3;
const MAX_MATCH_LENGTH: usize = 258;
const MAX_FLATE_BLOCK_TOKENS: usize = 1 << 14;
const HASH_BITS: u32 = 17;
const HASH_SIZE: usize = 1 << HASH_BITS;
const HASH_MASK: usize = HASH_SIZE - 1;
const HASH_SHIFT: u32 = HASH_BITS.div_ceil(MIN_MATCH_LENGTH as u32);
const WINDOW_CAP: usize = 2 * WINDOW_SIZE;
const LOOKAHEAD: usize = MIN_MATCH_LENGTH + MAX_MATCH_LENGTH;

/// (lazy, nice, chain) of Go 1.6's level table for the lazy levels; `good` never takes effect
/// because Go passes the minimum length to `findMatch`.
fn params(level: i32) -> Option<(usize, usize, usize)> {
    Some(match level {
        4 => (4, 16, 16),
        5 => (16, 32, 32),
        6 => (16, 128, 128),
        7 => (32, 128, 256),
        8 => (128, 258, 1024),
        9 => (258, 258, 4096),
        _ => return None,
    })
}

/// The 3-byte hash of the position `i`.
#[inline(always)]
fn hash3(w: &[u8], i: usize) -> usize {
    ((usize::from(w[i]) << (2 * HASH_SHIFT)) + (usize::from(w[i + 1]) << HASH_SHIFT) + usize::from(w[i + 2]))
        & HASH_MASK
}

pub(crate) struct Lazy15 {
    lazy: usize,
    nice: usize,
    chain: usize,
    window: Box<[u8]>,
    window_end: usize,
    index: usize,
    /// Window index where the current block starts; `None` once it slid out (unstorable).
    block_start: Option<usize>,
    byte_available: bool,
    /// Absolute position + 1 of the most recent position per hash (0: none). Absolute positions
    /// make sliding free; `base` is the absolute position of window index 0.
    hash_head: Box<[u64]>,
    hash_prev: Box<[u64]>,
    base: u64,
    tokens: Vec<Token>,
    length: usize,
    offset: usize,
    max_insert_index: usize,
}

impl Lazy15 {
    /// Levels 4-9; `None` for the others (Docker only ever used level 6).
    pub fn new(level: i32) -> Option<Lazy15> {
        let (lazy, nice, chain) = params(level)?;
        Some(Lazy15 {
            lazy,
            nice,
            chain,
            window: vec![0u8; WINDOW_CAP].into_boxed_slice(),
            window_end: 0,
            index: 0,
            block_start: Some(0),
            byte_available: false,
            hash_head: vec![0u64; HASH_SIZE].into_boxed_slice(),
            hash_prev: vec![0u64; WINDOW_SIZE].into_boxed_slice(),
            base: 0,
            tokens: Vec::with_capacity(MAX_FLATE_BLOCK_TOKENS + 1),
            length: MIN_MATCH_LENGTH - 1,
            offset: 0,
            max_insert_index: 0,
        })
    }

    /// Feeds input; the matcher runs whenever the window is full and more input waits.
    pub fn write(&mut self, mut data: &[u8], bw: &mut BitWriter) {
        while !data.is_empty() {
            if self.window_end == WINDOW_CAP {
                self.deflate(false, bw);
            }
            let n = self.fill(data);
            data = &data[n..];
        }
    }

    pub fn close(&mut self, bw: &mut BitWriter) {
        self.deflate(true, bw);
    }

    /// Go's `fillDeflate`.
    fn fill(&mut self, data: &[u8]) -> usize {
        if self.index >= 2 * WINDOW_SIZE - LOOKAHEAD {
            self.window.copy_within(WINDOW_SIZE..2 * WINDOW_SIZE, 0);
            self.index -= WINDOW_SIZE;
            self.window_end -= WINDOW_SIZE;
            self.base += WINDOW_SIZE as u64;
            self.block_start = match self.block_start {
                Some(s) if s >= WINDOW_SIZE => Some(s - WINDOW_SIZE),
                _ => None,
            };
        }
        let n = data.len().min(WINDOW_CAP - self.window_end);
        self.window[self.window_end..self.window_end + n].copy_from_slice(&data[..n]);
        self.window_end += n;
        n
    }

    fn write_block(&mut self, index: usize, bw: &mut BitWriter) {
        if index > 0 {
            let input = match self.block_start {
                Some(s) if s <= index => Some(&self.window[s..index]),
                _ => None,
            };
            bw.write_block(&self.tokens, false, input);
            self.block_start = Some(index);
        }
        self.tokens.clear();
    }

    /// Inserts window index `i` and returns the previous head as a window index (negative or
    /// `i64::MIN` when there is none or it slid out).
    #[inline(always)]
    fn insert(&mut self, i: usize) -> i64 {
        let h = hash3(&self.window, i);
        let prev = self.hash_head[h];
        let abs = self.base + i as u64;
        self.hash_prev[i & WINDOW_MASK] = prev;
        self.hash_head[h] = abs + 1;
        self.to_index(prev)
    }

    /// An absolute position + 1 as a window index.
    #[inline(always)]
    fn to_index(&self, stored: u64) -> i64 {
        if stored == 0 {
            i64::MIN
        } else {
            (stored - 1) as i64 - self.base as i64
        }
    }

    /// Go 1.6's `deflate` step for the lazy levels.
    fn deflate(&mut self, sync: bool, bw: &mut BitWriter) {
        if self.window_end - self.index < LOOKAHEAD && !sync {
            return;
        }
        self.max_insert_index = self.window_end.saturating_sub(MIN_MATCH_LENGTH - 1);
        loop {
            let lookahead = self.window_end - self.index;
            if lookahead < LOOKAHEAD {
                if !sync {
                    return;
                }
                if lookahead == 0 {
                    if self.byte_available {
                        self.tokens.push(literal_token(self.window[self.index - 1]));
                        self.byte_available = false;
                    }
                    if !self.tokens.is_empty() {
                        self.write_block(self.index, bw);
                    }
                    return;
                }
            }
            // Where Go cannot hash (the last 2 bytes) it keeps the previous head, but the
            // lookahead test below then never lets it search, so "none" is equivalent.
            let head = if self.index < self.max_insert_index {
                self.insert(self.index)
            } else {
                i64::MIN
            };
            let prev_length = self.length;
            let prev_offset = self.offset;
            self.length = MIN_MATCH_LENGTH - 1;
            self.offset = 0;
            let min_index = self.index.saturating_sub(WINDOW_SIZE) as i64;
            if head >= min_index && lookahead > prev_length && prev_length < self.lazy {
                if let Some((length, offset)) = self.find_match(self.index, head, lookahead) {
                    self.length = length;
                    self.offset = offset;
                }
            }
            if prev_length >= MIN_MATCH_LENGTH && self.length <= prev_length {
                self.tokens
                    .push(match_token((prev_length - 3) as u32, (prev_offset - 1) as u32));
                let new_index = self.index + prev_length - 1;
                for i in self.index + 1..new_index {
                    if i < self.max_insert_index {
                        self.insert(i);
                    }
                }
                self.index = new_index;
                self.byte_available = false;
                self.length = MIN_MATCH_LENGTH - 1;
                if self.tokens.len() == MAX_FLATE_BLOCK_TOKENS {
                    self.write_block(self.index, bw);
                }
            } else {
                if self.byte_available {
                    self.tokens.push(literal_token(self.window[self.index - 1]));
                    if self.tokens.len() == MAX_FLATE_BLOCK_TOKENS {
                        self.write_block(self.index, bw);
                    }
                }
                self.index += 1;
                self.byte_available = true;
            }
        }
    }

    /// Go 1.6's `findMatch`, called with the minimum length: the longest match (earliest on
    /// ties) among `chain` candidates, stopping at `nice`.
    fn find_match(&self, pos: usize, prev_head: i64, lookahead: usize) -> Option<(usize, usize)> {
        let min_match_look = lookahead.min(MAX_MATCH_LENGTH);
        let end = pos + min_match_look;
        let win = &self.window[..end];
        let nice = self.nice.min(min_match_look);
        let mut length = MIN_MATCH_LENGTH - 1;
        let mut best = None;
        let (w0, w1) = (win[pos], win[pos + 1]);
        let mut w_end = win[pos + length];
        let min_index = pos as i64 - WINDOW_SIZE as i64;
        let mut i = prev_head;
        let mut tries = self.chain;
        while tries > 0 {
            let iu = i as usize;
            if win[iu] == w0 && win[iu + 1] == w1 && win[iu + length] == w_end {
                // Same hash and same first two bytes imply the same third byte.
                let mut n = 3;
                while pos + n < end && win[iu + n] == win[pos + n] {
                    n += 1;
                }
                if n > length && (n > 3 || pos - iu <= 4096) {
                    length = n;
                    best = Some((n, pos - iu));
                    if n >= nice {
                        break;
                    }
                    w_end = win[pos + n];
                }
            }
            if i == min_index {
                break;
            }
            i = self.to_index(self.hash_prev[iu & WINDOW_MASK]);
            if i < min_index || i < 0 {
                break;
            }
            tries -= 1;
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::super::{DeflateWriter, Generation};
    use std::io::{Read, Write};

    /// Inputs that exercise long and short matches, window slides and stored blocks.
    fn inputs() -> Vec<Vec<u8>> {
        let mut x: u32 = 1;
        let mut noise = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        };
        let text: Vec<u8> = (0..300_000)
            .map(|i| b"the quick brown fox "[i % 20] ^ (i / 7919) as u8)
            .collect();
        let random: Vec<u8> = (0..200_000).map(|_| noise()).collect();
        let mixed: Vec<u8> = (0..400_000)
            .map(|i| if (i / 5000) % 3 == 0 { noise() } else { (i % 251) as u8 })
            .collect();
        vec![Vec::new(), b"a".to_vec(), b"abcabcabcabc".to_vec(), text, random, mixed]
    }

    /// Go 1.6's DEFLATE is valid DEFLATE whatever the input; its bytes are proven against the
    /// published layers of Docker 1.10 and 1.12 (tests/layer_add.rs).
    #[test]
    fn go15_streams_inflate_to_their_input() {
        for (n, data) in inputs().into_iter().enumerate() {
            let mut w = DeflateWriter::with_generation(Vec::new(), 6, &[], Generation::Go15).unwrap();
            // Uneven writes: the output must not depend on them.
            for chunk in data.chunks(7777) {
                w.write_all(chunk).unwrap();
            }
            let out = w.finish().unwrap();
            let mut back = Vec::new();
            flate2::read::DeflateDecoder::new(&out[..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, data, "input {n}");
            let mut whole = DeflateWriter::with_generation(Vec::new(), 6, &[], Generation::Go15).unwrap();
            whole.write_all(&data).unwrap();
            assert_eq!(whole.finish().unwrap(), out, "input {n}: chunking changed the bytes");
        }
    }

    #[test]
    fn go15_levels_outside_4_to_9_are_refused() {
        for level in [-2, 0, 1, 3] {
            assert!(DeflateWriter::with_generation(Vec::new(), level, &[], Generation::Go15).is_err());
        }
        assert!(DeflateWriter::with_generation(Vec::new(), -1, &[], Generation::Go15).is_ok());
    }
}
