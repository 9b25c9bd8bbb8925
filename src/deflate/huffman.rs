//! Huffman code construction exactly as Go's `compress/flate` (huffman_code.go) builds it.
//!
//! Any optimal length-limited code would decode the same data, but the bytes of a block depend on
//! *which* optimal code is chosen, so this module reproduces Go's decisions step by step: the
//! frequency sort order (by frequency, then by symbol), Go's level-by-level construction of the
//! bit-length counts, and the assignment of code values in symbol order within each length.

/// One symbol's code: `code` holds the bits already reversed for LSB-first emission, `len` the
/// number of bits. A symbol that never occurs has `len == 0` and must never be written.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub(crate) struct HCode {
    pub code: u16,
    pub len: u16,
}

/// The largest alphabet: 256 literals, the end-of-block marker and 29 length codes.
pub(crate) const MAX_NUM_LIT: usize = 286;

/// Go refuses bit-length limits at or above this, and sizes its per-level tables by it.
const MAX_BITS_LIMIT: usize = 16;

#[derive(Clone, Copy)]
struct Node {
    literal: u16,
    freq: i32,
}

/// Go's `levelInfo`: the state of the tree under construction at one depth.
#[derive(Clone, Copy, Default)]
struct LevelInfo {
    last_freq: i32,
    next_char_freq: i32,
    next_pair_freq: i32,
    needed: i32,
}

/// A reusable code builder for one alphabet. The scratch list is kept between calls so building
/// a code per block allocates nothing.
pub(crate) struct HuffmanEncoder {
    pub codes: Vec<HCode>,
    list: Vec<Node>,
}

impl HuffmanEncoder {
    pub fn new(size: usize) -> HuffmanEncoder {
        HuffmanEncoder {
            codes: vec![HCode::default(); size],
            list: Vec::with_capacity(MAX_NUM_LIT + 1),
        }
    }

    /// An encoder whose codes are given rather than built (the fixed RFC 1951 codes).
    fn with_codes(codes: Vec<HCode>) -> HuffmanEncoder {
        HuffmanEncoder {
            codes,
            list: Vec::new(),
        }
    }

    /// The fixed literal/length code of RFC 1951 section 3.2.6.
    pub fn fixed_literal() -> HuffmanEncoder {
        let codes = (0..MAX_NUM_LIT as u16)
            .map(|ch| {
                let (bits, size) = match ch {
                    0..=143 => (ch + 48, 8),
                    144..=255 => (ch + 400 - 144, 9),
                    256..=279 => (ch - 256, 7),
                    _ => (ch + 192 - 280, 8),
                };
                HCode {
                    code: reverse_bits(bits, size),
                    len: size,
                }
            })
            .collect();
        HuffmanEncoder::with_codes(codes)
    }

    /// The fixed distance code: 5 bits per symbol.
    pub fn fixed_offset() -> HuffmanEncoder {
        let codes = (0..30u16)
            .map(|ch| HCode {
                code: reverse_bits(ch, 5),
                len: 5,
            })
            .collect();
        HuffmanEncoder::with_codes(codes)
    }

    /// The number of bits `freq` costs under this code.
    pub fn bit_length(&self, freq: &[i32]) -> usize {
        freq.iter()
            .zip(&self.codes)
            .map(|(&f, c)| f as usize * c.len as usize)
            .sum()
    }

    /// Rebuilds the code as the one Go builds for these symbol frequencies, with no code longer
    /// than `max_bits`.
    pub fn generate(&mut self, freq: &[i32], max_bits: usize) {
        self.list.clear();
        for (i, &f) in freq.iter().enumerate() {
            if f != 0 {
                self.list.push(Node {
                    literal: i as u16,
                    freq: f,
                });
            } else {
                self.codes[i] = HCode::default();
            }
        }
        if self.list.len() <= 2 {
            // With two or fewer symbols every used symbol gets one bit, numbered in symbol order.
            for (i, node) in self.list.iter().enumerate() {
                self.codes[node.literal as usize] = HCode { code: i as u16, len: 1 };
            }
            return;
        }
        // (freq, literal) is a total order (symbols are unique), so an unstable sort yields the
        // same sequence Go's sort.Sort does.
        self.list
            .sort_unstable_by_key(|n| ((n.freq as u64) << 16) | n.literal as u64);
        let (bit_count, max_bits) = bit_counts(&self.list, max_bits);
        self.assign_encoding_and_size(&bit_count[..=max_bits]);
    }

    /// Gives the `bit_count[n]` most frequent remaining symbols `n` bits each, from the shortest
    /// length up; within one length, codes increase with the symbol value (RFC 1951 3.2.2).
    fn assign_encoding_and_size(&mut self, bit_count: &[i32]) {
        let mut code: u16 = 0;
        let mut end = self.list.len();
        for (n, &bits) in bit_count.iter().enumerate() {
            code <<= 1;
            if n == 0 || bits == 0 {
                continue;
            }
            let start = end - bits as usize;
            let chunk = &mut self.list[start..end];
            chunk.sort_unstable_by_key(|node| node.literal);
            for node in chunk.iter() {
                self.codes[node.literal as usize] = HCode {
                    code: reverse_bits(code, n as u16),
                    len: n as u16,
                };
                code += 1;
            }
            end = start;
        }
    }
}

/// Go's `bitCounts`: for a list of at least three symbols sorted by increasing frequency, how
/// many symbols get each code length (index = length). Returns the counts and the effective
/// maximum length, which is capped at `list.len() - 1`.
///
/// This is a boundary package-merge that builds the tree level by level; the exact sequence of
/// "take a leaf or take a pair" decisions (leaf only when strictly cheaper) determines which of
/// several optimal length distributions comes out, so it is kept as Go has it.
fn bit_counts(list: &[Node], max_bits: usize) -> ([i32; MAX_BITS_LIMIT + 1], usize) {
    assert!(max_bits < MAX_BITS_LIMIT, "flate: max_bits too large");
    let n = list.len() as i32;
    // Frequencies past the end of the list read as "infinite", like Go's sentinel node.
    let freq_at = |i: i32| -> i32 {
        if (i as usize) < list.len() {
            list[i as usize].freq
        } else {
            i32::MAX
        }
    };
    let max_bits = max_bits.min(list.len() - 1);

    // Level 0 is a dummy whose `needed` stays 0, so level 1's pair frequency is never chosen.
    let mut levels = [LevelInfo::default(); MAX_BITS_LIMIT];
    // leaf_counts[i][j]: the number of leaves left of the level-j ancestor of the rightmost node
    // at level i.
    let mut leaf_counts = [[0i32; MAX_BITS_LIMIT]; MAX_BITS_LIMIT];

    for level in 1..=max_bits {
        levels[level] = LevelInfo {
            last_freq: list[1].freq,
            next_char_freq: list[2].freq,
            next_pair_freq: if level == 1 {
                i32::MAX
            } else {
                list[0].freq + list[1].freq
            },
            needed: 0,
        };
        leaf_counts[level][level] = 2;
    }
    // The top level needs 2n - 2 items in total and has two already.
    levels[max_bits].needed = 2 * n - 4;

    let mut level = max_bits;
    loop {
        let l = &mut levels[level];
        if l.next_pair_freq == i32::MAX && l.next_char_freq == i32::MAX {
            // Out of both leaves and pairs: this level is finished for good.
            l.needed = 0;
            levels[level + 1].next_pair_freq = i32::MAX;
            level += 1;
            continue;
        }

        let prev_freq = l.last_freq;
        if l.next_char_freq < l.next_pair_freq {
            // The next node on this level is a leaf.
            let count = leaf_counts[level][level] + 1;
            l.last_freq = l.next_char_freq;
            leaf_counts[level][level] = count;
            l.next_char_freq = freq_at(count);
        } else {
            // The next node is a pair from the level below, which must produce two more.
            l.last_freq = l.next_pair_freq;
            let (below, here) = leaf_counts.split_at_mut(level);
            here[0][..level].copy_from_slice(&below[level - 1][..level]);
            levels[level - 1].needed = 2;
        }

        let l = &mut levels[level];
        l.needed -= 1;
        if l.needed == 0 {
            // This level is done; hand the sum of its last two nodes up as the next pair.
            if level == max_bits {
                break;
            }
            let pair = prev_freq + l.last_freq;
            levels[level + 1].next_pair_freq = pair;
            level += 1;
        } else {
            // A pair was taken from below: go down and replenish it first.
            while levels[level - 1].needed > 0 {
                level -= 1;
            }
        }
    }

    assert_eq!(leaf_counts[max_bits][max_bits], n, "huffman: not every leaf was placed");

    let mut bit_count = [0i32; MAX_BITS_LIMIT + 1];
    let counts = &leaf_counts[max_bits];
    for (bits, level) in (1..=max_bits).rev().enumerate() {
        bit_count[bits + 1] = counts[level] - counts[level - 1];
    }
    (bit_count, max_bits)
}

/// Reverses the low `len` bits of `code`: Huffman codes are defined MSB-first but DEFLATE's bit
/// stream is filled LSB-first.
pub(crate) fn reverse_bits(code: u16, len: u16) -> u16 {
    code.reverse_bits() >> (16 - len)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kraft's equality holds for a complete code: sum of 2^-len over used symbols is 1.
    fn kraft_sum(codes: &[HCode]) -> f64 {
        codes
            .iter()
            .filter(|c| c.len > 0)
            .map(|c| 0.5f64.powi(c.len as i32))
            .sum()
    }

    #[test]
    fn codes_are_complete_and_prefix_free() {
        let mut enc = HuffmanEncoder::new(MAX_NUM_LIT);
        let freq: Vec<i32> = (0..MAX_NUM_LIT as i32).map(|i| (i * 7919) % 101 + (i % 3)).collect();
        enc.generate(&freq, 15);
        assert!((kraft_sum(&enc.codes) - 1.0).abs() < 1e-12);
        let used: Vec<(u32, u16)> = enc
            .codes
            .iter()
            .filter(|c| c.len > 0)
            .map(|c| (reverse_bits(c.code, c.len) as u32, c.len))
            .collect();
        for (i, a) in used.iter().enumerate() {
            for b in &used[i + 1..] {
                let (short, long) = if a.1 <= b.1 { (a, b) } else { (b, a) };
                assert_ne!(long.0 >> (long.1 - short.1), short.0, "prefix collision");
            }
        }
    }

    #[test]
    fn length_limit_is_respected() {
        // Fibonacci frequencies force a deep tree; the limit must clamp it.
        let mut freq = vec![0i32; 30];
        let (mut a, mut b) = (1i32, 1i32);
        for f in freq.iter_mut() {
            *f = a;
            let c = a.saturating_add(b);
            a = b;
            b = c.min(1 << 28);
        }
        let mut enc = HuffmanEncoder::new(30);
        enc.generate(&freq, 7);
        assert!(enc.codes.iter().all(|c| c.len <= 7 && c.len > 0));
        assert!((kraft_sum(&enc.codes) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn two_symbols_get_one_bit_in_symbol_order() {
        let mut freq = vec![0i32; 19];
        freq[4] = 100;
        freq[9] = 1;
        let mut enc = HuffmanEncoder::new(19);
        enc.generate(&freq, 7);
        assert_eq!(enc.codes[4], HCode { code: 0, len: 1 });
        assert_eq!(enc.codes[9], HCode { code: 1, len: 1 });
        assert_eq!(enc.codes[0].len, 0);
    }
}
