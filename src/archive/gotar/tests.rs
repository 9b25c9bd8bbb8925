//! The reader's own bounds and its sticky errors; its agreement with Go is proven by the
//! differential test (`tests/it/tar_reader_go.rs`).

use std::io::Read;

use super::{GoTarError, GoTime, Reader};

fn block(name: &[u8], typeflag: u8, size: u64) -> Vec<u8> {
    let mut b = vec![0u8; 512];
    b[..name.len()].copy_from_slice(name);
    b[100..108].copy_from_slice(b"0000644\0");
    b[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    b[156] = typeflag;
    b[257..265].copy_from_slice(b"ustar\x0000");
    b[148..156].fill(b' ');
    let sum: u32 = b.iter().map(|&c| u32::from(c)).sum();
    b[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    b
}

fn padded(mut data: Vec<u8>) -> Vec<u8> {
    data.resize(data.len().div_ceil(512) * 512, 0);
    data
}

#[test]
fn a_sparse_map_line_past_its_bound_is_refused_not_buffered() {
    let record = b"29 GNU.sparse.realsize=10000\n";
    let major = b"22 GNU.sparse.major=1\n22 GNU.sparse.minor=0\n";
    let pax = [&major[..], &record[..]].concat();
    let mut tar = block(b"p", b'x', pax.len() as u64);
    tar.extend(padded(pax));
    let map = vec![b'1'; 8192];
    tar.extend(block(b"s", b'0', map.len() as u64));
    tar.extend(padded(map));
    let err = Reader::new(tar.as_slice()).next().unwrap_err();
    assert!(matches!(err, GoTarError::Limit(_)), "{err:?}");
}

#[test]
fn an_error_while_reading_content_stops_the_reader() {
    let mut tar = block(b"f", b'0', 1000);
    tar.extend(vec![b'x'; 100]);
    let mut reader = Reader::new(tar.as_slice());
    assert!(reader.next().unwrap().is_some());
    let err = reader.read_to_end(&mut Vec::new()).unwrap_err();
    assert_eq!(GoTarError::from(err).go_class(), "eof");
    assert_eq!(reader.next().unwrap_err().go_class(), "eof");
}

#[test]
fn negative_nanoseconds_borrow_a_second_as_go_time_does() {
    assert_eq!(
        GoTime::new(-1, -250_000_000),
        GoTime {
            secs: -2,
            nanos: 750_000_000
        }
    );
    assert_eq!(GoTime::new(5, 0), GoTime::unix(5));
}

#[test]
fn octal_and_base_256_fields_parse_as_go_parses_them() {
    let cases: [(&[u8], Option<i64>); 9] = [
        (b"0000644\0", Some(0o644)),
        (b"  644 \0\0", Some(0o644)),
        (b"\0\0\0\0\0\0\0\0", Some(0)),
        (b"644\0junk", Some(0o644)),
        (b"+644\0\0\0\0", None),
        (b"6 44\0\0\0\0", None),
        (b"0000698\0", None),
        (&[0x80, 0, 0, 0, 0, 0, 1, 0], Some(256)),
        (&[0xff; 8], Some(-1)),
    ];
    for (field, want) in cases {
        let mut p = super::block::Parser::default();
        let got = p.numeric(field);
        assert_eq!(p.failed.is_none().then_some(got), want, "{field:?}");
    }
}

/// Every crafted archive of the differential test, cut short and with bytes changed at seeded
/// places, read through the Go-compatible reader and the checked reader on top: entries or an
/// error, never a panic (the fuzzing a hostile archive gets in CI).
#[test]
fn damaged_archives_give_entries_or_errors_never_panics() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/tar-reading");
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let limits = crate::archive::Limits {
        max_total_bytes: 8 << 20,
        ..crate::archive::Limits::default()
    };
    for file in std::fs::read_dir(dir).unwrap() {
        let path = file.unwrap().path();
        if path.extension().is_none_or(|e| e != "tar") {
            continue;
        }
        let original = std::fs::read(&path).unwrap();
        for _ in 0..40 {
            let mut bytes = original.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() % bytes.len() as u64) as usize;
                bytes[at] = next() as u8;
            }
            bytes.truncate(1 + (next() % bytes.len() as u64) as usize);
            let mut reader = Reader::new(bytes.as_slice());
            while let Ok(Some(_)) = reader.next() {
                let _ = std::io::copy(&mut (&mut reader).take(1 << 20), &mut std::io::sink());
            }
            let _ = crate::archive::read_archive(bytes.as_slice(), None, &limits, |_, content| {
                std::io::copy(content, &mut std::io::sink())?;
                Ok(())
            });
        }
    }
}
