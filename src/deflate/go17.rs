//! Go 1.7+'s hash chains for levels 2-9 (`hash4`, `hashHead`/`hashPrev` and `findMatch` in
//! deflate.go): positions are hashed over 4 bytes, so matches are at least 4 bytes long, and a
//! 4-byte match farther than 4096 bytes back is ignored. The driver in `lazy` decides what to do
//! with the matches found here.

use super::lazy::{Candidates, Chain, Params, Window, INDEX_MASK, MAX_MATCH_LENGTH, WINDOW_MASK, WINDOW_SIZE};

const MIN_MATCH_LENGTH: usize = 4;
const HASH_BITS: u32 = 17;
const HASH_SIZE: usize = 1 << HASH_BITS;
const HASH_MUL: u32 = 0x1e35a7bd;

pub(crate) struct Chain17 {
    /// `hash_head[h]`: 1 + the window index of the most recent position whose 4 bytes hash to
    /// `h`; 0 when there is none in the window.
    hash_head: Box<[u16; HASH_SIZE]>,
    /// `hash_prev[p & WINDOW_MASK]`: how far back from `p` the previous position with the same
    /// hash is, and the one before it (both capped at `u16::MAX`, which is out of reach anyway).
    /// Knowing two links per load halves the chain walk's dependent loads (see `find_match`).
    hash_prev: Box<[Links; WINDOW_SIZE]>,
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

impl Chain17 {
    pub fn new() -> Chain17 {
        Chain17 {
            // Each vector has exactly the length of the array it becomes, so the conversions
            // cannot fail.
            hash_head: vec![0u16; HASH_SIZE].into_boxed_slice().try_into().unwrap(),
            hash_prev: vec![[0u16; 2]; WINDOW_SIZE].into_boxed_slice().try_into().unwrap(),
            slid: false,
        }
    }
}

impl Chain for Chain17 {
    const MIN_MATCH_LENGTH: usize = MIN_MATCH_LENGTH;

    /// Clears the heads without clearing all 256 KiB of `hash_head` (the timestamp search
    /// compresses millions of 3 KiB tars). While the window never slid, every head that was set
    /// belongs to the hash of some position below `window_end`, so zeroing exactly those heads
    /// restores the fresh table; after a slide the table is cleared whole. `hash_prev` keeps its
    /// old links: a slot is only ever read for a position inserted since the reset (whose
    /// insertion wrote it), or, by an insertion with no predecessor, for a value the walk never
    /// uses (see `insert`).
    fn reset(&mut self, window: &Window, window_end: usize) {
        if self.slid {
            self.hash_head.fill(0);
        } else {
            for i in 0..window_end {
                self.hash_head[hash4(window, i)] = 0;
            }
        }
        self.slid = false;
    }

    /// Heads that slid out of the window become "none". Go keeps them, as negative positions,
    /// but never uses a negative position, so nothing changes.
    fn slide(&mut self) {
        self.slid = true;
        for v in self.hash_head.iter_mut() {
            *v = v.saturating_sub(WINDOW_SIZE as u16);
        }
    }

    /// Inserts position `i` into its hash chain and returns the previous head's window index
    /// (-1 for none).
    ///
    /// Go stores absolute positions as u32 and rebases them every 16 MiB; storing window indexes
    /// and distances as u16 instead halves the head table and fits two links per chain slot in
    /// the room of Go's one (so chain walks hit the cache more often), while every chain still
    /// leads through the same positions.
    #[inline(always)]
    fn insert(&mut self, window: &Window, i: usize) -> i64 {
        let h = hash4(window, i);
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
    fn find_match(&self, window: &Window, params: &Params, at: Candidates) -> Option<(usize, usize)> {
        let Candidates {
            pos,
            head: prev_head,
            lookahead,
            floor,
        } = at;
        let mut m = Search::new(window, pos, lookahead, params.nice, floor);
        let hash_prev: &[Links; WINDOW_SIZE] = &self.hash_prev;
        let min_index = pos as i64 - WINDOW_SIZE as i64;
        // Positions below 0 are no longer in the window.
        let lowest = min_index.max(0);
        let mut tries = params.chain;
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
