//! Plain data describing one tar entry of a layer, independent of any file system, so layers can
//! be built from a directory walk, from a test's fixture, or from a candidate in a timestamp search.
//!
//! Names and link targets are bytes, as Unix paths are: a RUN step may create a file whose name
//! is not UTF-8 (`touch "$(printf 'caf\351')"`), and Docker wrote those bytes unchanged into the
//! layer. Text output shows them through [`crate::layer::name::text`].

use std::collections::BTreeMap;

/// What kind of file an entry is, with the data only that kind has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file and its whole content.
    File(Vec<u8>),
    Dir,
    /// A symbolic link and its target, verbatim.
    Symlink(Vec<u8>),
    /// A hard link to an earlier entry of the same layer, named by that entry's path.
    Hardlink(Vec<u8>),
    CharDevice {
        major: u32,
        minor: u32,
    },
    BlockDevice {
        major: u32,
        minor: u32,
    },
    Fifo,
    /// An overlay whiteout (a 0/0 character device in the diff, which the writer turns into a
    /// `.wh.` file like `CharDevice { major: 0, minor: 0 }`) sharing its inode with an earlier
    /// entry of the layer, named here. Linux >= 5.8 links all whiteouts of an upper directory to
    /// one inode, and pkg/archive's hardlink bookkeeping then leaves that first path in the
    /// linkname field of the `.wh.` file. Layers built on older kernels never have it.
    SharedWhiteout(Vec<u8>),
}

/// One entry of a layer in walk order. `path` is relative to the layer root, without `./` and
/// without a trailing `/` (the writer adds it for directories), in the file system's own bytes. `mode` holds the permission bits
/// and the setuid/setgid/sticky bits (`0o7777`), never the file type bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: Vec<u8>,
    pub kind: EntryKind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Modification time in whole seconds since the Unix epoch (Docker floors sub-second parts).
    pub mtime: i64,
    /// Extended attributes by name; only those the profile records (such as
    /// `security.capability`) are written.
    pub xattrs: BTreeMap<String, Vec<u8>>,
    /// Set on a directory that overlayfs marked opaque (`trusted.overlay.opaque=y`): the writer
    /// emits the `.wh..wh..opq` marker right after it.
    pub opaque: bool,
}

impl Entry {
    fn new(path: impl Into<Vec<u8>>, kind: EntryKind, mode: u32) -> Entry {
        Entry {
            path: path.into(),
            kind,
            mode,
            uid: 0,
            gid: 0,
            mtime: 0,
            xattrs: BTreeMap::new(),
            opaque: false,
        }
    }

    pub fn file(path: impl Into<Vec<u8>>, mode: u32, content: impl Into<Vec<u8>>) -> Entry {
        Entry::new(path, EntryKind::File(content.into()), mode)
    }

    pub fn dir(path: impl Into<Vec<u8>>, mode: u32) -> Entry {
        Entry::new(path, EntryKind::Dir, mode)
    }

    pub fn symlink(path: impl Into<Vec<u8>>, target: impl Into<Vec<u8>>) -> Entry {
        Entry::new(path, EntryKind::Symlink(target.into()), 0o777)
    }

    pub fn with_owner(mut self, uid: u64, gid: u64) -> Entry {
        self.uid = uid;
        self.gid = gid;
        self
    }

    /// The path as text for messages and reports: see [`crate::layer::name::text`].
    pub fn path_text(&self) -> String {
        super::name::text(&self.path)
    }

    pub fn with_mtime(mut self, mtime: i64) -> Entry {
        self.mtime = mtime;
        self
    }
}
