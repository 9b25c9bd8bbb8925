//! Members of a plain tar, read in place by name: the `docker save` archives that users, recipes
//! and retrace's own engine hand over. One pass over the headers, seeking past the contents,
//! indexes the members under the same limits and path checks as [`read_archive`](super::read_archive)
//! (entry count, entry size, path lengths, no escaping path or hard link); a member is then read
//! straight from its offset in the file, so a layer of gigabytes is never held in memory.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use std::io::BufReader;

use super::gotar::{self, GoTarError};
use super::{detect_compression, malformed, normalize, ArchiveError, Compression, Kind, Limits, Walker};

/// Symbolic links followed from one member to another (`docker save` links a layer shared by
/// several images to its first copy); a longer chain is refused rather than followed in a loop.
pub const MAX_MEMBER_LINKS: usize = 4;

/// The most members indexed: each takes a few hundred bytes of memory, and a `docker save`
/// archive has three or four per layer.
pub const MAX_MEMBERS: u64 = 100_000;

/// One member: its checked path, kind and size, and where its content starts in the file. The
/// header's other fields (owner, mode, times) are not read: a member is not extracted, and
/// archives written by hand leave them empty.
#[derive(Debug, Clone)]
pub struct Member {
    pub path: String,
    pub kind: Kind,
    pub size: u64,
    pub offset: u64,
}

/// The members of one plain tar file, by normalized name (no `./` prefix).
#[derive(Debug)]
pub struct TarMembers {
    path: PathBuf,
    members: BTreeMap<String, Member>,
}

impl TarMembers {
    /// Indexes the tar at `path` under the default [`Limits`], with at most [`MAX_MEMBERS`]
    /// members.
    pub fn index(path: &Path) -> Result<TarMembers, ArchiveError> {
        let limits = Limits {
            max_entries: MAX_MEMBERS,
            ..Limits::default()
        };
        TarMembers::index_with(path, &limits)
    }

    /// Indexes the tar at `path` under `limits`. A compressed file is refused: its members cannot
    /// be reached by offset, and `docker save` writes plain tar.
    pub fn index_with(path: &Path, limits: &Limits) -> Result<TarMembers, ArchiveError> {
        let mut file = crate::fsutil::open_regular(path)?;
        refuse_compressed(&mut file)?;
        let len = file.metadata()?.len();
        let file = Positioned {
            inner: BufReader::new(file),
            pos: 0,
            len,
        };
        let mut reader = gotar::Reader::with_skip(file, Positioned::skip);
        let mut walker = Walker::new(limits);
        let mut members = BTreeMap::new();
        let mut previous = String::from("(start of archive)");
        loop {
            let hdr = match reader.next() {
                Ok(Some(hdr)) => hdr,
                Ok(None) => break,
                Err(source) => return Err(refused(source, &format!("after {previous}"))),
            };
            if super::docker_extracts(hdr.typeflag) == super::Extraction::Ignore {
                continue;
            }
            let member = member(&mut walker, &hdr, &reader)?;
            previous = member.path.clone();
            // The archive root (`./`) names no member.
            if !previous.is_empty() {
                members.insert(previous.clone(), member);
            }
        }
        Ok(TarMembers {
            path: path.to_path_buf(),
            members,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every member, in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }

    /// The regular file `name` stands for, following links between members.
    pub fn find(&self, name: &str) -> Result<&Member, ArchiveError> {
        let mut name = normalize(name.as_bytes(), usize::MAX).unwrap_or_else(|_| name.to_string());
        for _ in 0..=MAX_MEMBER_LINKS {
            let member = self
                .members
                .get(&name)
                .ok_or_else(|| ArchiveError::MissingMember { member: name.clone() })?;
            name = match &member.kind {
                Kind::File => return Ok(member),
                Kind::Symlink(target) => resolve_link(&name, target),
                // Hard link targets are already normalized paths from the archive root.
                Kind::Hardlink(target) => target.clone(),
                other => {
                    return Err(malformed(
                        &name,
                        format!("a {} where a file was expected", other.name()),
                    ))
                }
            };
        }
        Err(ArchiveError::MemberLinks {
            member: name,
            limit: MAX_MEMBER_LINKS,
        })
    }

    /// A reader over the content of the file `name` stands for.
    pub fn open(&self, name: &str) -> Result<std::io::Take<File>, ArchiveError> {
        let member = self.find(name)?;
        let mut file = crate::fsutil::open_regular(&self.path)?;
        file.seek(SeekFrom::Start(member.offset))?;
        Ok(file.take(member.size))
    }

    /// The whole content of a small member (a JSON document), refused past `limit` bytes before
    /// any of it is read.
    pub fn read_small(&self, name: &str, limit: u64) -> Result<Vec<u8>, ArchiveError> {
        let member = self.find(name)?;
        if member.size > limit {
            return Err(ArchiveError::EntryTooLarge {
                entry: member.path.clone(),
                size: member.size,
                limit,
            });
        }
        let mut bytes = Vec::new();
        self.open(name)?.read_to_end(&mut bytes)?;
        Ok(bytes)
    }
}

/// Refuses a compressed file by its magic bytes, leaving the file at its start.
fn refuse_compressed(file: &mut File) -> Result<(), ArchiveError> {
    let mut magic = [0u8; 6];
    let mut n = 0;
    while n < magic.len() {
        match file.read(&mut magic[n..])? {
            0 => break,
            k => n += k,
        }
    }
    file.rewind()?;
    match detect_compression(&magic[..n])? {
        Compression::None => Ok(()),
        compression => Err(ArchiveError::CompressedMembers { compression }),
    }
}

/// Checks one header and records where its content lies, refusing content that would run past
/// the end of the file (a truncated archive, or a header that lies about its size).
fn member(
    walker: &mut Walker,
    hdr: &gotar::Header,
    reader: &gotar::Reader<Positioned>,
) -> Result<Member, ArchiveError> {
    let (path, kind, size) = walker.locate(hdr)?;
    if reader.stored_size() != size {
        return Err(malformed(&path, "a sparse member cannot be read in place".into()));
    }
    let file = reader.get_ref();
    let offset = file.pos;
    if offset.saturating_add(size) > file.len {
        let left = file.len.saturating_sub(offset);
        return Err(malformed(
            &path,
            format!("truncated: {size} content bytes declared, {left} left in the file"),
        ));
    }
    Ok(Member {
        path,
        kind,
        size,
        offset,
    })
}

/// The tar reader's refusal, or its read's failure, at `entry`.
fn refused(source: GoTarError, entry: &str) -> ArchiveError {
    match source {
        GoTarError::Io(e) => ArchiveError::Io(io::Error::new(e.kind(), e.to_string())),
        source => ArchiveError::Tar {
            entry: entry.to_string(),
            source,
        },
    }
}

/// The file being indexed, with the position the tar reader reached: where a member's content
/// starts once its header is read. Content is passed over by seeking, as Go's reader seeks a file.
struct Positioned {
    inner: BufReader<File>,
    pos: u64,
    len: u64,
}

impl Read for Positioned {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Positioned {
    /// Seeks over `n` bytes, or to the end of the file when fewer are left.
    fn skip(&mut self, n: u64) -> io::Result<u64> {
        let n = n.min(self.len.saturating_sub(self.pos));
        let step = i64::try_from(n).map_err(io::Error::other)?;
        self.inner.seek_relative(step)?;
        self.pos += n;
        Ok(n)
    }
}

/// The member a symbolic link names: `a/layer.tar` linking to `../b/layer.tar` means `b/layer.tar`.
fn resolve_link(member: &str, target: &str) -> String {
    let mut parts: Vec<&str> = member.split('/').collect();
    parts.pop();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::resolve_link;

    #[test]
    fn links_resolve_relative_to_the_member() {
        assert_eq!(resolve_link("a/layer.tar", "../b/layer.tar"), "b/layer.tar");
        assert_eq!(resolve_link("a/layer.tar", "./c.tar"), "a/c.tar");
    }
}
