//! What Docker's `ADD rootfs.tar.* /` left in the container's upper directory, as layer entries in
//! the order pkg/archive's tar walk visits them.
//!
//! Docker's ADD extracts with pkg/archive `Untar` (`createTarFile` per header) into the container's
//! root, then commits the container: the layer is the walk of what the extraction created. This
//! module replays that extraction in memory, so no file system, privileges or engine are needed:
//! - a later header of the same path replaces the earlier one (a directory over a directory only
//!   updates its metadata);
//! - owners are the header's numeric uid/gid (no name lookup), modes the header's permission and
//!   setuid/setgid/sticky bits (symlinks keep 0777), mtimes the header's (directories get theirs
//!   once every entry is extracted, so later children do not disturb them);
//! - a hard link is another name of the same inode, and its header's owner, mode and mtime are
//!   applied to that inode; the walk writes the first of its names in walk order as the file and
//!   the others as links to it, whatever order the tarball had;
//! - xattrs from `SCHILY.xattr.` records are set on the inode (the writer keeps the ones Docker read);
//! - the root entry (`./`) is skipped, as Untar skips it;
//! - a parent directory the tarball does not list is created 0755 root:root at extraction time,
//!   whose mtime is not recorded anywhere: such a layer is reported, not guessed.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;

use crate::archive::{raw_bytes, read_archive, ArchiveEntry, ArchiveError, ArchiveSummary, Kind, Limits};
use crate::layer::{Entry, EntryKind};

/// One inode of the extracted tree.
#[derive(Debug, Clone)]
struct Inode {
    kind: InodeKind,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: i64,
    xattrs: BTreeMap<String, Vec<u8>>,
}

#[derive(Debug, Clone)]
enum InodeKind {
    File(Vec<u8>),
    Dir,
    Symlink(String),
    Char(u32, u32),
    Block(u32, u32),
    Fifo,
}

/// The memory an extracted tree may take: its files' bytes, plus [`ENTRY_COST`] and the path for
/// each entry. `layer add` and a build's base layer hold the tree in memory (it is rewritten under
/// each builder variant); real root file systems are a few hundred MB at most.
pub const MAX_TREE_BYTES: u64 = 1 << 30;

/// What one entry costs in memory besides its path and content: its inode, its key in the walk
/// order, and its copies while the layer is written.
pub const ENTRY_COST: u64 = 512;

/// The extracted tree: path -> inode index. Paths use the walk key (see `walk_key`) so the map's
/// order is the walk order.
#[derive(Debug, Default)]
pub struct Extracted {
    inodes: Vec<Inode>,
    paths: BTreeMap<Vec<u8>, usize>,
    /// The memory charged so far against [`MAX_TREE_BYTES`].
    held: u64,
    /// Directories the extraction had to create because the tarball did not list them.
    pub implicit_dirs: Vec<String>,
}

/// Go's `filepath.Walk` visits each directory's names sorted bytewise, parents before children.
/// Mapping '/' to NUL (which no name contains) makes plain byte order equal that walk order. The
/// key holds the name's own bytes (the archive reader's text form decoded), so a name that is not
/// UTF-8 sorts where Docker's walk met it.
fn walk_key(path: &str) -> Vec<u8> {
    raw_bytes(path)
        .into_iter()
        .map(|b| if b == b'/' { 0 } else { b })
        .collect()
}

fn path_of(key: &[u8]) -> Vec<u8> {
    key.iter().map(|&b| if b == 0 { b'/' } else { b }).collect()
}

impl Extracted {
    fn insert(&mut self, path: &str, inode: Inode) {
        self.inodes.push(inode);
        self.paths.insert(walk_key(path), self.inodes.len() - 1);
    }

    /// `os.RemoveAll(path)`: the path and, for a directory, everything below it.
    fn remove_all(&mut self, path: &str) {
        let key = walk_key(path);
        let mut below = key.clone();
        below.push(0);
        let doomed: Vec<Vec<u8>> = self
            .paths
            .range(key.clone()..)
            .map(|(k, _)| k)
            .take_while(|k| **k == key || k.starts_with(&below))
            .cloned()
            .collect();
        for k in doomed {
            self.paths.remove(&k);
        }
    }

    /// Untar's `MkdirAll` of a missing parent: 0777 under the daemon's umask 022, owned by root.
    fn ensure_parent(&mut self, path: &str, now: i64) {
        let Some((parent, _)) = path.rsplit_once('/') else {
            return;
        };
        if self.paths.contains_key(&walk_key(parent)) {
            return;
        }
        self.ensure_parent(parent, now);
        self.implicit_dirs.push(parent.to_string());
        self.insert(
            parent,
            Inode {
                kind: InodeKind::Dir,
                mode: 0o755,
                uid: 0,
                gid: 0,
                mtime: now,
                xattrs: BTreeMap::new(),
            },
        );
    }

    /// Charges `bytes` against [`MAX_TREE_BYTES`], or refuses the entry.
    fn charge(&mut self, e: &ArchiveEntry, bytes: u64) -> Result<(), ArchiveError> {
        self.held = self.held.saturating_add(bytes);
        if self.held > MAX_TREE_BYTES {
            return Err(ArchiveError::TreeTooLarge {
                entry: e.path.clone(),
                limit: MAX_TREE_BYTES,
            });
        }
        Ok(())
    }

    /// A file's content, read up to what is left of the budget. The header's size is not trusted
    /// for the allocation: it is what the archive claims, not what it holds.
    fn read_charged(&mut self, e: &ArchiveEntry, content: &mut dyn Read) -> Result<Vec<u8>, ArchiveError> {
        let left = MAX_TREE_BYTES.saturating_sub(self.held);
        let mut data = Vec::with_capacity(e.size.min(left).min(1 << 20) as usize);
        content.take(left + 1).read_to_end(&mut data)?;
        self.charge(e, data.len() as u64)?;
        Ok(data)
    }

    /// Applies one header the way `createTarFile` does.
    fn apply(&mut self, e: &ArchiveEntry, content: &mut dyn Read, now: i64) -> Result<(), ArchiveError> {
        self.charge(e, ENTRY_COST + e.path.len() as u64)?;
        self.ensure_parent(&e.path, now);
        let key = walk_key(&e.path);
        let existing = self.paths.get(&key).copied();
        if let Some(i) = existing {
            let both_dirs = matches!(self.inodes[i].kind, InodeKind::Dir) && e.kind == Kind::Dir;
            if both_dirs {
                let inode = &mut self.inodes[i];
                inode.mode = e.mode;
                inode.uid = e.uid;
                inode.gid = e.gid;
                inode.mtime = e.mtime;
                inode.xattrs.extend(e.xattrs.clone());
                return Ok(());
            }
            self.remove_all(&e.path);
        }
        let kind = match &e.kind {
            Kind::Hardlink(target) => {
                let Some(&i) = self.paths.get(&walk_key(target)) else {
                    return Err(ArchiveError::Malformed {
                        entry: e.path.clone(),
                        message: format!("hard link to `{target}`, which the archive has not created"),
                    });
                };
                // A new name for the same inode. The link header's owner is applied to it (Lchown),
                // and its mode and mtime too unless the target is a symlink: createTarFile tests
                // `os.Lstat(hdr.Linkname)`, which resolves inside the container's root because ADD
                // extracts chrooted there (chrootarchive).
                self.paths.insert(key, i);
                let inode = &mut self.inodes[i];
                inode.uid = e.uid;
                inode.gid = e.gid;
                inode.xattrs.extend(e.xattrs.clone());
                if !matches!(inode.kind, InodeKind::Symlink(_)) {
                    inode.mode = e.mode;
                    inode.mtime = e.mtime;
                }
                return Ok(());
            }
            Kind::File => InodeKind::File(self.read_charged(e, content)?),
            Kind::Dir => InodeKind::Dir,
            Kind::Symlink(t) => InodeKind::Symlink(t.clone()),
            Kind::Char(a, b) => InodeKind::Char(*a, *b),
            Kind::Block(a, b) => InodeKind::Block(*a, *b),
            Kind::Fifo => InodeKind::Fifo,
        };
        let mode = if matches!(kind, InodeKind::Symlink(_)) {
            0o777
        } else {
            e.mode
        };
        self.insert(
            &e.path,
            Inode {
                kind,
                mode,
                uid: e.uid,
                gid: e.gid,
                mtime: e.mtime,
                xattrs: e.xattrs.clone(),
            },
        );
        Ok(())
    }

    /// The layer's entries in walk order. A regular file with several names is written in full at
    /// the first name the walk meets and as a hard link to it at the others (pkg/archive's
    /// `SeenFiles`, keyed by inode and consulted only for regular files with nlink > 1).
    pub fn entries(&self) -> Vec<Entry> {
        let mut first_name: HashMap<usize, Vec<u8>> = HashMap::new();
        let mut out = Vec::with_capacity(self.paths.len());
        for (key, &i) in &self.paths {
            let path = path_of(key);
            let inode = &self.inodes[i];
            let kind = match &inode.kind {
                InodeKind::File(data) => match first_name.get(&i) {
                    Some(first) => EntryKind::Hardlink(first.clone()),
                    None => {
                        first_name.insert(i, path.clone());
                        EntryKind::File(data.clone())
                    }
                },
                InodeKind::Dir => EntryKind::Dir,
                InodeKind::Symlink(t) => EntryKind::Symlink(raw_bytes(t)),
                InodeKind::Char(major, minor) => EntryKind::CharDevice {
                    major: *major,
                    minor: *minor,
                },
                InodeKind::Block(major, minor) => EntryKind::BlockDevice {
                    major: *major,
                    minor: *minor,
                },
                InodeKind::Fifo => EntryKind::Fifo,
            };
            out.push(Entry {
                path,
                kind,
                mode: inode.mode,
                uid: inode.uid,
                gid: inode.gid,
                mtime: inode.mtime,
                xattrs: inode.xattrs.clone(),
                opaque: false,
            });
        }
        out
    }
}

/// Extracts the archive `blob` (tar, gzip, xz or bzip2) as Docker's ADD did, through the bounded
/// archive reader. `now` stands for the extraction time, used only for parent directories the
/// tarball does not list (reported in [`Extracted::implicit_dirs`]).
pub fn untar(blob: &[u8], limits: &Limits, now: i64) -> Result<(Extracted, ArchiveSummary), ArchiveError> {
    untar_read(blob, limits, now)
}

/// [`untar`] of an archive read as it streams (a build's ADD source on disk).
pub fn untar_read(blob: impl Read, limits: &Limits, now: i64) -> Result<(Extracted, ArchiveSummary), ArchiveError> {
    let mut tree = Extracted::default();
    let summary = read_archive(blob, None, limits, |entry, content| tree.apply(entry, content, now))?;
    Ok((tree, summary))
}
