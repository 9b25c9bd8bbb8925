//! Level 1 (BestSpeed): Go's Snappy-derived single-probe matcher (deflatefast.go) and the
//! `encSpeed` step of deflate.go that turns each 65535-byte block into tokens and picks its
//! encoding.
//!
//! Matches may reach into the previous block (kept in `prev`), positions are tracked as `i32`
//! with a running base `cur` exactly as in Go, including the points where Go bumps or rebases it,
//! since those decide which table entries still count as in range.

use super::bitwriter::{BitWriter, MAX_STORE_BLOCK_SIZE};
use super::token::{literal_token, match_token, Token};

const TABLE_BITS: u32 = 14;
const TABLE_SIZE: usize = 1 << TABLE_BITS;
const TABLE_MASK: u32 = (TABLE_SIZE - 1) as u32;
const TABLE_SHIFT: u32 = 32 - TABLE_BITS;

const MAX_MATCH_LENGTH: i32 = 258;
const MAX_MATCH_OFFSET: i32 = 1 << 15;
/// Rebase positions before `cur` could overflow an `i32`.
const BUFFER_RESET: i32 = i32::MAX - MAX_STORE_BLOCK_SIZE as i32 * 2;
/// Snappy's margin: the main loop stops looking for matches this close to the end.
const INPUT_MARGIN: i32 = 16 - 1;
const MIN_NON_LITERAL_BLOCK_SIZE: usize = 1 + 1 + INPUT_MARGIN as usize;

#[derive(Clone, Copy, Default)]
struct TableEntry {
    /// The 4 bytes (little-endian) at the position, to confirm a candidate without reloading.
    val: u32,
    /// Position plus `cur` at insertion time.
    offset: i32,
}

#[inline(always)]
fn hash(u: u32) -> usize {
    ((u.wrapping_mul(0x1e35a7bd) >> TABLE_SHIFT) & TABLE_MASK) as usize
}

#[inline(always)]
fn load32(b: &[u8], i: i32) -> u32 {
    let i = i as usize;
    // A four-byte range converts to a four-byte array.
    u32::from_le_bytes(b[i..i + 4].try_into().unwrap())
}

#[inline(always)]
fn load64(b: &[u8], i: i32) -> u64 {
    let i = i as usize;
    // An eight-byte range converts to an eight-byte array.
    u64::from_le_bytes(b[i..i + 8].try_into().unwrap())
}

/// Length of the common prefix of two equally long slices, 8 bytes at a time.
#[inline(always)]
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    debug_assert_eq!(a.len(), b.len());
    let mut n = 0;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        // Both slices are eight bytes long, as the caller cut them.
        let d = u64::from_le_bytes(x.try_into().unwrap()) ^ u64::from_le_bytes(y.try_into().unwrap());
        if d != 0 {
            return n + (d.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    n + a[n..].iter().zip(&b[n..]).take_while(|(x, y)| x == y).count()
}

/// Go's `deflateFast`.
struct Matcher {
    table: Box<[TableEntry]>,
    /// The previous block, for matches that start before the current one.
    prev: Vec<u8>,
    cur: i32,
}

impl Matcher {
    fn new() -> Matcher {
        Matcher {
            table: vec![TableEntry::default(); TABLE_SIZE].into_boxed_slice(),
            prev: Vec::with_capacity(MAX_STORE_BLOCK_SIZE),
            cur: MAX_STORE_BLOCK_SIZE as i32,
        }
    }

    /// Appends the tokens of block `src` to `dst`.
    fn encode(&mut self, dst: &mut Vec<Token>, src: &[u8]) {
        if self.cur >= BUFFER_RESET {
            self.shift_offsets();
        }
        if src.len() < MIN_NON_LITERAL_BLOCK_SIZE {
            // Too short to look for matches; it also breaks the link to the previous block.
            self.cur += MAX_STORE_BLOCK_SIZE as i32;
            self.prev.clear();
            dst.extend(src.iter().map(|&b| literal_token(b)));
            return;
        }

        let table = &mut self.table[..];
        let cur = self.cur;
        let s_limit = src.len() as i32 - INPUT_MARGIN;
        let mut next_emit: i32 = 0;
        let mut s: i32 = 0;
        let mut cv = load32(src, s);
        let mut next_hash = hash(cv);

        'outer: loop {
            // Snappy's heuristic skipping: after 32 misses probe every 2nd byte, then every 3rd..
            let mut skip: i32 = 32;
            let mut next_s = s;
            let mut candidate;
            loop {
                s = next_s;
                let bytes_between_hash_lookups = skip >> 5;
                next_s = s + bytes_between_hash_lookups;
                skip += bytes_between_hash_lookups;
                if next_s > s_limit {
                    break 'outer;
                }
                candidate = table[next_hash];
                let now = load32(src, next_s);
                table[next_hash] = TableEntry {
                    offset: s + cur,
                    val: cv,
                };
                next_hash = hash(now);

                let offset = s - (candidate.offset - cur);
                if offset > MAX_MATCH_OFFSET || cv != candidate.val {
                    cv = now;
                    continue;
                }
                break;
            }

            // A 4-byte match at s; everything before it is literal.
            dst.extend(src[next_emit as usize..s as usize].iter().map(|&b| literal_token(b)));

            loop {
                // Extend the match, emit it, and try for another match right after it.
                s += 4;
                let t = candidate.offset - cur + 4;
                let l = self_match_len(&self.prev, s, t, src);
                dst.push(match_token((l + 4 - 3) as u32, (s - t - 1) as u32));
                s += l;
                next_emit = s;
                if s >= s_limit {
                    break 'outer;
                }

                // Hash the positions s-1 and s (one 8-byte load serves both and s+1).
                let mut x = load64(src, s - 1);
                let prev_hash = hash(x as u32);
                table[prev_hash] = TableEntry {
                    offset: cur + s - 1,
                    val: x as u32,
                };
                x >>= 8;
                let curr_hash = hash(x as u32);
                candidate = table[curr_hash];
                table[curr_hash] = TableEntry {
                    offset: cur + s,
                    val: x as u32,
                };

                let offset = s - (candidate.offset - cur);
                if offset > MAX_MATCH_OFFSET || x as u32 != candidate.val {
                    cv = (x >> 8) as u32;
                    next_hash = hash(cv);
                    s += 1;
                    break;
                }
            }
        }

        if (next_emit as usize) < src.len() {
            dst.extend(src[next_emit as usize..].iter().map(|&b| literal_token(b)));
        }
        self.cur += src.len() as i32;
        self.prev.clear();
        self.prev.extend_from_slice(src);
    }

    /// Go's `reset`: forget the history so no match reaches into earlier blocks.
    fn reset(&mut self) {
        self.prev.clear();
        self.cur += MAX_MATCH_OFFSET;
        if self.cur >= BUFFER_RESET {
            self.shift_offsets();
        }
    }

    /// Go's `shiftOffsets`: rebase `cur` to just past the maximum distance, keeping entries that
    /// are still in range.
    fn shift_offsets(&mut self) {
        if self.prev.is_empty() {
            self.table.fill(TableEntry::default());
            self.cur = MAX_MATCH_OFFSET + 1;
            return;
        }
        for e in self.table.iter_mut() {
            e.offset = (e.offset - self.cur + MAX_MATCH_OFFSET + 1).max(0);
        }
        self.cur = MAX_MATCH_OFFSET + 1;
    }
}

/// Go's `deflateFast.matchLen`: how far the match at `s` (source at `t`, negative when it starts
/// in the previous block) extends, given 4 bytes already match; at most 254 more.
#[inline(always)]
fn self_match_len(prev: &[u8], s: i32, t: i32, src: &[u8]) -> i32 {
    let s = s as usize;
    let s1 = (s + MAX_MATCH_LENGTH as usize - 4).min(src.len());
    if t >= 0 {
        let t = t as usize;
        let len = s1 - s;
        return common_prefix(&src[s..s1], &src[t..t + len]) as i32;
    }
    let tp = prev.len() as i32 + t;
    if tp < 0 {
        return 0;
    }
    // The match starts in the previous block and may continue into the current one.
    let a = &src[s..s1];
    let b = &prev[tp as usize..];
    let k = a.len().min(b.len());
    let n = common_prefix(&a[..k], &b[..k]);
    if n < k {
        return n as i32;
    }
    if s + k == s1 {
        return k as i32;
    }
    let a = &src[s + k..s1];
    (k + common_prefix(a, &src[..a.len()])) as i32
}

/// Level 1 state: the block buffer (Go fills 65535 bytes before encoding) and the matcher.
pub(crate) struct Fast {
    window: Vec<u8>,
    matcher: Matcher,
    tokens: Vec<Token>,
}

impl Fast {
    pub fn new() -> Fast {
        Fast {
            window: Vec::with_capacity(MAX_STORE_BLOCK_SIZE),
            matcher: Matcher::new(),
            tokens: Vec::with_capacity(MAX_STORE_BLOCK_SIZE + 1),
        }
    }

    pub fn write(&mut self, mut data: &[u8], bw: &mut BitWriter) {
        while !data.is_empty() {
            if self.window.len() == MAX_STORE_BLOCK_SIZE {
                self.step(false, bw);
            }
            let n = data.len().min(MAX_STORE_BLOCK_SIZE - self.window.len());
            self.window.extend_from_slice(&data[..n]);
            data = &data[n..];
        }
    }

    pub fn close(&mut self, bw: &mut BitWriter) {
        self.step(true, bw);
    }

    /// Go's `encSpeed`: encodes a full block, or at close whatever is left.
    fn step(&mut self, sync: bool, bw: &mut BitWriter) {
        let end = self.window.len();
        if end < MAX_STORE_BLOCK_SIZE {
            if !sync {
                return;
            }
            if end < 128 {
                // Small tails: stored up to 16 bytes, else Huffman-only; the matcher forgets.
                match end {
                    0 => return,
                    1..=16 => bw.write_stored_block(&self.window, false),
                    _ => bw.write_block_huff(false, &self.window),
                }
                self.window.clear();
                self.matcher.reset();
                return;
            }
        }
        self.tokens.clear();
        self.matcher.encode(&mut self.tokens, &self.window);
        // If matching removed less than 1/16 of the tokens, Huffman-only is used instead.
        if self.tokens.len() > end - (end >> 4) {
            bw.write_block_huff(false, &self.window);
        } else {
            bw.write_block_dynamic(&self.tokens, false, Some(&self.window));
        }
        self.window.clear();
    }
}
