//! Golden header bytes, written out field by field from the table in docs/layer-bytes.md (not
//! from the writer), so each test states what the doc says a header must contain.

use std::collections::BTreeMap;

use super::*;
use crate::layer::entry::{Entry, EntryKind};
use crate::layer::profile::Profile;

const T: i64 = 1_500_000_000; // 0o13132027400
const T_OCT: &[u8] = b"13132027400\0";

/// A header block built from (offset, bytes) pairs with the doc's checksum rule applied:
/// unsigned byte sum with the checksum field as 8 spaces, written `%06o\0 `.
fn block(fields: &[(usize, &[u8])]) -> Vec<u8> {
    let mut b = vec![0u8; 512];
    for (off, bytes) in fields {
        b[*off..*off + bytes.len()].copy_from_slice(bytes);
    }
    b[148..156].copy_from_slice(b"        ");
    let sum: u32 = b.iter().map(|&x| x as u32).sum();
    b[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    b
}

/// The fields every plain USTAR header of 17.06/18.06 shares, before the per-entry ones.
fn ustar(name: &str, mode: &[u8], size: &[u8], typeflag: u8, linkname: &str) -> Vec<(usize, Vec<u8>)> {
    vec![
        (0, name.as_bytes().to_vec()),
        (100, mode.to_vec()),
        (108, b"0000000\0".to_vec()),
        (116, b"0000000\0".to_vec()),
        (124, size.to_vec()),
        (136, T_OCT.to_vec()),
        (156, vec![typeflag]),
        (157, linkname.as_bytes().to_vec()),
        (257, b"ustar\x0000".to_vec()),
        (329, b"0000000\0".to_vec()),
        (337, b"0000000\0".to_vec()),
    ]
}

fn build(fields: &[(usize, Vec<u8>)]) -> Vec<u8> {
    let refs: Vec<(usize, &[u8])> = fields.iter().map(|(o, b)| (*o, b.as_slice())).collect();
    block(&refs)
}

fn set(fields: &mut Vec<(usize, Vec<u8>)>, off: usize, bytes: &[u8]) {
    fields.retain(|(o, _)| *o != off);
    fields.push((off, bytes.to_vec()));
}

fn tar_of(entries: &[Entry], profile: &Profile) -> Vec<u8> {
    let mut out = Vec::new();
    let n = write_tar(entries, profile, &mut out).unwrap();
    assert_eq!(n, out.len() as u64, "returned length");
    assert_eq!(out.len() % 512, 0);
    assert!(
        out[out.len() - 1024..].iter().all(|&b| b == 0),
        "ends with 1024 NUL bytes"
    );
    out
}

fn profiles() -> Vec<Profile> {
    vec![
        Profile::docker_17_06(),
        Profile::docker_18_06(),
        Profile::docker_20_10_with_names(BTreeMap::new(), BTreeMap::new()),
    ]
}

fn names(pairs: &[(u64, &str)]) -> BTreeMap<u64, String> {
    pairs.iter().map(|(i, n)| (*i, n.to_string())).collect()
}

fn assert_blocks_eq(actual: &[u8], expected: &[u8], what: &str) {
    if actual != expected {
        for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
            assert_eq!(
                a,
                e,
                "{what}: first difference at byte {i} (block {}, offset {})",
                i / 512,
                i % 512
            );
        }
        assert_eq!(actual.len(), expected.len(), "{what}: length");
    }
}

#[test]
fn empty_layer_is_just_the_end_marker() {
    for p in profiles() {
        assert_eq!(tar_of(&[], &p), vec![0u8; 1024]);
    }
}

#[test]
fn regular_file_header_and_padded_data() {
    let e = Entry::file("etc/hosts", 0o644, b"hello\n".to_vec()).with_mtime(T);
    let mut expected = build(&ustar("etc/hosts", b"0100644\0", b"00000000006\0", b'0', ""));
    expected.extend_from_slice(b"hello\n");
    expected.resize(1024, 0);
    expected.resize(2048, 0);
    for p in profiles() {
        assert_blocks_eq(&tar_of(std::slice::from_ref(&e), &p), &expected, p.name());
    }
}

#[test]
fn data_exactly_one_block_gets_no_padding() {
    let e = Entry::file("f", 0o600, vec![7u8; 512]).with_mtime(T);
    let out = tar_of(&[e], &Profile::docker_18_06());
    assert_eq!(out.len(), 512 + 512 + 1024);
    assert_eq!(&out[124..136], b"00000001000\0");
}

#[test]
fn directory_symlink_and_special_bits() {
    let entries = [
        Entry::dir("usr/local", 0o2775).with_owner(0, 50).with_mtime(T),
        Entry::symlink("usr/local/bin/idle", "idle3")
            .with_owner(0, 50)
            .with_mtime(T),
        Entry::file("usr/bin/su", 0o4755, Vec::new()).with_mtime(T),
        Entry::dir("tmp", 0o1777).with_mtime(T),
    ];
    let mut dir = ustar("usr/local/", b"0042775\0", b"00000000000\0", b'5', "");
    set(&mut dir, 116, b"0000062\0");
    let mut link = ustar("usr/local/bin/idle", b"0120777\0", b"00000000000\0", b'2', "idle3");
    set(&mut link, 116, b"0000062\0");
    let su = ustar("usr/bin/su", b"0104755\0", b"00000000000\0", b'0', "");
    let tmp = ustar("tmp/", b"0041777\0", b"00000000000\0", b'5', "");
    let expected: Vec<u8> = [build(&dir), build(&link), build(&su), build(&tmp)].concat();
    for p in profiles() {
        let out = tar_of(&entries, &p);
        assert_blocks_eq(&out[..out.len() - 1024], &expected, p.name());
    }
}

#[test]
fn hardlink_devices_and_fifo() {
    let mut hard = Entry::file("bin/b", 0o755, Vec::new()).with_mtime(T);
    hard.kind = EntryKind::Hardlink("bin/a".into());
    let mut chr = Entry::file("dev/null", 0o666, Vec::new()).with_mtime(T);
    chr.kind = EntryKind::CharDevice { major: 1, minor: 3 };
    let mut blk = Entry::file("dev/sda", 0o660, Vec::new()).with_mtime(T);
    blk.kind = EntryKind::BlockDevice { major: 8, minor: 0 };
    let mut fifo = Entry::file("run/fifo", 0o644, Vec::new()).with_mtime(T);
    fifo.kind = EntryKind::Fifo;

    let hard_h = ustar("bin/b", b"0100755\0", b"00000000000\0", b'1', "bin/a");
    let mut chr_h = ustar("dev/null", b"0020666\0", b"00000000000\0", b'3', "");
    set(&mut chr_h, 329, b"0000001\0");
    set(&mut chr_h, 337, b"0000003\0");
    let mut blk_h = ustar("dev/sda", b"0060660\0", b"00000000000\0", b'4', "");
    set(&mut blk_h, 329, b"0000010\0");
    let fifo_h = ustar("run/fifo", b"0010644\0", b"00000000000\0", b'6', "");
    let expected: Vec<u8> = [build(&hard_h), build(&chr_h), build(&blk_h), build(&fifo_h)].concat();
    for p in profiles() {
        let out = tar_of(&[hard.clone(), chr.clone(), blk.clone(), fifo.clone()], &p);
        assert_blocks_eq(&out[..out.len() - 1024], &expected, p.name());
    }
}

#[test]
fn overlay_whiteout_becomes_empty_wh_file() {
    let mut gone = Entry::file("etc/gone", 0o644, Vec::new())
        .with_owner(5, 6)
        .with_mtime(T);
    gone.kind = EntryKind::CharDevice { major: 0, minor: 0 };
    let mut top = gone.clone();
    top.path = "top".into();
    let mut h = ustar("etc/.wh.gone", b"0000600\0", b"00000000000\0", b'0', "");
    set(&mut h, 108, b"0000005\0");
    set(&mut h, 116, b"0000006\0");
    let mut h2 = h.clone();
    set(&mut h2, 0, b".wh.top");
    let expected = [build(&h), build(&h2)].concat();
    for p in profiles() {
        let out = tar_of(&[gone.clone(), top.clone()], &p);
        assert_blocks_eq(&out[..out.len() - 1024], &expected, p.name());
    }
}

#[test]
fn shared_whiteout_keeps_the_first_path_as_linkname() {
    // Seen with Debian's 20.10.24 on Linux 6.x: `rm /d/f /e/x` makes two whiteouts sharing one
    // inode; the second is written as a `.wh.` regular file whose linkname is `d/f`.
    let mut w = Entry::file("e/x", 0o644, Vec::new()).with_mtime(T);
    w.kind = EntryKind::SharedWhiteout("d/f".into());
    let h = ustar("e/.wh.x", b"0000600\0", b"00000000000\0", b'0', "d/f");
    for p in profiles() {
        let out = tar_of(std::slice::from_ref(&w), &p);
        assert_blocks_eq(&out[..out.len() - 1024], &build(&h), p.name());
    }
}

#[test]
fn opaque_directory_marker_follows_the_directory() {
    let mut d = Entry::dir("var/lib/d", 0o2755).with_owner(1000, 1000).with_mtime(T);
    d.opaque = true;
    let inside = Entry::file("var/lib/d/x", 0o644, Vec::new()).with_mtime(T);
    let mut dir_h = ustar("var/lib/d/", b"0042755\0", b"00000000000\0", b'5', "");
    set(&mut dir_h, 108, b"0001750\0");
    set(&mut dir_h, 116, b"0001750\0");
    let mut wo = ustar("var/lib/d/.wh..wh..opq", b"0000755\0", b"00000000000\0", b'0', "");
    set(&mut wo, 108, b"0001750\0");
    set(&mut wo, 116, b"0001750\0");
    set(&mut wo, 136, b"00000000000\0");
    let file_h = ustar("var/lib/d/x", b"0100644\0", b"00000000000\0", b'0', "");
    let expected = [build(&dir_h), build(&wo), build(&file_h)].concat();
    for p in profiles() {
        let out = tar_of(&[d.clone(), inside.clone()], &p);
        assert_blocks_eq(&out[..out.len() - 1024], &expected, p.name());
    }
}

#[test]
fn debian_20_10_names_come_from_the_profile_table() {
    let p = Profile::docker_20_10_with_names(names(&[(0, "root")]), names(&[(0, "root"), (50, "staff")]));
    let mut d = Entry::dir("usr/local", 0o2775).with_owner(0, 50).with_mtime(T);
    d.opaque = true;
    let f = Entry::file("x", 0o644, Vec::new()).with_owner(1234, 1234).with_mtime(T);
    let mut dir_h = ustar("usr/local/", b"0042775\0", b"00000000000\0", b'5', "");
    set(&mut dir_h, 116, b"0000062\0");
    set(&mut dir_h, 265, b"root");
    set(&mut dir_h, 297, b"staff");
    let mut wo = ustar("usr/local/.wh..wh..opq", b"0000775\0", b"00000000000\0", b'0', "");
    set(&mut wo, 116, b"0000062\0");
    set(&mut wo, 136, b"00000000000\0");
    set(&mut wo, 265, b"root");
    set(&mut wo, 297, b"staff");
    // Unknown ids have no name: the fields stay empty.
    let mut f_h = ustar("x", b"0100644\0", b"00000000000\0", b'0', "");
    set(&mut f_h, 108, b"0002322\0");
    set(&mut f_h, 116, b"0002322\0");
    let expected = [build(&dir_h), build(&wo), build(&f_h)].concat();
    let out = tar_of(&[d, f], &p);
    assert_blocks_eq(&out[..out.len() - 1024], &expected, "20.10");
}

const CAP: &[u8] = b"\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";

fn cap_record() -> Vec<u8> {
    // 32 bytes of key, "=", 20 bytes of value, "57 " and "\n": 57 bytes.
    let mut r = b"57 SCHILY.xattr.security.capability=".to_vec();
    r.extend_from_slice(CAP);
    r.push(b'\n');
    assert_eq!(r.len(), 57);
    r
}

fn padded(mut data: Vec<u8>) -> Vec<u8> {
    let n = data.len().div_ceil(512) * 512;
    data.resize(n, 0);
    data
}

#[test]
fn security_capability_pax_header_differs_between_17_06_and_18_06() {
    let mut e = Entry::file("usr/bin/ping", 0o755, Vec::new()).with_mtime(T);
    e.xattrs.insert("security.capability".into(), CAP.to_vec());
    // Other extended attributes are never written.
    e.xattrs.insert("user.comment".into(), b"x".to_vec());
    let main = build(&ustar("usr/bin/ping", b"0100755\0", b"00000000000\0", b'0', ""));

    // 17.06: the PAX header carries the entry's mtime and octal-zero device numbers.
    let pax17 = build(&[
        (0, b"usr/bin/PaxHeaders.0/ping".to_vec()),
        (100, b"0000000\0".to_vec()),
        (108, b"0000000\0".to_vec()),
        (116, b"0000000\0".to_vec()),
        (124, b"00000000071\0".to_vec()),
        (136, T_OCT.to_vec()),
        (156, b"x".to_vec()),
        (257, b"ustar\x0000".to_vec()),
        (329, b"0000000\0".to_vec()),
        (337, b"0000000\0".to_vec()),
    ]);
    let expected17 = [pax17, padded(cap_record()), main.clone()].concat();
    let out = tar_of(std::slice::from_ref(&e), &Profile::docker_17_06());
    assert_blocks_eq(&out[..out.len() - 1024], &expected17, "17.06");

    // 18.06 and 20.10: mtime 0 and all-NUL device numbers in the PAX header.
    let pax18 = build(&[
        (0, b"usr/bin/PaxHeaders.0/ping".to_vec()),
        (100, b"0000000\0".to_vec()),
        (108, b"0000000\0".to_vec()),
        (116, b"0000000\0".to_vec()),
        (124, b"00000000071\0".to_vec()),
        (136, b"00000000000\0".to_vec()),
        (156, b"x".to_vec()),
        (257, b"ustar\x0000".to_vec()),
    ]);
    let expected18 = [pax18, padded(cap_record()), main].concat();
    for p in &profiles()[1..] {
        let out = tar_of(std::slice::from_ref(&e), p);
        assert_blocks_eq(&out[..out.len() - 1024], &expected18, p.name());
    }
}

fn pax18_header(name: &[u8], size: usize) -> Vec<u8> {
    build(&[
        (0, name.to_vec()),
        (100, b"0000000\0".to_vec()),
        (108, b"0000000\0".to_vec()),
        (116, b"0000000\0".to_vec()),
        (124, format!("{size:011o}\0").into_bytes()),
        (136, b"00000000000\0".to_vec()),
        (156, b"x".to_vec()),
        (257, b"ustar\x0000".to_vec()),
    ])
}

fn pax17_header(name: &[u8], size: usize) -> Vec<u8> {
    build(&[
        (0, name.to_vec()),
        (100, b"0000000\0".to_vec()),
        (108, b"0000000\0".to_vec()),
        (116, b"0000000\0".to_vec()),
        (124, format!("{size:011o}\0").into_bytes()),
        (136, T_OCT.to_vec()),
        (156, b"x".to_vec()),
        (257, b"ustar\x0000".to_vec()),
        (329, b"0000000\0".to_vec()),
        (337, b"0000000\0".to_vec()),
    ])
}

fn record(key: &str, value: &str) -> Vec<u8> {
    let base = key.len() + value.len() + 3;
    let mut size = base + base.to_string().len();
    if base + size.to_string().len() != size {
        size = base + size.to_string().len();
    }
    format!("{size} {key}={value}\n").into_bytes()
}

#[test]
fn pax_record_length_counts_itself_across_digit_boundaries() {
    // base 7 -> "8 k=abcd\n"? no: 1 digit + 7 = 8, still one digit.
    assert_eq!(pax_record("k", b"abc"), b"8 k=abc\n");
    // base 98 -> 98 + 2 = 100 needs 3 digits -> 101.
    let v = "v".repeat(94);
    let r = pax_record("k", v.as_bytes());
    assert_eq!(r.len(), 101);
    assert!(r.starts_with(b"101 k="));
    assert_eq!(record("k", &v), r);
}

#[test]
fn long_name_17_06_goes_to_pax_with_empty_name_field() {
    let dir = "d".repeat(60);
    let base = "f".repeat(60);
    let name = format!("{dir}/{base}");
    let e = Entry::file(name.clone(), 0o644, Vec::new()).with_mtime(T);
    let rec = record("path", &name);
    let mut pax_name = format!("{dir}/PaxHeaders.0/{base}").into_bytes();
    pax_name.truncate(100);
    let main = build(&ustar("", b"0100644\0", b"00000000000\0", b'0', ""));
    let expected = [pax17_header(&pax_name, rec.len()), padded(rec), main].concat();
    let out = tar_of(&[e], &Profile::docker_17_06());
    assert_blocks_eq(&out[..out.len() - 1024], &expected, "17.06");
}

#[test]
fn long_name_18_06_uses_ustar_prefix_when_it_splits() {
    let dir = "d".repeat(60);
    let base = "f".repeat(60);
    let e = Entry::dir(format!("{dir}/{base}"), 0o755).with_mtime(T);
    let mut h = ustar(&format!("{base}/"), b"0040755\0", b"00000000000\0", b'5', "");
    set(&mut h, 345, dir.as_bytes());
    let out = tar_of(&[e], &Profile::docker_18_06());
    assert_blocks_eq(&out[..out.len() - 1024], &build(&h), "18.06");
}

#[test]
fn long_name_1_12_to_17_05_uses_the_ustar_prefix_like_go_1_7() {
    // Go <= 1.7 split a name that was the only field needing PAX (golang.org/issue/17630 turned
    // that off in Go 1.8, see the 17.06 test above).
    let dir = "d".repeat(60);
    let base = "f".repeat(60);
    let e = Entry::file(format!("{dir}/{base}"), 0o644, Vec::new()).with_mtime(T);
    let mut h = ustar(&base, b"0100644\0", b"00000000000\0", b'0', "");
    set(&mut h, 345, dir.as_bytes());
    for version in ["1.12.6", "1.13.1", "17.03.1-ce"] {
        let out = tar_of(std::slice::from_ref(&e), &Profile::for_docker_version(version).unwrap());
        assert_blocks_eq(&out[..out.len() - 1024], &build(&h), version);
    }
}

#[test]
fn docker_1_10_refuses_entries_needing_a_pax_header() {
    // Go 1.5 named the PAX header after the daemon's process id, which nothing records.
    let mut e = Entry::file("bin/ping", 0o755, b"x".to_vec());
    e.xattrs.insert("security.capability".to_string(), vec![1, 0, 0, 2]);
    let p = Profile::for_docker_version("1.10.3").unwrap();
    let err = crate::error::chain(&write_tar(&[e.clone()], &p, &mut Vec::new()).unwrap_err());
    assert!(err.contains("bin/ping") && err.contains("process id"), "{err}");
    // Go 1.6 (1.12) wrote `PaxHeaders.0`, as 17.06 does.
    let p12 = Profile::for_docker_version("1.12.6").unwrap();
    assert_eq!(
        tar_of(std::slice::from_ref(&e), &p12),
        tar_of(&[e], &Profile::docker_17_06())
    );
}

#[test]
fn long_name_18_06_without_split_goes_to_pax_with_cut_ascii_name() {
    // One 120-byte component cannot be split: PAX, and the name field holds its first 100
    // bytes; for a directory a '/' at the cut is replaced by NUL.
    let long = "x".repeat(99);
    let e = Entry::dir(format!("{long}/{}", "y".repeat(120)), 0o755).with_mtime(T);
    let full = format!("{long}/{}/", "y".repeat(120));
    let rec = record("path", &full);
    // path.Split of a name ending in '/' has an empty base: "<x99>/<y120>/PaxHeaders.0", cut
    // to 100 bytes ("<x99>/") and stripped of the trailing '/'.
    let pax_name_s = "x".repeat(99);
    // The cut name ends in '/' at byte 100 (99 x's then '/'), so that byte becomes NUL.
    let mut main = ustar("", b"0040755\0", b"00000000000\0", b'5', "");
    set(&mut main, 0, &"x".repeat(99).into_bytes());
    let expected = [
        pax18_header(pax_name_s.as_bytes(), rec.len()),
        padded(rec),
        build(&main),
    ]
    .concat();
    let out = tar_of(&[e], &Profile::docker_18_06());
    assert_blocks_eq(&out[..out.len() - 1024], &expected, "18.06");
}

#[test]
fn non_ascii_names_per_release() {
    let e = Entry::file("caf\u{e9}", 0o644, Vec::new()).with_mtime(T);
    let rec = record("path", "caf\u{e9}");
    // 17.06: PAX path, the name field stays empty; the PAX header's own name drops the é.
    let main17 = build(&ustar("", b"0100644\0", b"00000000000\0", b'0', ""));
    let expected17 = [
        pax17_header(b"PaxHeaders.0/caf", rec.len()),
        padded(rec.clone()),
        main17,
    ]
    .concat();
    let out = tar_of(std::slice::from_ref(&e), &Profile::docker_17_06());
    assert_blocks_eq(&out[..out.len() - 1024], &expected17, "17.06");
    // 18.06: PAX path, the name field holds the ASCII form.
    let main18 = build(&ustar("caf", b"0100644\0", b"00000000000\0", b'0', ""));
    let expected18 = [pax18_header(b"PaxHeaders.0/caf", rec.len()), padded(rec), main18].concat();
    let out = tar_of(&[e], &Profile::docker_18_06());
    assert_blocks_eq(&out[..out.len() - 1024], &expected18, "18.06");
}

/// A PAX record whose value is raw bytes.
fn record_bytes(key: &str, value: &[u8]) -> Vec<u8> {
    let base = key.len() + value.len() + 3;
    let mut size = base + base.to_string().len();
    if base + size.to_string().len() != size {
        size = base + size.to_string().len();
    }
    [format!("{size} {key}=").as_bytes(), value, b"\n"].concat()
}

/// Names and link targets that are not UTF-8 (issue 10 item 1). Go 1.8 (17.06) and Go 1.10+
/// (18.06, 20.10) both test ASCII-ness rune by rune, and each invalid byte decodes to U+FFFD, so
/// such a name needs PAX exactly like a UTF-8 `é`: the record holds the raw bytes; 17.06 leaves
/// the field empty, 18.06 writes the ASCII bytes (toASCII drops each invalid byte).
#[test]
fn non_utf8_names_and_targets_per_release() {
    let e = Entry::symlink(&b"caf\xe9"[..], &b"t\xff"[..]).with_mtime(T);
    let recs = [record_bytes("linkpath", b"t\xff"), record_bytes("path", b"caf\xe9")].concat();
    let main17 = build(&ustar("", b"0120777\0", b"00000000000\0", b'2', ""));
    let expected17 = [
        pax17_header(b"PaxHeaders.0/caf", recs.len()),
        padded(recs.clone()),
        main17,
    ]
    .concat();
    let out = tar_of(std::slice::from_ref(&e), &Profile::docker_17_06());
    assert_blocks_eq(&out[..out.len() - 1024], &expected17, "17.06");
    let main18 = build(&ustar("caf", b"0120777\0", b"00000000000\0", b'2', "t"));
    let expected18 = [pax18_header(b"PaxHeaders.0/caf", recs.len()), padded(recs), main18].concat();
    for p in &profiles()[1..] {
        let out = tar_of(std::slice::from_ref(&e), p);
        assert_blocks_eq(&out[..out.len() - 1024], &expected18, p.name());
    }
}

#[test]
fn long_symlink_target_goes_to_pax_linkpath() {
    let target = "t".repeat(150);
    let e = Entry::symlink("l", target.clone()).with_mtime(T);
    let rec = record("linkpath", &target);
    let main17 = build(&ustar("l", b"0120777\0", b"00000000000\0", b'2', ""));
    let expected17 = [pax17_header(b"PaxHeaders.0/l", rec.len()), padded(rec.clone()), main17].concat();
    let out = tar_of(std::slice::from_ref(&e), &Profile::docker_17_06());
    assert_blocks_eq(&out[..out.len() - 1024], &expected17, "17.06");
    let main18 = build(&ustar("l", b"0120777\0", b"00000000000\0", b'2', &target[..100]));
    let expected18 = [pax18_header(b"PaxHeaders.0/l", rec.len()), padded(rec), main18].concat();
    let out = tar_of(&[e], &Profile::docker_18_06());
    assert_blocks_eq(&out[..out.len() - 1024], &expected18, "18.06");
}

#[test]
fn large_uid_17_06_base256_and_gnu_magic_sticks() {
    let big = Entry::file("a", 0o644, Vec::new())
        .with_owner(0o10000000, 0)
        .with_mtime(T);
    let next = Entry::file("b", 0o644, Vec::new()).with_mtime(T);
    let mut a = ustar("a", b"0100644\0", b"00000000000\0", b'0', "");
    set(&mut a, 108, &[0x80, 0, 0, 0, 0, 0x20, 0, 0]);
    set(&mut a, 257, b"ustar  \0");
    // Go 1.8 never resets usedBinary: the next header is GNU too.
    let mut b = ustar("b", b"0100644\0", b"00000000000\0", b'0', "");
    set(&mut b, 257, b"ustar  \0");
    let expected = [build(&a), build(&b)].concat();
    let out = tar_of(&[big, next], &Profile::docker_17_06());
    assert_blocks_eq(&out[..out.len() - 1024], &expected, "17.06");
}

#[test]
fn large_uid_18_06_goes_to_pax_with_zero_field() {
    let big = Entry::file("a", 0o644, Vec::new())
        .with_owner(0o10000000, 7)
        .with_mtime(T);
    let rec = record("uid", "2097152");
    assert_eq!(rec, b"15 uid=2097152\n");
    let mut main = ustar("a", b"0100644\0", b"00000000000\0", b'0', "");
    set(&mut main, 116, b"0000007\0");
    let expected = [pax18_header(b"PaxHeaders.0/a", rec.len()), padded(rec), build(&main)].concat();
    let out = tar_of(&[big], &Profile::docker_18_06());
    assert_blocks_eq(&out[..out.len() - 1024], &expected, "18.06");
}

#[test]
fn size_of_8_gib_per_release() {
    // The encoder is exercised directly: an 8 GiB body is not needed to check its header.
    let h = GoHeader {
        name: b"big".to_vec(),
        mode: 0o100644,
        size: 1 << 33,
        mtime: Some(T),
        typeflag: b'0',
        ..GoHeader::default()
    };
    let mut out = Vec::new();
    Encoder::new(&Profile::docker_17_06()).encode(&h, &mut out).unwrap();
    assert_eq!(&out[124..136], &[0x80, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0]);
    assert_eq!(&out[257..265], b"ustar  \0");

    let h18 = GoHeader { format_pax: true, ..h };
    let mut out = Vec::new();
    Encoder::new(&Profile::docker_18_06()).encode(&h18, &mut out).unwrap();
    let rec = record("size", "8589934592");
    assert_eq!(&out[512..512 + rec.len()], rec.as_slice());
    assert_eq!(&out[1024 + 124..1024 + 136], b"00000000000\0");
}

/// Times before 1970 and after 2262 (issue 10 item 3): Go 1.8 has no PAX `mtime` and writes 0;
/// Go 1.10+ writes the decimal seconds as a PAX record (pkg/archive truncated the time to whole
/// seconds, so no fraction) and 0 in the field.
#[test]
fn far_mtimes_per_release() {
    for (t, text) in [(-315_619_200, "-315619200"), (10_413_792_000, "10413792000")] {
        let e = Entry::file("f", 0o644, Vec::new()).with_mtime(t);
        let out = tar_of(std::slice::from_ref(&e), &Profile::docker_17_06());
        assert_eq!(&out[0..1], b"f", "17.06 writes no PAX header");
        assert_eq!(&out[136..148], b"00000000000\0");
        let rec = record("mtime", text);
        for p in &profiles()[1..] {
            let out = tar_of(std::slice::from_ref(&e), p);
            assert_eq!(&out[0..14], b"PaxHeaders.0/f", "{}", p.name());
            assert_eq!(&out[512..512 + rec.len()], rec.as_slice());
            assert_eq!(&out[1024 + 136..1024 + 148], b"00000000000\0");
        }
    }
}

#[test]
fn mtime_out_of_octal_range() {
    let e = Entry::file("old", 0o644, Vec::new()).with_mtime(-1);
    // 17.06 writes 0 for times before the epoch.
    let out = tar_of(std::slice::from_ref(&e), &Profile::docker_17_06());
    assert_eq!(&out[136..148], b"00000000000\0");
    // 18.06 records the time in PAX and writes 0 in the field.
    let out = tar_of(&[e], &Profile::docker_18_06());
    let rec = record("mtime", "-1");
    assert_eq!(&out[0..16], b"PaxHeaders.0/old");
    assert_eq!(&out[512..512 + rec.len()], rec.as_slice());
    assert_eq!(&out[1024 + 136..1024 + 148], b"00000000000\0");
}

#[test]
fn invalid_entries_are_refused_with_the_path() {
    let e = Entry::file("a", 0o644, Vec::new()).with_owner(1 << 60, 0);
    let err = write_tar(&[e], &Profile::docker_17_06(), &mut Vec::new()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let inner = err.get_ref().unwrap().downcast_ref::<TarEncodeError>().unwrap();
    assert_eq!(inner.path, "a");
    let e = Entry::file("a/", 0o644, Vec::new());
    assert!(write_tar(&[e], &Profile::docker_18_06(), &mut Vec::new()).is_err());
}

#[test]
fn go_path_helpers() {
    assert_eq!(pax_header_name(b"a/b/c"), b"a/b/PaxHeaders.0/c");
    assert_eq!(pax_header_name(b"a/b/"), b"a/b/PaxHeaders.0");
    assert_eq!(pax_header_name(b"c"), b"PaxHeaders.0/c");
    assert_eq!(pax_header_name(b"d\xe9/c\xff"), b"d\xe9/PaxHeaders.0/c\xff");
    assert_eq!(go_path_clean(b"a//b/./c/../d/"), b"a/b/d");
    assert_eq!(go_path_clean(b"/../a"), b"/a");
    assert_eq!(go_path_clean(b"../a/.."), b"..");
    let long = format!("{}/{}", "a".repeat(60), "b".repeat(60));
    assert_eq!(split_ustar_path(long.as_bytes()).unwrap().0.len(), 60);
    assert!(split_ustar_path("a".repeat(120).as_bytes()).is_none());
    assert!(split_ustar_path(b"short/name").is_none());
    // Not ASCII (UTF-8 or not): never split, as Go's splitUSTARPath checks isASCII first.
    let raw = [&[b'a'; 60][..], b"/\xe9", &[b'b'; 60][..]].concat();
    assert!(split_ustar_path(&raw).is_none());
    assert_eq!(to_ascii(b"caf\xe9-\xc3\xa9\xff!"), b"caf-!");
}

#[test]
fn empty_layer_blob_is_the_well_known_one() {
    // The empty layer every BuildKit/Docker-pushed image shares: gzip (Go, level 6) of 1024 NUL
    // bytes, 32 bytes long, whose tar is the well-known empty diff_id.
    let mut out = Vec::new();
    let info = write_blob(&[], &Profile::docker_18_06(), &mut out).unwrap();
    assert_eq!(
        info.digest.to_string(),
        "sha256:4f4fb700ef54461cfa02571ae0db9a0dc1e0cdb5577484a6d75e68dc38e8acc1"
    );
    assert_eq!(
        info.diff_id.to_string(),
        "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
    );
    assert_eq!(info.size, 32);
    assert_eq!(out.len(), 32);
}

#[test]
fn hardlink_keeps_type_bits_and_device_numbers_of_the_linked_inode() {
    let mut fifo = Entry::file("p1", 0o644, Vec::new()).with_mtime(T);
    fifo.kind = EntryKind::Fifo;
    let mut chr = Entry::file("c1", 0o600, Vec::new()).with_mtime(T);
    chr.kind = EntryKind::CharDevice { major: 1, minor: 5 };
    let sym = Entry::symlink("s1", "x").with_mtime(T);
    let link = |path: &str, to: &str, mode: u32| {
        let mut e = Entry::file(path, mode, Vec::new()).with_mtime(T);
        e.kind = EntryKind::Hardlink(to.as_bytes().to_vec());
        e
    };
    let entries = [
        fifo,
        link("p2", "p1", 0o644),
        chr,
        link("c2", "c1", 0o600),
        sym,
        link("s2", "s1", 0o777),
    ];
    let out = tar_of(&entries, &Profile::docker_18_06());
    let p2 = ustar("p2", b"0010644\0", b"00000000000\0", b'1', "p1");
    let mut c2 = ustar("c2", b"0020600\0", b"00000000000\0", b'1', "c1");
    set(&mut c2, 329, b"0000001\0");
    set(&mut c2, 337, b"0000005\0");
    let s2 = ustar("s2", b"0120777\0", b"00000000000\0", b'1', "s1");
    assert_blocks_eq(&out[512..1024], &build(&p2), "fifo link");
    assert_blocks_eq(&out[1536..2048], &build(&c2), "char device link");
    assert_blocks_eq(&out[2560..3072], &build(&s2), "symlink link");
}
