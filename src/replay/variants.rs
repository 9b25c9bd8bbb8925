//! What the original builder did that a replay on this machine does not, applied to the entries
//! of a replayed layer before they are compared: each is a property of the builder (its kernel,
//! its clock), so a rebuild tries them and reports which one the published layer shows.
//!
//! - **Embedded dates.** `adduser`, `useradd`, `passwd` and `chpasswd` write the day of the change
//!   (days since 1970) into the third field of `/etc/shadow` (and the `shadow-` backup). The replay
//!   writes today; the document records the day the step ran.
//! - **Opaque new directories.** Some builders' overlayfs put the opaque xattr on every directory
//!   newly created directly inside a directory of a lower layer, so their layers hold a
//!   `<dir>/.wh..wh..opq` marker for each. Others did not.
//! - **Shared whiteouts.** Linux >= 5.8 links every whiteout of an upper directory to one inode, and
//!   pkg/archive's hard-link bookkeeping then leaves the first whiteout's path in the linkname of
//!   each later `.wh.` file. The committed image the replay reads was unpacked again by the engine
//!   (each whiteout its own inode), while the pushed layer kept the original tar headers, so a
//!   builder on such a kernel is tried by linking the whiteouts back.

use std::collections::{BTreeMap, HashSet};

use crate::layer::{Entry, EntryKind};

/// A builder behaviour tried on a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Variant {
    /// The replay's own file system changes, as committed.
    Plain,
    /// Every new directory directly inside a lower directory marked opaque.
    OpaqueNewDirs,
    /// Every whiteout after the first linked to the first (a kernel that shares whiteout inodes).
    SharedWhiteouts,
}

impl Variant {
    pub fn name(self) -> &'static str {
        match self {
            Variant::Plain => "plain",
            Variant::OpaqueNewDirs => "opaque-new-dirs",
            Variant::SharedWhiteouts => "shared-whiteouts",
        }
    }
}

/// The files that hold a last-change day per account.
const SHADOW_FILES: [&str; 2] = ["etc/shadow", "etc/shadow-"];

/// Seconds in a day: shadow's dates are whole days since the epoch, in UTC.
const DAY: i64 = 86_400;

/// Replaces, in the shadow files among `entries`, every last-change day the replay wrote (a day
/// within `replay` seconds, start and end) with the day of `recorded`, the step's time in the
/// document. Returns the recovered values by path (`17933 (2019-02-06)`); empty when no entry
/// holds a replay day.
pub fn recover_shadow_days(entries: &mut [Entry], replay: (i64, i64), recorded: i64) -> BTreeMap<String, String> {
    let days = replay.0.div_euclid(DAY)..=replay.1.div_euclid(DAY);
    let day = recorded.div_euclid(DAY);
    let mut recovered = BTreeMap::new();
    for entry in entries
        .iter_mut()
        .filter(|e| SHADOW_FILES.iter().any(|f| f.as_bytes() == e.path))
    {
        let EntryKind::File(data) = &mut entry.kind else {
            continue;
        };
        if let Some(rewritten) = rewrite_days(data, &days, day) {
            *data = rewritten;
            let date = crate::model::Timestamp { unix: day * DAY }.to_rfc3339();
            recovered.insert(entry.path_text(), format!("{day} ({})", &date[..10]));
        }
    }
    recovered
}

/// `shadow` with every third field inside `days` set to `day`; `None` when nothing changes.
fn rewrite_days(shadow: &[u8], days: &std::ops::RangeInclusive<i64>, day: i64) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(shadow.len());
    let mut changed = false;
    for line in shadow.split_inclusive(|&b| b == b'\n') {
        let fields: Vec<&[u8]> = line.splitn(4, |&b| b == b':').collect();
        let replayed = fields
            .get(2)
            .and_then(|f| std::str::from_utf8(f).ok())
            .and_then(|f| f.parse::<i64>().ok())
            .is_some_and(|d| days.contains(&d));
        if replayed && fields.len() == 4 {
            out.extend_from_slice(fields[0]);
            out.push(b':');
            out.extend_from_slice(fields[1]);
            out.push(b':');
            out.extend_from_slice(day.to_string().as_bytes());
            out.push(b':');
            out.extend_from_slice(fields[3]);
            changed = true;
        } else {
            out.extend_from_slice(line);
        }
    }
    changed.then_some(out)
}

/// The entries with every directory that is new in this layer (absent from `lower`) and sits
/// directly inside a directory of a lower layer marked opaque; `None` when there is none, so the
/// variant would give the same bytes.
pub fn opaque_new_dirs(entries: &[Entry], lower: &LowerDirs) -> Option<Vec<Entry>> {
    let mut marked = entries.to_vec();
    let mut any = false;
    for e in marked.iter_mut().filter(|e| e.kind == EntryKind::Dir && !e.opaque) {
        let parent = e
            .path
            .iter()
            .rposition(|&b| b == b'/')
            .map_or(&[][..], |i| &e.path[..i]);
        if !lower.contains(&e.path) && lower.contains(parent) {
            e.opaque = true;
            any = true;
        }
    }
    any.then_some(marked)
}

/// The entries with every whiteout after the first sharing the first's inode, named by its path;
/// `None` with fewer than two whiteouts, where the variant gives the same bytes.
pub fn shared_whiteouts(entries: &[Entry]) -> Option<Vec<Entry>> {
    let mut linked = entries.to_vec();
    let mut first: Option<Vec<u8>> = None;
    let mut any = false;
    for e in linked.iter_mut() {
        if !e.kind.is_whiteout() {
            continue;
        }
        match &first {
            None => first = Some(e.path.clone()),
            Some(f) => {
                e.kind = EntryKind::SharedWhiteout(f.clone());
                any = true;
            }
        }
    }
    any.then_some(linked)
}

/// The directories the layers below a step hold (the root is always there), kept up to date as
/// each layer is applied.
#[derive(Debug, Default, Clone)]
pub struct LowerDirs(HashSet<Vec<u8>>);

impl LowerDirs {
    pub fn contains(&self, path: &[u8]) -> bool {
        path.is_empty() || self.0.contains(path)
    }

    /// Applies a layer: whiteouts remove what they hide, opaque directories lose their old
    /// content, and every directory of the layer is added.
    pub fn apply(&mut self, entries: &[Entry]) {
        for e in entries {
            let hides = match &e.kind {
                kind if kind.is_whiteout() => Some(e.path.as_slice()),
                _ if e.opaque => Some(e.path.as_slice()),
                _ => None,
            };
            if let Some(hidden) = hides {
                let below = [hidden, b"/"].concat();
                self.0.retain(|p| !p.starts_with(&below));
                if !e.opaque {
                    self.0.remove(hidden);
                }
            }
            if e.kind == EntryKind::Dir {
                self.0.insert(e.path.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_whiteouts_link_to_the_first() {
        let wh = |p: &str| {
            let mut e = Entry::dir(p, 0o600);
            e.kind = EntryKind::CharDevice { major: 0, minor: 0 };
            e
        };
        let one = vec![Entry::dir("bin", 0o755), wh("bin/arch")];
        assert_eq!(shared_whiteouts(&one), None);
        let two = vec![
            Entry::dir("bin", 0o755),
            wh("bin/arch"),
            Entry::dir("etc", 0o755),
            wh("etc/group"),
        ];
        let linked = shared_whiteouts(&two).unwrap();
        assert_eq!(linked[1].kind, EntryKind::CharDevice { major: 0, minor: 0 });
        assert_eq!(linked[3].kind, EntryKind::SharedWhiteout("bin/arch".into()));
    }

    #[test]
    fn only_the_days_the_replay_wrote_are_recovered() {
        // 2026-12-06 is day 20793; 2019-02-06 is day 17933.
        let shadow = b"root:::0:::::\nbin:!::0:::::\nwww-data:!:20793:0:99999:7:::\n".to_vec();
        let mut entries = vec![
            Entry::file("etc/shadow", 0o640, shadow),
            Entry::file("etc/passwd", 0o644, "x"),
        ];
        let replay = (20793 * DAY + 100, 20793 * DAY + 130);
        let recovered = recover_shadow_days(&mut entries, replay, 1_549_443_926);
        assert_eq!(recovered["etc/shadow"], "17933 (2019-02-06)");
        assert_eq!(
            entries[0].kind,
            EntryKind::File(b"root:::0:::::\nbin:!::0:::::\nwww-data:!:17933:0:99999:7:::\n".to_vec())
        );
        assert!(recover_shadow_days(&mut entries, replay, 1_549_443_926).is_empty());
    }

    #[test]
    fn new_directories_in_lower_ones_are_marked_and_nothing_else() {
        let mut lower = LowerDirs::default();
        lower.apply(&[Entry::dir("usr", 0o755), Entry::dir("usr/local", 0o755)]);
        let layer = vec![
            Entry::dir("usr", 0o755),
            Entry::dir("usr/local", 0o755),
            Entry::dir("usr/local/apache2", 0o755),
            Entry::dir("usr/local/apache2/conf", 0o755),
            Entry::dir("srv", 0o755),
        ];
        let marked = opaque_new_dirs(&layer, &lower).expect("two new directories");
        let opaque: Vec<String> = marked.iter().filter(|e| e.opaque).map(Entry::path_text).collect();
        assert_eq!(opaque, ["usr/local/apache2", "srv"]);
        assert!(opaque_new_dirs(&layer[..2], &lower).is_none());
    }
}
