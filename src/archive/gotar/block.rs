//! One 512-byte tar header block decoded field by field as Go's archive/tar decodes it
//! (`format.go` for the layouts and the format guess, `strconv.go` for strings and numbers).

use super::{Format, GoTarError, GoTime, Header};

pub const BLOCK: usize = 512;

/// Octal or base-256 numbers and NUL-terminated strings, remembering the first number that did
/// not parse (Go's `parser`): a header with one is refused as a whole.
#[derive(Default)]
pub struct Parser {
    pub failed: Option<&'static str>,
}

impl Parser {
    /// Bytes up to the first NUL (Go's `parseString`).
    pub fn string(field: &[u8]) -> Vec<u8> {
        match field.iter().position(|&b| b == 0) {
            Some(i) => field[..i].to_vec(),
            None => field.to_vec(),
        }
    }

    /// A numeric field: base-256 (GNU's extension for numbers octal cannot hold) when its first
    /// byte has the high bit set, octal otherwise.
    pub fn numeric(&mut self, field: &[u8]) -> i64 {
        match field.first() {
            Some(b) if b & 0x80 != 0 => self.base256(field),
            _ => self.octal(field),
        }
    }

    fn base256(&mut self, field: &[u8]) -> i64 {
        let inv: u8 = if field[0] & 0x40 != 0 { 0xff } else { 0 };
        let mut x: u64 = 0;
        for (i, &c) in field.iter().enumerate() {
            let mut c = c ^ inv;
            if i == 0 {
                c &= 0x7f;
            }
            if x >> 56 > 0 {
                self.failed = Some("base-256 number overflows");
                return 0;
            }
            x = x << 8 | u64::from(c);
        }
        if x >> 63 > 0 {
            self.failed = Some("base-256 number overflows");
            return 0;
        }
        if inv == 0xff {
            !(x as i64)
        } else {
            x as i64
        }
    }

    /// Octal, with leading and trailing spaces and NULs trimmed and the rest cut at a NUL.
    pub fn octal(&mut self, field: &[u8]) -> i64 {
        let trimmed = trim(field, |b| b == b' ' || b == 0);
        if trimmed.is_empty() {
            return 0;
        }
        let digits = Self::string(trimmed);
        // Go's ParseUint takes no sign; Rust's from_str_radix would take a `+`.
        let parsed = std::str::from_utf8(&digits)
            .ok()
            .filter(|s| !s.starts_with('+'))
            .and_then(|s| u64::from_str_radix(s, 8).ok());
        match parsed {
            Some(x) => x as i64,
            None => {
                self.failed = Some("octal number does not parse");
                // Go returns the saturated value with the error; the header is refused anyway.
                0
            }
        }
    }
}

fn trim(b: &[u8], strip: impl Fn(u8) -> bool) -> &[u8] {
    let start = b.iter().position(|&c| !strip(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|&c| !strip(c)).map_or(start, |i| i + 1);
    &b[start..end.max(start)]
}

/// A byte range of the block.
fn f(blk: &[u8; BLOCK], start: usize, len: usize) -> &[u8] {
    &blk[start..start + len]
}

pub fn is_zero(blk: &[u8; BLOCK]) -> bool {
    blk.iter().all(|&b| b == 0)
}

/// Go's `getFormat`: the checksum (unsigned or signed sum) must hold, then the magic tells the
/// family apart. `None` is Go's `FormatUnknown`: not a header.
pub fn format_of(blk: &[u8; BLOCK]) -> Option<Format> {
    let mut p = Parser::default();
    let recorded = p.octal(f(blk, 148, 8));
    let (unsigned, signed) = checksums(blk);
    if p.failed.is_some() || (recorded != unsigned && recorded != signed) {
        return None;
    }
    let magic = f(blk, 257, 6);
    let version = f(blk, 263, 2);
    Some(if magic == b"ustar\0" && f(blk, 508, 4) == b"tar\0" {
        Format::STAR
    } else if magic == b"ustar\0" {
        Format(Format::USTAR.0 | Format::PAX.0)
    } else if magic == b"ustar " && version == b" \0" {
        Format::GNU
    } else {
        Format::V7
    })
}

fn checksums(blk: &[u8; BLOCK]) -> (i64, i64) {
    let (mut unsigned, mut signed) = (0i64, 0i64);
    for (i, &c) in blk.iter().enumerate() {
        let c = if (148..156).contains(&i) { b' ' } else { c };
        unsigned += i64::from(c);
        signed += i64::from(c as i8);
    }
    (unsigned, signed)
}

/// Go's `readHeader` after the end-of-archive check: the fields every format has, then those of
/// its family, the USTAR prefix joined to the name.
pub fn decode(blk: &[u8; BLOCK], format: Format) -> Result<Header, GoTarError> {
    let mut p = Parser::default();
    let mut hdr = Header {
        typeflag: blk[156],
        name: Parser::string(f(blk, 0, 100)),
        linkname: Parser::string(f(blk, 157, 100)),
        size: p.numeric(f(blk, 124, 12)),
        mode: p.numeric(f(blk, 100, 8)),
        uid: p.numeric(f(blk, 108, 8)),
        gid: p.numeric(f(blk, 116, 8)),
        mtime: Some(GoTime::unix(p.numeric(f(blk, 136, 12)))),
        ..Header::default()
    };
    if format != Format::V7 {
        hdr.uname = Parser::string(f(blk, 265, 32));
        hdr.gname = Parser::string(f(blk, 297, 32));
        hdr.devmajor = p.numeric(f(blk, 329, 8));
        hdr.devminor = p.numeric(f(blk, 337, 8));
        let prefix = family_fields(blk, format, &mut hdr, &mut p);
        if !prefix.is_empty() {
            let mut name = prefix;
            name.push(b'/');
            name.extend_from_slice(&hdr.name);
            hdr.name = name;
        }
    }
    match p.failed {
        Some(why) => Err(GoTarError::Header(why.into())),
        None => Ok(hdr),
    }
}

/// The fields that differ between USTAR, STAR and GNU headers; returns the name prefix.
fn family_fields(blk: &[u8; BLOCK], format: Format, hdr: &mut Header, p: &mut Parser) -> Vec<u8> {
    if format.has(Format(Format::USTAR.0 | Format::PAX.0)) {
        hdr.format = format;
        // Go keeps the USTAR guess only for a header it could have written itself: ASCII, with
        // every numeric field NUL-terminated.
        let ends_nul = |s: usize, n: usize| blk[s + n - 1] == 0;
        let fields = [(124, 12), (100, 8), (108, 8), (116, 8), (136, 12), (329, 8), (337, 8)];
        if blk.iter().any(|&b| b >= 0x80) || !fields.iter().all(|&(s, n)| ends_nul(s, n)) {
            hdr.format = Format::UNKNOWN;
        }
        Parser::string(f(blk, 345, 155))
    } else if format.has(Format::STAR) {
        hdr.atime = Some(GoTime::unix(p.numeric(f(blk, 476, 12))));
        hdr.ctime = Some(GoTime::unix(p.numeric(f(blk, 488, 12))));
        Parser::string(f(blk, 345, 131))
    } else {
        gnu_fields(blk, format, hdr)
    }
}

/// GNU headers carry access and change times where USTAR has its prefix. Go 1.7's writer put a
/// USTAR prefix behind GNU magic; Go reads such a header's prefix when the times do not parse.
fn gnu_fields(blk: &[u8; BLOCK], format: Format, hdr: &mut Header) -> Vec<u8> {
    hdr.format = format;
    let mut p2 = Parser::default();
    if blk[345] != 0 {
        hdr.atime = Some(GoTime::unix(p2.numeric(f(blk, 345, 12))));
    }
    if blk[357] != 0 {
        hdr.ctime = Some(GoTime::unix(p2.numeric(f(blk, 357, 12))));
    }
    if p2.failed.is_none() {
        return Vec::new();
    }
    hdr.atime = None;
    hdr.ctime = None;
    hdr.format = Format::UNKNOWN;
    let prefix = Parser::string(f(blk, 345, 155));
    // Go's isASCII also refuses NUL, which parseString has already cut.
    if prefix.is_ascii() {
        prefix
    } else {
        Vec::new()
    }
}

/// The old GNU sparse header's real size and its map entries in the header block.
pub fn gnu_real_size(blk: &[u8; BLOCK], p: &mut Parser) -> i64 {
    p.numeric(f(blk, 483, 12))
}

/// The offset/length pairs of a block of old GNU sparse entries: `count` entries of 24 bytes from
/// `start`, stopping at the first whose offset begins with NUL; whether more blocks follow.
pub fn sparse_entries(
    blk: &[u8; BLOCK],
    start: usize,
    count: usize,
    p: &mut Parser,
    out: &mut Vec<(i64, i64)>,
) -> Result<(), GoTarError> {
    for i in 0..count {
        let at = start + i * 24;
        if blk[at] == 0 {
            break;
        }
        let offset = p.numeric(f(blk, at, 12));
        let length = p.numeric(f(blk, at + 12, 12));
        if let Some(why) = p.failed {
            return Err(GoTarError::Header(why.into()));
        }
        out.push((offset, length));
    }
    Ok(())
}
