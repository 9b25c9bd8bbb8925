//! Hostile-archive cases, each built byte by byte here so the test shows exactly what is refused.

use std::io::Write;

use flate2::write::GzEncoder;

use super::*;

/// One raw ustar header plus padded data. Written by hand (not with `tar::Builder`) because the
/// builder rightly refuses to write the malicious names these tests need.
fn raw_entry(name: &[u8], typeflag: u8, data: &[u8], link: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name);
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
    h[136..148].copy_from_slice(b"00000000000\0");
    h[156] = typeflag;
    h[157..157 + link.len()].copy_from_slice(link);
    h[257..265].copy_from_slice(b"ustar\x0000");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

fn pax_entry(records: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (k, v) in records {
        // The length prefix counts itself, so find the fixed point.
        let rest = k.len() + v.len() + 3;
        let mut len = rest + 1;
        while len.to_string().len() + rest != len {
            len += 1;
        }
        body.extend_from_slice(format!("{len} {k}=").as_bytes());
        body.extend_from_slice(v);
        body.push(b'\n');
    }
    raw_entry(b"PaxHeaders.0/x", b'x', &body, b"")
}

fn tar_of(parts: &[Vec<u8>]) -> Vec<u8> {
    let mut out: Vec<u8> = parts.concat();
    out.extend_from_slice(&[0u8; 1024]);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn read_all(
    blob: &[u8],
    expected: Option<&Digest>,
    limits: &Limits,
) -> Result<Vec<(ArchiveEntry, Vec<u8>)>, ArchiveError> {
    let mut seen = Vec::new();
    read_archive(blob, expected, limits, |e, r| {
        let mut content = Vec::new();
        r.read_to_end(&mut content)?;
        seen.push((e.clone(), content));
        Ok(())
    })?;
    Ok(seen)
}

fn refusal(blob: &[u8], limits: &Limits) -> ArchiveError {
    read_all(blob, None, limits).expect_err("archive must be refused")
}

#[test]
fn reads_plain_and_gzip_the_same_and_normalizes_paths() {
    let tar = tar_of(&[
        raw_entry(b"./", b'5', b"", b""),
        raw_entry(b"./etc/", b'5', b"", b""),
        raw_entry(b"./etc/hostname", b'0', b"box\n", b""),
        raw_entry(b"etc/link", b'2', b"", b"/usr/share/zoneinfo/UTC"),
        raw_entry(b"etc/hard", b'1', b"", b"./etc/hostname"),
    ]);
    for blob in [tar.clone(), gzip(&tar)] {
        let seen = read_all(&blob, Some(&Digest::of(&blob)), &Limits::default()).unwrap();
        let paths: Vec<_> = seen.iter().map(|(e, _)| e.path.as_str()).collect();
        assert_eq!(paths, ["etc", "etc/hostname", "etc/link", "etc/hard"]);
        assert_eq!(seen[1].1, b"box\n");
        assert_eq!(seen[2].0.kind, Kind::Symlink("/usr/share/zoneinfo/UTC".into()));
        assert_eq!(seen[3].0.kind, Kind::Hardlink("etc/hostname".into()));
    }
    let summary = read_archive(&gzip(&tar)[..], None, &Limits::default(), |_, _| Ok(())).unwrap();
    assert_eq!(summary.compression, Compression::Gzip);
    assert_eq!(summary.diff_id, Digest::of(&tar));
    assert_eq!(summary.entries, 5);
}

#[test]
fn refuses_dotdot_paths() {
    let err = refusal(
        &tar_of(&[raw_entry(b"usr/../../evil", b'0', b"x", b"")]),
        &Limits::default(),
    );
    assert!(
        matches!(&err, ArchiveError::PathEscape { entry, .. } if entry == "usr/../../evil"),
        "{err}"
    );
}

#[test]
fn refuses_absolute_paths() {
    let err = refusal(
        &tar_of(&[raw_entry(b"/etc/passwd", b'0', b"x", b"")]),
        &Limits::default(),
    );
    assert!(
        matches!(&err, ArchiveError::PathEscape { entry, reason: "absolute path" } if entry == "/etc/passwd"),
        "{err}"
    );
}

#[test]
fn refuses_nul_in_pax_path() {
    let blob = tar_of(&[
        pax_entry(&[("path", b"etc/pass\0wd")]),
        raw_entry(b"short", b'0', b"x", b""),
    ]);
    // Go's reader refuses the record itself, before any entry.
    let err = refusal(&blob, &Limits::default());
    assert!(
        matches!(
            &err,
            ArchiveError::Tar {
                source: GoTarError::Header(_),
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn refuses_entries_below_a_symlink() {
    let blob = tar_of(&[
        raw_entry(b"etc", b'2', b"", b"/etc"),
        raw_entry(b"etc/cron.d/evil", b'0', b"* * * * * root sh", b""),
    ]);
    let err = refusal(&blob, &Limits::default());
    assert!(
        matches!(&err, ArchiveError::ThroughSymlink { entry, symlink } if entry == "etc/cron.d/evil" && symlink == "etc"),
        "{err}"
    );
}

#[test]
fn refuses_hardlinks_out_of_the_root_or_through_a_symlink() {
    let err = refusal(
        &tar_of(&[raw_entry(b"shadow", b'1', b"", b"../../etc/shadow")]),
        &Limits::default(),
    );
    assert!(
        matches!(&err, ArchiveError::HardlinkEscape { entry, .. } if entry == "shadow"),
        "{err}"
    );
    let blob = tar_of(&[
        raw_entry(b"up", b'2', b"", b"/"),
        raw_entry(b"shadow", b'1', b"", b"up/etc/shadow"),
    ]);
    let err = refusal(&blob, &Limits::default());
    assert!(
        matches!(&err, ArchiveError::HardlinkEscape { target, .. } if target == "up/etc/shadow"),
        "{err}"
    );
}

#[test]
fn bounds_entry_count_entry_size_and_total() {
    let three = tar_of(&[
        raw_entry(b"a", b'0', b"1", b""),
        raw_entry(b"b", b'0', b"22", b""),
        raw_entry(b"c", b'0', b"333333333333", b""),
    ]);
    let limits = Limits {
        max_entries: 2,
        ..Limits::default()
    };
    assert!(matches!(refusal(&three, &limits), ArchiveError::TooManyEntries { entry, limit: 2 } if entry == "c"));
    let limits = Limits {
        max_entry_size: 10,
        ..Limits::default()
    };
    assert!(
        matches!(refusal(&three, &limits), ArchiveError::EntryTooLarge { entry, size: 12, limit: 10 } if entry == "c")
    );
    let limits = Limits {
        max_total_bytes: 1024,
        ..Limits::default()
    };
    assert!(matches!(
        refusal(&three, &limits),
        ArchiveError::TotalTooLarge { limit: 1024, .. }
    ));
}

#[test]
fn refuses_gzip_bombs() {
    // 8 MiB of zeros compress about 1000:1; with the grace lowered to 1 MiB and the ratio to 100:1
    // this small blob stands in for a multi-terabyte one.
    let zeros = vec![0u8; 8 << 20];
    let blob = gzip(&tar_of(&[raw_entry(b"zeros", b'0', &zeros, b"")]));
    assert!(blob.len() < 64 << 10);
    let limits = Limits {
        ratio_grace_bytes: 1 << 20,
        max_ratio: 100,
        ..Limits::default()
    };
    let err = refusal(&blob, &limits);
    assert!(
        matches!(&err, ArchiveError::GzipBomb { entry, limit: 100, .. } if entry == "zeros"),
        "{err}"
    );
    // The same archive uncompressed is not a bomb: the ratio only applies to compressed input.
    read_all(&tar_of(&[raw_entry(b"zeros", b'0', &zeros, b"")]), None, &limits).unwrap();
}

#[test]
fn verifies_the_blob_digest_over_the_whole_blob() {
    let blob = gzip(&tar_of(&[raw_entry(b"a", b'0', b"hello", b"")]));
    let wrong = Digest::of(b"something else");
    let err = read_all(&blob, Some(&wrong), &Limits::default()).unwrap_err();
    assert!(
        matches!(err, ArchiveError::DigestMismatch { expected, found } if expected == wrong && found == Digest::of(&blob))
    );
}

#[test]
fn names_unsupported_compression_and_truncation() {
    let err = refusal(&[0x28, 0xb5, 0x2f, 0xfd, 0, 0], &Limits::default());
    assert!(matches!(err, ArchiveError::UnsupportedCompression("zstd")));
    let tar = tar_of(&[
        raw_entry(b"a", b'0', b"hello", b""),
        raw_entry(b"b", b'0', &[7u8; 4000], b""),
    ]);
    let err = refusal(&tar[..2000], &Limits::default());
    assert!(
        matches!(&err, ArchiveError::Tar { entry, source: GoTarError::UnexpectedEof } if entry == "b"),
        "{err}"
    );
}

#[test]
fn extraction_replaces_rather_than_follows_an_earlier_symlink() {
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    std::fs::write(&victim, b"untouched").unwrap();
    let blob = tar_of(&[
        raw_entry(b"x", b'2', b"", victim.to_str().unwrap().as_bytes()),
        raw_entry(b"x", b'0', b"overwritten?", b""),
        raw_entry(b"d/", b'5', b"", b""),
        raw_entry(b"d/f", b'0', b"content", b""),
    ]);
    let root = tempfile::tempdir().unwrap();
    extract_to(&blob[..], None, &Limits::default(), root.path()).unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), b"untouched");
    assert_eq!(std::fs::read(root.path().join("x")).unwrap(), b"overwritten?");
    assert_eq!(std::fs::read(root.path().join("d/f")).unwrap(), b"content");
}

#[test]
fn a_hard_link_to_a_symlink_is_a_symlink_for_the_entries_below_it() {
    let blob = tar_of(&[
        raw_entry(b"s", b'2', b"", b"/etc"),
        raw_entry(b"h", b'1', b"", b"s"),
        raw_entry(b"h/passwd", b'0', b"root::0:0::/:/bin/sh", b""),
    ]);
    let err = refusal(&blob, &Limits::default());
    assert!(
        matches!(&err, ArchiveError::ThroughSymlink { entry, symlink } if entry == "h/passwd" && symlink == "h"),
        "{err}"
    );
}

#[test]
fn a_symlink_replaced_by_a_directory_no_longer_blocks_its_entries() {
    let blob = tar_of(&[
        raw_entry(b"a/b", b'2', b"", b"/tmp"),
        raw_entry(b"a/b", b'5', b"", b""),
        raw_entry(b"a/b/c", b'0', b"fine", b""),
    ]);
    read_all(&blob, None, &Limits::default()).unwrap();
}

#[test]
fn paths_are_bounded_in_total() {
    let long = vec![b'p'; 3000];
    let entries: Vec<_> = (0..4u8)
        .flat_map(|i| {
            let mut name = long.clone();
            name.push(b'0' + i);
            [pax_entry(&[("path", &name)]), raw_entry(b"short", b'0', b"", b"")]
        })
        .collect();
    let limits = Limits {
        max_path_bytes: 10_000,
        ..Limits::default()
    };
    let err = refusal(&tar_of(&entries), &limits);
    assert!(matches!(&err, ArchiveError::PathBytes { limit: 10_000, .. }), "{err}");
}

#[test]
fn a_raw_byte_and_its_escaped_spelling_are_different_names() {
    let raw = display_bytes(b"caf\xff");
    let literal = display_bytes(b"caf\\xff");
    assert_ne!(raw, literal);
    for bytes in [&b"caf\xff"[..], b"caf\\xff", b"a\\\\b", b"plain/\xc3\xa9", b"\\x4"] {
        assert_eq!(raw_bytes(&display_bytes(bytes)), bytes);
    }
}

#[test]
fn xz_and_bzip2_archives_are_read_like_gzip() {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(5);
    b.append_data(&mut h, "etc/motd", &b"hello"[..]).unwrap();
    let tar = b.into_inner().unwrap();
    let mut xz = xz2::write::XzEncoder::new(Vec::new(), 6);
    xz.write_all(&tar).unwrap();
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
    bz.write_all(&tar).unwrap();
    for (blob, kind) in [
        (xz.finish().unwrap(), Compression::Xz),
        (bz.finish().unwrap(), Compression::Bzip2),
    ] {
        let mut seen = Vec::new();
        let summary = read_archive(&blob[..], None, &Limits::default(), |e, r| {
            let mut s = String::new();
            r.read_to_string(&mut s)?;
            seen.push((e.path.clone(), s));
            Ok(())
        })
        .unwrap();
        assert_eq!(summary.compression, kind);
        assert_eq!(summary.diff_id, crate::Digest::of(&tar));
        assert_eq!(seen, [("etc/motd".to_string(), "hello".to_string())]);
    }
}

/// How one hostile case is read: a member of a plain tar by name, or a stream decompressed.
enum Reading {
    Member(&'static str),
    Decompress,
}

/// Reads `bytes` the way `reading` says under `limits`, returning the refusal it must end in.
fn bounded_refusal(bytes: &[u8], limits: &Limits, reading: &Reading) -> ArchiveError {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("saved.tar");
    std::fs::write(&path, bytes).unwrap();
    let outcome = match reading {
        Reading::Member(name) => {
            TarMembers::index_with(&path, limits).and_then(|m| m.read_small(name, 1 << 20).map(drop))
        }
        Reading::Decompress => decompress(bytes, limits, &mut io::sink()).map(drop),
    };
    outcome.expect_err("the input must be refused")
}

#[test]
fn members_and_decompression_refuse_hostile_input() {
    let file = |name: &str, data: &[u8]| raw_entry(name.as_bytes(), b'0', data, b"");
    let link = |name: &str, target: &str| raw_entry(name.as_bytes(), b'2', b"", target.as_bytes());
    let mut truncated = tar_of(&[file("layer.tar", &[7u8; 600])]);
    truncated.truncate(512 + 100);
    let zeros = gzip(&vec![0u8; 8 << 20]);
    let tight = Limits {
        max_entries: 3,
        max_entry_size: 1 << 10,
        max_total_bytes: 4 << 20,
        ratio_grace_bytes: 1 << 20,
        max_ratio: 10,
        ..Limits::default()
    };
    let loose = Limits {
        max_ratio: 1 << 20,
        ..tight
    };
    let default = Limits::default();
    type Check = fn(&ArchiveError) -> bool;
    let cases: Vec<(&str, Vec<u8>, &Limits, Reading, Check)> = vec![
        (
            "too many members",
            tar_of(&[file("a", b""), file("b", b""), file("c", b""), file("d", b"")]),
            &tight,
            Reading::Member("a"),
            |e| matches!(e, ArchiveError::TooManyEntries { .. }),
        ),
        (
            "a huge member",
            tar_of(&[file("layer.tar", &[0u8; 2048])]),
            &tight,
            Reading::Member("layer.tar"),
            |e| matches!(e, ArchiveError::EntryTooLarge { size: 2048, .. }),
        ),
        (
            "content past the end of the file",
            truncated,
            &default,
            Reading::Member("layer.tar"),
            |e| matches!(e, ArchiveError::Malformed { message, .. } if message.contains("truncated")),
        ),
        (
            "a compressed archive",
            gzip(&tar_of(&[file("a", b"")])),
            &default,
            Reading::Member("a"),
            |e| {
                matches!(
                    e,
                    ArchiveError::CompressedMembers {
                        compression: Compression::Gzip
                    }
                )
            },
        ),
        (
            "a path out of the root",
            tar_of(&[file("../manifest.json", b"[]")]),
            &default,
            Reading::Member("manifest.json"),
            |e| matches!(e, ArchiveError::PathEscape { .. }),
        ),
        (
            "a missing member",
            tar_of(&[file("a", b"")]),
            &default,
            Reading::Member("manifest.json"),
            |e| matches!(e, ArchiveError::MissingMember { .. }),
        ),
        (
            "a loop of links",
            tar_of(&[link("a", "b"), link("b", "a")]),
            &default,
            Reading::Member("a"),
            |e| matches!(e, ArchiveError::MemberLinks { limit: 4, .. }),
        ),
        ("a gzip bomb", zeros.clone(), &tight, Reading::Decompress, |e| {
            matches!(e, ArchiveError::GzipBomb { limit: 10, .. })
        }),
        (
            "too many bytes in all",
            zeros,
            &loose,
            Reading::Decompress,
            |e| matches!(e, ArchiveError::TotalTooLarge { limit, .. } if *limit == 4 << 20),
        ),
    ];
    for (what, bytes, limits, reading, check) in cases {
        let err = bounded_refusal(&bytes, limits, &reading);
        assert!(check(&err), "{what}: {err:?}");
    }
}

#[test]
fn members_are_read_in_place_through_links_and_a_plain_stream_decompresses_to_itself() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("saved.tar");
    let tar = tar_of(&[
        raw_entry(b"./a/layer.tar", b'0', b"layer bytes", b""),
        raw_entry(b"b/layer.tar", b'2', b"", b"../a/layer.tar"),
    ]);
    std::fs::write(&path, &tar).unwrap();
    let members = TarMembers::index(&path).unwrap();
    assert_eq!(members.read_small("b/layer.tar", 64).unwrap(), b"layer bytes");
    assert_eq!(members.find("./a/layer.tar").unwrap().size, 11);
    let mut out = Vec::new();
    assert_eq!(
        decompress(&tar[..], &Limits::default(), &mut out).unwrap(),
        (Compression::None, tar.len() as u64)
    );
    assert_eq!(out, tar);
}

#[test]
fn a_docker_manifest_keeps_the_bytes_json_wrote_and_reads_null_tags() {
    let typed = DockerManifest::to_json(&[DockerManifest {
        config: "c.json".into(),
        layers: vec!["l/layer.tar".into()],
        repo_tags: vec!["retrace/x:1".into()],
    }]);
    let untyped = serde_json::json!([{"Config": "c.json", "RepoTags": ["retrace/x:1"], "Layers": ["l/layer.tar"]}]);
    assert_eq!(typed, serde_json::to_vec(&untyped).unwrap());
    let saved: Vec<DockerManifest> =
        serde_json::from_str(r#"[{"Config":"c.json","RepoTags":null,"Layers":["a.tar"],"LayerSources":{}}]"#).unwrap();
    assert!(saved[0].repo_tags.is_empty());
}

/// A name with a newline, an escape character and a byte that is not UTF-8 is named in one line
/// of text by a refusal: control characters and the stray byte as `\xNN`.
#[test]
fn refusals_name_entries_on_one_line() {
    let name: &[u8] = b"evil\nname\x1b[31m\xff";
    let shown = r"evil\x0aname\x1b[31m\xff";
    let below = [name, b"/x"].concat();
    let cases: [(&str, Vec<u8>, Limits); 2] = [
        (
            "an entry over the size limit",
            tar_of(&[raw_entry(name, b'0', b"0123456789ab", b"")]),
            Limits {
                max_entry_size: 10,
                ..Limits::default()
            },
        ),
        (
            "an entry below a symlink (both names)",
            tar_of(&[raw_entry(name, b'2', b"", b"t"), raw_entry(&below, b'0', b"", b"")]),
            Limits::default(),
        ),
    ];
    for (what, blob, limits) in cases {
        let text = crate::error::chain(&refusal(&blob, &limits));
        assert!(text.contains(shown), "{what}: {text}");
        assert!(!text.contains('\n') && !text.contains('\x1b'), "{what}: {text}");
    }
}

/// A header whose size field says `size` with no content after it.
fn header_only(name: &[u8], typeflag: u8, size: usize, link: &[u8]) -> Vec<u8> {
    let mut h = raw_entry(name, typeflag, &vec![0u8; size], link);
    h.truncate(512);
    h
}

#[test]
fn entries_after_a_link_or_directory_with_a_size_are_not_hidden() {
    // Go reads no content for these types whatever their size says, so the next header follows;
    // a reader that skipped the size would swallow `hidden` and miss it from the diff.
    let blob = tar_of(&[
        header_only(b"d/", b'5', 600, b""),
        header_only(b"l", b'1', 700, b"d"),
        raw_entry(b"hidden", b'0', b"x", b""),
    ]);
    let seen = read_all(&blob, None, &Limits::default()).unwrap();
    let names: Vec<&str> = seen.iter().map(|(e, _)| e.path.as_str()).collect();
    assert_eq!(names, ["d", "l", "hidden"]);
    assert_eq!(seen[0].0.size, 0);
}

#[test]
fn docker_skips_global_headers_and_refuses_types_it_cannot_extract() {
    let blob = tar_of(&[
        raw_entry(
            b"pax_global_header",
            b'g',
            b"52 comment=0123456789012345678901234567890123456789\n",
            b"",
        ),
        raw_entry(b"kept", b'0', b"x", b""),
    ]);
    let seen = read_all(&blob, None, &Limits::default()).unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0.path, "kept");
    // An old GNU sparse `S` entry is refused the same way (tests/it/hostile.rs); with USTAR magic
    // Go refuses it before.
    for typeflag in [b'7', b'V'] {
        let blob = tar_of(&[raw_entry(b"odd", typeflag, b"x", b"")]);
        let err = refusal(&blob, &Limits::default());
        assert!(
            matches!(&err, ArchiveError::Unextractable { entry, typeflag: t } if entry == "odd" && *t == typeflag),
            "{err}"
        );
    }
}

#[test]
fn bytes_after_the_compressed_stream_are_hashed_not_refused() {
    // Docker's reader stops at the end-of-archive marker and its layer store discards the rest,
    // errors ignored; the blob's digest still covers every byte.
    let mut blob = gzip(&tar_of(&[raw_entry(b"a", b'0', b"hello", b"")]));
    blob.extend_from_slice(b"trailing bytes that are not gzip");
    let summary = read_archive(blob.as_slice(), None, &Limits::default(), |_, _| Ok(())).unwrap();
    assert_eq!(summary.blob_size, blob.len() as u64);
    let sha: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(&blob).into();
    assert_eq!(summary.blob_digest, Digest::from_bytes(sha));
}
