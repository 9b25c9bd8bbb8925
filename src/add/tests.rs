//! The in-memory replay of Docker's ADD extraction and the builder variants, on small archives
//! built here. Byte-exactness against Docker is proven by the published layers
//! (tests/it/layer_add.rs); these tests pin the extraction semantics those layers depend on.

use super::untar::untar;
use super::*;
use crate::archive::Limits;
use crate::layer::context_file_hash_with;

/// A tar built with the `tar` crate: (path, typeflag, mode, mtime, content or link target).
fn tarball(entries: &[(&str, u8, u32, u64, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for &(path, kind, mode, mtime, data) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::new(kind));
        h.set_mode(mode);
        h.set_mtime(mtime);
        h.set_uid(0);
        h.set_gid(0);
        let body: &[u8] = if kind == b'0' { data.as_bytes() } else { b"" };
        if kind == b'1' || kind == b'2' {
            h.set_link_name(data).unwrap();
        }
        h.set_size(body.len() as u64);
        b.append_data(&mut h, path, body).unwrap();
    }
    b.into_inner().unwrap()
}

fn names(entries: &[Entry]) -> Vec<String> {
    entries.iter().map(Entry::path_text).collect()
}

#[test]
fn walk_order_is_component_wise_and_the_root_is_skipped() {
    let blob = tarball(&[
        ("./", b'5', 0o755, 1, ""),
        ("./a-b", b'0', 0o644, 2, "x"),
        ("./a/", b'5', 0o755, 3, ""),
        ("./a/c", b'0', 0o600, 4, "y"),
    ]);
    let (tree, _) = untar(&blob, &Limits::default(), 0).unwrap();
    let entries = tree.entries();
    // "a" sorts before "a-b" as a name, although "a-b" < "a/c" as a whole path.
    assert_eq!(names(&entries), ["a", "a/c", "a-b"]);
    assert_eq!((entries[1].mode, entries[1].mtime), (0o600, 4));
    assert!(tree.implicit_dirs.is_empty());
}

#[test]
fn hard_links_are_written_at_the_first_name_the_walk_meets() {
    // The archive lists bin/z first; the walk meets bin/a first, so bin/a carries the content.
    // The link header's mode and mtime land on the shared inode (as a Docker 20.10 daemon's
    // diff_id shows, tests/it/layer_add.rs `needs_docker_add_extraction_matches_the_daemon`).
    let blob = tarball(&[
        ("bin/", b'5', 0o755, 1, ""),
        ("bin/z", b'0', 0o755, 5, "busybox"),
        ("bin/a", b'1', 0o4755, 6, "bin/z"),
    ]);
    let (tree, _) = untar(&blob, &Limits::default(), 0).unwrap();
    let entries = tree.entries();
    assert_eq!(names(&entries), ["bin", "bin/a", "bin/z"]);
    assert_eq!(entries[1].kind, EntryKind::File(b"busybox".to_vec()));
    assert_eq!((entries[1].mode, entries[1].mtime), (0o4755, 6));
    assert_eq!(entries[2].kind, EntryKind::Hardlink(b"bin/a".to_vec()));
}

#[test]
fn later_headers_replace_earlier_ones_and_dirs_only_update() {
    let blob = tarball(&[
        ("d/", b'5', 0o700, 1, ""),
        ("d/f", b'0', 0o644, 2, "old"),
        ("d/", b'5', 0o755, 9, ""),
        ("d/f", b'2', 0o777, 3, "target"),
        ("e", b'0', 0o644, 4, "file"),
        ("e/", b'5', 0o755, 5, ""),
    ]);
    let (tree, _) = untar(&blob, &Limits::default(), 0).unwrap();
    let entries = tree.entries();
    assert_eq!(names(&entries), ["d", "d/f", "e"]);
    assert_eq!((entries[0].mode, entries[0].mtime), (0o755, 9));
    assert_eq!(entries[1].kind, EntryKind::Symlink(b"target".to_vec()));
    assert_eq!(entries[1].mode, 0o777);
    assert_eq!(entries[2].kind, EntryKind::Dir);
}

#[test]
fn unlisted_parents_are_reported() {
    let blob = tarball(&[("usr/bin/x", b'0', 0o755, 7, "x")]);
    let (tree, _) = untar(&blob, &Limits::default(), 1234).unwrap();
    assert_eq!(tree.implicit_dirs, ["usr", "usr/bin"]);
    let entries = tree.entries();
    assert_eq!((entries[0].mode, entries[0].mtime), (0o755, 1234));
}

#[test]
fn opaque_markers_go_to_new_dirs_directly_under_root_etc_and_dev() {
    let mut entries = vec![
        Entry::dir("bin", 0o755),
        Entry::dir("dev", 0o755),
        Entry::dir("dev/pts", 0o755),
        Entry::dir("dev/x", 0o755),
        Entry::dir("etc", 0o755),
        Entry::dir("etc/apk", 0o755),
        Entry::dir("etc/apk/keys", 0o755),
        Entry::file("etc/hosts", 0o644, "h"),
        Entry::dir("proc", 0o555),
        Entry::dir("usr", 0o755),
        Entry::dir("usr/bin", 0o755),
    ];
    mark_init_layer_opaque(&mut entries);
    let opaque: Vec<String> = entries.iter().filter(|e| e.opaque).map(Entry::path_text).collect();
    assert_eq!(opaque, ["bin", "dev/x", "etc/apk", "usr"]);
}

#[test]
fn blob_conventions_put_the_profile_first() {
    let p = |v| Profile::for_docker_version(v).unwrap();
    let names = |v| blob_conventions(&p(v)).into_iter().map(|(n, _)| n).collect::<Vec<_>>();
    assert_eq!(names("1.12.6"), [""]);
    assert_eq!(names("17.03.1-ce"), ["", "go1.6-deflate"]);
    assert_eq!(
        names("17.06.2-ce"),
        ["", "go1.7-gzip-header", "go1.6-deflate+go1.7-gzip-header"]
    );
}

#[test]
fn sources_verify_under_any_context_mode_and_owner_convention() {
    let content = b"tarball bytes";
    let step = |hash| BaseStep {
        file_hash: hash,
        expected: Digest::of(b""),
        profile: Profile::docker_17_06(),
        created: None,
    };
    let h = context_file_hash_with("rootfs.tar.gz", 0o775, content, "");
    let m = verify_source("rootfs.tar.gz", content, &step(h), "root").unwrap();
    assert_eq!((m.mode.as_str(), m.owner_name.as_str()), ("0775", ""));
    let other = context_file_hash_with("rootfs.tar.gz", 0o600, content, "root");
    assert!(verify_source("rootfs.tar.gz", content, &step(other), "root").is_none());
}

#[test]
fn sources_and_extractions_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("rootfs.tar");
    let blob = tarball(&[("etc/motd", b'0', 0o644, 1, "hello, bounded world")]);
    std::fs::write(&src, &blob).unwrap();
    let step = BaseStep {
        file_hash: context_file_hash_with("rootfs.tar", 0o644, &blob, "root"),
        expected: Digest::of(b""),
        profile: Profile::docker_17_06(),
        created: None,
    };
    let mut opts = AddOptions::default();
    assert_eq!(opts.limits.max_total_bytes, 2 << 30);
    opts.limits.max_total_bytes = 100;
    let err = rebuild_base_layer(&src, &step, &opts).unwrap_err().to_string();
    assert!(err.contains("rootfs.tar") && err.contains("exceeds the limit"), "{err}");
    // Within the limit the same source is verified, extracted and written (and matches nothing).
    let outcome = rebuild_base_layer(&src, &step, &AddOptions::default()).unwrap();
    assert!(!outcome.matched);
    assert_eq!(outcome.source.mode, "0644");
    assert_eq!(outcome.tried[0].variant, "plain");
}
