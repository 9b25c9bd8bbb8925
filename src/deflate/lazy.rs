//! Levels 2-9: Go's hash-chain matcher (`compressor.deflate` and `findMatch` in deflate.go).
//!
//! Levels 2 and 3 are greedy (take a match as soon as one is found and skip hashing inside long
//! matches); levels 4-9 are lazy (a match is only taken if the match starting one byte later is
//! not longer). Every decision below, including Go's quirks, changes which tokens come out and so
//! the compressed bytes:
//! - matches are at least 4 bytes, and a 4-byte match farther than 4096 bytes back is ignored;
//! - the chain walk always gets the full `chain` budget (Go passes the minimum length, not the
//!   previous match length, so its "good enough, search less" shortcut never fires);
//! - a block is cut after 16384 tokens, and is stored raw only while its bytes are still in the
//!   window.

use super::bitwriter::BitWriter;
use super::token::{literal_token, match_token, Token};

const LOG_WINDOW_SIZE: usize = 15;
const WINDOW_SIZE: usize = 1 << LOG_WINDOW_SIZE;
const WINDOW_MASK: usize = WINDOW_SIZE - 1;

const MIN_MATCH_LENGTH: usize = 4;
const MAX_MATCH_LENGTH: usize = 258;
const MAX_FLATE_BLOCK_TOKENS: usize = 1 << 14;

const HASH_BITS: u32 = 17;
const HASH_SIZE: usize = 1 << HASH_BITS;
const HASH_MUL: u32 = 0x1e35a7bd;

/// The window holds two window sizes of input; the matcher needs `MIN_MATCH_LENGTH +
/// MAX_MATCH_LENGTH` bytes of lookahead before it will look at a position (unless flushing).
const WINDOW_CAP: usize = 2 * WINDOW_SIZE;
const LOOKAHEAD: usize = MIN_MATCH_LENGTH + MAX_MATCH_LENGTH;
/// Zero bytes past the window's end so 8-byte loads near the end stay in bounds; what they read
/// there is always masked off.
const WINDOW_PAD: usize = 8;
/// Every index the matcher forms is below `WINDOW_CAP + WINDOW_PAD`, so masking it with this
/// changes nothing; the window is allocated one mask (plus one 8-byte load) long, which lets the
/// compiler prove every load in the chain walk in bounds and drop the checks. The pages past
/// `WINDOW_CAP + WINDOW_PAD` are never touched.
const INDEX_MASK: usize = (1 << 17) - 1;
const WINDOW_ALLOC: usize = INDEX_MASK + 1 + 8;
const _: () = assert!(WINDOW_CAP + WINDOW_PAD <= INDEX_MASK + 1);
type Window = [u8; WINDOW_ALLOC];

/// Go's "never skip hashing" marker (levels 4-9).
const SKIP_NEVER: usize = i32::MAX as usize;

/// Go's `compressionLevel` parameters.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Params {
    /// Stop looking for a lazy improvement once the current match is at least this long.
    lazy: usize,
    /// Stop walking a chain once a match is at least this long.
    nice: usize,
    /// Maximum chain positions examined per search.
    chain: usize,
    /// Greedy levels: matches longer than this are not hashed inside. `SKIP_NEVER` means lazy.
    fast_skip_hashing: usize,
}

impl Params {
    pub fn for_level(level: i32) -> Params {
        // (good, lazy, nice, chain, fastSkipHashing) in Go's table; `good` is not needed (see the
        // module comment).
        let (lazy, nice, chain, fast_skip_hashing) = match level {
            2 => (0, 16, 8, 5),
            3 => (0, 32, 32, 6),
            4 => (4, 16, 16, SKIP_NEVER),
            5 => (16, 32, 32, SKIP_NEVER),
            6 => (16, 128, 128, SKIP_NEVER),
            7 => (32, 128, 256, SKIP_NEVER),
            8 => (128, 258, 1024, SKIP_NEVER),
            9 => (258, 258, 4096, SKIP_NEVER),
            _ => unreachable!("level {level} is not a hash-chain level"),
        };
        Params {
            lazy,
            nice,
            chain,
            fast_skip_hashing,
        }
    }
}

pub(crate) struct Lazy {
    params: Params,
    /// Input window; unprocessed data is `window[index..window_end]`.
    window: Box<Window>,
    window_end: usize,
    index: usize,
    /// Window index where the current block's tokens start; `None` once those bytes have been
    /// shifted out (Go's MaxInt32), which makes the block unstorable.
    block_start: Option<usize>,
    /// Lazy levels: `window[index - 1]` is still owed as a literal or as the start of a match.
    byte_available: bool,
    /// `hash_head[h]`: 1 + the window index of the most recent position whose 4 bytes hash to
    /// `h`; 0 when there is none in the window.
    hash_head: Box<[u16; HASH_SIZE]>,
    /// `hash_prev[p & WINDOW_MASK]`: how far back from `p` the previous position with the same
    /// hash is, and the one before it (both capped at `u16::MAX`, which is out of reach anyway).
    /// Knowing two links per load halves the chain walk's dependent loads (see `find_match`).
    hash_prev: Box<[Links; WINDOW_SIZE]>,
    tokens: Vec<Token>,
    /// Current (lazy: pending) match.
    length: usize,
    offset: usize,
    max_insert_index: usize,
    /// Whether the window has slid since the stream began (then `reset` must clear all heads).
    slid: bool,
}

/// Distances back to the previous and the second previous position on a hash chain.
type Links = [u16; 2];

/// Go's `hash4`: the first 4 bytes as a big-endian word, multiplicatively hashed to 17 bits.
#[inline(always)]
fn hash4(w: &Window, i: usize) -> usize {
    (load32(w, i).swap_bytes().wrapping_mul(HASH_MUL) >> (32 - HASH_BITS)) as usize
}

#[inline(always)]
fn load32(w: &Window, i: usize) -> u32 {
    let i = i & INDEX_MASK;
    // A four-byte range converts to a four-byte array.
    u32::from_le_bytes(w[i..i + 4].try_into().unwrap())
}

#[inline(always)]
fn load64(w: &Window, i: usize) -> u64 {
    let i = i & INDEX_MASK;
    // An eight-byte range converts to an eight-byte array.
    u64::from_le_bytes(w[i..i + 8].try_into().unwrap())
}

/// Number of equal bytes at `a` and `b`, at most `max`. Both ranges lie inside the window, whose
/// padding allows the 8-byte loads to run past `max`.
#[inline(always)]
fn match_len(w: &Window, a: usize, b: usize, max: usize) -> usize {
    let mut n = 0;
    while n < max {
        let x = load64(w, a + n) ^ load64(w, b + n);
        if x != 0 {
            return (n + (x.trailing_zeros() / 8) as usize).min(max);
        }
        n += 8;
    }
    max
}

impl Lazy {
    pub fn new(level: i32) -> Lazy {
        Lazy {
            params: Params::for_level(level),
            // Each vector has exactly the length of the array it becomes.
            window: vec![0u8; WINDOW_ALLOC].into_boxed_slice().try_into().unwrap(),
            window_end: 0,
            index: 0,
            block_start: Some(0),
            byte_available: false,
            hash_head: vec![0u16; HASH_SIZE].into_boxed_slice().try_into().unwrap(),
            hash_prev: vec![[0u16; 2]; WINDOW_SIZE].into_boxed_slice().try_into().unwrap(),
            tokens: Vec::with_capacity(MAX_FLATE_BLOCK_TOKENS + 1),
            length: MIN_MATCH_LENGTH - 1,
            offset: 0,
            max_insert_index: 0,
            slid: false,
        }
    }

    /// Readies the engine for a new, independent stream with the state a fresh engine has, without
    /// clearing all 256 KiB of `hash_head` (the timestamp search compresses millions of 3 KiB tars).
    /// While the window never slid, every head that was set belongs to the hash of some position
    /// below `window_end`, so zeroing exactly those heads restores the fresh table; after a slide
    /// the table is cleared whole. `hash_prev` keeps its old links: a slot is only ever read for a
    /// position inserted since the reset (whose insertion wrote it), or, by an insertion with no
    /// predecessor, for a value the walk never uses (see `insert`).
    pub(crate) fn reset(&mut self) {
        if self.slid {
            self.hash_head.fill(0);
        } else {
            for i in 0..self.window_end {
                self.hash_head[hash4(&self.window, i)] = 0;
            }
        }
        let used = (self.window_end + WINDOW_PAD).min(self.window.len());
        self.window[..used].fill(0);
        self.slid = false;
        self.window_end = 0;
        self.index = 0;
        self.block_start = Some(0);
        self.byte_available = false;
        self.tokens.clear();
        self.length = MIN_MATCH_LENGTH - 1;
        self.offset = 0;
        self.max_insert_index = 0;
    }

    /// Feeds input. The matcher runs only when the window is full and more input is waiting, so
    /// the result equals Go's for the whole input passed to one `Write`, however the input is
    /// split here (Go itself gives the same bytes for any split; see the tests).
    pub fn write(&mut self, mut data: &[u8], bw: &mut BitWriter) {
        while !data.is_empty() {
            if self.window_end == WINDOW_CAP {
                self.deflate(false, bw);
            }
            let n = self.fill(data);
            data = &data[n..];
        }
    }

    /// Encodes everything still buffered (Go's final `step` with `sync` set).
    pub fn close(&mut self, bw: &mut BitWriter) {
        self.deflate(true, bw);
    }

    /// Go's `fillDeflate`: slides the window by half once the matcher is deep into its second
    /// half, then appends as much input as fits.
    fn fill(&mut self, data: &[u8]) -> usize {
        if self.index >= 2 * WINDOW_SIZE - LOOKAHEAD {
            self.window.copy_within(WINDOW_SIZE..2 * WINDOW_SIZE, 0);
            self.slid = true;
            self.index -= WINDOW_SIZE;
            self.window_end -= WINDOW_SIZE;
            self.block_start = match self.block_start {
                Some(s) if s >= WINDOW_SIZE => Some(s - WINDOW_SIZE),
                _ => None,
            };
            // Heads that slid out of the window become "none". Go keeps them, as negative
            // positions, but never uses a negative position, so nothing changes.
            for v in self.hash_head.iter_mut() {
                *v = v.saturating_sub(WINDOW_SIZE as u16);
            }
        }
        let n = data.len().min(WINDOW_CAP - self.window_end);
        self.window[self.window_end..self.window_end + n].copy_from_slice(&data[..n]);
        self.window_end += n;
        n
    }

    /// Go's `compressor.writeBlock`: emits the queued tokens as a block ending at `index`.
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

    /// Inserts position `i` into its hash chain and returns the previous head's window index
    /// (-1 for none).
    ///
    /// Go stores absolute positions as u32 and rebases them every 16 MiB; storing window indexes
    /// and distances as u16 instead halves the head table and fits two links per chain slot in
    /// the room of Go's one (so chain walks hit the cache more often), while every chain still
    /// leads through the same positions.
    #[inline(always)]
    fn insert(&mut self, i: usize) -> i64 {
        let h = hash4(&self.window, i);
        let prev = self.hash_head[h] as i64 - 1;
        let far = u16::MAX as i64;
        let one = (i as i64 - prev).min(far);
        // The predecessor's own link was written when it was inserted and its slot is still its
        // own unless it is a window or more behind `i`, where the walk never follows it. With no
        // predecessor (`prev` is -1) the slot read is arbitrary, but the walk stops at `prev`
        // before it would use `two`; reading it anyway spares a hard-to-predict branch.
        let two = (one + self.hash_prev[prev as usize & WINDOW_MASK][0] as i64).min(far);
        self.hash_prev[i & WINDOW_MASK] = [one as u16, two as u16];
        self.hash_head[h] = (i + 1) as u16;
        prev
    }

    /// Go's `deflate` step: tokenizes while there is enough lookahead (or everything, when
    /// `sync`), cutting blocks every 16384 tokens.
    fn deflate(&mut self, sync: bool, bw: &mut BitWriter) {
        if self.window_end - self.index < LOOKAHEAD && !sync {
            return;
        }
        self.max_insert_index = self.window_end.saturating_sub(MIN_MATCH_LENGTH - 1);
        if self.params.fast_skip_hashing == SKIP_NEVER {
            self.deflate_lazy(sync, bw);
        } else {
            self.deflate_greedy(sync, bw);
        }
    }

    /// Levels 4-9.
    fn deflate_lazy(&mut self, sync: bool, bw: &mut BitWriter) {
        let Params { lazy, .. } = self.params;
        loop {
            let lookahead = self.window_end - self.index;
            if lookahead < LOOKAHEAD {
                if !sync {
                    return;
                }
                if lookahead == 0 {
                    if self.byte_available {
                        // The last byte is still owed as a literal.
                        self.tokens.push(literal_token(self.window[self.index - 1]));
                        self.byte_available = false;
                    }
                    if !self.tokens.is_empty() {
                        self.write_block(self.index, bw);
                    }
                    return;
                }
            }
            // Go keeps the previous chain head when it cannot hash here (the last 3 bytes of the
            // input), but it never searches there either, so "none" is equivalent.
            let head = if self.index < self.max_insert_index {
                self.insert(self.index)
            } else {
                -1
            };
            let prev_length = self.length;
            let prev_offset = self.offset;
            self.length = MIN_MATCH_LENGTH - 1;
            self.offset = 0;
            let min_index = self.index.saturating_sub(WINDOW_SIZE) as i64;

            if head >= min_index && lookahead > prev_length && prev_length < lazy {
                // Go searches from length 3 here, but a match no longer than the pending one is
                // dropped below, so only longer ones are looked for (`find_match` explains why
                // that finds the same one).
                let floor = prev_length.max(MIN_MATCH_LENGTH - 1);
                if let Some((length, offset)) = self.find_match(self.index, head, lookahead, floor) {
                    self.length = length;
                    self.offset = offset;
                }
            }

            if prev_length >= MIN_MATCH_LENGTH && self.length <= prev_length {
                // The match at the previous position is at least as good: emit it, and hash the
                // positions it covers (the current one is already in).
                self.tokens
                    .push(match_token((prev_length - 3) as u32, (prev_offset - 1) as u32));
                let new_index = self.index + prev_length - 1;
                for i in self.index + 1..new_index.min(self.max_insert_index) {
                    self.insert(i);
                }
                self.index = new_index;
                self.byte_available = false;
                self.length = MIN_MATCH_LENGTH - 1;
                if self.tokens.len() == MAX_FLATE_BLOCK_TOKENS {
                    self.write_block(self.index, bw);
                }
            } else {
                if self.byte_available {
                    // No better match here: the previous byte goes out as a literal.
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

    /// Levels 2-3.
    fn deflate_greedy(&mut self, sync: bool, bw: &mut BitWriter) {
        let skip = self.params.fast_skip_hashing;
        loop {
            let lookahead = self.window_end - self.index;
            if lookahead < LOOKAHEAD {
                if !sync {
                    return;
                }
                if lookahead == 0 {
                    if !self.tokens.is_empty() {
                        self.write_block(self.index, bw);
                    }
                    return;
                }
            }
            // Go keeps the previous chain head when it cannot hash here (the last 3 bytes of the
            // input), but it never searches there either, so "none" is equivalent.
            let head = if self.index < self.max_insert_index {
                self.insert(self.index)
            } else {
                -1
            };
            self.length = MIN_MATCH_LENGTH - 1;
            self.offset = 0;
            let min_index = self.index.saturating_sub(WINDOW_SIZE) as i64;

            if head >= min_index && lookahead > MIN_MATCH_LENGTH - 1 {
                let floor = MIN_MATCH_LENGTH - 1;
                if let Some((length, offset)) = self.find_match(self.index, head, lookahead, floor) {
                    self.length = length;
                    self.offset = offset;
                }
            }

            if self.length >= MIN_MATCH_LENGTH {
                self.tokens
                    .push(match_token((self.length - 3) as u32, (self.offset - 1) as u32));
                if self.length <= skip {
                    let new_index = self.index + self.length;
                    for i in self.index + 1..new_index.min(self.max_insert_index) {
                        self.insert(i);
                    }
                    self.index = new_index;
                } else {
                    // Long matches are not hashed inside, for speed.
                    self.index += self.length;
                }
                if self.tokens.len() == MAX_FLATE_BLOCK_TOKENS {
                    self.write_block(self.index, bw);
                }
            } else {
                self.tokens.push(literal_token(self.window[self.index]));
                if self.tokens.len() == MAX_FLATE_BLOCK_TOKENS {
                    self.write_block(self.index + 1, bw);
                }
                self.index += 1;
            }
        }
    }

    /// Go's `findMatch`: walks the hash chain from `prev_head` looking for a match at `pos`
    /// longer than 3 bytes, examining at most `chain` candidates and stopping early at `nice`.
    /// Returns the longest (earliest found on ties) match as (length, distance).
    ///
    /// Only matches longer than `floor` (at least 3, less than `nice` and `lookahead`) are
    /// reported. Go's walk always starts from 3, but the candidates it visits do not depend on
    /// the lengths found, so if any candidate is longer than `floor`, the first longest one (or
    /// the first reaching `nice`, where the walk stops) is the same either way; and the 4096-byte
    /// rule only concerns 4-byte matches, which no floor above 3 admits.
    ///
    /// The walk visits Go's candidates in Go's order, two per step: one load of a candidate's
    /// links yields the next two candidates, so the chain's dependent loads (which, at about a
    /// cache miss each, set the speed on binaries) are halved while both candidates' bytes are
    /// compared in parallel.
    #[inline(always)]
    fn find_match(&self, pos: usize, prev_head: i64, lookahead: usize, floor: usize) -> Option<(usize, usize)> {
        let mut m = Search::new(&self.window, pos, lookahead, self.params.nice, floor);
        let hash_prev: &[Links; WINDOW_SIZE] = &self.hash_prev;
        let min_index = pos as i64 - WINDOW_SIZE as i64;
        // Positions below 0 are no longer in the window.
        let lowest = min_index.max(0);
        let mut tries = self.params.chain;
        let mut i = prev_head;
        loop {
            if m.examine(i as usize) || tries == 1 || i == min_index {
                // The slot of `min_index` has already been reused by `pos` itself.
                break;
            }
            let [one, two] = hash_prev[i as usize & WINDOW_MASK];
            let next = i - one as i64;
            if next < lowest || m.examine(next as usize) || tries == 2 || next == min_index {
                break;
            }
            i -= two as i64;
            if i < lowest {
                break;
            }
            tries -= 2;
        }
        m.best
    }
}

/// The state of one `find_match` search.
struct Search<'a> {
    win: &'a Window,
    pos: usize,
    min_match_look: usize,
    nice: usize,
    length: usize,
    /// The 4 bytes ending just past the current best length: a candidate can only be longer
    /// if it matches there, which rejects most candidates with one compare. (Go checks only
    /// the last byte; a stricter necessary condition changes nothing but speed.)
    w_end: u32,
    best: Option<(usize, usize)>,
}

impl<'a> Search<'a> {
    #[inline(always)]
    fn new(win: &'a Window, pos: usize, lookahead: usize, nice: usize, length: usize) -> Search<'a> {
        let min_match_look = lookahead.min(MAX_MATCH_LENGTH);
        Search {
            win,
            pos,
            min_match_look,
            nice: nice.min(min_match_look),
            length,
            w_end: load32(win, pos + length - 3),
            best: None,
        }
    }

    /// Compares candidate `i` and keeps it if it is longer than the best so far; true once the
    /// match is long enough to stop searching.
    #[inline(always)]
    fn examine(&mut self, i: usize) -> bool {
        if load32(self.win, i + self.length - 3) != self.w_end {
            return false;
        }
        let n = match_len(self.win, i, self.pos, self.min_match_look);
        if n > self.length && (n > MIN_MATCH_LENGTH || self.pos - i <= 4096) {
            self.length = n;
            self.best = Some((n, self.pos - i));
            if n >= self.nice {
                return true;
            }
            self.w_end = load32(self.win, self.pos + n - 3);
        }
        false
    }
}
