//! What the layers below a rebuilt layer hold, for the timestamp search: per path, the mtime the
//! replay's tree has there and the mtime the published layers have there.
//!
//! The classic builder's file system (overlayfs under Docker 20.10) keeps an entry's mtime when a
//! step copies it up without writing it: a chmod, a chown, a `touch -d` of another file in its
//! directory, or a change below a directory (a directory's mtime changes only when an entry in
//! it is created, removed or renamed). Such an entry shows up in the step's diff with the time the
//! layer below gave it, in the replay as in the original. So an entry whose replayed mtime equals
//! the replayed mtime below is one the step did not change, and its published mtime is the one
//! the published layers below hold: known exactly when the layer below matched, directly or after
//! the search. Writing that time in is what "kept" means in [`super::SearchInput::kept`].

use std::collections::BTreeMap;

use crate::layer::Entry;

/// One path of the tree below: its replayed mtime, and its published one when known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LowerTime {
    replayed: i64,
    published: Option<i64>,
}

/// The mtimes of every path the replayed layers below hold, applied layer by layer.
#[derive(Debug, Default, Clone)]
pub struct LowerTimes(BTreeMap<String, LowerTime>);

impl LowerTimes {
    /// Applies one replayed layer: `entries` as captured from the engine (replayed mtimes), and
    /// `published` the published mtimes of its replayed entries when the layer matched (an entry
    /// not listed kept its own mtime), or `None` when it did not (no time of it is known then).
    /// Whiteouts remove what they hide; an opaque directory loses its old content.
    pub fn apply(&mut self, entries: &[Entry], published: Option<&BTreeMap<String, i64>>) {
        for e in entries {
            // Keyed by the text form of the name, as the search reports its mtimes.
            let path = e.path_text();
            let whiteout = e.kind.is_whiteout();
            if whiteout || e.opaque {
                self.remove_below(&path);
            }
            if whiteout {
                self.0.remove(&path);
                continue;
            }
            let published = published.map(|p| p.get(&path).copied().unwrap_or(e.mtime));
            self.0.insert(
                path,
                LowerTime {
                    replayed: e.mtime,
                    published,
                },
            );
        }
    }

    /// Everything strictly below the directory `path`.
    fn remove_below(&mut self, path: &str) {
        let start = format!("{path}/");
        // '0' follows '/' in byte order: the range holds exactly the paths starting with `path/`.
        let end = format!("{path}0");
        let doomed: Vec<String> = self.0.range(start..end).map(|(k, _)| k.clone()).collect();
        for k in doomed {
            self.0.remove(&k);
        }
    }

    /// The entries of a new layer that its step did not change (their replayed mtime is the one
    /// below), with the published mtime below, where that is known. `step_began` is when the
    /// step's replay began: an entry replayed in that second or later may be the step's own change
    /// made in the same second as the one below (mtimes are whole seconds), so it is not kept.
    pub fn kept(&self, entries: &[Entry], step_began: i64) -> BTreeMap<String, i64> {
        entries
            .iter()
            .filter_map(|e| {
                let path = e.path_text();
                let below = self.0.get(&path)?;
                (below.replayed == e.mtime && e.mtime < step_began)
                    .then_some(below.published)
                    .flatten()
                    .map(|t| (path, t))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::EntryKind;

    fn at(e: Entry, t: i64) -> Entry {
        e.with_mtime(t)
    }

    #[test]
    fn unchanged_entries_keep_the_published_time_below() {
        let mut lower = LowerTimes::default();
        // The base: its times are the published ones.
        lower.apply(
            &[at(Entry::dir("etc", 0o755), 100), at(Entry::dir("usr", 0o755), 100)],
            Some(&BTreeMap::new()),
        );
        // A RUN the search matched: etc and etc/group replayed at 900, published 500.
        let recovered = BTreeMap::from([("etc".to_string(), 500), ("etc/group".to_string(), 500)]);
        lower.apply(
            &[
                at(Entry::dir("etc", 0o755), 900),
                at(Entry::file("etc/group", 0o644, "root:x:0:\n"), 900),
            ],
            Some(&recovered),
        );
        // A RUN that did not match: its times stay unknown.
        lower.apply(&[at(Entry::dir("usr", 0o755), 950)], None);

        // chmod 600 /etc/group: both copied up with their times; usr is unknown; a new file is not kept.
        let chmod = [
            at(Entry::dir("etc", 0o755), 900),
            at(Entry::file("etc/group", 0o600, "root:x:0:\n"), 900),
            at(Entry::file("etc/new", 0o644, "x"), 990),
            at(Entry::dir("usr", 0o755), 950),
        ];
        assert_eq!(
            lower.kept(&chmod, 980),
            BTreeMap::from([("etc".to_string(), 500), ("etc/group".to_string(), 500)])
        );
        // A step that began in the second the one below changed etc may have changed it too.
        assert_eq!(lower.kept(&chmod, 900), BTreeMap::new());

        // A whiteout of etc hides etc/group too; an opaque directory hides its old content.
        let mut gone = lower.clone();
        let whiteout = Entry {
            kind: EntryKind::CharDevice { major: 0, minor: 0 },
            ..Entry::dir("etc", 0)
        };
        gone.apply(&[whiteout], Some(&BTreeMap::new()));
        assert!(gone.kept(&chmod, 980).is_empty());
        let mut opaque = Entry::dir("etc", 0o755).with_mtime(900);
        opaque.opaque = true;
        lower.apply(&[opaque], None);
        assert!(lower.kept(&chmod, 980).is_empty());
    }
}
