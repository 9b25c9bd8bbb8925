//! The LZ77 token stream between the matchers and the block writer, packed like Go's `token`
//! into a `u32`: a literal is its byte value (or 256 for end of block); a match is
//! `MATCH_TYPE | (length - 3) << 22 | (distance - 1)`. Keeping Go's packing keeps the block-size
//! arithmetic obviously the same as Go's.

pub(crate) type Token = u32;

pub(crate) const MATCH_TYPE: u32 = 1 << 30;
const LENGTH_SHIFT: u32 = 22;
const OFFSET_MASK: u32 = (1 << LENGTH_SHIFT) - 1;

/// The first length symbol of the literal/length alphabet.
pub(crate) const LENGTH_CODES_START: usize = 257;
/// The end-of-block symbol.
pub(crate) const END_BLOCK_MARKER: usize = 256;
/// Number of distance symbols.
pub(crate) const OFFSET_CODE_COUNT: usize = 30;

#[inline(always)]
pub(crate) fn literal_token(b: u8) -> Token {
    b as u32
}

/// A match of `xlength = length - 3` and `xoffset = distance - 1`.
#[inline(always)]
pub(crate) fn match_token(xlength: u32, xoffset: u32) -> Token {
    MATCH_TYPE | (xlength << LENGTH_SHIFT) | xoffset
}

#[inline(always)]
pub(crate) fn token_length(t: Token) -> u32 {
    (t - MATCH_TYPE) >> LENGTH_SHIFT
}

#[inline(always)]
pub(crate) fn token_offset(t: Token) -> u32 {
    t & OFFSET_MASK
}

/// Extra bits after each length symbol (indexed by symbol - 257).
pub(crate) const LENGTH_EXTRA_BITS: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];

/// Smallest `length - 3` each length symbol stands for.
pub(crate) const LENGTH_BASE: [u32; 29] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 255,
];

/// Extra bits after each distance symbol.
pub(crate) const OFFSET_EXTRA_BITS: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
];

/// Smallest `distance - 1` each distance symbol stands for.
pub(crate) const OFFSET_BASE: [u32; 30] = [
    0x0000, 0x0001, 0x0002, 0x0003, 0x0004, 0x0006, 0x0008, 0x000c, 0x0010, 0x0018, 0x0020, 0x0030, 0x0040, 0x0060,
    0x0080, 0x00c0, 0x0100, 0x0180, 0x0200, 0x0300, 0x0400, 0x0600, 0x0800, 0x0c00, 0x1000, 0x1800, 0x2000, 0x3000,
    0x4000, 0x6000,
];

/// `length - 3` (0..=255) to length symbol - 257. Length 258 has its own symbol (28) although
/// symbol 27 with all extra bits set would also reach it; DEFLATE requires 28.
pub(crate) static LENGTH_CODES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut code = 0;
    while code < 29 {
        let mut x = LENGTH_BASE[code];
        let end = LENGTH_BASE[code] + (1 << LENGTH_EXTRA_BITS[code]);
        while x < end && x < 256 {
            table[x as usize] = code as u8;
            x += 1;
        }
        code += 1;
    }
    table
};

/// Distance symbol for `distance - 1` (0..32768): symbols come in pairs per power of two, the
/// bit below the top bit picks the member of the pair.
#[inline(always)]
pub(crate) fn offset_code(xoffset: u32) -> usize {
    if xoffset < 4 {
        xoffset as usize
    } else {
        let top = 31 - xoffset.leading_zeros();
        (2 * top + ((xoffset >> (top - 1)) & 1)) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_codes_match_the_base_table() {
        for x in 0..32768u32 {
            let c = offset_code(x);
            assert!(OFFSET_BASE[c] <= x, "{x}");
            assert!(x - OFFSET_BASE[c] < 1 << OFFSET_EXTRA_BITS[c], "{x}");
        }
    }

    #[test]
    fn length_codes_match_the_base_table() {
        for x in 0..256u32 {
            let c = LENGTH_CODES[x as usize] as usize;
            assert!(LENGTH_BASE[c] <= x);
            assert!(x - LENGTH_BASE[c] < 1 << LENGTH_EXTRA_BITS[c]);
        }
        assert_eq!(LENGTH_CODES[255], 28);
        assert_eq!(LENGTH_CODES[254], 27);
    }

    #[test]
    fn tokens_round_trip() {
        let t = match_token(255, 32767);
        assert!(t >= MATCH_TYPE);
        assert_eq!(token_length(t), 255);
        assert_eq!(token_offset(t), 32767);
        assert!(literal_token(255) < MATCH_TYPE);
    }
}
