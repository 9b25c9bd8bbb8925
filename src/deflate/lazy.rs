//! Levels 2-9: Go's hash-chain compressor (`compressor.deflate` in deflate.go), shared by the
//! Go generations, which differ only in how they hash positions and walk chains (`Chain`:
//! `go17` for Go 1.7+, `go15` for Go 1.5 and 1.6).
//!
//! Levels 2 and 3 are greedy (take a match as soon as one is found and skip hashing inside long
//! matches); levels 4-9 are lazy (a match is only taken if the match starting one byte later is
//! not longer). Every decision below, including Go's quirks, changes which tokens come out and so
//! the compressed bytes:
//! - the chain walk always gets the full `chain` budget (Go passes the minimum length, not the
//!   previous match length, so its "good enough, search less" shortcut never fires);
//! - a block is cut after 16384 tokens, and is stored raw only while its bytes are still in the
//!   window.

use super::bitwriter::BitWriter;
use super::token::{literal_token, match_token, Token};

const LOG_WINDOW_SIZE: usize = 15;
pub(super) const WINDOW_SIZE: usize = 1 << LOG_WINDOW_SIZE;
pub(super) const WINDOW_MASK: usize = WINDOW_SIZE - 1;

pub(super) const MAX_MATCH_LENGTH: usize = 258;
const MAX_FLATE_BLOCK_TOKENS: usize = 1 << 14;

/// The window holds two window sizes of input; the matcher needs `MIN_MATCH_LENGTH +
/// MAX_MATCH_LENGTH` bytes of lookahead before it will look at a position (unless flushing).
const WINDOW_CAP: usize = 2 * WINDOW_SIZE;
/// Zero bytes past the window's end so 8-byte loads near the end stay in bounds; what they read
/// there is always masked off.
const WINDOW_PAD: usize = 8;
/// Every index the matcher forms is below `WINDOW_CAP + WINDOW_PAD`, so masking it with this
/// changes nothing; the window is allocated one mask (plus one 8-byte load) long, which lets the
/// compiler prove every load in the chain walk in bounds and drop the checks. The pages past
/// `WINDOW_CAP + WINDOW_PAD` are never touched.
pub(super) const INDEX_MASK: usize = (1 << 17) - 1;
const WINDOW_ALLOC: usize = INDEX_MASK + 1 + 8;
const _: () = assert!(WINDOW_CAP + WINDOW_PAD <= INDEX_MASK + 1);
pub(super) type Window = [u8; WINDOW_ALLOC];

/// Go's "never skip hashing" marker (levels 4-9).
const SKIP_NEVER: usize = i32::MAX as usize;

/// Go's `compressionLevel` parameters.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Params {
    /// Stop looking for a lazy improvement once the current match is at least this long.
    pub lazy: usize,
    /// Stop walking a chain once a match is at least this long.
    pub nice: usize,
    /// Maximum chain positions examined per search.
    pub chain: usize,
    /// Greedy levels: matches longer than this are not hashed inside. `SKIP_NEVER` means lazy.
    pub fast_skip_hashing: usize,
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

/// What one Go generation's matcher does its own way: hash positions into chains and walk them.
pub(super) trait Chain {
    /// The shortest match the hash can find (the bytes it hashes).
    const MIN_MATCH_LENGTH: usize;
    /// Inserts window index `i` and returns the previous head of its chain as a window index;
    /// negative when there is none in the window.
    fn insert(&mut self, window: &Window, i: usize) -> i64;
    /// The longest match (length, distance) for a position among the chain's candidates.
    fn find_match(&self, window: &Window, params: &Params, at: Candidates) -> Option<(usize, usize)>;
    /// The window slid down by `WINDOW_SIZE`.
    fn slide(&mut self);
    /// A new stream begins; `window[..window_end]` is what the last one hashed.
    fn reset(&mut self, window: &Window, window_end: usize);
}

/// Where a match is searched for.
#[derive(Clone, Copy)]
pub(super) struct Candidates {
    /// The window index to match.
    pub pos: usize,
    /// The most recent earlier position on its chain (negative: none).
    pub head: i64,
    /// Bytes of input from `pos` on.
    pub lookahead: usize,
    /// Only matches longer than this count (see `go17`'s `find_match`).
    pub floor: usize,
}

pub(crate) struct Lazy<C> {
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
    chain: C,
    tokens: Vec<Token>,
    /// Current (lazy: pending) match.
    length: usize,
    offset: usize,
    max_insert_index: usize,
}

impl<C: Chain> Lazy<C> {
    /// Levels 2-9 (`level` must be one; the callers map -1 to 6 and refuse the rest).
    pub fn new(level: i32, chain: C) -> Lazy<C> {
        Lazy {
            params: Params::for_level(level),
            // The vector has exactly the length of the array it becomes, so this cannot fail.
            window: vec![0u8; WINDOW_ALLOC].into_boxed_slice().try_into().unwrap(),
            window_end: 0,
            index: 0,
            block_start: Some(0),
            byte_available: false,
            chain,
            tokens: Vec::with_capacity(MAX_FLATE_BLOCK_TOKENS + 1),
            length: C::MIN_MATCH_LENGTH - 1,
            offset: 0,
            max_insert_index: 0,
        }
    }

    /// The lookahead the matcher wants before it looks at a position.
    const LOOKAHEAD: usize = C::MIN_MATCH_LENGTH + MAX_MATCH_LENGTH;

    /// Readies the engine for a new, independent stream with the state a fresh engine has,
    /// keeping its tables (the chain decides how little of them it must clear).
    pub(crate) fn reset(&mut self) {
        self.chain.reset(&self.window, self.window_end);
        let used = (self.window_end + WINDOW_PAD).min(self.window.len());
        self.window[..used].fill(0);
        self.window_end = 0;
        self.index = 0;
        self.block_start = Some(0);
        self.byte_available = false;
        self.tokens.clear();
        self.length = C::MIN_MATCH_LENGTH - 1;
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
        if self.index >= 2 * WINDOW_SIZE - Self::LOOKAHEAD {
            self.window.copy_within(WINDOW_SIZE..2 * WINDOW_SIZE, 0);
            self.chain.slide();
            self.index -= WINDOW_SIZE;
            self.window_end -= WINDOW_SIZE;
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

    #[inline(always)]
    fn find_match(&self, head: i64, lookahead: usize, floor: usize) -> Option<(usize, usize)> {
        let at = Candidates {
            pos: self.index,
            head,
            lookahead,
            floor,
        };
        self.chain.find_match(&self.window, &self.params, at)
    }

    /// Go's `deflate` step: tokenizes while there is enough lookahead (or everything, when
    /// `sync`), cutting blocks every 16384 tokens.
    fn deflate(&mut self, sync: bool, bw: &mut BitWriter) {
        if self.window_end - self.index < Self::LOOKAHEAD && !sync {
            return;
        }
        self.max_insert_index = self.window_end.saturating_sub(C::MIN_MATCH_LENGTH - 1);
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
            if lookahead < Self::LOOKAHEAD {
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
            // Go keeps the previous chain head when it cannot hash here (the last bytes of the
            // input), but it never searches there either, so "none" is equivalent.
            let head = if self.index < self.max_insert_index {
                self.chain.insert(&self.window, self.index)
            } else {
                -1
            };
            let prev_length = self.length;
            let prev_offset = self.offset;
            self.length = C::MIN_MATCH_LENGTH - 1;
            self.offset = 0;
            let min_index = self.index.saturating_sub(WINDOW_SIZE) as i64;

            if head >= min_index && lookahead > prev_length && prev_length < lazy {
                // Go searches from length 3 here, but a match no longer than the pending one is
                // dropped below, so only longer ones are looked for (`find_match` explains why
                // that finds the same one).
                let floor = prev_length.max(C::MIN_MATCH_LENGTH - 1);
                if let Some((length, offset)) = self.find_match(head, lookahead, floor) {
                    self.length = length;
                    self.offset = offset;
                }
            }

            if prev_length >= C::MIN_MATCH_LENGTH && self.length <= prev_length {
                // The match at the previous position is at least as good: emit it, and hash the
                // positions it covers (the current one is already in).
                self.tokens
                    .push(match_token((prev_length - 3) as u32, (prev_offset - 1) as u32));
                let new_index = self.index + prev_length - 1;
                for i in self.index + 1..new_index.min(self.max_insert_index) {
                    self.chain.insert(&self.window, i);
                }
                self.index = new_index;
                self.byte_available = false;
                self.length = C::MIN_MATCH_LENGTH - 1;
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
            if lookahead < Self::LOOKAHEAD {
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
            // Go keeps the previous chain head when it cannot hash here (the last bytes of the
            // input), but it never searches there either, so "none" is equivalent.
            let head = if self.index < self.max_insert_index {
                self.chain.insert(&self.window, self.index)
            } else {
                -1
            };
            self.length = C::MIN_MATCH_LENGTH - 1;
            self.offset = 0;
            let min_index = self.index.saturating_sub(WINDOW_SIZE) as i64;

            if head >= min_index && lookahead > C::MIN_MATCH_LENGTH - 1 {
                let floor = C::MIN_MATCH_LENGTH - 1;
                if let Some((length, offset)) = self.find_match(head, lookahead, floor) {
                    self.length = length;
                    self.offset = offset;
                }
            }

            if self.length >= C::MIN_MATCH_LENGTH {
                self.tokens
                    .push(match_token((self.length - 3) as u32, (self.offset - 1) as u32));
                if self.length <= skip {
                    let new_index = self.index + self.length;
                    for i in self.index + 1..new_index.min(self.max_insert_index) {
                        self.chain.insert(&self.window, i);
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
}
