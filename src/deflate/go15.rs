//! Levels 4-9 of Go 1.5 and 1.6's compress/flate, which Docker 1.10 to 1.12 were built with.
//!
//! Go 1.7 rewrote the matcher (module `go17` follows that one), so the older releases chose other
//! matches and their blobs differ. What differs from Go 1.7+ is all in the hash chain:
//! - matches are at least 3 bytes (a 3-byte match farther than 4096 bytes back is ignored);
//! - positions are hashed over 3 bytes with the rolling hash `(h << 6 + b) & (2^17 - 1)`, which
//!   equals `(b0 << 12 + b1 << 6 + b2) & (2^17 - 1)` of the position's own 3 bytes;
//! - the matcher needs 3 + 258 bytes of lookahead, so the window slides at other positions.
//!
//! The lazy decision loop (module `lazy`), its level table for levels 4-9 and the block writer
//! (stored/fixed/dynamic choice and Huffman code construction) are unchanged between those
//! releases and are shared with the newer engine.

use super::lazy::{Candidates, Chain, Lazy, Params, Window, MAX_MATCH_LENGTH, WINDOW_MASK, WINDOW_SIZE};

const MIN_MATCH_LENGTH: usize = 3;
const HASH_BITS: u32 = 17;
const HASH_SIZE: usize = 1 << HASH_BITS;
const HASH_MASK: usize = HASH_SIZE - 1;
const HASH_SHIFT: u32 = HASH_BITS.div_ceil(MIN_MATCH_LENGTH as u32);

/// The 3-byte hash of the position `i`.
#[inline(always)]
fn hash3(w: &[u8], i: usize) -> usize {
    ((usize::from(w[i]) << (2 * HASH_SHIFT)) + (usize::from(w[i + 1]) << HASH_SHIFT) + usize::from(w[i + 2]))
        & HASH_MASK
}

/// Go 1.6's compressor at levels 4-9; `None` for the others (Docker only ever used level 6).
pub(crate) fn lazy15(level: i32) -> Option<Lazy<Chain15>> {
    (4..=9).contains(&level).then(|| Lazy::new(level, Chain15::new()))
}

pub(crate) struct Chain15 {
    /// Absolute position + 1 of the most recent position per hash (0: none). Absolute positions
    /// make sliding free; `base` is the absolute position of window index 0.
    hash_head: Box<[u64]>,
    hash_prev: Box<[u64]>,
    base: u64,
}

impl Chain15 {
    fn new() -> Chain15 {
        Chain15 {
            hash_head: vec![0u64; HASH_SIZE].into_boxed_slice(),
            hash_prev: vec![0u64; WINDOW_SIZE].into_boxed_slice(),
            base: 0,
        }
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
}

impl Chain for Chain15 {
    const MIN_MATCH_LENGTH: usize = MIN_MATCH_LENGTH;

    /// Inserts window index `i` and returns the previous head as a window index (negative or
    /// `i64::MIN` when there is none or it slid out).
    #[inline(always)]
    fn insert(&mut self, window: &Window, i: usize) -> i64 {
        let h = hash3(window, i);
        let prev = self.hash_head[h];
        let abs = self.base + i as u64;
        self.hash_prev[i & WINDOW_MASK] = prev;
        self.hash_head[h] = abs + 1;
        self.to_index(prev)
    }

    fn slide(&mut self) {
        self.base += WINDOW_SIZE as u64;
    }

    fn reset(&mut self, _window: &Window, _window_end: usize) {
        self.hash_head.fill(0);
        self.base = 0;
    }

    /// Go 1.6's `findMatch`, called with the minimum length: the longest match (earliest on
    /// ties) among `chain` candidates, stopping at `nice`.
    fn find_match(&self, window: &Window, params: &Params, at: Candidates) -> Option<(usize, usize)> {
        // Go 1.6 searches from the minimum length whatever the pending match; `floor` is not used,
        // so that its 4096-byte rule for 3-byte matches applies exactly as there.
        let Candidates {
            pos,
            head: prev_head,
            lookahead,
            ..
        } = at;
        let min_match_look = lookahead.min(MAX_MATCH_LENGTH);
        let end = pos + min_match_look;
        let win = &window[..end];
        let nice = params.nice.min(min_match_look);
        let mut length = MIN_MATCH_LENGTH - 1;
        let mut best = None;
        let (w0, w1) = (win[pos], win[pos + 1]);
        let mut w_end = win[pos + length];
        let min_index = pos as i64 - WINDOW_SIZE as i64;
        let mut i = prev_head;
        let mut tries = params.chain;
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
    /// published layers of Docker 1.10 and 1.12 (tests/it/layer_add.rs).
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
