//! The timestamp search reuses one compressor per thread for millions of candidates; a single
//! stale byte of state would silently make every digest wrong. So: a reused compressor must give
//! exactly the bytes of a fresh one, whatever it compressed before, at every level, across window
//! slides and across the point where its hash offset wraps and the tables are really cleared.

use retrace::gzip::{gzip, ReusableGzip};

use crate::common;
use common::mixture::Rng;

/// Inputs that exercise matches (tar-like headers, runs of zeros, repeats) and literals.
fn input(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        match rng.next_u64() % 4 {
            0 => out.extend(std::iter::repeat_n(0u8, (rng.next_u64() % 1500) as usize)),
            1 => out.extend_from_slice(b"usr/local/bin\x000000755\x000000000\x0013242162603\x00ustar\x0000"),
            2 => {
                let back = out.len().min(1 + (rng.next_u64() % 4000) as usize);
                let start = out.len() - back;
                let take = back.min((rng.next_u64() % 300) as usize);
                let piece = out[start..start + take].to_vec();
                out.extend_from_slice(&piece);
            }
            _ => {
                for _ in 0..(rng.next_u64() % 64) {
                    out.push(rng.next_u64() as u8);
                }
            }
        }
    }
    out.truncate(len);
    out
}

#[test]
fn reused_gzip_equals_fresh_gzip_at_every_level() {
    let mut rng = Rng(0x9e3779b97f4a7c15);
    for level in [-2, 0, 1, 2, 4, 6, 9] {
        let mut reused = ReusableGzip::new(level).unwrap();
        let mut out = Vec::new();
        let sizes = [0usize, 1, 3, 2560, 3072, 70_000, 2560, 200_000, 5, 2560];
        for &len in &sizes {
            let data = input(&mut rng, len);
            reused.gzip_into(&data, &mut out);
            assert_eq!(out, gzip(&data, level).unwrap(), "level {level}, {len} bytes");
        }
    }
}

#[test]
fn reused_gzip_survives_the_hash_offset_wrap() {
    // Each reset moves the offset by 96 KiB: 400 small streams cross 2^24 at least twice.
    let mut rng = Rng(12345);
    let mut reused = ReusableGzip::new(6).unwrap();
    let mut out = Vec::new();
    for i in 0..400 {
        let data = input(&mut rng, 2048 + (i % 7) * 300);
        reused.gzip_into(&data, &mut out);
        assert_eq!(out, gzip(&data, 6).unwrap(), "stream {i}");
    }
}
