//! ADD of a local file: whether the classic builder extracts it, and what its extraction leaves.
//!
//! Docker 20.10's builder (builder/dockerfile/copy.go `isArchivePath`) extracts a local ADD source
//! when pkg/archive's `DecompressStream` opens it and Go's `tar.Reader.Next` then returns its first
//! entry without an error. `DecompressStream` picks the decompressor by the first bytes
//! (`DetectCompression`: bzip2 `BZh`, gzip `1f 8b 08`, xz `fd 37 7a 58 5a 00`; zstd came only with
//! Docker 23, so a zstd file is read as plain bytes, fails the tar check and is copied). `Next`
//! reads past PAX (`x`) and GNU long-name (`L`, `K`) headers, each at most 1 MiB, to the first real
//! entry, so the check must too: the first 512 bytes alone miss a tar whose first name is long.
//! [`is_tar_archive`] asks the same Go-compatible reader ([`gotar`]) for that first entry.
//!
//! The extraction itself is `layer add`'s: [`crate::add::untar`] replays pkg/archive's `Untar`
//! through the bounded archive reader (gzip, xz and bzip2 alike).

use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use crate::archive::{gotar, Compression, Limits};
use crate::layer::{write_tar, EntryKind, Profile};

/// Go archive/tar's `maxSpecialFileSize`: the largest PAX or GNU long-name record it reads.
const MAX_SPECIAL: u64 = gotar::MAX_SPECIAL as u64;

/// How many PAX and GNU long-name headers of the largest size the check reads before the first
/// entry. Go's loop has no bound; a file that needs more is refused rather than guessed.
const MAX_SPECIAL_HEADERS: usize = 64;

/// Whether the classic builder's ADD extracts the file at `path` (see the module notes).
pub fn is_tar_archive(path: &Path) -> io::Result<bool> {
    let mut raw = BufReader::with_capacity(64 << 10, crate::fsutil::open_regular(path)?);
    let head = raw.fill_buf()?;
    // Multi-stream readers, like Go's gzip and bzip2 readers and `xz -d` that Docker used.
    let mut decoded: Box<dyn Read> = match Compression::sniff(head) {
        // retrace reads no zstd: such a file is looked at as it is, and is no tar.
        Compression::None | Compression::Zstd => Box::new(raw),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(raw)),
        Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(raw)),
        Compression::Xz => Box::new(xz2::bufread::XzDecoder::new_multi_decoder(raw)),
    };
    match first_entry(&mut decoded) {
        Ok(found) => Ok(found),
        Err(Refusal::TooManySpecialHeaders) => Err(io::Error::other(format!(
            "{}: more than {MAX_SPECIAL_HEADERS} MiB of PAX or GNU long-name headers before the first entry; \
             retrace does not read further to decide whether ADD extracts it",
            path.display()
        ))),
    }
}

enum Refusal {
    TooManySpecialHeaders,
}

/// Go's `tar.Reader.Next` on a fresh reader (the same reader as every archive's): `Ok(true)`
/// when it returns an entry (a PAX global header counts, as it does for Go), `Ok(false)` on any
/// error or the end of the archive. Go reads any number of PAX and long-name headers before the
/// first entry; more than [`MAX_SPECIAL_HEADERS`] of the largest size are refused, not guessed.
fn first_entry(r: &mut dyn Read) -> Result<bool, Refusal> {
    let budget = MAX_SPECIAL_HEADERS as u64 * (MAX_SPECIAL + 1024);
    let mut reader = gotar::Reader::new(r.take(budget));
    let first = reader.next();
    match first {
        Ok(Some(_)) => Ok(true),
        Err(_) if reader.into_inner().limit() == 0 => Err(Refusal::TooManySpecialHeaders),
        _ => Ok(false),
    }
}

/// The archive at `path` extracted as Docker's ADD does, re-rooted at `prefix`, as a tar for the
/// engine to extract at `/`. The archive comes from outside, so it is read by the hostile-archive
/// reader (paths checked, sizes and entry counts bounded). Parent directories the archive does
/// not list are left to the engine, which creates them as Docker's extraction did, at its own
/// time; hard link targets move with the entries, symlink targets stay.
pub fn extracted_archive_tar(path: &Path, prefix: &str) -> io::Result<Vec<u8>> {
    let fail = |e: &(dyn std::error::Error + 'static)| {
        io::Error::other(format!("{}: {}", path.display(), crate::error::Chain(e)))
    };
    let file = crate::fsutil::open_regular(path).map_err(|e| fail(&e))?;
    let (tree, _) = crate::add::untar::untar_read(file, &Limits::default(), 0).map_err(|e| fail(&e))?;
    // Entry names are bytes; the prefix is the (UTF-8) destination inside the container.
    let join = |p: &[u8]| {
        if prefix.is_empty() {
            p.to_vec()
        } else {
            [prefix.as_bytes(), b"/", p].concat()
        }
    };
    // The implicit directories are in the archive reader's text form.
    let implicit: Vec<Vec<u8>> = tree
        .implicit_dirs
        .iter()
        .map(|d| crate::archive::raw_bytes(d))
        .collect();
    let entries: Vec<_> = tree
        .entries()
        .into_iter()
        .filter(|e| !implicit.contains(&e.path))
        .map(|mut e| {
            e.path = join(&e.path);
            if let EntryKind::Hardlink(target) = &e.kind {
                e.kind = EntryKind::Hardlink(join(target));
            }
            e
        })
        .collect();
    let profile = Profile::from_name("docker-20.10").map_err(io::Error::other)?;
    let mut out = Vec::new();
    write_tar(&entries, &profile, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests;
