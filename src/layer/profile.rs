//! Which Docker release wrote a layer, and everything about that release the tar writer needs.
//!
//! Releases differ in the Go they were built with: its archive/tar (the USTAR prefix split of
//! Go <= 1.7, Go 1.8's one-pass writer, the Go 1.10 rewrite vendored by 18.06), its compress/flate
//! (Go 1.7 rewrote the matcher) and its gzip header (Go <= 1.7 wrote a non-zero MTIME), and in
//! whether the owner names come from the host's user database (only Debian's 20.10 build does
//! that). Releases that wrote identical bytes share one profile; docs/profiles.md has the table
//! and the evidence. The profile captures those differences as plain data at construction time,
//! so the writer that uses it stays pure: the host's `/etc/passwd` is read once, here, never
//! while writing.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The profile names accepted by `--profile`, in release order. Each names the first Docker
/// release line of a group whose layers are byte-identical (docs/profiles.md).
pub const KNOWN_PROFILES: [&str; 7] = [
    "docker-1.10",
    "docker-1.12",
    "docker-1.13",
    "docker-17.06",
    "docker-17.12",
    "docker-18.06",
    "docker-20.10",
];

/// A group of Docker releases that wrote the same layer bytes, named by its first release line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Release {
    /// Docker 1.10.x and 1.11.x, built with Go 1.5.
    Docker110,
    /// Docker 1.12.x, built with Go 1.6.
    Docker112,
    /// Docker 1.13.x, 17.03.x, 17.04 and 17.05, built with Go 1.7.
    Docker113,
    /// Docker 17.06.x and 17.09.x, built with Go 1.8.3.
    Docker1706,
    /// Docker 17.12.x and 18.03.x, built with Go 1.9.
    Docker1712,
    /// Docker 18.06.x and 18.09.x, built with Go 1.10 (and vendoring that archive/tar).
    Docker1806,
    /// Debian's docker.io 20.10.24, built with Go 1.19 and cgo user lookups.
    Docker2010,
}

impl Release {
    pub const ALL: [Release; 7] = [
        Release::Docker110,
        Release::Docker112,
        Release::Docker113,
        Release::Docker1706,
        Release::Docker1712,
        Release::Docker1806,
        Release::Docker2010,
    ];

    pub fn name(self) -> &'static str {
        KNOWN_PROFILES[self as usize]
    }

    /// The release whose profile name is `name` (`docker-18.06`).
    pub fn named(name: &str) -> Option<Release> {
        Release::ALL.into_iter().find(|r| r.name() == name)
    }

    /// The Go release line the group's Docker builds used.
    pub fn go_version(self) -> &'static str {
        match self {
            Release::Docker110 => "1.5",
            Release::Docker112 => "1.6",
            Release::Docker113 => "1.7",
            Release::Docker1706 => "1.8",
            Release::Docker1712 => "1.9",
            Release::Docker1806 => "1.10",
            Release::Docker2010 => "1.19",
        }
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The generation of Go's archive/tar writer a release used; the byte rules differ between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TarDialect {
    /// Go 1.5: as `Go16`, but PAX headers were named `PaxHeaders.<pid>` (the daemon's process id)
    /// with their records in map order, so an entry needing one cannot be reproduced.
    Go15,
    /// Go 1.6 and 1.7: as Go 1.8, except that a name longer than 100 bytes that is the only field
    /// needing PAX is split into the USTAR prefix and name fields when it can be.
    Go16,
    /// Go 1.8 and 1.9: one pass; long or non-ASCII names always go to PAX with the field left
    /// empty; numbers that overflow octal switch to base-256 and GNU magic for the rest of the
    /// stream.
    Go18,
    /// Go 1.10 and later: format chosen per header (USTAR with prefix split, else PAX).
    Go110,
}

/// Why a profile could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("unknown profile `{name}`; known profiles: {}", KNOWN_PROFILES.join(", "))]
    UnknownProfile { name: String },

    #[error("no profile for Docker version `{version}`; known release lines: 1.10 to 1.13, 17.03 to 17.12, 18.03, 18.06, 18.09, 20.10 (profiles {})", KNOWN_PROFILES.join(", "))]
    UnknownDockerVersion { version: String },

    #[error("cannot read the host user database {path}")]
    HostDatabase {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Everything release-specific the tar writer and the `file:` hash need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    release: Release,
    /// uid -> user name, consulted only by releases that looked names up (20.10).
    users: BTreeMap<u64, String>,
    /// gid -> group name, likewise.
    groups: BTreeMap<u64, String>,
}

impl Profile {
    pub fn docker_17_06() -> Profile {
        Profile::bare(Release::Docker1706)
    }

    pub fn docker_18_06() -> Profile {
        Profile::bare(Release::Docker1806)
    }

    /// The profile of a release group that looked no owner names up (every one but 20.10).
    pub fn of_release(release: Release) -> Result<Profile, ProfileError> {
        match release {
            Release::Docker2010 => Profile::docker_20_10_from_host(),
            other => Ok(Profile::bare(other)),
        }
    }

    /// Debian's 20.10 build with the owner names of this host, as its daemon would have looked
    /// them up (the daemon resolves ids against the host's database, not the container's).
    pub fn docker_20_10_from_host() -> Result<Profile, ProfileError> {
        Profile::docker_20_10_from_files(Path::new("/etc/passwd"), Path::new("/etc/group"))
    }

    /// Like [`Profile::docker_20_10_from_host`] but with explicit database files, so tests and
    /// offline rebuilds can pin the names the original builder's host had.
    pub fn docker_20_10_from_files(passwd: &Path, group: &Path) -> Result<Profile, ProfileError> {
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|source| ProfileError::HostDatabase {
                path: path.to_path_buf(),
                source,
            })
        };
        Ok(Profile::docker_20_10_with_names(
            parse_id_database(&read(passwd)?),
            parse_id_database(&read(group)?),
        ))
    }

    /// Debian's 20.10 build with the given uid -> name and gid -> name tables.
    pub fn docker_20_10_with_names(users: BTreeMap<u64, String>, groups: BTreeMap<u64, String>) -> Profile {
        Profile {
            release: Release::Docker2010,
            users,
            groups,
        }
    }

    fn bare(release: Release) -> Profile {
        Profile {
            release,
            users: BTreeMap::new(),
            groups: BTreeMap::new(),
        }
    }

    /// The profile named by one of [`KNOWN_PROFILES`] (`docker-20.10` reads the host's user
    /// database).
    pub fn from_name(name: &str) -> Result<Profile, ProfileError> {
        let release = Release::named(name).ok_or_else(|| ProfileError::UnknownProfile { name: name.to_string() })?;
        Profile::of_release(release)
    }

    /// The release group a repo-info document's `Docker Version` (such as `18.06.1-ce`,
    /// `1.12.6`, `17.03.1-ce`) belongs to.
    pub fn release_for_docker_version(version: &str) -> Result<Release, ProfileError> {
        let v = version.trim();
        let mut parts = v.splitn(3, '.');
        let major = parts.next().unwrap_or("");
        let minor = parts.next().unwrap_or("");
        // The patch part may carry a suffix (`1-ce`, `24+dfsg1`, `0-rc2`) but must start with a
        // digit.
        let patch_ok = parts
            .next()
            .is_some_and(|p| p.starts_with(|c: char| c.is_ascii_digit()));
        let unknown = || ProfileError::UnknownDockerVersion {
            version: version.to_string(),
        };
        if !patch_ok {
            return Err(unknown());
        }
        match (major, minor) {
            ("1", "10" | "11") => Ok(Release::Docker110),
            ("1", "12") => Ok(Release::Docker112),
            ("1", "13") | ("17", "03" | "04" | "05") => Ok(Release::Docker113),
            ("17", "06" | "07" | "09") => Ok(Release::Docker1706),
            ("17", "10" | "11" | "12") | ("18", "01" | "02" | "03") => Ok(Release::Docker1712),
            ("18", "04" | "05" | "06" | "09") => Ok(Release::Docker1806),
            ("20", "10") => Ok(Release::Docker2010),
            _ => Err(unknown()),
        }
    }

    /// The profile for a document's `Docker Version`; 20.10 reads the host's user database.
    pub fn for_docker_version(version: &str) -> Result<Profile, ProfileError> {
        Profile::of_release(Profile::release_for_docker_version(version)?)
    }

    /// The release named by a profile name (`docker-18.06`, as a recipe's `profile:` or
    /// `--docker-version` may give) or by a Docker version (`18.06.1-ce`, as documents record
    /// it): the one rule every command and the replay resolve a release with.
    pub fn resolve_release(name_or_version: &str) -> Result<Release, ProfileError> {
        match Release::named(name_or_version) {
            Some(release) => Ok(release),
            None => Profile::release_for_docker_version(name_or_version),
        }
    }

    /// The profile of [`Profile::resolve_release`]'s release.
    pub fn resolve(name_or_version: &str) -> Result<Profile, ProfileError> {
        Profile::of_release(Profile::resolve_release(name_or_version)?)
    }

    pub fn release(&self) -> Release {
        self.release
    }

    pub fn name(&self) -> &'static str {
        self.release.name()
    }

    pub(crate) fn dialect(&self) -> TarDialect {
        match self.release {
            Release::Docker110 => TarDialect::Go15,
            Release::Docker112 | Release::Docker113 => TarDialect::Go16,
            Release::Docker1706 | Release::Docker1712 => TarDialect::Go18,
            Release::Docker1806 | Release::Docker2010 => TarDialect::Go110,
        }
    }

    /// Whether pkg/archive set `Header.Format = FormatPAX` on the headers it made from files
    /// (18.06 and later), which stops Go from ever choosing the GNU format for them.
    pub(crate) fn marks_headers_pax(&self) -> bool {
        self.release >= Release::Docker1806
    }

    /// Whether the release's Go wrote the gzip header MTIME as `uint32(time.Time{}.Unix())`
    /// (Go 1.7 and earlier) rather than zero.
    pub fn go17_gzip_header(&self) -> bool {
        self.release <= Release::Docker113
    }

    /// The DEFLATE generation of the release's Go: Go 1.7 rewrote compress/flate's matcher
    /// (4-byte hashing), so releases built with Go 1.5 and 1.6 compressed differently.
    pub fn deflate_generation(&self) -> crate::deflate::Generation {
        if self.release <= Release::Docker112 {
            crate::deflate::Generation::Go15
        } else {
            crate::deflate::Generation::Go17
        }
    }

    /// The layer blob of a tar as this release pushed it: Go's gzip at level 6 with the header
    /// and DEFLATE of the release's Go.
    pub fn gzip(&self, tar: &[u8]) -> Vec<u8> {
        let mut blob = crate::gzip::layer_gzip(tar, self.deflate_generation());
        crate::gzip::set_header_mtime(&mut blob, self.gzip_header_mtime());
        blob
    }

    /// The gzip header MTIME bytes the release's Go wrote for an empty `Header`.
    pub fn gzip_header_mtime(&self) -> [u8; 4] {
        if self.go17_gzip_header() {
            crate::gzip::GO17_HEADER_MTIME
        } else {
            [0; 4]
        }
    }

    /// A compressor for many layer blobs in a row (the timestamp search), byte for byte
    /// [`Profile::gzip`].
    pub fn reusable_gzip(&self) -> crate::gzip::ReusableGzip {
        crate::gzip::ReusableGzip::with_header_mtime(6, self.deflate_generation(), self.gzip_header_mtime())
            // Level 6 exists in every DEFLATE generation (Go 1.5's encoder lacks only some others).
            .expect("every generation implements level 6")
    }

    /// The `uname` field for a uid: empty unless the release looked names up and the id is known.
    pub fn uname(&self, uid: u64) -> &str {
        self.users.get(&uid).map(String::as_str).unwrap_or("")
    }

    /// The `gname` field for a gid, like [`Profile::uname`].
    pub fn gname(&self, gid: u64) -> &str {
        self.groups.get(&gid).map(String::as_str).unwrap_or("")
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parses `/etc/passwd` or `/etc/group` text into id -> name. The first line naming an id wins,
/// as with getpwuid(3) over the files backend; comments and malformed lines are skipped.
pub fn parse_id_database(text: &str) -> BTreeMap<u64, String> {
    let mut map = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split(':');
        let (Some(name), Some(_password), Some(id)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        let Ok(id) = id.parse::<u64>() else { continue };
        if name.is_empty() || name.starts_with('+') || name.starts_with('-') {
            continue;
        }
        map.entry(id).or_insert_with(|| name.to_string());
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in KNOWN_PROFILES {
            if name == "docker-20.10" && !Path::new("/etc/passwd").exists() {
                continue;
            }
            assert_eq!(Profile::from_name(name).unwrap().name(), name);
        }
        let err = Profile::from_name("docker-19.03").unwrap_err().to_string();
        assert!(
            err.contains("docker-19.03") && err.contains("docker-1.10, docker-1.12"),
            "{err}"
        );
    }

    #[test]
    fn docker_versions_map_to_releases() {
        for (v, r) in [
            ("1.10.3", Release::Docker110),
            ("1.11.2", Release::Docker110),
            ("1.12.6", Release::Docker112),
            ("1.13.1", Release::Docker113),
            ("17.03.1-ce", Release::Docker113),
            ("17.05.0-ce", Release::Docker113),
            ("17.06.2-ce", Release::Docker1706),
            ("17.06.0-ce", Release::Docker1706),
            ("17.09.1-ce", Release::Docker1706),
            ("17.12.0-ce", Release::Docker1712),
            ("18.03.1-ce", Release::Docker1712),
            ("18.06.1-ce", Release::Docker1806),
            ("18.06.3-ce", Release::Docker1806),
            ("18.09.7", Release::Docker1806),
            ("20.10.24+dfsg1", Release::Docker2010),
            ("20.10.5", Release::Docker2010),
        ] {
            assert_eq!(Profile::release_for_docker_version(v).unwrap(), r, "{v}");
        }
        for v in ["19.03.12", "17.6.1", "1.9.1", "", "18.06", "18.06.x"] {
            let err = Profile::release_for_docker_version(v).unwrap_err().to_string();
            assert!(err.contains("known release lines"), "{err}");
        }
    }

    #[test]
    fn go_generations_follow_the_release() {
        let p = |r| Profile::of_release(r).unwrap();
        assert!(p(Release::Docker110).go17_gzip_header() && p(Release::Docker113).go17_gzip_header());
        assert!(!p(Release::Docker1706).go17_gzip_header());
        assert_eq!(
            p(Release::Docker112).deflate_generation(),
            crate::deflate::Generation::Go15
        );
        assert_eq!(
            p(Release::Docker113).deflate_generation(),
            crate::deflate::Generation::Go17
        );
        assert_eq!(p(Release::Docker110).dialect(), TarDialect::Go15);
        assert_eq!(p(Release::Docker113).dialect(), TarDialect::Go16);
        assert_eq!(p(Release::Docker1712).dialect(), TarDialect::Go18);
    }

    #[test]
    fn id_database_first_entry_wins_and_junk_is_skipped() {
        let db = "root:x:0:0:root:/root:/bin/bash\n# comment\nbroken\ntoor:x:0:0::/:/bin/sh\nstaff:x:50:\n+nis::::\n";
        let map = parse_id_database(db);
        assert_eq!(map.get(&0).unwrap(), "root");
        assert_eq!(map.get(&50).unwrap(), "staff");
        assert_eq!(map.len(), 2);
        let p = Profile::docker_20_10_with_names(map.clone(), map);
        assert_eq!(p.uname(0), "root");
        assert_eq!(p.gname(50), "staff");
        assert_eq!(p.uname(1234), "");
        assert_eq!(Profile::docker_18_06().uname(0), "");
    }
}
