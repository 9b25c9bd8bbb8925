//! The `file:<hex>` source hash the classic builder records for `COPY`/`ADD` of a single file
//! (`#(nop) COPY file:<hex> in /dest`): the tarsum v1 per-file sum, i.e. sha256 over the selected
//! header fields of the file as the daemon saw it in the build context, then its content.
//!
//! ```text
//! sha256( "name"+N "mode"+dec(M) "uid"+dec "gid"+dec "size"+dec "typeflag"+T "linkname"+L
//!         "uname"+U "gname"+G "devmajor"+dec "devminor"+dec  content )
//! ```
//!
//! The fields follow the build-context tar the client sent: the name relative to the context
//! directory (no `./`), owner 0:0 (clients send the context as root), no mtime. What differs by
//! release is in [`ContextConventions`]:
//! - 17.06: uname/gname `root` (docs/layer-bytes.md), mode = the tar mode field's permission and
//!   setuid/setgid/sticky bits;
//! - 18.06: uname/gname empty, mode as 17.06;
//! - Debian's 20.10 (measured with `DOCKER_BUILDKIT=0 docker build`, see
//!   `needs_docker_file_hash_matches_classic_builder`): as 18.06 (a 04755 file hashes as 2541).

use std::io::{self, Read, Write};
use std::path::Path;

use sha2::{Digest as _, Sha256};

use super::profile::{Profile, Release};
use crate::digest::Digest;

/// The tarsum v1 header fields of one file, before its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarsumHeader {
    pub name: String,
    /// The value hashed as the decimal `mode` field.
    pub mode: i64,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    pub typeflag: u8,
    pub linkname: String,
    pub uname: String,
    pub gname: String,
    pub devmajor: u64,
    pub devminor: u64,
}

/// The tarsum v1 sum of a header and content.
pub fn tarsum_v1(h: &TarsumHeader, content: &[u8]) -> Digest {
    let mut s = Sha256::new();
    s.update(tarsum_v1_header_bytes(h));
    s.update(content);
    Digest::from_bytes(s.finalize().into())
}

/// The bytes the header contributes, in tarsum v1 order (v0's fields without `mtime`).
pub fn tarsum_v1_header_bytes(h: &TarsumHeader) -> Vec<u8> {
    let mut b = Vec::new();
    let mut field = |k: &str, v: &[u8]| {
        b.extend_from_slice(k.as_bytes());
        b.extend_from_slice(v);
    };
    field("name", h.name.as_bytes());
    field("mode", h.mode.to_string().as_bytes());
    field("uid", h.uid.to_string().as_bytes());
    field("gid", h.gid.to_string().as_bytes());
    field("size", h.size.to_string().as_bytes());
    field("typeflag", &[h.typeflag]);
    field("linkname", h.linkname.as_bytes());
    field("uname", h.uname.as_bytes());
    field("gname", h.gname.as_bytes());
    field("devmajor", h.devmajor.to_string().as_bytes());
    field("devminor", h.devminor.to_string().as_bytes());
    b
}

/// How a release's client and daemon filled the header fields of a build-context file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextConventions {
    /// The owner name written for uid/gid 0.
    pub owner_name: &'static str,
    /// Which mode bits are hashed (the file type bits never are).
    pub mode_mask: u32,
}

impl ContextConventions {
    pub fn for_profile(profile: &Profile) -> ContextConventions {
        match profile.release() {
            // Releases up to 17.06 hashed the owner names `root` (the bases of 1.10 to 17.06
            // documents, shared/bases/entries.tsv); 17.12 (Go 1.9, whose FileInfoHeader is 1.8's)
            // is assumed to do the same. Verifiers try both conventions.
            Release::Docker110
            | Release::Docker112
            | Release::Docker113
            | Release::Docker1706
            | Release::Docker1712 => ContextConventions {
                owner_name: "root",
                mode_mask: 0o7777,
            },
            Release::Docker1806 | Release::Docker2010 => ContextConventions {
                owner_name: "",
                mode_mask: 0o7777,
            },
        }
    }
}

/// The `file:` hash (hex, without the prefix) of a regular file of the build context.
/// `name` is its path relative to the context directory; `mode` its permission bits with
/// setuid/setgid/sticky. The owner is always hashed as 0:0, as clients send the context as root.
pub fn context_file_hash(name: &str, mode: u32, content: &[u8], profile: &Profile) -> Digest {
    let conv = ContextConventions::for_profile(profile);
    context_file_hash_with(name, mode & conv.mode_mask, content, conv.owner_name)
}

/// [`context_file_hash`] with the owner-name convention given directly (`root` as 17.06 and
/// earlier clients sent it, or empty as 18.06 and later), for verifiers that try both.
pub fn context_file_hash_with(name: &str, mode: u32, content: &[u8], owner_name: &str) -> Digest {
    let h = context_header(name.trim_start_matches("./"), mode, content.len() as u64, owner_name);
    tarsum_v1(&h, content)
}

/// The tarsum header of a build-context file: owner 0:0, a regular file.
fn context_header(name: &str, mode: u32, size: u64, owner_name: &str) -> TarsumHeader {
    TarsumHeader {
        name: name.to_string(),
        mode: i64::from(mode),
        uid: 0,
        gid: 0,
        size,
        typeflag: b'0',
        linkname: String::new(),
        uname: owner_name.to_string(),
        gname: owner_name.to_string(),
        devmajor: 0,
        devminor: 0,
    }
}

/// The permission modes a build-context file commonly had: a checkout under umask 022 or 002,
/// for plain files and executables. The `file:` hash covers the mode, and a file fetched today
/// (a download, a checkout under another umask) rarely keeps the builder's.
pub const CONTEXT_MODES: [u32; 4] = [0o644, 0o664, 0o755, 0o775];

/// The mode under which `content`, named `name`, hashes to the `file:` hash `hex` for `profile`:
/// `own_mode` first (the file's mode on disk), then [`CONTEXT_MODES`]. `None` when no mode does,
/// that is, when the content or the name is not the one the builder hashed.
pub fn context_mode_for(name: &str, own_mode: u32, content: &[u8], hex: &str, profile: &Profile) -> Option<u32> {
    // A slice reads without error and gives exactly its length.
    let modes = candidate_modes(own_mode);
    hash_context_stream(
        name,
        &modes,
        content.len() as u64,
        &mut &content[..],
        &mut io::sink(),
        profile,
    )
    .ok()?
    .mode_for(hex)
}

/// [`context_file_hash`] of a file on disk, read once as a stream (a file of any size takes no
/// more memory); `name` defaults to the file's base name.
pub fn hash_file_on_disk(path: &Path, name: Option<&str>, profile: &Profile) -> std::io::Result<Digest> {
    use std::os::unix::fs::PermissionsExt;
    let mut file = crate::fsutil::open_regular(path)?;
    let meta = file.metadata()?;
    let default_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = name.unwrap_or(&default_name);
    let mode = meta.permissions().mode() & 0o7777;
    let hashes = hash_context_stream(name, &[mode], meta.len(), &mut file, &mut io::sink(), profile)?;
    Ok(hashes.own())
}

/// The `file:` hashes of one file's content under several modes, from one streaming pass: the
/// content is never held in memory, whatever its size.
#[derive(Debug, Clone)]
pub struct ContextHashes {
    /// (mode, hash) in the order the modes were given, the file's own mode first.
    by_mode: Vec<(u32, Digest)>,
}

/// The modes a `file:` hash is tried under, in order: the file's own, then [`CONTEXT_MODES`].
pub fn candidate_modes(own_mode: u32) -> Vec<u32> {
    std::iter::once(own_mode & 0o7777).chain(CONTEXT_MODES).collect()
}

impl ContextHashes {
    /// The first mode under which the content hashes to `hex`.
    pub fn mode_for(&self, hex: &str) -> Option<u32> {
        self.by_mode.iter().find(|(_, d)| d.hex() == hex).map(|(m, _)| *m)
    }

    /// The hash under the first mode given (the file's own).
    pub fn own(&self) -> Digest {
        self.by_mode[0].1
    }
}

/// Hashes `size` bytes read from `content`, named `name`, under each of `modes` (at least one), in
/// one pass; every byte read is also written to `copy` (a private copy, or `io::sink()`). A reader
/// that gives more or fewer than `size` bytes (a file changed while it was read) is an error: the
/// size is part of what was hashed.
pub fn hash_context_stream(
    name: &str,
    modes: &[u32],
    size: u64,
    content: &mut dyn Read,
    copy: &mut dyn Write,
    profile: &Profile,
) -> io::Result<ContextHashes> {
    let conv = ContextConventions::for_profile(profile);
    let headers: Vec<(u32, &str)> = modes.iter().map(|&m| (m & conv.mode_mask, conv.owner_name)).collect();
    let digests = hash_context_headers(name, &headers, size, content, copy)?;
    let by_mode = modes.iter().copied().zip(digests).collect();
    Ok(ContextHashes { by_mode })
}

/// The `file:` hashes of `size` bytes read once from `content` under each (mode, owner name)
/// header, in order; every byte read is also written to `copy`. A reader that gives more or fewer
/// than `size` bytes is an error.
pub fn hash_context_headers(
    name: &str,
    headers: &[(u32, &str)],
    size: u64,
    content: &mut dyn Read,
    copy: &mut dyn Write,
) -> io::Result<Vec<Digest>> {
    let name = name.trim_start_matches("./");
    let mut states: Vec<Sha256> = headers
        .iter()
        .map(|&(mode, owner)| {
            let mut s = Sha256::new();
            s.update(tarsum_v1_header_bytes(&context_header(name, mode, size, owner)));
            s
        })
        .collect();
    let mut buf = vec![0u8; 256 << 10];
    let mut read = 0u64;
    loop {
        let n = match content.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        read += n as u64;
        if read > size {
            break;
        }
        for s in &mut states {
            s.update(&buf[..n]);
        }
        copy.write_all(&buf[..n])?;
    }
    if read != size {
        return Err(io::Error::other(format!(
            "changed while it was read (it had {size} bytes when opened)"
        )));
    }
    Ok(states
        .into_iter()
        .map(|s| Digest::from_bytes(s.finalize().into()))
        .collect())
}

/// Most entries a COPY source tree may hold; a larger one is refused rather than read.
pub const MAX_SOURCE_ENTRIES: usize = 1_000_000;

/// Where the classic builder read a COPY source from, which decides how it hashed each entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceOrigin {
    /// The build context: the client's tar as the daemon received it (owner 0:0, the release's
    /// owner name, permission bits only, hard links as typeflag `1`).
    Context,
    /// A stage's root file system (`COPY --from`): the daemon's lazy source hashed each file from
    /// its own `lstat` (`remotecontext.NewFileHash`): the file type bits in the mode (`0100644`),
    /// the numeric owner, the names the daemon's host gives those ids, no hard-link detection.
    Stage,
}

/// What one entry of a COPY source is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    Dir,
    /// A regular file and its size; the content is read from disk when hashed or copied.
    File(u64),
    Symlink(String),
    /// A later name of a file seen earlier in the walk, named by that file's path below the
    /// source (the builder's tar names it from the context or the destination).
    Hardlink(String),
}

/// One entry of a COPY source as read from disk, in the builder's walk order (names sorted,
/// a directory before its content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceEntry {
    /// The path below the source, `/`-separated; empty for the source itself.
    pub rel: String,
    /// Where a file's content is read, unless `data` holds it (a source read from a tarball).
    pub disk: std::path::PathBuf,
    pub data: Option<std::sync::Arc<[u8]>>,
    pub kind: SourceKind,
    /// Permission bits with setuid/setgid/sticky.
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: i64,
}

/// Reads a COPY source (a file, a symlink or a directory tree) into entries in the order the
/// builder's tar walk visits them. Hard links inside a tree are found by inode: the first name in
/// the walk is the file, later ones name it.
pub fn read_source(path: &Path) -> std::io::Result<Vec<SourceEntry>> {
    let mut out = Vec::new();
    let mut inodes = std::collections::HashMap::new();
    read_source_into(path, "", &mut inodes, &mut out)?;
    Ok(out)
}

fn read_source_into(
    path: &Path,
    rel: &str,
    inodes: &mut std::collections::HashMap<(u64, u64), String>,
    out: &mut Vec<SourceEntry>,
) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    if out.len() >= MAX_SOURCE_ENTRIES {
        return Err(std::io::Error::other(format!(
            "{}: more than {MAX_SOURCE_ENTRIES} entries in a COPY source",
            path.display()
        )));
    }
    let meta = std::fs::symlink_metadata(path)?;
    let kind = if meta.is_dir() {
        SourceKind::Dir
    } else if meta.file_type().is_symlink() {
        SourceKind::Symlink(std::fs::read_link(path)?.to_string_lossy().into_owned())
    } else if !meta.is_file() {
        return Err(std::io::Error::other(format!(
            "{}: a COPY source holds only files, directories and symlinks",
            path.display()
        )));
    } else if meta.nlink() > 1 {
        match inodes.entry((meta.dev(), meta.ino())) {
            std::collections::hash_map::Entry::Occupied(first) => SourceKind::Hardlink(first.get().clone()),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(rel.to_string());
                SourceKind::File(meta.len())
            }
        }
    } else {
        SourceKind::File(meta.len())
    };
    let is_dir = kind == SourceKind::Dir;
    out.push(SourceEntry {
        rel: rel.to_string(),
        disk: path.to_path_buf(),
        data: None,
        kind,
        mode: meta.mode() & 0o7777,
        uid: u64::from(meta.uid()),
        gid: u64::from(meta.gid()),
        mtime: meta.mtime(),
    });
    if is_dir {
        let mut names: Vec<_> = std::fs::read_dir(path)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()?;
        names.sort();
        for n in names {
            let child = join_rel(rel, &n.to_string_lossy());
            read_source_into(&path.join(&n), &child, inodes, out)?;
        }
    }
    Ok(())
}

/// The size of a hard-linked file, read again from disk (the link entry carries none).
fn stage_size(e: &SourceEntry) -> u64 {
    match &e.data {
        Some(d) => d.len() as u64,
        None => std::fs::metadata(&e.disk).map(|m| m.len()).unwrap_or(0),
    }
}

impl SourceEntry {
    /// The content of a file (or of the file a hard link names, for a tarball's links).
    pub fn content(&self) -> std::io::Result<Vec<u8>> {
        match &self.data {
            Some(d) => Ok(d.to_vec()),
            None => std::fs::read(&self.disk),
        }
    }
}

/// `a` and `b` joined with `/`, either may be empty.
pub fn join_rel(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}/{b}"),
    }
}

/// How the owner names and the mode's type bits were filled for one hashing attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashConvention<'a> {
    pub origin: SourceOrigin,
    /// Context: the owner name written for root; stage: the profile whose host names the ids.
    pub context_owner: &'static str,
    pub profile: &'a Profile,
    /// Stage only: the root owner hashed as `root` even when the profile looked no names up (a
    /// daemon whose Go looked names up while its layers did not).
    pub root_named: bool,
}

impl HashConvention<'_> {
    /// The conventions a verifier tries for `origin`: the profile's own first.
    pub fn candidates(origin: SourceOrigin, profile: &Profile) -> Vec<HashConvention<'_>> {
        let own = ContextConventions::for_profile(profile).owner_name;
        let other = if own.is_empty() { "root" } else { "" };
        let mk = |context_owner, root_named| HashConvention {
            origin,
            context_owner,
            profile,
            root_named,
        };
        match origin {
            SourceOrigin::Context => vec![mk(own, false), mk(other, false)],
            SourceOrigin::Stage => vec![mk(own, true), mk(own, false)],
        }
    }

    fn header(&self, e: &SourceEntry, source_name: &str) -> TarsumHeader {
        let (typeflag, type_bits, size, linkname) = match &e.kind {
            SourceKind::Dir => (b'5', 0o040000, 0, String::new()),
            SourceKind::File(size) => (b'0', 0o100000, *size, String::new()),
            SourceKind::Symlink(t) => (b'2', 0o120000, 0, t.clone()),
            // The client's tar links a later name to the first; a stage's files are hashed one
            // by one from their own `lstat`, so a second name is a file like the first.
            SourceKind::Hardlink(t) if self.origin == SourceOrigin::Context => {
                (b'1', 0o100000, 0, join_rel(source_name, t))
            }
            SourceKind::Hardlink(_) => (b'0', 0o100000, stage_size(e), String::new()),
        };
        let name = join_rel(source_name, &e.rel);
        let dir_slash = if e.kind == SourceKind::Dir { "/" } else { "" };
        let (mode, uid, gid, uname, gname) = match self.origin {
            SourceOrigin::Context => {
                let o = self.context_owner.to_string();
                (e.mode & 0o7777, 0, 0, o.clone(), o)
            }
            SourceOrigin::Stage => {
                let name_of = |id: u64, looked: &str| match (looked, id, self.root_named) {
                    ("", 0, true) => "root".to_string(),
                    (n, _, _) => n.to_string(),
                };
                let uname = name_of(e.uid, self.profile.uname(e.uid));
                let gname = name_of(e.gid, self.profile.gname(e.gid));
                (type_bits | (e.mode & 0o7777), e.uid, e.gid, uname, gname)
            }
        };
        TarsumHeader {
            name: format!("{name}{dir_slash}"),
            mode: i64::from(mode),
            uid,
            gid,
            size,
            typeflag,
            linkname,
            uname,
            gname,
            devmajor: 0,
            devminor: 0,
        }
    }

    /// The tarsum of one entry of the source named `source_name` (its path in the context or
    /// the stage, no leading `/`).
    pub fn entry_hash(&self, e: &SourceEntry, source_name: &str) -> std::io::Result<Digest> {
        let mut s = Sha256::new();
        s.update(tarsum_v1_header_bytes(&self.header(e, source_name)));
        let stage_link = self.origin == SourceOrigin::Stage && matches!(e.kind, SourceKind::Hardlink(_));
        if matches!(e.kind, SourceKind::File(_)) || stage_link {
            match &e.data {
                Some(d) => s.update(d),
                None => {
                    std::io::copy(&mut std::fs::File::open(&e.disk)?, &mut s)?;
                }
            }
        }
        Ok(Digest::from_bytes(s.finalize().into()))
    }

    /// The reference the builder recorded for a source read by [`read_source`] as `name`:
    /// `file:<tarsum>` for a file, `dir:<sha256 of the sorted entry tarsums joined by ",">` for
    /// a directory (`hashStringSlice("dir", ...)`, the directory itself included).
    pub fn source_reference(&self, entries: &[SourceEntry], name: &str) -> std::io::Result<String> {
        match entries {
            [one] if one.kind != SourceKind::Dir => Ok(format!("file:{}", self.entry_hash(one, name)?.hex())),
            _ => {
                let mut sums = entries
                    .iter()
                    .map(|e| self.entry_hash(e, name).map(|d| d.hex()))
                    .collect::<std::io::Result<Vec<_>>>()?;
                sums.sort();
                Ok(format!("dir:{}", Digest::of(sums.join(",").as_bytes()).hex()))
            }
        }
    }
}

/// The `multi:` hash of a COPY of several sources: sha256 over their references (`file:<hex>`,
/// `dir:<hex>`) in the Dockerfile's order joined by `,` (`hashStringSlice("multi", ...)`).
pub fn multi_hash(references: &[String]) -> Digest {
    Digest::of(references.join(",").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn sha_hex(bytes: &[u8]) -> String {
        Digest::of(bytes).hex()
    }

    #[test]
    fn formula_spelled_out() {
        let content = b"#!/bin/sh\necho hello\n";
        let p18 = Profile::docker_18_06();
        let expected = sha_hex(
            &[
                b"nameentry.shmode509uid0gid0size21typeflag0linknameunamegnamedevmajor0devminor0".as_slice(),
                content,
            ]
            .concat(),
        );
        assert_eq!(context_file_hash("entry.sh", 0o775, content, &p18).hex(), expected);
        assert_eq!(context_file_hash("./entry.sh", 0o775, content, &p18).hex(), expected);
        let expected17 = sha_hex(
            &[
                b"nameentry.shmode509uid0gid0size21typeflag0linknameunamerootgnamerootdevmajor0devminor0".as_slice(),
                content,
            ]
            .concat(),
        );
        assert_eq!(
            context_file_hash("entry.sh", 0o775, content, &Profile::docker_17_06()).hex(),
            expected17
        );
    }

    #[test]
    fn debian_20_10_hashes_without_names_or_type_bits() {
        // Measured against Debian's docker.io 20.10.24: `COPY sub/x.txt` of a 0755 file owned
        // by 1000:1000 containing "nested\n" was recorded as file:cf5504307e49... (owner 0:0).
        let p = Profile::docker_20_10_with_names(BTreeMap::new(), BTreeMap::new());
        assert_eq!(
            context_file_hash("sub/x.txt", 0o755, b"nested\n", &p).hex(),
            "cf5504307e494bc6d82fa1a9fa89fb262c78336de2c500c652e6d2590791c4b6"
        );
        // ... and `COPY entry.sh` (0775, "#!/bin/sh\necho hello\n") as file:67ba0a205d8d...
        assert_eq!(
            context_file_hash("entry.sh", 0o775, b"#!/bin/sh\necho hello\n", &p).hex(),
            "67ba0a205d8d2d4187b43191076bac09c3fcdca33e322c6acb2c3c46a3056a0a"
        );
    }
    /// Writes `files` (path, mode, content; content `None` for a directory, `Some` of a path
    /// starting with `=` for a hard link to it) under a temporary directory.
    fn tree(files: &[(&str, u32, Option<&str>)]) -> tempfile::TempDir {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        for (path, mode, content) in files {
            let p = dir.path().join(path);
            match content {
                None => std::fs::create_dir_all(&p).unwrap(),
                Some(c) if c.starts_with('=') => std::fs::hard_link(dir.path().join(&c[1..]), &p).unwrap(),
                Some(c) => std::fs::write(&p, c).unwrap(),
            }
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode)).unwrap();
        }
        dir
    }

    /// The references Debian's Docker 20.10 classic builder recorded (`docker history`) for
    /// `COPY tree /srv/a/b/tree`, `COPY hl /hl`, `COPY mt /mt` and `COPY suid sgid sgidnx /bin2/`
    /// of these context files (h3's experiment, 2026-12-06).
    #[test]
    fn context_directories_and_several_sources_hash_as_the_20_10_builder_recorded() {
        let p = Profile::docker_20_10_with_names(BTreeMap::new(), BTreeMap::new());
        let conv = HashConvention::candidates(SourceOrigin::Context, &p)[0];
        let cases: [(&str, &[(&str, u32, Option<&str>)], &str); 3] = [
            (
                "tree",
                &[
                    ("tree", 0o755, None),
                    ("tree/a.txt", 0o644, Some("a\n")),
                    ("tree/sub", 0o755, None),
                    ("tree/sub/b.txt", 0o644, Some("b\n")),
                ],
                "dir:934e976f6f9af072610de2e49c02a0f2b1cbfb43b2726af2abcfd847cbfaf96b",
            ),
            (
                "hl",
                &[
                    ("hl", 0o755, None),
                    ("hl/one", 0o644, Some("hello\n")),
                    ("hl/two", 0o644, Some("=hl/one")),
                ],
                "dir:18a2c2bf09a1617245ea02edf1fa5d78e07613874ba4c446c302fd51f6458db2",
            ),
            (
                "mt",
                &[
                    ("mt", 0o755, None),
                    ("mt/x", 0o644, Some("x\n")),
                    ("mt/y", 0o644, Some("y\n")),
                ],
                "dir:9df7f10a8d613a30f2effb0072820274e6f41386ee4252773e418be561e01bbe",
            ),
        ];
        for (name, files, want) in cases {
            let dir = tree(files);
            let entries = read_source(&dir.path().join(name)).unwrap();
            assert_eq!(conv.source_reference(&entries, name).unwrap(), want, "{name}");
        }
        let dir = tree(&[
            ("suid", 0o4755, Some("s\n")),
            ("sgid", 0o2755, Some("g\n")),
            ("sgidnx", 0o2744, Some("g2\n")),
        ]);
        let refs: Vec<String> = ["suid", "sgid", "sgidnx"]
            .iter()
            .map(|n| {
                conv.source_reference(&read_source(&dir.path().join(n)).unwrap(), n)
                    .unwrap()
            })
            .collect();
        assert_eq!(
            multi_hash(&refs).hex(),
            "dcf853e4d1dbc5fb4df1d4067f99c19d95188ddeafbb539b11c23f11bd137c7a"
        );
    }

    /// `COPY --from=one /bin2/suid /etc/passwd /`, `COPY --from=one /bin2/ /b/` and
    /// `COPY --from=one /out/d/f /f1` as the same builder recorded them: stage files hashed with
    /// the type bits in the mode, their numeric owner and the host's names for it.
    #[test]
    fn stage_files_hash_as_the_20_10_builder_recorded() {
        let dir = tree(&[
            ("bin2", 0o755, None),
            ("bin2/sgid", 0o755, Some("g\n")),
            ("bin2/sgidnx", 0o2744, Some("g2\n")),
            ("bin2/suid", 0o755, Some("s\n")),
            ("etc", 0o755, None),
            ("etc/passwd", 0o644, Some(DEMO_PASSWD)),
            ("f", 0o4755, Some("x\n")),
        ]);
        let owned = |path: &str, uid: u64| -> Vec<SourceEntry> {
            let mut e = read_source(&dir.path().join(path)).unwrap();
            e.iter_mut().for_each(|e| (e.uid, e.gid) = (uid, uid));
            e
        };
        let names = BTreeMap::from([(1000, "cloudsdk".to_string())]);
        let p = Profile::docker_20_10_with_names(names.clone(), names);
        let conv = HashConvention::candidates(SourceOrigin::Stage, &p)[0];
        let refs = [
            conv.source_reference(&owned("bin2/suid", 0), "bin2/suid").unwrap(),
            conv.source_reference(&owned("etc/passwd", 0), "etc/passwd").unwrap(),
        ];
        assert_eq!(
            multi_hash(&refs).hex(),
            "cfe1d279206109eb02b472596a0b3bbc17f5485473772e1b614f21ff095c65f1"
        );
        assert_eq!(
            conv.source_reference(&owned("bin2", 0), "bin2").unwrap(),
            "dir:5cde05dc937b4663334509f1c0960f7d0d01d4a20dd41e66532cd53e61dd921d"
        );
        assert_eq!(
            conv.source_reference(&owned("f", 1000), "out/d/f").unwrap(),
            "file:3c5daaaac4b552472499c8c0d81a150488f261b451d79820e85ff9399e87db27"
        );
    }

    /// The fixture root file system's `/etc/passwd` (xtask `make_rootfs_tar`).
    const DEMO_PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\ndemo:x:1000:1000:retrace demo:/srv/demo:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
}
