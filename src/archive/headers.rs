//! One header from [`gotar`](super::gotar) turned into a checked [`ArchiveEntry`]: the path
//! normalized and bounded, the type mapped by moby's extraction rule ([`docker_extracts`]), link
//! targets bounded and hard links kept inside the archive.

use std::collections::BTreeMap;

use super::gotar::{Format, Header};
use super::{display_bytes, malformed, normalize, ArchiveEntry, ArchiveError, Kind, Walker};

/// What Docker's `pkg/archive` does with an entry of this type. `createTarFile` has had the same
/// switch in every release from 1.10 to 20.10 (and since): regular files (Go has already turned
/// the pre-POSIX `\0` type into a file or a directory), directories, hard and symbolic links,
/// devices and FIFOs are created; a PAX global header (`g`) is skipped ("PAX Global Extended
/// Headers found and ignored"); any other type fails the extraction ("unhandled tar header
/// type"), and with it the `docker load`, the layer pull or the `ADD`. That includes old GNU
/// sparse files (`S`, which Go reads but leaves typed `S`) and contiguous files (`7`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extraction {
    Create,
    Ignore,
    Refuse,
}

pub fn docker_extracts(typeflag: u8) -> Extraction {
    match typeflag {
        b'0' | b'1' | b'2' | b'3' | b'4' | b'5' | b'6' => Extraction::Create,
        b'g' => Extraction::Ignore,
        _ => Extraction::Refuse,
    }
}

impl Walker<'_> {
    /// Counts and checks one entry's path, size and kind, the facts every reader needs. The
    /// size is the content Go yields: none for the types that have none.
    pub(super) fn locate(&mut self, hdr: &Header) -> Result<(String, Kind, u64), ArchiveError> {
        let path = self.entry_path(&hdr.name)?;
        let kind = self.kind(hdr, &path)?;
        let size = match kind {
            Kind::File => u64::try_from(hdr.size).map_err(|_| malformed(&path, "negative size".into()))?,
            _ => 0,
        };
        if size > self.limits.max_entry_size {
            return Err(ArchiveError::EntryTooLarge {
                entry: path,
                size,
                limit: self.limits.max_entry_size,
            });
        }
        self.record_links(&path, &kind)?;
        Ok((path, kind, size))
    }

    pub(super) fn describe(&mut self, hdr: &Header) -> Result<ArchiveEntry, ArchiveError> {
        let (path, kind, size) = self.locate(hdr)?;
        let id = |n: i64, what: &str| u64::try_from(n).map_err(|_| malformed(&path, format!("negative {what}")));
        Ok(ArchiveEntry {
            uid: id(hdr.uid, "uid")?,
            gid: id(hdr.gid, "gid")?,
            mode: (hdr.mode & 0o7777) as u32,
            uname: display_bytes(&hdr.uname),
            gname: display_bytes(&hdr.gname),
            // Go's ModTime.Unix(): whole seconds, a fraction floored.
            mtime: hdr.mtime.map_or(0, |t| t.secs),
            size,
            xattrs: hdr
                .xattrs
                .iter()
                .map(|(k, v)| (display_bytes(k), v.clone()))
                .collect::<BTreeMap<_, _>>(),
            format: format_name(hdr),
            path,
            kind,
        })
    }

    /// Counts the entry and returns its path, normalized and checked against the limits and the
    /// symbolic links seen so far.
    fn entry_path(&mut self, raw_path: &[u8]) -> Result<String, ArchiveError> {
        let shown = display_bytes(raw_path);
        self.count += 1;
        if self.count > self.limits.max_entries {
            return Err(ArchiveError::TooManyEntries {
                entry: shown,
                limit: self.limits.max_entries,
            });
        }
        let path = normalize(raw_path, self.limits.max_path_len).map_err(|reason| reason.into_error(shown.clone()))?;
        self.charge_path(path.len(), &path)?;
        if let Some(symlink) = self.symlink_ancestor(&path) {
            return Err(ArchiveError::ThroughSymlink {
                entry: path.clone(),
                symlink: symlink.to_string(),
            });
        }
        Ok(path)
    }

    /// The entry's type by moby's rule, with a hard link's target checked to stay inside the
    /// archive.
    fn kind(&self, hdr: &Header, path: &str) -> Result<Kind, ArchiveError> {
        if docker_extracts(hdr.typeflag) != Extraction::Create {
            return Err(ArchiveError::Unextractable {
                entry: path.to_string(),
                typeflag: hdr.typeflag,
            });
        }
        let device = || -> Result<(u32, u32), ArchiveError> {
            let number = |n: i64| u32::try_from(n).map_err(|_| malformed(path, format!("device number {n}")));
            Ok((number(hdr.devmajor)?, number(hdr.devminor)?))
        };
        Ok(match hdr.typeflag {
            b'5' => Kind::Dir,
            b'2' => Kind::Symlink(self.link_target(&hdr.linkname, path)?),
            b'1' => Kind::Hardlink(self.hardlink_target(&hdr.linkname, path)?),
            b'3' => {
                let (a, b) = device()?;
                Kind::Char(a, b)
            }
            b'4' => {
                let (a, b) = device()?;
                Kind::Block(a, b)
            }
            b'6' => Kind::Fifo,
            _ => Kind::File,
        })
    }

    /// A hard link's target, normalized like a path and refused when it leaves the root or
    /// passes through a symlink of the archive.
    fn hardlink_target(&self, raw: &[u8], path: &str) -> Result<String, ArchiveError> {
        let target = self.link_target(raw, path)?;
        let escape = || ArchiveError::HardlinkEscape {
            entry: path.to_string(),
            target: target.clone(),
        };
        let normal = normalize(raw, self.limits.max_path_len).map_err(|_| escape())?;
        if normal.is_empty() || self.symlink_ancestor(&normal).is_some() {
            return Err(escape());
        }
        Ok(normal)
    }

    /// A symbolic or hard link's target as written, bounded like a path. Go's reader has cut a
    /// header's target at its first NUL; a PAX `linkpath` holding one is refused by Go already.
    fn link_target(&self, bytes: &[u8], path: &str) -> Result<String, ArchiveError> {
        if bytes.contains(&0) {
            return Err(ArchiveError::NulInPath {
                entry: path.to_string(),
            });
        }
        if bytes.len() > self.limits.max_path_len {
            return Err(ArchiveError::PathTooLong {
                entry: path.to_string(),
                limit: self.limits.max_path_len,
            });
        }
        Ok(display_bytes(bytes))
    }
}

/// How the header block was encoded (`ustar`, `gnu`, `v7`, with `+pax` after PAX records), from
/// Go's format guess: it carries no meaning for the file system, only for a byte-level diff.
fn format_name(hdr: &Header) -> String {
    let f = hdr.format;
    let family = if f.has(Format::GNU) {
        "gnu"
    } else if f.has(Format(Format::USTAR.0 | Format::PAX.0 | Format::STAR.0)) {
        "ustar"
    } else {
        "v7"
    };
    if hdr.pax_records.is_empty() {
        family.to_string()
    } else {
        format!("{family}+pax")
    }
}
