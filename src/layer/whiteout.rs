//! Docker's whiteout names, the one definition of them. Every graph driver's layer tar uses the
//! aufs convention (moby `pkg/archive/whiteouts.go`): `.wh.NAME` hides NAME of the layers below,
//! `.wh..wh..opq` inside a directory hides everything the layers below hold in it, and any other
//! `.wh..wh.` name is aufs bookkeeping, which moby skips when it applies a layer.

use super::EntryKind;

/// The prefix of a whiteout file's base name.
pub const PREFIX: &[u8] = b".wh.";
/// The base name of the opaque-directory marker.
pub const OPAQUE: &[u8] = b".wh..wh..opq";
/// The prefix of aufs's own bookkeeping names (`.wh..wh.aufs`, `.wh..wh.plnk`, `.wh..wh.orph`).
const META_PREFIX: &[u8] = b".wh..wh.";

/// What a tar member's base name means to a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Name<'a> {
    /// A plain name: the member is itself part of the layer.
    Plain,
    /// The opaque marker of its directory.
    Opaque,
    /// The whiteout of this name in the same directory.
    Hides(&'a [u8]),
    /// aufs bookkeeping, never part of the image.
    Bookkeeping,
}

/// Reads a base name (the part after the last `/`).
pub fn classify(base: &[u8]) -> Name<'_> {
    if base == OPAQUE {
        Name::Opaque
    } else if base.starts_with(META_PREFIX) {
        Name::Bookkeeping
    } else if let Some(hidden) = base.strip_prefix(PREFIX) {
        Name::Hides(hidden)
    } else {
        Name::Plain
    }
}

/// `dir/.wh.base`, the whiteout file of `dir/base`.
pub fn file_for(path: &[u8]) -> Vec<u8> {
    let cut = path.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
    [&path[..cut], PREFIX, &path[cut..]].concat()
}

impl EntryKind {
    /// Whether the entry hides a path of the layers below: an overlay whiteout (a 0/0 character
    /// device), alone or sharing its inode with an earlier whiteout.
    pub fn is_whiteout(&self) -> bool {
        matches!(
            self,
            EntryKind::CharDevice { major: 0, minor: 0 } | EntryKind::SharedWhiteout(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_as_moby_applies_them() {
        assert_eq!(classify(b".wh..wh..opq"), Name::Opaque);
        assert_eq!(classify(b".wh..wh.plnk"), Name::Bookkeeping);
        assert_eq!(classify(b".wh.gone"), Name::Hides(b"gone"));
        assert_eq!(classify(b"wh.plain"), Name::Plain);
        assert_eq!(file_for(b"etc/gone"), b"etc/.wh.gone");
        assert_eq!(file_for(b"top"), b".wh.top");
    }
}
