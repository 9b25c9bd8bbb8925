//! Reads a graphdriver diff directory into entries, in the order and with the metadata Docker's
//! pkg/archive `TarWithOptions` used when it committed a container.
//!
//! Order: `filepath.Walk` — depth first, the names of each directory sorted bytewise, a directory
//! before its children, the root itself skipped. Metadata comes from `lstat` (symlinks are never
//! followed, so a hostile tree cannot lead the walk outside the directory). Hard links: a
//! non-directory whose link count is above one becomes a link to the first path seen with the
//! same inode in this walk (pkg/archive keys its `SeenFiles` map by inode only).
//!
//! File contents are read into memory (layers rebuilt by retrace are small); a file larger than
//! [`WalkOptions::max_file_size`], or a tree whose files total more than
//! [`WalkOptions::max_total_size`], is refused with a typed error instead of exhausting memory.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::entry::{Entry, EntryKind};

/// Errors of reading a diff directory, each naming the path at fault.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("{}", shown(path))]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error(
        "{}: file is {size} bytes, above the {limit}-byte limit for in-memory layer files",
        shown(path)
    )]
    FileTooLarge { path: PathBuf, size: u64, limit: u64 },

    #[error(
        "{}: the files read so far total {size} bytes, above the {limit}-byte limit for one layer",
        shown(path)
    )]
    TreeTooLarge { path: PathBuf, size: u64, limit: u64 },
}

/// A host path in a message: its bytes escaped as names are everywhere in text output.
fn shown(path: &Path) -> String {
    super::name::text(path.as_os_str().as_bytes())
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LayerError + '_ {
    move |source| LayerError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// How the graphdriver that produced the diff directory marks deletions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhiteoutFormat {
    /// overlay/overlay2: deletions are 0/0 character devices (kept as such; the writer turns
    /// them into `.wh.` files) and opaque directories carry `trusted.overlay.opaque=y`.
    #[default]
    Overlay,
    /// aufs: `.wh.*` files are ordinary files; aufs' own `.wh..wh.*` metadata at the top level
    /// is excluded, except the opaque marker `.wh..wh..opq`.
    Aufs,
}

/// Options of [`read_tree`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkOptions {
    pub whiteouts: WhiteoutFormat,
    /// Largest regular file read into memory.
    pub max_file_size: u64,
    /// Largest total of regular file contents held for one tree.
    pub max_total_size: u64,
}

impl Default for WalkOptions {
    fn default() -> WalkOptions {
        WalkOptions {
            whiteouts: WhiteoutFormat::Overlay,
            max_file_size: 1 << 30,
            max_total_size: 8 << 30,
        }
    }
}

/// Walks `dir` as pkg/archive did and returns its entries in tar order.
pub fn read_tree(dir: &Path, options: &WalkOptions) -> Result<Vec<Entry>, LayerError> {
    let meta = fs::symlink_metadata(dir).map_err(io_err(dir))?;
    if !meta.is_dir() {
        return Err(LayerError::Io {
            path: dir.to_path_buf(),
            source: io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
        });
    }
    let mut walker = Walker {
        options,
        seen_inodes: HashMap::new(),
        entries: Vec::new(),
        total_size: 0,
    };
    walker.walk_dir(dir, b"")?;
    Ok(walker.entries)
}

struct Walker<'a> {
    options: &'a WalkOptions,
    /// inode -> first tar name seen with it.
    seen_inodes: HashMap<u64, Vec<u8>>,
    entries: Vec<Entry>,
    /// Bytes of file contents read so far.
    total_size: u64,
}

impl Walker<'_> {
    /// Visits the children of `dir` (whose tar name is `rel`, empty for the root). Names stay
    /// the bytes the file system holds: Docker's walk never decoded them.
    fn walk_dir(&mut self, dir: &Path, rel: &[u8]) -> Result<(), LayerError> {
        let mut names: Vec<Vec<u8>> = fs::read_dir(dir)
            .map_err(io_err(dir))?
            .map(|d| d.map(|d| d.file_name().as_bytes().to_vec()))
            .collect::<Result<_, _>>()
            .map_err(io_err(dir))?;
        // filepath.Walk sorts with sort.Strings: bytewise.
        names.sort();
        for name in names {
            let path = dir.join(std::ffi::OsStr::from_bytes(&name));
            if rel.is_empty() && self.options.whiteouts == WhiteoutFormat::Aufs && is_aufs_metadata(&name) {
                // Excluded with everything below it.
                continue;
            }
            let rel_name = if rel.is_empty() {
                name
            } else {
                [rel, b"/", &name].concat()
            };
            let meta = fs::symlink_metadata(&path).map_err(io_err(&path))?;
            if let Some(entry) = self.entry_for(&path, rel_name.clone(), &meta)? {
                let is_dir = matches!(entry.kind, EntryKind::Dir);
                self.entries.push(entry);
                if is_dir {
                    self.walk_dir(&path, &rel_name)?;
                }
            }
        }
        Ok(())
    }

    fn entry_for(&mut self, path: &Path, rel: Vec<u8>, meta: &fs::Metadata) -> Result<Option<Entry>, LayerError> {
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_symlink() {
            let target = fs::read_link(path).map_err(io_err(path))?;
            EntryKind::Symlink(target.into_os_string().into_vec())
        } else if ft.is_char_device() {
            let (major, minor) = dev_numbers(meta.rdev());
            EntryKind::CharDevice { major, minor }
        } else if ft.is_block_device() {
            let (major, minor) = dev_numbers(meta.rdev());
            EntryKind::BlockDevice { major, minor }
        } else if ft.is_fifo() {
            EntryKind::Fifo
        } else if ft.is_file() {
            // Read below, unless it turns out to be a hard link.
            EntryKind::File(Vec::new())
        } else {
            // Sockets: pkg/archive logs "Can't add file" and goes on without them.
            return Ok(None);
        };

        let mut entry = Entry::file(rel, meta.mode() & 0o7777, Vec::new());
        entry.uid = u64::from(meta.uid());
        entry.gid = u64::from(meta.gid());
        // st_mtime is already the floor of the time in seconds (nanoseconds are kept apart).
        entry.mtime = meta.mtime();
        if let Some(cap) = get_xattr(path, "security.capability")? {
            entry.xattrs.insert("security.capability".to_string(), cap);
        }

        let mut kind = kind;
        if !ft.is_dir() && meta.nlink() > 1 {
            match self.seen_inodes.get(&meta.ino()) {
                // A hard-linked whiteout stays a whiteout: the converter rewrites the
                // typeflag after the hardlink bookkeeping, keeping only the linkname.
                Some(first) if matches!(kind, EntryKind::CharDevice { major: 0, minor: 0 }) => {
                    kind = EntryKind::SharedWhiteout(first.clone())
                }
                Some(first) => kind = EntryKind::Hardlink(first.clone()),
                None => {
                    self.seen_inodes.insert(meta.ino(), entry.path.clone());
                }
            }
        }
        if let EntryKind::File(_) = kind {
            if meta.len() > self.options.max_file_size {
                return Err(LayerError::FileTooLarge {
                    path: path.to_path_buf(),
                    size: meta.len(),
                    limit: self.options.max_file_size,
                });
            }
            self.total_size += meta.len();
            if self.total_size > self.options.max_total_size {
                return Err(LayerError::TreeTooLarge {
                    path: path.to_path_buf(),
                    size: self.total_size,
                    limit: self.options.max_total_size,
                });
            }
            kind = EntryKind::File(read_regular(path)?);
        }
        if matches!(kind, EntryKind::Dir) && self.options.whiteouts == WhiteoutFormat::Overlay {
            entry.opaque = get_xattr(path, "trusted.overlay.opaque")?.as_deref() == Some(b"y");
        }
        entry.kind = kind;
        Ok(Some(entry))
    }
}

/// Whether anything below `dir` has a modification time of exactly the epoch, the value Docker's
/// layer store (pkg/system `Chtimes`) wrote for a time before 1970 or after 2262 when it
/// extracted a committed layer: a walk of such a directory cannot give the layer's real times.
pub fn holds_epoch_mtime(dir: &Path) -> Result<bool, LayerError> {
    for child in fs::read_dir(dir).map_err(io_err(dir))? {
        let path = child.map_err(io_err(dir))?.path();
        let meta = fs::symlink_metadata(&path).map_err(io_err(&path))?;
        if meta.mtime() == 0 && meta.mtime_nsec() == 0 {
            return Ok(true);
        }
        if meta.is_dir() && holds_epoch_mtime(&path)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Turns whiteouts that shared an inode (a Linux >= 5.8 upper directory) back into independent
/// ones, as the 2017-2019 builders' kernels made them, for rebuilding published layers from a
/// tree captured on a newer kernel.
pub fn unshare_whiteouts(entries: &mut [Entry]) {
    for e in entries {
        if let EntryKind::SharedWhiteout(_) = e.kind {
            e.kind = EntryKind::CharDevice { major: 0, minor: 0 };
        }
    }
}

/// aufs keeps its own bookkeeping in top-level `.wh..wh.*` entries (`.wh..wh.aufs`,
/// `.wh..wh.plnk`, `.wh..wh.orph`), which Docker excluded; the opaque marker is data.
fn is_aufs_metadata(name: &[u8]) -> bool {
    super::whiteout::classify(name) == super::whiteout::Name::Bookkeeping
}

/// Linux `major()`/`minor()` of a `dev_t`.
fn dev_numbers(rdev: u64) -> (u32, u32) {
    (rustix::fs::major(rdev), rustix::fs::minor(rdev))
}

/// Reads a file without following a symlink swapped in after the `lstat`.
fn read_regular(path: &Path) -> Result<Vec<u8>, LayerError> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
        .map_err(io_err(path))?;
    let mut data = Vec::new();
    f.read_to_end(&mut data).map_err(io_err(path))?;
    Ok(data)
}

/// An extended attribute of the path itself (never of a symlink's target). Filesystems without
/// xattr support read as "no attribute", as pkg/archive's capability lookup ignored errors.
fn get_xattr(path: &Path, name: &str) -> Result<Option<Vec<u8>>, LayerError> {
    match xattr::get(path, name) {
        Ok(v) => Ok(v),
        Err(e) if e.raw_os_error() == Some(95) || e.kind() == io::ErrorKind::Unsupported => Ok(None),
        Err(e) => Err(LayerError::Io {
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

/// Entries by path, for tests and diagnostics.
pub fn index_by_path(entries: &[Entry]) -> BTreeMap<&[u8], &Entry> {
    entries.iter().map(|e| (e.path.as_slice(), e)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::name::text;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn kinds(entries: &[Entry]) -> Vec<(String, String)> {
        entries
            .iter()
            .map(|e| {
                let k = match &e.kind {
                    EntryKind::File(d) => format!("file {}", d.len()),
                    EntryKind::Dir => "dir".into(),
                    EntryKind::Symlink(t) => format!("symlink {}", text(t)),
                    EntryKind::Hardlink(t) => format!("hardlink {}", text(t)),
                    EntryKind::CharDevice { major, minor } => format!("char {major}:{minor}"),
                    EntryKind::BlockDevice { major, minor } => format!("block {major}:{minor}"),
                    EntryKind::Fifo => "fifo".into(),
                    EntryKind::SharedWhiteout(t) => format!("whiteout linked to {}", text(t)),
                };
                (text(&e.path), k)
            })
            .collect()
    }

    #[test]
    fn walk_order_kinds_and_hardlinks() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs::create_dir_all(r.join("b/c")).unwrap();
        fs::create_dir(r.join("a")).unwrap();
        fs::write(r.join("b/c/file"), b"hello").unwrap();
        fs::write(r.join("B"), b"upper sorts first").unwrap();
        fs::hard_link(r.join("b/c/file"), r.join("a/link")).unwrap();
        symlink("../../etc/passwd", r.join("b/sym")).unwrap();
        symlink("/", r.join("a/root")).unwrap();
        fs::set_permissions(r.join("B"), fs::Permissions::from_mode(0o4751)).unwrap();
        let entries = read_tree(r, &WalkOptions::default()).unwrap();
        let k = kinds(&entries);
        let expected: Vec<(String, String)> = [
            ("B", "file 17"),
            ("a", "dir"),
            // The first path of the inode in walk order is a/link, so b/c/file links to it.
            ("a/link", "file 5"),
            ("a/root", "symlink /"),
            ("b", "dir"),
            ("b/c", "dir"),
            ("b/c/file", "hardlink a/link"),
            ("b/sym", "symlink ../../etc/passwd"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(k, expected);
        let idx = index_by_path(&entries);
        assert_eq!(idx[&b"B"[..]].mode, 0o4751);
        let meta = fs::symlink_metadata(r.join("B")).unwrap();
        assert_eq!(idx[&b"B"[..]].mtime, meta.mtime());
        assert_eq!(idx[&b"B"[..]].uid, u64::from(meta.uid()));
    }

    /// Names and link targets that are not UTF-8 are kept as the file system's bytes, in
    /// bytewise order, and a newline inside a name is data like any other byte.
    #[test]
    fn non_utf8_names_and_targets_are_bytes() {
        use std::ffi::OsStr;
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let latin1 = OsStr::from_bytes(b"caf\xe9");
        fs::create_dir(r.join(latin1)).unwrap();
        fs::write(r.join(latin1).join("a\nb"), b"x").unwrap();
        symlink(OsStr::from_bytes(b"../\xff\xfe"), r.join("link")).unwrap();
        let entries = read_tree(r, &WalkOptions::default()).unwrap();
        let paths: Vec<&[u8]> = entries.iter().map(|e| e.path.as_slice()).collect();
        assert_eq!(paths, [&b"caf\xe9"[..], b"caf\xe9/a\nb", b"link"]);
        assert_eq!(entries[2].kind, EntryKind::Symlink(b"../\xff\xfe".to_vec()));
        assert_eq!(entries[1].path_text(), "caf\\xe9/a\\x0ab");
    }

    #[test]
    fn fifo_and_aufs_metadata() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            r.join("p"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        fs::create_dir(r.join(".wh..wh.plnk")).unwrap();
        fs::write(r.join(".wh..wh.plnk/x"), b"").unwrap();
        fs::write(r.join(".wh..wh.aufs"), b"").unwrap();
        fs::write(r.join(".wh..wh..opq"), b"").unwrap();
        fs::write(r.join(".wh.gone"), b"").unwrap();
        let aufs = WalkOptions {
            whiteouts: WhiteoutFormat::Aufs,
            ..WalkOptions::default()
        };
        let names: Vec<String> = read_tree(r, &aufs).unwrap().iter().map(Entry::path_text).collect();
        assert_eq!(names, [".wh..wh..opq", ".wh.gone", "p"]);
        let all = read_tree(r, &WalkOptions::default()).unwrap();
        assert_eq!(index_by_path(&all)[&b"p"[..]].kind, EntryKind::Fifo);
        // Without aufs exclusions its metadata is ordinary data.
        assert!(index_by_path(&all).contains_key(&b".wh..wh.plnk/x"[..]));
    }

    #[test]
    fn epoch_mtimes_are_found_at_any_depth() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs::create_dir_all(r.join("a/b")).unwrap();
        fs::write(r.join("a/b/f"), b"x").unwrap();
        assert!(!holds_epoch_mtime(r).unwrap());
        filetime::set_file_mtime(r.join("a/b/f"), filetime::FileTime::from_unix_time(0, 0)).unwrap();
        assert!(holds_epoch_mtime(r).unwrap());
        // A time one nanosecond after the epoch was not written by the clamp.
        filetime::set_file_mtime(r.join("a/b/f"), filetime::FileTime::from_unix_time(0, 1)).unwrap();
        assert!(!holds_epoch_mtime(r).unwrap());
    }

    #[test]
    fn oversized_files_are_refused() {
        let t = tempfile::tempdir().unwrap();
        fs::write(t.path().join("big"), vec![0u8; 100]).unwrap();
        let small = WalkOptions {
            max_file_size: 99,
            ..WalkOptions::default()
        };
        let err = read_tree(t.path(), &small).unwrap_err();
        assert!(
            matches!(
                err,
                LayerError::FileTooLarge {
                    size: 100,
                    limit: 99,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn unshare_whiteouts_restores_independent_whiteouts() {
        let mut w = Entry::file("e/x", 0, Vec::new());
        w.kind = EntryKind::SharedWhiteout(b"d/f".to_vec());
        let mut h = Entry::file("e/y", 0, Vec::new());
        h.kind = EntryKind::Hardlink(b"d/g".to_vec());
        let mut entries = vec![w, h];
        unshare_whiteouts(&mut entries);
        assert_eq!(entries[0].kind, EntryKind::CharDevice { major: 0, minor: 0 });
        assert_eq!(entries[1].kind, EntryKind::Hardlink(b"d/g".to_vec()));
    }

    #[test]
    fn device_numbers_decode_like_glibc() {
        assert_eq!(dev_numbers(0x0103), (1, 3));
        assert_eq!(dev_numbers(0), (0, 0));
        assert_eq!(dev_numbers(rustix::fs::makedev(259, 65536)), (259, 65536));
    }
}
