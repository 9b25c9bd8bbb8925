//! The block writer: Go's `huffmanBitWriter` (huffman_bit_writer.go). It decides per block between
//! stored, fixed-Huffman and dynamic-Huffman encodings with Go's exact size arithmetic, builds the
//! code-length ("codegen") header the way Go does, and packs bits LSB-first.
//!
//! How bits are buffered does not show in the output: any LSB-first packing of the same bit
//! sequence yields the same bytes, so the sink below flushes 32 bits at a time into a `Vec`
//! instead of copying Go's 6-byte/240-byte buffering.

use super::huffman::{HCode, HuffmanEncoder, MAX_NUM_LIT};
use super::token::*;

/// The largest payload of one stored block.
pub(crate) const MAX_STORE_BLOCK_SIZE: usize = 65535;

const CODEGEN_CODE_COUNT: usize = 19;
/// Marks the end of the codegen sequence.
const BAD_CODE: u8 = 255;

/// The order in which code-length code lengths are sent (RFC 1951 3.2.7).
const CODEGEN_ORDER: [usize; CODEGEN_CODE_COUNT] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/// LSB-first bit packer appending to a byte vector.
pub(crate) struct BitSink {
    pub out: Vec<u8>,
    bits: u64,
    nbits: u32,
}

impl BitSink {
    /// Appends the low `n` bits of `v` (`n <= 32`; `v` has no bits above `n`).
    #[inline(always)]
    fn put(&mut self, v: u64, n: u32) {
        self.bits |= v << self.nbits;
        self.nbits += n;
        if self.nbits >= 32 {
            self.out.extend_from_slice(&(self.bits as u32).to_le_bytes());
            self.bits >>= 32;
            self.nbits -= 32;
        }
    }

    #[inline(always)]
    fn put_code(&mut self, c: HCode) {
        self.put(c.code as u64, c.len as u32);
    }

    /// Go's `flush`: pads the pending bits to a whole byte and emits them.
    fn flush(&mut self) {
        while self.nbits > 0 {
            self.out.push(self.bits as u8);
            self.bits >>= 8;
            self.nbits = self.nbits.saturating_sub(8);
        }
        self.bits = 0;
    }

    /// Runs `fill` with a [`Packer`] that may write up to `max_bytes` bytes, then takes back the
    /// pending bits.
    #[inline(always)]
    fn pack(&mut self, max_bytes: usize, fill: impl FnOnce(&mut Packer)) {
        let start = self.out.len();
        // Room for the bytes, for the up to 4 pending ones, and for the last 8-byte store.
        self.out.resize(start + max_bytes + 16, 0);
        let mut p = Packer {
            buf: &mut self.out[start..],
            pos: 0,
            bits: self.bits,
            nbits: self.nbits,
        };
        p.flush();
        fill(&mut p);
        let (end, bits, nbits) = (start + p.pos, p.bits, p.nbits);
        self.out.truncate(end);
        self.bits = bits;
        self.nbits = nbits;
    }

    /// Go's `writeBytes`: raw bytes after a byte-aligned header.
    fn write_bytes(&mut self, bytes: &[u8]) {
        debug_assert_eq!(self.nbits % 8, 0, "write_bytes with unfinished bits");
        self.flush();
        self.out.extend_from_slice(bytes);
    }
}

/// The inner loop's bit packer: bits gather in a `u64` and go out as one 8-byte store per
/// token, keeping fewer than 8 bits pending, into room reserved beforehand (see
/// `BitSink::pack`). The stored bytes past `pos` are overwritten by the next store.
pub(crate) struct Packer<'a> {
    buf: &'a mut [u8],
    pos: usize,
    bits: u64,
    nbits: u32,
}

impl Packer<'_> {
    /// Appends the low `n` bits of `v`; at most 56 bits may be put between flushes.
    #[inline(always)]
    fn put(&mut self, v: u64, n: u32) {
        self.bits |= v << self.nbits;
        self.nbits += n;
    }

    #[inline(always)]
    fn put_code(&mut self, c: HCode) {
        self.put(c.code as u64, c.len as u32);
    }

    /// Stores the whole bytes gathered so far.
    #[inline(always)]
    fn flush(&mut self) {
        self.buf[self.pos..self.pos + 8].copy_from_slice(&self.bits.to_le_bytes());
        let bytes = self.nbits / 8;
        self.pos += bytes as usize;
        // At most 63 bits are ever pending, so `bytes < 8`; the guard keeps a shift by 64 (which
        // would wrap in release builds) impossible even so.
        self.bits = if bytes == 8 { 0 } else { self.bits >> (bytes * 8) };
        self.nbits -= bytes * 8;
    }
}

/// Block encoder state, reused for every block so no block allocates.
pub(crate) struct BitWriter {
    pub sink: BitSink,
    literal_freq: [i32; MAX_NUM_LIT],
    offset_freq: [i32; OFFSET_CODE_COUNT],
    codegen_freq: [i32; CODEGEN_CODE_COUNT],
    /// Run-length coded code lengths, terminated by `BAD_CODE`.
    codegen: [u8; MAX_NUM_LIT + OFFSET_CODE_COUNT + 1],
    literal_enc: HuffmanEncoder,
    offset_enc: HuffmanEncoder,
    codegen_enc: HuffmanEncoder,
    fixed_literal: HuffmanEncoder,
    fixed_offset: HuffmanEncoder,
    /// The distance code of Huffman-only blocks: one 1-bit symbol that is never used.
    huff_offset: HuffmanEncoder,
}

/// Which literal/length and distance codes a block is written with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Codes {
    Fixed,
    Dynamic,
}

impl BitWriter {
    pub fn new(out: Vec<u8>) -> BitWriter {
        let mut huff_offset = HuffmanEncoder::new(OFFSET_CODE_COUNT);
        let mut freq = [0i32; OFFSET_CODE_COUNT];
        freq[0] = 1;
        huff_offset.generate(&freq, 15);
        BitWriter {
            sink: BitSink { out, bits: 0, nbits: 0 },
            literal_freq: [0; MAX_NUM_LIT],
            offset_freq: [0; OFFSET_CODE_COUNT],
            codegen_freq: [0; CODEGEN_CODE_COUNT],
            codegen: [0; MAX_NUM_LIT + OFFSET_CODE_COUNT + 1],
            literal_enc: HuffmanEncoder::new(MAX_NUM_LIT),
            offset_enc: HuffmanEncoder::new(OFFSET_CODE_COUNT),
            codegen_enc: HuffmanEncoder::new(CODEGEN_CODE_COUNT),
            fixed_literal: HuffmanEncoder::fixed_literal(),
            fixed_offset: HuffmanEncoder::fixed_offset(),
            huff_offset,
        }
    }

    /// Pads to a byte boundary and emits everything pending.
    pub fn flush(&mut self) {
        self.sink.flush();
    }

    /// A stored block header: 3 bits, pad to a byte, then LEN and NLEN.
    pub fn write_stored_header(&mut self, length: usize, eof: bool) {
        self.sink.put(eof as u64, 3);
        self.sink.flush();
        self.sink.put(length as u64, 16);
        self.sink.put((!(length as u16)) as u64, 16);
    }

    /// A whole stored block.
    pub fn write_stored_block(&mut self, data: &[u8], eof: bool) {
        self.write_stored_header(data.len(), eof);
        self.sink.write_bytes(data);
    }

    /// Go's `writeBlock` (levels 2-9): the smallest of fixed, dynamic and (when the block's input
    /// is still in the window and fits) stored.
    pub fn write_block(&mut self, tokens: &[Token], eof: bool, input: Option<&[u8]>) {
        let (num_literals, num_offsets) = self.index_tokens(tokens);

        let stored = stored_size(input);
        let mut extra_bits = 0usize;
        if stored.is_some() {
            // Extra bits cost the same under fixed and dynamic codes, so Go counts them only
            // when the comparison is against a stored block.
            for code in LENGTH_CODES_START + 8..num_literals {
                extra_bits += self.literal_freq[code] as usize * LENGTH_EXTRA_BITS[code - LENGTH_CODES_START] as usize;
            }
            for (&freq, &extra) in self.offset_freq[..num_offsets].iter().zip(&OFFSET_EXTRA_BITS).skip(4) {
                extra_bits += freq as usize * extra as usize;
            }
        }

        let mut size = self.fixed_size(extra_bits);
        let mut codes = Codes::Fixed;

        self.generate_codegen(num_literals, num_offsets, false);
        self.codegen_enc.generate(&self.codegen_freq, 7);
        let (dynamic_size, num_codegens) = self.dynamic_size(false, extra_bits);
        if dynamic_size < size {
            size = dynamic_size;
            codes = Codes::Dynamic;
        }

        if let (Some(stored_size), Some(input)) = (stored, input) {
            if stored_size < size {
                self.write_stored_block(input, eof);
                return;
            }
        }

        match codes {
            Codes::Fixed => {
                self.sink.put(if eof { 3 } else { 2 }, 3);
                write_tokens(
                    &mut self.sink,
                    tokens,
                    &self.fixed_literal.codes,
                    &self.fixed_offset.codes,
                );
            }
            Codes::Dynamic => {
                self.write_dynamic_header(num_literals, num_offsets, num_codegens, eof);
                write_tokens(&mut self.sink, tokens, &self.literal_enc.codes, &self.offset_enc.codes);
            }
        }
    }

    /// Go's `writeBlockDynamic` (level 1): always a dynamic code, unless storing the input is
    /// smaller than the coded size plus 1/16.
    pub fn write_block_dynamic(&mut self, tokens: &[Token], eof: bool, input: Option<&[u8]>) {
        let (num_literals, num_offsets) = self.index_tokens(tokens);
        self.generate_codegen(num_literals, num_offsets, false);
        self.codegen_enc.generate(&self.codegen_freq, 7);
        let (size, num_codegens) = self.dynamic_size(false, 0);

        if let (Some(stored_size), Some(input)) = (stored_size(input), input) {
            if stored_size < size + (size >> 4) {
                self.write_stored_block(input, eof);
                return;
            }
        }
        self.write_dynamic_header(num_literals, num_offsets, num_codegens, eof);
        write_tokens(&mut self.sink, tokens, &self.literal_enc.codes, &self.offset_enc.codes);
    }

    /// Go's `writeBlockHuff` (Huffman-only, and level 1 for incompressible blocks): every byte a
    /// literal under a dynamic code, or stored when that gains less than 1/16.
    pub fn write_block_huff(&mut self, eof: bool, input: &[u8]) {
        self.literal_freq = [0; MAX_NUM_LIT];
        histogram(input, &mut self.literal_freq);
        self.literal_freq[END_BLOCK_MARKER] = 1;
        const NUM_LITERALS: usize = END_BLOCK_MARKER + 1;
        // Go sets only this entry; the others keep stale counts, which cost nothing because the
        // Huffman-only distance code gives them length 0.
        self.offset_freq[0] = 1;
        const NUM_OFFSETS: usize = 1;

        self.literal_enc.generate(&self.literal_freq, 15);
        self.generate_codegen(NUM_LITERALS, NUM_OFFSETS, true);
        self.codegen_enc.generate(&self.codegen_freq, 7);
        let (size, num_codegens) = self.dynamic_size(true, 0);

        if let Some(stored_size) = stored_size(Some(input)) {
            if stored_size < size + (size >> 4) {
                self.write_stored_block(input, eof);
                return;
            }
        }

        self.write_dynamic_header(NUM_LITERALS, NUM_OFFSETS, num_codegens, eof);
        // A slice of exactly 256 codes converts to an array of 256.
        let codes: &[HCode; 256] = self.literal_enc.codes[..256].try_into().expect("literal alphabet");
        let eob = self.literal_enc.codes[END_BLOCK_MARKER];
        // Codes are at most 15 bits: three fit between flushes.
        self.sink.pack(input.len() * 2 + 2, |p| {
            let mut chunks = input.chunks_exact(3);
            for c in &mut chunks {
                p.put_code(codes[c[0] as usize]);
                p.put_code(codes[c[1] as usize]);
                p.put_code(codes[c[2] as usize]);
                p.flush();
            }
            for &b in chunks.remainder() {
                p.put_code(codes[b as usize]);
                p.flush();
            }
            p.put_code(eob);
            p.flush();
        });
    }

    /// Counts symbol frequencies of `tokens` plus one end-of-block marker, builds both dynamic
    /// codes and returns how many literal/length and distance symbols the header must describe.
    fn index_tokens(&mut self, tokens: &[Token]) -> (usize, usize) {
        self.literal_freq = [0; MAX_NUM_LIT];
        self.offset_freq = [0; OFFSET_CODE_COUNT];
        let lit = &mut self.literal_freq;
        let off = &mut self.offset_freq;
        for &t in tokens {
            if t < MATCH_TYPE {
                lit[(t & 0xff) as usize] += 1;
                continue;
            }
            lit[LENGTH_CODES_START + LENGTH_CODES[(token_length(t) & 0xff) as usize] as usize] += 1;
            off[offset_code(token_offset(t))] += 1;
        }
        lit[END_BLOCK_MARKER] += 1;

        let mut num_literals = MAX_NUM_LIT;
        while self.literal_freq[num_literals - 1] == 0 {
            num_literals -= 1;
        }
        let mut num_offsets = OFFSET_CODE_COUNT;
        while num_offsets > 0 && self.offset_freq[num_offsets - 1] == 0 {
            num_offsets -= 1;
        }
        if num_offsets == 0 {
            // No match at all: a dynamic header still has to describe one distance code.
            self.offset_freq[0] = 1;
            num_offsets = 1;
        }
        self.literal_enc.generate(&self.literal_freq, 15);
        self.offset_enc.generate(&self.offset_freq, 15);
        (num_literals, num_offsets)
    }

    /// Go's `generateCodegen`: the run-length coding (RFC 1951 3.2.7) of the concatenated code
    /// lengths into `self.codegen`, with symbol counts in `self.codegen_freq`. Runs of a nonzero
    /// length emit the length once and then 16s; runs of zeros use 18 (11-138) and 17 (3-10).
    fn generate_codegen(&mut self, num_literals: usize, num_offsets: usize, huff_only: bool) {
        self.codegen_freq = [0; CODEGEN_CODE_COUNT];
        let offset_codes = if huff_only {
            &self.huff_offset.codes
        } else {
            &self.offset_enc.codes
        };
        let codegen = &mut self.codegen;
        for (dst, c) in codegen[..num_literals].iter_mut().zip(&self.literal_enc.codes) {
            *dst = c.len as u8;
        }
        for (dst, c) in codegen[num_literals..num_literals + num_offsets]
            .iter_mut()
            .zip(offset_codes)
        {
            *dst = c.len as u8;
        }
        codegen[num_literals + num_offsets] = BAD_CODE;

        // The output never overtakes the input, so the same array holds both.
        let freq = &mut self.codegen_freq;
        let mut size = codegen[0];
        let mut count: i32 = 1;
        let mut out = 0usize;
        let mut in_index = 1usize;
        while size != BAD_CODE {
            let next_size = codegen[in_index];
            in_index += 1;
            if next_size == size {
                count += 1;
                continue;
            }
            // Emit `count` copies of `size`.
            if size != 0 {
                codegen[out] = size;
                out += 1;
                freq[size as usize] += 1;
                count -= 1;
                while count >= 3 {
                    let n = count.min(6);
                    codegen[out] = 16;
                    codegen[out + 1] = (n - 3) as u8;
                    out += 2;
                    freq[16] += 1;
                    count -= n;
                }
            } else {
                while count >= 11 {
                    let n = count.min(138);
                    codegen[out] = 18;
                    codegen[out + 1] = (n - 11) as u8;
                    out += 2;
                    freq[18] += 1;
                    count -= n;
                }
                if count >= 3 {
                    codegen[out] = 17;
                    codegen[out + 1] = (count - 3) as u8;
                    out += 2;
                    freq[17] += 1;
                    count = 0;
                }
            }
            while count > 0 {
                codegen[out] = size;
                out += 1;
                freq[size as usize] += 1;
                count -= 1;
            }
            size = next_size;
            count = 1;
        }
        codegen[out] = BAD_CODE;
    }

    /// Go's `dynamicSize`: bits of a dynamic block (header, data and `extra_bits`), and how many
    /// code-length code lengths the header sends (trailing zeros in send order are dropped, but
    /// at least 4 are sent).
    fn dynamic_size(&self, huff_only: bool, extra_bits: usize) -> (usize, usize) {
        let mut num_codegens = CODEGEN_CODE_COUNT;
        while num_codegens > 4 && self.codegen_freq[CODEGEN_ORDER[num_codegens - 1]] == 0 {
            num_codegens -= 1;
        }
        let header = 3
            + 5
            + 5
            + 4
            + 3 * num_codegens
            + self.codegen_enc.bit_length(&self.codegen_freq)
            + self.codegen_freq[16] as usize * 2
            + self.codegen_freq[17] as usize * 3
            + self.codegen_freq[18] as usize * 7;
        let offset_enc = if huff_only { &self.huff_offset } else { &self.offset_enc };
        let size = header
            + self.literal_enc.bit_length(&self.literal_freq)
            + offset_enc.bit_length(&self.offset_freq)
            + extra_bits;
        (size, num_codegens)
    }

    /// Go's `fixedSize`: bits of a fixed-code block.
    fn fixed_size(&self, extra_bits: usize) -> usize {
        3 + self.fixed_literal.bit_length(&self.literal_freq)
            + self.fixed_offset.bit_length(&self.offset_freq)
            + extra_bits
    }

    /// The dynamic block header: BFINAL/BTYPE, HLIT, HDIST, HCLEN, the code-length code and the
    /// run-length coded code lengths.
    fn write_dynamic_header(&mut self, num_literals: usize, num_offsets: usize, num_codegens: usize, eof: bool) {
        let sink = &mut self.sink;
        sink.put(if eof { 5 } else { 4 }, 3);
        sink.put((num_literals - 257) as u64, 5);
        sink.put((num_offsets - 1) as u64, 5);
        sink.put((num_codegens - 4) as u64, 4);
        for &sym in &CODEGEN_ORDER[..num_codegens] {
            sink.put(self.codegen_enc.codes[sym].len as u64, 3);
        }
        let mut i = 0;
        loop {
            let code_word = self.codegen[i];
            i += 1;
            if code_word == BAD_CODE {
                break;
            }
            sink.put_code(self.codegen_enc.codes[code_word as usize]);
            let extra = match code_word {
                16 => 2,
                17 => 3,
                18 => 7,
                _ => continue,
            };
            sink.put(self.codegen[i] as u64, extra);
            i += 1;
        }
    }
}

/// Go's `storedSize`: bits of a stored block, when the input is known and fits one block.
fn stored_size(input: Option<&[u8]>) -> Option<usize> {
    match input {
        Some(b) if b.len() <= MAX_STORE_BLOCK_SIZE => Some((b.len() + 5) * 8),
        _ => None,
    }
}

fn histogram(input: &[u8], freq: &mut [i32; MAX_NUM_LIT]) {
    // Four interleaved tables break the store-to-load dependency on runs of equal bytes.
    let mut h = [[0i32; 256]; 4];
    let mut chunks = input.chunks_exact(4);
    for c in &mut chunks {
        h[0][c[0] as usize] += 1;
        h[1][c[1] as usize] += 1;
        h[2][c[2] as usize] += 1;
        h[3][c[3] as usize] += 1;
    }
    for &b in chunks.remainder() {
        h[0][b as usize] += 1;
    }
    for i in 0..256 {
        freq[i] += h[0][i] + h[1][i] + h[2][i] + h[3][i];
    }
}

/// Emits `tokens` and the end-of-block marker with the given codes. Each length symbol is sent
/// together with its extra bits, and each distance symbol with its own.
fn write_tokens(sink: &mut BitSink, tokens: &[Token], lit: &[HCode], off: &[HCode]) {
    // The encoders are built with exactly these alphabet sizes, so the conversions cannot fail.
    let lit: &[HCode; MAX_NUM_LIT] = lit.try_into().expect("literal alphabet");
    let off: &[HCode; OFFSET_CODE_COUNT] = off.try_into().expect("distance alphabet");

    // Per block, each of the 256 match lengths becomes one (bits, count) pair: symbol code with
    // the extra bits above it.
    let mut len_table = [(0u32, 0u32); 256];
    for (xl, entry) in len_table.iter_mut().enumerate() {
        let code = LENGTH_CODES[xl] as usize;
        let c = lit[LENGTH_CODES_START + code];
        let extra = xl as u32 - LENGTH_BASE[code];
        *entry = (
            c.code as u32 | extra << c.len,
            c.len as u32 + LENGTH_EXTRA_BITS[code] as u32,
        );
    }

    // A match is at most 15 + 5 + 15 + 13 = 48 bits, which fit between flushes.
    sink.pack(tokens.len() * 6 + 2, |p| {
        for &t in tokens {
            if t < MATCH_TYPE {
                p.put_code(lit[(t & 0xff) as usize]);
            } else {
                let (v, n) = len_table[(token_length(t) & 0xff) as usize];
                p.put(v as u64, n);
                let xoffset = token_offset(t);
                let code = offset_code(xoffset);
                let c = off[code];
                let extra = (xoffset - OFFSET_BASE[code]) as u64;
                p.put(
                    c.code as u64 | extra << c.len,
                    c.len as u32 + OFFSET_EXTRA_BITS[code] as u32,
                );
            }
            p.flush();
        }
        p.put_code(lit[END_BLOCK_MARKER]);
        p.flush();
    });
}
