//! Property tests over generated inputs that look like real data (runs, back-references at all
//! distances, text, noise), not just uniform noise, which would only ever exercise stored and
//! Huffman-only blocks.

use crate::common;

use std::cell::RefCell;
use std::io::{Read, Write};

use common::mixture;
use common::oracle::{GoOracle, Kind};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use retrace::deflate::DeflateWriter;
use retrace::gzip::{gzip, GzipWriter};

#[derive(Debug, Clone)]
enum Piece {
    /// A byte repeated.
    Run(u8, usize),
    /// A copy of earlier output: (distance back, length). Distances reach past the 32 KiB
    /// window on purpose.
    Repeat(usize, usize),
    Text(u64, usize),
    Noise(u64, usize),
}

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        (any::<u8>(), 1usize..600).prop_map(|(b, n)| Piece::Run(b, n)),
        (1usize..40_000, 3usize..700).prop_map(|(d, n)| Piece::Repeat(d, n)),
        (any::<u64>(), 1usize..3000).prop_map(|(s, n)| Piece::Text(s, n)),
        (any::<u64>(), 1usize..400).prop_map(|(s, n)| Piece::Noise(s, n)),
    ]
}

fn build(pieces: &[Piece]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in pieces {
        match *p {
            Piece::Run(b, n) => out.extend(std::iter::repeat_n(b, n)),
            Piece::Repeat(d, n) => {
                if out.is_empty() {
                    continue;
                }
                let d = d.min(out.len());
                let start = out.len() - d;
                for i in 0..n {
                    out.push(out[start + i % d]);
                }
            }
            Piece::Text(s, n) => out.extend(mixture::text(n, s)),
            Piece::Noise(s, n) => out.extend(mixture::random(n, s)),
        }
    }
    out
}

/// Inputs from empty to a few hundred KiB (enough for several windows and blocks).
fn input() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(piece(), 0..300).prop_map(|p| build(&p))
}

fn level() -> impl Strategy<Value = i32> {
    -2i32..=9
}

fn written_in(level: i32, data: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut w = GzipWriter::new(Vec::new(), level).unwrap();
    let mut rest = data;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].min(rest.len());
        w.write_all(&rest[..n]).unwrap();
        rest = &rest[n..];
        i += 1;
    }
    w.finish().unwrap()
}

proptest! {
    #![proptest_config(Config { cases: 64, ..Config::default() })]

    /// Every level decodes back to the input, as gzip and as raw DEFLATE.
    #[test]
    fn prop_round_trip(data in input(), level in level()) {
        let z = gzip(&data, level).unwrap();
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&z[..]).read_to_end(&mut back).unwrap();
        prop_assert!(back == data);

        let mut w = DeflateWriter::new(Vec::new(), level).unwrap();
        w.write_all(&data).unwrap();
        let raw = w.finish().unwrap();
        let mut back = Vec::new();
        flate2::read::DeflateDecoder::new(&raw[..]).read_to_end(&mut back).unwrap();
        prop_assert!(back == data);
    }

    /// Any split of the input into writes gives the same bytes as one write.
    #[test]
    fn prop_chunking_invariant(data in input(), level in level(), sizes in prop::collection::vec(1usize..100_000, 1..8)) {
        prop_assert!(written_in(level, &data, &sizes) == gzip(&data, level).unwrap());
    }
}

/// A batch of generated inputs compared with Go, through one oracle process.
#[test]
#[ignore = "needs Go; run by `cargo xtask test`"]
fn needs_go_prop_batch_matches_go() {
    let Some(go) = GoOracle::start("needs_go_prop_batch_matches_go") else {
        return;
    };
    let go = RefCell::new(go);
    let mut runner = TestRunner::new(Config {
        cases: 200,
        ..Config::default()
    });
    runner
        .run(&(input(), level()), |(data, level)| {
            let expected = go.borrow_mut().compress(Kind::Gzip, level, 0, &data).unwrap();
            prop_assert!(
                gzip(&data, level).unwrap() == expected,
                "differs from Go at level {}",
                level
            );
            Ok(())
        })
        .unwrap();
}
