//! ADD of a local file: whether the classic builder extracts it, and what its extraction leaves.
//!
//! Docker 20.10's builder (builder/dockerfile/copy.go `isArchivePath`) extracts a local ADD source
//! when pkg/archive's `DecompressStream` opens it and Go's `tar.Reader.Next` then returns its first
//! entry without an error. `DecompressStream` picks the decompressor by the first bytes
//! (`DetectCompression`: bzip2 `BZh`, gzip `1f 8b 08`, xz `fd 37 7a 58 5a 00`; zstd came only with
//! Docker 23, so a zstd file is read as plain bytes, fails the tar check and is copied). `Next`
//! reads past PAX (`x`) and GNU long-name (`L`, `K`) headers, each at most 1 MiB, to the first real
//! entry, so the check must too: the first 512 bytes alone miss a tar whose first name is long.
//! [`is_tar_archive`] follows those rules; GNU sparse maps are not read (a sparse first entry is
//! taken as an entry, where Go would also validate its map).
//!
//! The extraction itself is `layer add`'s: [`crate::add::untar`] replays pkg/archive's `Untar`
//! through the bounded archive reader (gzip, xz and bzip2 alike).

use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use crate::archive::Limits;
use crate::layer::{write_tar, EntryKind, Profile};

/// Go archive/tar's `maxSpecialFileSize`: the largest PAX or GNU long-name record it reads.
const MAX_SPECIAL: u64 = 1 << 20;

/// How many PAX and GNU long-name headers the check reads before the first entry. Go's loop has
/// no bound; a file that needs more is refused rather than guessed.
const MAX_SPECIAL_HEADERS: usize = 64;

/// The compression pkg/archive's `DetectCompression` of Docker 20.10 finds in a file's first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Bzip2,
    Xz,
}

fn detect(head: &[u8]) -> Compression {
    match head {
        [b'B', b'Z', b'h', ..] => Compression::Bzip2,
        [0x1f, 0x8b, 0x08, ..] => Compression::Gzip,
        [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Compression::Xz,
        _ => Compression::None,
    }
}

/// Whether the classic builder's ADD extracts the file at `path` (see the module notes).
pub fn is_tar_archive(path: &Path) -> io::Result<bool> {
    let mut raw = BufReader::with_capacity(64 << 10, crate::fsutil::open_regular(path)?);
    let head = raw.fill_buf()?;
    // Multi-stream readers, like Go's gzip and bzip2 readers and `xz -d` that Docker used.
    let mut decoded: Box<dyn Read> = match detect(head) {
        Compression::None => Box::new(raw),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(raw)),
        Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(raw)),
        Compression::Xz => Box::new(xz2::bufread::XzDecoder::new_multi_decoder(raw)),
    };
    match first_entry(&mut decoded) {
        Ok(found) => Ok(found),
        Err(Refusal::TooManySpecialHeaders) => Err(io::Error::other(format!(
            "{}: more than {MAX_SPECIAL_HEADERS} PAX or GNU long-name headers before the first entry; \
             retrace does not read further to decide whether ADD extracts it",
            path.display()
        ))),
    }
}

enum Refusal {
    TooManySpecialHeaders,
}

/// Go's `tar.Reader.Next` on a fresh reader: `Ok(true)` when it returns an entry (a PAX global
/// header counts, as it does for Go), `Ok(false)` on any error or the end of the archive.
fn first_entry(r: &mut dyn Read) -> Result<bool, Refusal> {
    let mut block = [0u8; 512];
    for _ in 0..MAX_SPECIAL_HEADERS {
        if r.read_exact(&mut block).is_err() || block == [0u8; 512] {
            // A short file, or the end-of-archive marker (a zero block then anything is an error).
            return Ok(false);
        }
        let Some(size) = parse_header(&block) else {
            return Ok(false);
        };
        let flag = block[156];
        if !matches!(flag, b'x' | b'g' | b'L' | b'K') {
            return Ok(true);
        }
        let Some(data) = read_special(r, size) else {
            return Ok(false);
        };
        if matches!(flag, b'x' | b'g') && !pax_records_valid(&data) {
            return Ok(false);
        }
        if flag == b'g' {
            return Ok(true);
        }
    }
    Err(Refusal::TooManySpecialHeaders)
}

/// The header's checksum with each byte read by `value` (unsigned or signed, the two sums Go
/// accepts), the checksum field itself counting as eight spaces.
fn header_sum(b: &[u8; 512], value: impl Fn(u8) -> i64) -> i64 {
    let field: i64 = b[148..156].iter().map(|&c| value(c)).sum();
    b.iter().map(|&c| value(c)).sum::<i64>() - field + 8 * 32
}

/// Checks a header block as Go's `readHeader` does: a checksum that matches the unsigned or the
/// signed sum, and numeric fields that parse (the size non-negative unless the entry has no
/// content). Returns the entry's content size.
fn parse_header(b: &[u8; 512]) -> Option<u64> {
    let stored = parse_octal(&b[148..156])?;
    if stored != header_sum(b, i64::from) && stored != header_sum(b, |c| i64::from(c as i8)) {
        return None;
    }
    // Go's GetFormat: USTAR (or PAX), star (USTAR with a `tar` trailer), GNU, else V7; all but V7
    // have device numbers, and star access and change times.
    let ustar = &b[257..263] == b"ustar\0";
    let gnu = &b[257..263] == b"ustar " && &b[263..265] == b" \0";
    let mut fields = vec![100..108, 108..116, 116..124, 136..148];
    if ustar || gnu {
        fields.extend([329..337, 337..345]);
    }
    if ustar && &b[508..512] == b"tar\0" {
        fields.extend([476..488, 488..500]);
    }
    if fields.into_iter().any(|f| parse_numeric(&b[f]).is_none()) {
        return None;
    }
    let size = parse_numeric(&b[124..136])?;
    let header_only = matches!(b[156], b'1'..=b'6');
    match (header_only, u64::try_from(size)) {
        (true, _) => Some(0),
        (false, Ok(size)) => Some(size),
        (false, Err(_)) => None,
    }
}

/// Go's `parseNumeric`: base-256 when the high bit is set, else octal.
fn parse_numeric(b: &[u8]) -> Option<i64> {
    if b.first().is_some_and(|&c| c & 0x80 != 0) {
        let inv = if b[0] & 0x40 != 0 { 0xff } else { 0 };
        let mut x: u64 = 0;
        for (i, &c) in b.iter().enumerate() {
            let c = if i == 0 { (c ^ inv) & 0x7f } else { c ^ inv };
            if x >> 56 > 0 {
                return None;
            }
            x = x << 8 | u64::from(c);
        }
        if x >> 63 > 0 {
            return None;
        }
        let x = x as i64;
        return Some(if inv == 0xff { !x } else { x });
    }
    parse_octal(b)
}

/// Go's `parseOctal`: NULs and spaces trimmed at both ends, then the digits up to a NUL.
fn parse_octal(b: &[u8]) -> Option<i64> {
    let pad = |c: &u8| *c == b' ' || *c == 0;
    let start = b.iter().position(|c| !pad(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !pad(c)).map_or(start, |e| e + 1);
    let trimmed = &b[start..end];
    if trimmed.is_empty() {
        return Some(0);
    }
    // The trimmed field starts with a digit, so the part before a NUL is never empty; Go's
    // ParseUint takes no sign, unlike Rust's.
    let digits = &trimmed[..trimmed.iter().position(|&c| c == 0).unwrap_or(trimmed.len())];
    if !digits.iter().all(|c| (b'0'..=b'7').contains(c)) {
        return None;
    }
    let text = std::str::from_utf8(digits).ok()?;
    u64::from_str_radix(text, 8).ok().map(|v| v as i64)
}

/// A special record's content and padding, as `readSpecialFile` reads it (at most 1 MiB).
fn read_special(r: &mut dyn Read, size: u64) -> Option<Vec<u8>> {
    if size > MAX_SPECIAL {
        return None;
    }
    let padded = size.div_ceil(512) * 512;
    let mut data = vec![0u8; padded as usize];
    r.read_exact(&mut data).ok()?;
    data.truncate(size as usize);
    Some(data)
}

/// Go's `parsePAX` and `mergePAX`: every record `LEN key=value\n` well formed, no NUL where Go
/// refuses one, numeric keys that parse.
fn pax_records_valid(mut data: &[u8]) -> bool {
    let mut sparse_keys = 0usize;
    while !data.is_empty() {
        let Some(sp) = data.iter().position(|&c| c == b' ') else {
            return false;
        };
        let Some(n) = std::str::from_utf8(&data[..sp])
            .ok()
            .and_then(|t| t.parse::<i64>().ok())
            .and_then(|n| usize::try_from(n).ok())
        else {
            return false;
        };
        if n < 5 || data.len() < n || sp + 1 >= n - 1 || data[n - 1] != b'\n' {
            return false;
        }
        let record = &data[sp + 1..n - 1];
        data = &data[n..];
        let Some(eq) = record.iter().position(|&c| c == b'=') else {
            return false;
        };
        let (key, value) = (&record[..eq], &record[eq + 1..]);
        let nul_checked = match key {
            b"path" | b"linkpath" | b"uname" | b"gname" => value,
            _ => key,
        };
        if key.is_empty() || nul_checked.contains(&0) || !pax_value_valid(key, value, &mut sparse_keys) {
            return false;
        }
    }
    true
}

/// The value checks of `parsePAX` (the GNU sparse 0.0 offset/size pairs) and `mergePAX`.
fn pax_value_valid(key: &[u8], value: &[u8], sparse_keys: &mut usize) -> bool {
    let text = std::str::from_utf8(value).ok();
    match key {
        b"GNU.sparse.offset" | b"GNU.sparse.numbytes" => {
            let expected: &[u8] = if *sparse_keys % 2 == 0 {
                b"GNU.sparse.offset"
            } else {
                b"GNU.sparse.numbytes"
            };
            *sparse_keys += 1;
            key == expected && !value.contains(&b',')
        }
        _ if value.is_empty() => true,
        b"uid" | b"gid" | b"size" => text.is_some_and(|t| t.parse::<i64>().is_ok()),
        b"mtime" | b"atime" | b"ctime" => text.is_some_and(pax_time_valid),
        _ => true,
    }
}

/// Go's `parsePAXTime`: signed decimal seconds, then optionally `.` and decimal digits.
fn pax_time_valid(t: &str) -> bool {
    let (secs, frac) = t.split_once('.').unwrap_or((t, ""));
    secs.parse::<i64>().is_ok() && frac.bytes().all(|c| c.is_ascii_digit())
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
