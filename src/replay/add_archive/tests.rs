use std::io::Write;

use super::*;
use crate::layer::Entry;

const LONG: usize = 120;

/// A tar whose first entry has a 120-character name, as Go's writer makes it: a PAX `path` record.
fn pax_tar() -> Vec<u8> {
    let entries = [
        Entry::file("x".repeat(LONG), 0o644, b"long\n".to_vec()).with_mtime(1_500_000_000),
        Entry::dir("pkg", 0o755).with_mtime(1_500_000_000),
    ];
    let mut out = Vec::new();
    write_tar(&entries, &Profile::from_name("docker-20.10").unwrap(), &mut out).unwrap();
    assert_eq!(out[156], b'x', "the first header is a PAX header");
    out
}

/// The same with a GNU `././@LongLink` header, as GNU tar's `--format=gnu` makes it.
fn gnu_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(5);
    h.set_mode(0o644);
    h.set_mtime(1_500_000_000);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, "y".repeat(LONG), &b"long\n"[..]).unwrap();
    let out = b.into_inner().unwrap();
    assert_eq!(out[156], b'L', "the first header is a GNU long-name header");
    out
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn xz(data: &[u8]) -> Vec<u8> {
    let mut e = xz2::write::XzEncoder::new(Vec::new(), 6);
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn bzip2(data: &[u8]) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Recomputes a header block's checksum (Go's: the unsigned sum, the field counted as spaces).
fn fix_sum(block: &mut [u8]) {
    block[148..156].copy_from_slice(b"        ");
    let sum: u32 = block[..512].iter().map(|&c| u32::from(c)).sum();
    block[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

/// A PAX record `LEN key=value\n`, its length counting its own digits.
fn record(kv: &[u8]) -> Vec<u8> {
    let mut n = kv.len() + 3;
    while format!("{n} ").len() + kv.len() + 1 != n {
        n = format!("{n} ").len() + kv.len() + 1;
    }
    [format!("{n} ").as_bytes(), kv, b"\n"].concat()
}

/// `pax_tar` with its first PAX record replaced by `record` (the header's size fixed to match).
fn pax_with_record(record: &[u8]) -> Vec<u8> {
    let mut t = pax_tar();
    let old = usize::from_str_radix(std::str::from_utf8(&t[124..135]).unwrap(), 8).unwrap();
    let mut data = record.to_vec();
    data.resize(old.div_ceil(512) * 512, 0);
    assert_eq!(data.len(), 512, "the test records fit one block");
    t[512..1024].copy_from_slice(&data);
    t[124..136].copy_from_slice(format!("{:011o}\0", record.len()).as_bytes());
    fix_sum(&mut t[..512]);
    t
}

#[test]
fn add_extracts_what_docker_20_10_would_and_copies_the_rest() {
    let pax = pax_tar();
    let gnu = gnu_tar();
    let mut bad_sum = pax.clone();
    bad_sum[0] ^= 1;
    let mut signed_sum = gnu.clone();
    // A byte above 0x7f after the name's NUL: Go accepts the signed sum too (old Sun tars).
    signed_sum[50] = 0xe9;
    // The signed sum, counted here on its own: every byte as `i8`, with the checksum field's
    // eight bytes taken as spaces.
    let mut blanked = signed_sum[..512].to_vec();
    blanked[148..156].fill(b' ');
    let signed: i64 = blanked.iter().map(|&c| i64::from(c as i8)).sum();
    signed_sum[148..156].copy_from_slice(format!("{signed:06o}\0 ").as_bytes());
    let mut not_deflate = gzip(&pax);
    not_deflate[2] = 7;
    let mut big_pax = pax.clone();
    big_pax[124..136].copy_from_slice(format!("{:011o}\0", (1 << 20) + 1).as_bytes());
    fix_sum(&mut big_pax[..512]);
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        ("tar with a PAX first header", pax.clone(), true),
        ("tar with a GNU long-name first header", gnu.clone(), true),
        ("gzip'd PAX tar", gzip(&pax), true),
        ("xz'd GNU tar", xz(&gnu), true),
        ("bzip2'd PAX tar", bzip2(&pax), true),
        ("xz'd PAX tar", xz(&pax), true),
        ("bzip2'd GNU tar", bzip2(&gnu), true),
        ("GNU header with a sum over signed bytes", signed_sum, true),
        ("a bad checksum", bad_sum, false),
        ("gzip magic without deflate (not gzip to Docker)", not_deflate, false),
        (
            "zstd (Docker 23's, not 20.10's)",
            [&[0x28u8, 0xb5, 0x2f, 0xfd][..], &pax].concat(),
            false,
        ),
        ("text", b"just text, not a tar\n".repeat(40), false),
        ("empty", Vec::new(), false),
        ("only the end-of-archive marker", vec![0; 1024], false),
        ("a PAX header over 1 MiB", big_pax, false),
        ("a PAX header cut short", pax[..700].to_vec(), false),
        ("a PAX record without `=`", pax_with_record(b"7 path\n"), false),
        ("a PAX length that overruns", pax_with_record(b"99 path=a\n"), false),
        (
            "a PAX mtime that is no time",
            pax_with_record(&record(b"mtime=1x3")),
            false,
        ),
        ("a PAX path with a NUL", pax_with_record(&record(b"path=a\0b")), false),
        (
            "a PAX uid that is no number",
            pax_with_record(&record(b"uid=12a")),
            false,
        ),
        (
            "a well-formed PAX record",
            pax_with_record(&record(b"mtime=1.500000")),
            true,
        ),
        (
            "a PAX record of another key with a NUL in its value",
            pax_with_record(&record(b"comment=a\0b")),
            true,
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (what, bytes, extracted) in cases {
        let path = dir.path().join("source");
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(is_tar_archive(&path).unwrap(), extracted, "{what}");
    }
}

#[test]
fn an_xz_archive_is_extracted_under_the_destination_with_long_names() {
    let dir = tempfile::tempdir().unwrap();
    let mut entries = vec![
        Entry::dir("pkg", 0o750).with_owner(1000, 1000),
        Entry::file(format!("pkg/{}", "z".repeat(LONG)), 0o644, b"long\n".to_vec()),
        Entry {
            kind: EntryKind::Hardlink(format!("pkg/{}", "z".repeat(LONG)).into_bytes()),
            ..Entry::file("pkg/again", 0o644, Vec::new())
        },
        // A child whose parent the archive does not list: the engine makes the parent.
        Entry::file("implied/file", 0o600, b"x".to_vec()),
    ];
    for e in &mut entries {
        e.mtime = 1_500_000_000;
    }
    let mut tar = Vec::new();
    write_tar(&entries, &Profile::from_name("docker-20.10").unwrap(), &mut tar).unwrap();
    let source = dir.path().join("pkg.tar.xz");
    std::fs::write(&source, xz(&tar)).unwrap();
    assert!(is_tar_archive(&source).unwrap());
    let out = extracted_archive_tar(&source, "opt/app").unwrap();
    let mut ar = tar::Archive::new(out.as_slice());
    let got: Vec<(String, u8, u64, u64)> = ar
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            let link = h.link_name().unwrap().map_or(0, |l| l.as_os_str().len() as u64);
            (
                e.path().unwrap().to_string_lossy().into_owned(),
                h.entry_type().as_byte(),
                h.uid().unwrap(),
                link,
            )
        })
        .collect();
    let long = format!("opt/app/pkg/{}", "z".repeat(LONG));
    assert_eq!(
        got,
        [
            ("opt/app/implied/file".to_string(), b'0', 0, 0),
            ("opt/app/pkg/".to_string(), b'5', 1000, 0),
            // The walk meets `again` first, so it holds the content and the long name links to it.
            ("opt/app/pkg/again".to_string(), b'0', 0, 0),
            (long, b'1', 0, "opt/app/pkg/again".len() as u64),
        ]
    );
}
