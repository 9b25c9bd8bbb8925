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
    let name = name.trim_start_matches("./");
    let h = TarsumHeader {
        name: name.to_string(),
        mode: i64::from(mode),
        uid: 0,
        gid: 0,
        size: content.len() as u64,
        typeflag: b'0',
        linkname: String::new(),
        uname: owner_name.to_string(),
        gname: owner_name.to_string(),
        devmajor: 0,
        devminor: 0,
    };
    tarsum_v1(&h, content)
}

/// The permission modes a build-context file commonly had: a checkout under umask 022 or 002,
/// for plain files and executables. The `file:` hash covers the mode, and a file fetched today
/// (a download, a checkout under another umask) rarely keeps the builder's.
pub const CONTEXT_MODES: [u32; 4] = [0o644, 0o664, 0o755, 0o775];

/// The mode under which `content`, named `name`, hashes to the `file:` hash `hex` for `profile`:
/// `own_mode` first (the file's mode on disk), then [`CONTEXT_MODES`]. `None` when no mode does,
/// that is, when the content or the name is not the one the builder hashed.
pub fn context_mode_for(name: &str, own_mode: u32, content: &[u8], hex: &str, profile: &Profile) -> Option<u32> {
    std::iter::once(own_mode & 0o7777)
        .chain(CONTEXT_MODES)
        .find(|&mode| context_file_hash(name, mode, content, profile).hex() == hex)
}

/// [`context_file_hash`] of a file on disk; `name` defaults to the file's base name.
pub fn hash_file_on_disk(path: &Path, name: Option<&str>, profile: &Profile) -> std::io::Result<Digest> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{}: not a regular file", path.display()),
        ));
    }
    let content = std::fs::read(path)?;
    let default_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = name.unwrap_or(&default_name);
    Ok(context_file_hash(
        name,
        meta.permissions().mode() & 0o7777,
        &content,
        profile,
    ))
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
}
