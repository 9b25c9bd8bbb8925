//! The glue between a replayed step and the layer writer: read the engine's diff into entries,
//! write them as a blob with the document's profile, prepare COPY content, and ask the timestamp
//! search about a layer that differs.

use std::path::Path;

use crate::archive::gotar;
use crate::blob::BlobWriter;
use crate::digest::Digest;
use crate::layer::{read_tree, whiteout, Entry, EntryKind, Profile, WalkOptions};
use crate::replay::exec::{tar_header, Diff};
use crate::reproduce::SearchInput;

use super::sources::{Part, Resolved};
use crate::layer::filehash::{join_rel, SourceKind};

/// A blob written to the output's blob store.
pub use crate::layer::BlobInfo;

/// The profile of a document's Docker release, or of the recipe's override, which may name a
/// profile (`docker-18.06`) or a version (`18.06.1-ce`).
pub fn profile_for(docker_version: Option<&str>) -> Result<Profile, ProfileChoiceError> {
    let v = docker_version.ok_or(ProfileChoiceError::NoDockerVersion)?;
    Ok(Profile::resolve(v)?)
}

/// Why no profile could be chosen for a platform.
#[derive(Debug, thiserror::Error)]
pub enum ProfileChoiceError {
    #[error("the document records no Docker Version; set `profile:` in the recipe")]
    NoDockerVersion,
    #[error(transparent)]
    Profile(#[from] crate::layer::ProfileError),
}

/// Why a committed layer could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error(transparent)]
    Walk(#[from] crate::layer::LayerError),
    #[error("{}", path.display())]
    Tar {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// The entries of a committed layer, in the order Docker's tar walk visits them.
pub fn capture(diff: &Diff) -> Result<Vec<Entry>, CaptureError> {
    match diff {
        Diff::Dir(dir) => Ok(read_tree(dir, &WalkOptions::default())?),
        Diff::Tar(path) => entries_of_tar(path).map_err(|source| CaptureError::Tar {
            path: path.clone(),
            source,
        }),
    }
}

/// Reads an exported layer tar back into entries, turning `.wh.` files into the whiteout devices
/// and opaque flags the overlay walk produces, so both capture paths give the writer the same input.
/// Names and link targets keep their bytes, and a PAX `mtime` record (a time before 1970 or after
/// 2262, which the engine's layer store keeps only in its tar headers) wins over the header field.
fn entries_of_tar(path: &Path) -> std::io::Result<Vec<Entry>> {
    let mut out: Vec<Entry> = Vec::new();
    // The tar is the top layer of retrace's own engine's `docker save`, not outside input, so it
    // is read without the archive module's bounds, by the same Go-compatible reader.
    let mut reader = gotar::Reader::new(std::io::BufReader::new(std::fs::File::open(path)?));
    while let Some(h) = reader.next().map_err(std::io::Error::other)? {
        let mut name = h.name.clone();
        while name.len() > 1 && name.ends_with(b"/") {
            name.pop();
        }
        let cut = name.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
        let (dir, base) = (name[..cut.saturating_sub(1)].to_vec(), name[cut..].to_vec());
        let hides = match whiteout::classify(&base) {
            whiteout::Name::Opaque => {
                if let Some(d) = out.iter_mut().rev().find(|x| x.path == dir) {
                    d.opaque = true;
                }
                continue;
            }
            whiteout::Name::Hides(hidden) => Some(hidden),
            whiteout::Name::Plain | whiteout::Name::Bookkeeping => None,
        };
        let mut entry = Entry::dir(name.clone(), (h.mode & 0o7777) as u32);
        entry.kind = match hides {
            Some(hidden) => {
                entry.path = [&name[..cut], hidden].concat();
                entry.mode = 0;
                // A whiteout sharing an inode keeps the first path of that inode as its link name.
                if h.linkname.is_empty() {
                    EntryKind::CharDevice { major: 0, minor: 0 }
                } else {
                    EntryKind::SharedWhiteout(h.linkname.clone())
                }
            }
            None => kind_of_header(&h, &mut reader)?,
        };
        let id = |n: i64| u64::try_from(n).map_err(std::io::Error::other);
        entry.uid = id(h.uid)?;
        entry.gid = id(h.gid)?;
        // Go's reader has taken a PAX `mtime` over the header field, floored to whole seconds as
        // pkg/archive truncated every time it wrote.
        entry.mtime = h.mtime.map_or(0, |t| t.secs);
        if !entry.kind.is_whiteout() {
            for (k, v) in &h.xattrs {
                if let Ok(k) = std::str::from_utf8(k) {
                    entry.xattrs.insert(k.to_string(), v.clone());
                }
            }
        }
        out.push(entry);
    }
    Ok(out)
}

/// The kind of a tar entry that is not a whiteout, reading a regular file's content.
fn kind_of_header<R: std::io::Read>(h: &gotar::Header, reader: &mut gotar::Reader<R>) -> std::io::Result<EntryKind> {
    let number = |n: i64| u32::try_from(n).map_err(std::io::Error::other);
    Ok(match h.typeflag {
        b'5' => EntryKind::Dir,
        b'2' => EntryKind::Symlink(h.linkname.clone()),
        b'1' => EntryKind::Hardlink(h.linkname.clone()),
        b'3' => EntryKind::CharDevice {
            major: number(h.devmajor)?,
            minor: number(h.devminor)?,
        },
        b'4' => EntryKind::BlockDevice {
            major: number(h.devmajor)?,
            minor: number(h.devminor)?,
        },
        b'6' => EntryKind::Fifo,
        _ => {
            let mut data = Vec::new();
            std::io::Read::read_to_end(reader, &mut data)?;
            EntryKind::File(data)
        }
    })
}

/// Writes `entries` as the layer blob `docker push` made with the profile's release (the profile's
/// tar, that Go's gzip at level 6) into `blobs_dir` under its digest, through the one blob writer.
pub fn write_blob(entries: &[Entry], profile: &Profile, blobs_dir: &Path) -> std::io::Result<BlobInfo> {
    let mut blob = BlobWriter::new(blobs_dir)?;
    let info = crate::layer::write_blob(entries, profile, &mut blob)?;
    blob.complete()?;
    Ok(info)
}

/// Writes the proof of a layer that matched only once lost facts were recovered or under another
/// builder variant: `entries` as [`super::check`] returned them (the matching variant, dates and
/// mtimes set back), as the profile's blob. It is kept in `blobs_dir` only when it hashes to
/// `expected`, the published digest, so the output holds the very bytes the document names rather
/// than retrace's word that they exist.
pub fn write_proof(
    entries: &[Entry],
    profile: &Profile,
    blobs_dir: &Path,
    expected: &Digest,
) -> Result<BlobInfo, crate::blob::BlobError> {
    let mut blob = BlobWriter::new(blobs_dir)?;
    let info = crate::layer::write_blob(entries, profile, &mut blob)?;
    blob.complete_expecting(expected)?;
    Ok(info)
}

/// The digest of the blob `entries` make, without writing it anywhere.
pub fn blob_digest(entries: &[Entry], profile: &Profile) -> std::io::Result<Digest> {
    crate::layer::write_blob(entries, profile, &mut std::io::sink()).map(|b| b.digest)
}

/// "1 timestamp candidate", "46 timestamp candidates".
fn candidates(n: u64) -> String {
    format!("{n} timestamp candidate{}", if n == 1 { "" } else { "s" })
}

/// The original mtimes the search recovered, as report.json records them.
pub use crate::report_json::Recovered;

/// The most candidates one layer's timestamp search may hash inside `retrace build`, unless the
/// user says otherwise (`--search-candidates`).
pub const BUILD_SEARCH_CANDIDATES: u64 = 4_000_000;

/// The build's own facts for the timestamp search of one layer.
#[derive(Debug, Clone, Copy)]
pub struct TimestampQuery {
    pub max_candidates: u64,
    /// When the platform's replay began, and when this layer's step did.
    pub replay_began: i64,
    pub step_began: i64,
}

/// What the timestamp search concluded about one layer.
pub struct TimestampOutcome {
    /// Whether recovered mtimes give the published digest ([`super::check`] makes it a verdict).
    pub matched: bool,
    pub reason: String,
    /// The recovered mtimes, for the report.
    pub recovered: Recovered,
    /// The same, in Unix seconds, for the layers above.
    pub times: std::collections::BTreeMap<String, i64>,
}

impl TimestampOutcome {
    fn differs(reason: String) -> TimestampOutcome {
        TimestampOutcome {
            matched: false,
            reason,
            recovered: Recovered::new(),
            times: Default::default(),
        }
    }
}

/// Asks the timestamp search whether the rebuilt tree matches the document's digest once the
/// replayed mtimes are moved back to the times the document records (the same search as
/// `retrace layer reproduce`). `input` holds the recorded times of the steps that made this
/// platform's layers so far in this replay, which decides which step made which layer, and the
/// entries the step kept from the layers below (`SearchInput::kept`).
pub fn search_timestamps(
    entries: &[Entry],
    profile: &Profile,
    mut input: SearchInput,
    query: TimestampQuery,
) -> TimestampOutcome {
    if query.max_candidates == 0 {
        return TimestampOutcome::differs("rebuilt bytes differ (timestamp search off: --search-candidates 0)".into());
    }
    // A build searches every differing layer, so each search gets a budget of about 15 s of hashing
    // on two cores (the 35 seed layers need at most 431,000 candidates); a layer whose lost times
    // cannot be inferred (a COPY'd file's build-context mtime) must not hold the build for minutes.
    input.limits.max_candidates = input.limits.max_candidates.min(query.max_candidates);
    // Everything this replay set is later than its first step began. Usually the document's own
    // times say the same, but a build cached before the document was made (a rebuilt fixture, a
    // document regenerated after the replay) would otherwise look "not replayed" and go unsearched.
    input.replayed_after = input.replayed_after.min(query.replay_began - 1);
    // What the step itself changed is known from when its replay began: a slow (emulated) step
    // spreads its changes over several seconds, which are all its own.
    input.own_step_since = Some(query.step_began);
    match crate::reproduce::cli::reproduce_entries(entries, &input, profile) {
        Ok(report) if report.matched => TimestampOutcome {
            matched: true,
            reason: format!(
                "matched after {} ({:.1} s)",
                candidates(report.candidates),
                report.seconds
            ),
            recovered: report
                .mtimes
                .iter()
                .map(|(path, t)| (path.clone(), crate::model::Timestamp { unix: *t }.to_rfc3339()))
                .collect(),
            times: report.mtimes,
        },
        Ok(report) => TimestampOutcome::differs(match report.end {
            crate::reproduce::SearchEnd::CandidateBudget => format!(
                "rebuilt bytes differ even after {}, the search's budget (raise it with --search-candidates)",
                candidates(report.candidates)
            ),
            _ => format!("rebuilt bytes differ even after {}", candidates(report.candidates)),
        }),
        Err(e) => TimestampOutcome::differs(format!(
            "rebuilt bytes differ; timestamp search failed: {}",
            crate::error::Chain(&e)
        )),
    }
}

/// Why a `--chown` spec names no ids; `what` is `passwd` or `group`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChownError {
    #[error("--chown={spec}: expected `user[:group]`")]
    Syntax { spec: String },
    #[error("--chown={spec}: the image has no /etc/{what} to look up `{name}` in")]
    NoFile {
        spec: String,
        what: &'static str,
        name: String,
    },
    #[error("--chown={spec}: no {what} entry for `{name}` in the image's /etc/{what}")]
    NoEntry {
        spec: String,
        what: &'static str,
        name: String,
    },
}

/// Resolves a `--chown` spec (`user`, `user:group`, names or ids) to numeric ids the way the
/// classic builder does: a lone user stands for the group too, numbers are taken as they are, and
/// names are looked up in the parent image's `/etc/passwd` and `/etc/group` (`None` when the file
/// is absent). An unknown name is an error naming it.
pub fn resolve_chown(spec: &str, passwd: Option<&[u8]>, group: Option<&[u8]>) -> Result<(u64, u64), ChownError> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (user, grp) = match parts.as_slice() {
        [u] => (*u, *u),
        [u, g] => (*u, *g),
        _ => return Err(ChownError::Syntax { spec: spec.to_string() }),
    };
    let lookup = |name: &str, file: Option<&[u8]>, what: &'static str| -> Result<u64, ChownError> {
        if let Ok(id) = name.parse::<u64>() {
            return Ok(id);
        }
        let text = file.ok_or_else(|| ChownError::NoFile {
            spec: spec.to_string(),
            what,
            name: name.to_string(),
        })?;
        String::from_utf8_lossy(text)
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.len() >= 3 && f[0] == name)
            .and_then(|f| f[2].parse().ok())
            .ok_or_else(|| ChownError::NoEntry {
                spec: spec.to_string(),
                what,
                name: name.to_string(),
            })
    };
    Ok((lookup(user, passwd, "passwd")?, lookup(grp, group, "group")?))
}

/// How the classic builder wrote one COPY/ADD: where, owned by whom, with which context mtimes.
#[derive(Debug, Clone)]
pub struct CopySpec<'a> {
    pub dest: &'a str,
    pub workdir: &'a str,
    /// The owner the builder gave every copied entry with its `lchown` after the copy (root, or
    /// `--chown` as [`resolve_chown`] resolved it); `None` when it kept the source's owners and
    /// did not chown (a 20.10 `COPY --from` without `--chown`).
    pub owner: Option<(u64, u64)>,
    /// The recipe's statement of the context mtime of every entry ...
    pub mtime: Option<i64>,
    /// ... and of single entries, by their path below the source ([`crate::recipe::Source::mtimes`]).
    pub mtimes: &'a std::collections::BTreeMap<String, i64>,
    pub add: bool,
    /// Directories (absolute) the builder created owned by `owner`: the missing parents of a
    /// file COPY, or the missing destination of a directory COPY (`created_dirs`).
    pub created_dirs: &'a [String],
    /// The mtime given to those directories (the time of the copy).
    pub now: i64,
}

/// The mode a non-directory keeps after the builder's `lchown`: Linux's `notify_change` clears
/// setuid on every chown of a non-directory, and setgid when group-exec is also set (a setgid
/// file without group-exec is a locking mark and keeps it). Directories keep both.
pub fn mode_after_chown(mode: u32) -> u32 {
    let mut mode = mode & !0o4000;
    if mode & 0o2010 == 0o2010 {
        mode &= !0o2000;
    }
    mode
}

/// The absolute destination of a COPY: `dest`, relative ones under the working directory.
pub fn absolute_dest(dest: &str, workdir: &str) -> String {
    if dest.starts_with('/') {
        dest.to_string()
    } else {
        format!("{}/{}", workdir.trim_end_matches('/'), dest)
    }
}

/// The directories a COPY may create that the builder owned by the `--chown` ids when they were
/// missing: for a first source that is a file, every ancestor of the file it writes
/// (`idtools.MkdirAllAndChownNew` on its parent); for a directory, only the destination itself
/// (`CopyWithTar` makes its parents as root, `fixPermissions` then chowns the new destination).
/// The caller asks the engine which of them are missing.
pub fn chowned_dir_candidates(first_is_dir: bool, abs_dest: &str, first_name: &str, several: bool) -> Vec<String> {
    let dest = abs_dest.trim_end_matches('/');
    if first_is_dir {
        return vec![dest.to_string()].into_iter().filter(|d| !d.is_empty()).collect();
    }
    let file = if abs_dest.ends_with('/') || several {
        format!("{dest}/{first_name}")
    } else {
        dest.to_string()
    };
    let mut dirs = Vec::new();
    let mut at = file.as_str();
    while let Some((parent, _)) = at.rsplit_once('/') {
        if !parent.is_empty() {
            dirs.push(parent.to_string());
        }
        at = parent;
    }
    dirs.reverse();
    dirs
}

/// The tar to extract at `/` for a COPY/ADD of `source`: the classic builder's result. Files
/// keep their context mode and mtime (or the recipe's statement of it), hard links inside a
/// copied directory stay links, and owners and modes are what the builder's chown left
/// ([`CopySpec::owner`], [`mode_after_chown`]); directories it created owned by `--chown` come
/// first, other missing parents are created by the engine (root, 0755, as the builder does).
///
/// With `add` (an ADD step), a local tar archive (plain or compressed) is extracted into `dest`
/// instead, as the classic builder does: entries keep the archive's modes, owners and mtimes (the
/// builder applies neither `--chown` nor the context mtime to extracted archives).
pub fn copy_tar(source: &Resolved, spec: &CopySpec) -> std::io::Result<Vec<u8>> {
    let abs = absolute_dest(spec.dest, spec.workdir);
    if let (true, Resolved::File { path, .. }) = (spec.add, source) {
        if super::add_archive::is_tar_archive(path)? {
            return super::add_archive::extracted_archive_tar(path, abs.trim_matches('/'));
        }
    }
    let parts = source
        .parts()
        .ok_or_else(|| std::io::Error::other("a layer cannot be COPY'd"))?;
    let mut out = Vec::new();
    let (uid, gid) = spec.owner.unwrap_or((0, 0));
    for dir in spec.created_dirs {
        tar_header(
            &mut out,
            &format!("{}/", dir.trim_matches('/')),
            0o755,
            uid,
            gid,
            0,
            spec.now,
            b'5',
            "",
        )?;
    }
    for part in &parts {
        add_part(&mut out, part, &abs, parts.len() > 1, spec)?;
    }
    out.extend_from_slice(&[0u8; 1024]);
    Ok(out)
}

/// One source of a COPY: a file lands at the destination (or in it, when it ends in `/` or the
/// COPY has several sources); a directory's content lands in the destination.
fn add_part(out: &mut Vec<u8>, part: &Part, abs: &str, several: bool, spec: &CopySpec) -> std::io::Result<()> {
    let entries = part.read()?;
    let base = part
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let is_dir = entries.first().is_some_and(|e| e.kind == SourceKind::Dir);
    let dest = abs.trim_matches('/');
    let target = if is_dir {
        dest.to_string()
    } else if abs.ends_with('/') || several {
        join_rel(dest, &base)
    } else {
        dest.to_string()
    };
    for e in &entries {
        if is_dir && e.rel.is_empty() {
            // The destination directory itself: made by the engine or listed in `created_dirs`.
            continue;
        }
        let key = if is_dir { e.rel.clone() } else { base.clone() };
        let mtime = spec.mtimes.get(&key).copied().or(spec.mtime).unwrap_or(e.mtime);
        let mut mode = match (&e.kind, part.mode) {
            (SourceKind::File(_), Some(verified)) if !is_dir => verified,
            _ => e.mode,
        };
        let (uid, gid) = match spec.owner {
            Some(ids) => {
                if e.kind != SourceKind::Dir {
                    mode = mode_after_chown(mode);
                }
                ids
            }
            None => (e.uid, e.gid),
        };
        let name = join_rel(&target, &e.rel);
        match &e.kind {
            SourceKind::Dir => tar_header(out, &format!("{name}/"), mode, uid, gid, 0, mtime, b'5', "")?,
            SourceKind::Symlink(t) => tar_header(out, &name, 0o777, uid, gid, 0, mtime, b'2', t)?,
            SourceKind::Hardlink(first) => {
                tar_header(out, &name, mode, uid, gid, 0, mtime, b'1', &join_rel(&target, first))?
            }
            SourceKind::File(_) => {
                let data = e.content()?;
                tar_header(out, &name, mode, uid, gid, data.len() as u64, mtime, b'0', "")?;
                out.extend_from_slice(&data);
                out.resize(out.len().div_ceil(512) * 512, 0);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gzip::GzipWriter;
    use crate::layer::write_tar;
    use std::io::Write;

    /// [`copy_tar`] with the old positional arguments, no created directories.
    fn copy_with(
        source: &Resolved,
        dest: &str,
        workdir: &str,
        owner: (u64, u64),
        mtime: Option<i64>,
        add: bool,
    ) -> std::io::Result<Vec<u8>> {
        let mtimes = Default::default();
        let spec = CopySpec {
            dest,
            workdir,
            owner: Some(owner),
            mtime,
            mtimes: &mtimes,
            add,
            created_dirs: &[],
            now: 0,
        };
        copy_tar(source, &spec)
    }

    /// The mtime field of the first tar header in `tar`.
    fn first_mtime(tar: &[u8]) -> i64 {
        let field = std::str::from_utf8(&tar[136..147]).unwrap();
        i64::from_str_radix(field, 8).unwrap()
    }

    /// The engine's export is read back into the entries that made it: names and link targets
    /// that are not UTF-8, far mtimes from PAX records, whiteouts (shared ones keep their link),
    /// opaque directories and capabilities.
    #[test]
    fn exported_tars_read_back_into_their_entries() {
        let t = 1_700_000_000;
        let mut cap = Entry::file("bin/ping", 0o755, b"elf".to_vec()).with_mtime(t);
        cap.xattrs.insert("security.capability".into(), vec![1, 0, 0, 2]);
        let mut opaque = Entry::dir("etc", 0o755).with_mtime(t);
        opaque.opaque = true;
        let whiteout = |path: &str, kind| Entry {
            kind,
            ..Entry::dir(path, 0).with_mtime(t)
        };
        let entries = vec![
            Entry::dir("bin", 0o755).with_mtime(t),
            cap,
            Entry::file(&b"caf\xe9"[..], 0o644, Vec::new()).with_mtime(-315_619_200),
            opaque,
            whiteout("etc/gone", EntryKind::CharDevice { major: 0, minor: 0 }),
            whiteout("etc/too", EntryKind::SharedWhiteout(b"etc/gone".to_vec())),
            Entry::file("future", 0o600, b"x".to_vec()).with_mtime(10_413_792_000),
            Entry::symlink(&b"link"[..], &b"caf\xe9-target\xff"[..]).with_mtime(t),
            Entry::file(&b"names/line\nbreak"[..], 0o644, Vec::new()).with_mtime(t),
        ];
        let dir = tempfile::tempdir().unwrap();
        let tar = dir.path().join("layer.tar");
        let mut bytes = Vec::new();
        write_tar(
            &entries,
            &Profile::docker_20_10_with_names(Default::default(), Default::default()),
            &mut bytes,
        )
        .unwrap();
        std::fs::write(&tar, bytes).unwrap();
        assert_eq!(entries_of_tar(&tar).unwrap(), entries);
    }

    #[test]
    fn copy_tar_uses_the_stated_context_mtime_over_the_files_own() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("entrypoint.sh");
        std::fs::write(&file, "#!/bin/sh\n").unwrap();
        let source = Resolved::File { path: file, mode: None };
        let own = copy_with(&source, "/usr/local/bin/", "/", (0, 0), None, false).unwrap();
        assert_ne!(first_mtime(&own), 1_704_067_200);
        let stated = copy_with(&source, "/usr/local/bin/", "/", (0, 0), Some(1_704_067_200), false).unwrap();
        assert_eq!(first_mtime(&stated), 1_704_067_200);
        assert_eq!(&stated[..28], b"usr/local/bin/entrypoint.sh\0");
    }

    /// (name, mode, uid, type flag, link name, mtime) of every entry of a tar.
    fn headers(tar: &[u8]) -> Vec<(String, u32, u64, u8, String, u64)> {
        let mut ar = tar::Archive::new(tar);
        ar.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                let link = h.link_name().unwrap().map(|l| l.to_string_lossy().to_string());
                (
                    e.path().unwrap().to_string_lossy().to_string(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                    h.entry_type().as_byte(),
                    link.unwrap_or_default(),
                    h.mtime().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn chown_clears_setuid_and_setgid_with_group_exec_as_linux_does() {
        for (before, after) in [
            (0o4755, 0o755),
            (0o2755, 0o755),
            (0o2744, 0o2744),
            (0o6755, 0o755),
            (0o6745, 0o2745),
            (0o1777, 0o1777),
        ] {
            assert_eq!(mode_after_chown(before), after, "{before:o}");
        }
    }

    #[test]
    fn chowned_directories_are_a_files_parents_or_a_directorys_destination() {
        assert_eq!(
            chowned_dir_candidates(false, "/opt/x/y/suid", "suid", false),
            ["/opt", "/opt/x", "/opt/x/y"]
        );
        assert_eq!(chowned_dir_candidates(false, "/bin2/", "suid", true), ["/bin2"]);
        assert_eq!(
            chowned_dir_candidates(true, "/srv/a/b/tree", "tree", false),
            ["/srv/a/b/tree"]
        );
        assert!(chowned_dir_candidates(false, "/f1", "f", false).is_empty());
    }

    /// A directory COPY'd with `--chown` as 20.10's builder wrote it (h3's experiment): hard links
    /// kept, setuid cleared by the chown, per-entry mtimes, the created destination chowned.
    #[test]
    fn directory_copy_keeps_hard_links_and_what_the_chown_left() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("hl");
        std::fs::create_dir(&src).unwrap();
        std::fs::write(src.join("one"), "hello\n").unwrap();
        std::fs::set_permissions(src.join("one"), std::fs::Permissions::from_mode(0o4755)).unwrap();
        std::fs::hard_link(src.join("one"), src.join("two")).unwrap();
        let mtimes = std::collections::BTreeMap::from([("two".to_string(), 5)]);
        let created = vec!["/hl".to_string()];
        let spec = CopySpec {
            dest: "/hl",
            workdir: "/",
            owner: Some((1000, 1000)),
            mtime: Some(7),
            mtimes: &mtimes,
            add: false,
            created_dirs: &created,
            now: 9,
        };
        let tar = copy_tar(&Resolved::Dir(src), &spec).unwrap();
        assert_eq!(
            headers(&tar),
            [
                ("hl/".to_string(), 0o755, 1000, b'5', String::new(), 9),
                ("hl/one".to_string(), 0o755, 1000, b'0', String::new(), 7),
                ("hl/two".to_string(), 0o755, 1000, b'1', "hl/one".to_string(), 5),
            ]
        );
    }

    #[test]
    fn chown_names_resolve_like_the_classic_builder() {
        let passwd = b"root:x:0:0:root:/root:/bin/sh\ndemo:x:1000:1001:retrace demo:/srv/demo:/bin/sh\n";
        let group = b"root:x:0:\ndemo:x:1001:\nstaff:x:50:\n";
        let r = |spec| resolve_chown(spec, Some(passwd), Some(group));
        assert_eq!(r("1000:50"), Ok((1000, 50)));
        assert_eq!(r("33"), Ok((33, 33)));
        // A lone user name is looked up as a group name too (not the user's primary group).
        assert_eq!(r("demo"), Ok((1000, 1001)));
        assert_eq!(r("demo:staff"), Ok((1000, 50)));
        assert_eq!(r("root:1001"), Ok((0, 1001)));
        let err = r("nobody").unwrap_err().to_string();
        assert!(err.contains("no passwd entry for `nobody`"), "{err}");
        let err = resolve_chown("demo", None, None).unwrap_err().to_string();
        assert!(err.contains("no /etc/passwd"), "{err}");
        assert!(r("a:b:c").is_err());
    }

    /// (name, type flag, link name, mtime) of every entry of a tar.
    fn listing(tar: &[u8]) -> Vec<(String, u8, String, u64)> {
        headers(tar)
            .into_iter()
            .map(|(name, _, _, kind, link, mtime)| (name, kind, link, mtime))
            .collect()
    }

    #[test]
    fn add_extracts_a_gzipped_tar_into_the_destination_and_copies_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let entries = vec![
            Entry::dir("pkg", 0o755),
            Entry::file("pkg/README", 0o644, b"read me\n".to_vec()),
            Entry {
                kind: EntryKind::Hardlink("pkg/README".into()),
                ..Entry::file("pkg/README.again", 0o644, Vec::new())
            },
            Entry::symlink("pkg/latest", "README"),
        ]
        .into_iter()
        .map(|mut e| {
            e.mtime = 1_500_000_000;
            e
        })
        .collect::<Vec<_>>();
        let profile = Profile::from_name("docker-18.06").unwrap();
        let blob = dir.path().join("pkg.tar.gz");
        let mut tar = Vec::new();
        write_tar(&entries, &profile, &mut tar).unwrap();
        let mut gz = GzipWriter::new(Vec::new(), 6).unwrap();
        gz.write_all(&tar).unwrap();
        std::fs::write(&blob, gz.finish().unwrap()).unwrap();

        let out = copy_with(
            &Resolved::File {
                path: blob.clone(),
                mode: None,
            },
            "src/",
            "/usr",
            (1000, 1000),
            None,
            true,
        )
        .unwrap();
        assert_eq!(
            listing(&out),
            [
                ("usr/src/pkg/".to_string(), b'5', String::new(), 1_500_000_000),
                ("usr/src/pkg/README".into(), b'0', String::new(), 1_500_000_000),
                (
                    "usr/src/pkg/README.again".into(),
                    b'1',
                    "usr/src/pkg/README".into(),
                    1_500_000_000
                ),
                ("usr/src/pkg/latest".into(), b'2', "README".into(), 1_500_000_000),
            ]
        );
        // COPY never extracts; ADD of a file that is no archive copies it.
        let copied = copy_with(
            &Resolved::File { path: blob, mode: None },
            "/x/",
            "/",
            (0, 0),
            Some(7),
            false,
        )
        .unwrap();
        assert_eq!(listing(&copied)[0].0, "x/pkg.tar.gz");
        let plain = dir.path().join("notes.txt");
        std::fs::write(&plain, "just text, not a tar\n".repeat(40)).unwrap();
        let added = copy_with(
            &Resolved::File {
                path: plain,
                mode: None,
            },
            "/x/",
            "/",
            (0, 0),
            Some(7),
            true,
        )
        .unwrap();
        assert_eq!(listing(&added)[0].0, "x/notes.txt");
    }
}
