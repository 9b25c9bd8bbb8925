//! Sparse files as Go's archive/tar reads them: the maps of old GNU `S` headers and of PAX
//! formats 0.0, 0.1 and 1.0 (`reader.go` `readOldGNUSparseMap`, `readGNUSparsePAXHeaders`,
//! `readGNUSparseMap1x0`, `readGNUSparseMap0x1`), checked and turned into holes as `common.go`'s
//! `validateSparseEntries` and `invertSparseEntries` do.

use std::io::Read;

use super::block::{self, Parser, BLOCK};
use super::pax::{parse_int, SPARSE_MAP};
use super::{read_exact_or, GoTarError, Header};

/// Data fragments of a sparse file, as offset and length; Go reads any number of them. Each
/// takes 16 bytes of memory, so the count is bounded (a real sparse file has a few hundred).
pub const MAX_SPARSE_ENTRIES: usize = 1 << 20;

/// A decimal token of a 1.0 map longer than this is refused rather than buffered (Go buffers
/// until a newline comes).
const MAX_TOKEN: usize = 4096;

pub type Fragments = Vec<(i64, i64)>;

fn header(why: &str) -> GoTarError {
    GoTarError::Header(format!("sparse map: {why}"))
}

fn push(out: &mut Fragments, fragment: (i64, i64)) -> Result<(), GoTarError> {
    if out.len() >= MAX_SPARSE_ENTRIES {
        return Err(GoTarError::Limit(format!(
            "sparse map of more than {MAX_SPARSE_ENTRIES} fragments"
        )));
    }
    out.push(fragment);
    Ok(())
}

/// The map of an old GNU sparse header (`S`): four entries in the header, 21 in each extension
/// block that follows while the `isextended` byte says so. Sets the header's size to the real size.
pub fn old_gnu(hdr: &mut Header, blk: &mut [u8; BLOCK], r: &mut impl Read) -> Result<Fragments, GoTarError> {
    if block::format_of(blk) != Some(super::Format::GNU) {
        return Err(header("an old GNU sparse entry without GNU magic"));
    }
    let mut p = Parser::default();
    hdr.size = block::gnu_real_size(blk, &mut p);
    if let Some(why) = p.failed {
        return Err(GoTarError::Header(why.into()));
    }
    let mut out = Fragments::new();
    let mut page = Vec::new();
    block::sparse_entries(blk, 386, 4, &mut p, &mut page)?;
    let mut extended = blk[482] > 0;
    loop {
        for fragment in page.drain(..) {
            push(&mut out, fragment)?;
        }
        if !extended {
            return Ok(out);
        }
        read_exact_or(r, blk, GoTarError::UnexpectedEof)?;
        block::sparse_entries(blk, 0, 21, &mut p, &mut page)?;
        extended = blk[504] > 0;
    }
}

/// Which PAX sparse format the records declare: `Some(true)` for 1.0 (map in the data),
/// `Some(false)` for 0.0 and 0.1 (map in the records), `None` when the entry is not sparse or of
/// a version Go does not know.
pub fn pax_version(hdr: &Header) -> Option<bool> {
    let get = |k: &[u8]| hdr.pax_records.get(k).map(Vec::as_slice).unwrap_or(b"");
    let (major, minor) = (get(b"GNU.sparse.major"), get(b"GNU.sparse.minor"));
    match (major, minor) {
        (b"0", b"0" | b"1") => Some(false),
        (b"1", b"0") => Some(true),
        _ if !major.is_empty() || !minor.is_empty() => None,
        _ if !get(SPARSE_MAP).is_empty() => Some(false),
        _ => None,
    }
}

/// The name and real size a PAX sparse entry records; the placeholder name and stored size of
/// its header give way to them.
pub fn pax_name_and_size(hdr: &mut Header) -> Result<(), GoTarError> {
    let get = |k: &[u8]| hdr.pax_records.get(k).filter(|v| !v.is_empty()).cloned();
    if let Some(name) = get(b"GNU.sparse.name") {
        hdr.name = name;
    }
    if let Some(size) = get(b"GNU.sparse.size").or_else(|| get(b"GNU.sparse.realsize")) {
        hdr.size = parse_int(&size).ok_or_else(|| header("real size does not parse"))?;
    }
    Ok(())
}

/// A 0.0 or 0.1 map: `GNU.sparse.numblocks` pairs in the comma-separated `GNU.sparse.map`.
pub fn map_0x1(hdr: &Header) -> Result<Fragments, GoTarError> {
    let get = |k: &[u8]| hdr.pax_records.get(k).map(Vec::as_slice).unwrap_or(b"");
    let count = parse_int(get(b"GNU.sparse.numblocks")).filter(|&n| (0..i64::MAX / 2).contains(&n));
    let count = count.ok_or_else(|| header("block count does not parse"))?;
    let text = get(SPARSE_MAP);
    let fields: Vec<&[u8]> = if text.is_empty() {
        Vec::new()
    } else {
        text.split(|&b| b == b',').collect()
    };
    if fields.len() as i64 != 2 * count {
        return Err(header("block count and map disagree"));
    }
    let mut out = Fragments::new();
    for pair in fields.chunks(2) {
        match (parse_int(pair[0]), parse_int(pair[1])) {
            (Some(o), Some(l)) => push(&mut out, (o, l))?,
            _ => return Err(header("an offset or size does not parse")),
        }
    }
    Ok(out)
}

/// A 1.0 map, read from the start of the entry's data: a count, then offset and size, each a
/// decimal line, the whole padded to a block.
pub fn map_1x0(data: &mut impl Read) -> Result<Fragments, GoTarError> {
    let mut tokens = Tokens {
        data,
        blk: [0; BLOCK],
        at: BLOCK,
        token: Vec::new(),
    };
    let count = parse_int(&tokens.next()?).filter(|&n| (0..i64::MAX / 2).contains(&n));
    let count = count.ok_or_else(|| header("entry count does not parse"))?;
    let mut out = Fragments::new();
    for _ in 0..count {
        let offset = parse_int(&tokens.next()?);
        let length = parse_int(&tokens.next()?);
        match (offset, length) {
            (Some(o), Some(l)) => push(&mut out, (o, l))?,
            _ => return Err(header("an offset or size does not parse")),
        }
    }
    Ok(out)
}

/// Newline-terminated tokens read a whole block at a time, as Go reads them.
struct Tokens<'r, R> {
    data: &'r mut R,
    blk: [u8; BLOCK],
    at: usize,
    token: Vec<u8>,
}

impl<R: Read> Tokens<'_, R> {
    fn next(&mut self) -> Result<Vec<u8>, GoTarError> {
        self.token.clear();
        loop {
            if self.at == BLOCK {
                read_exact_or(self.data, &mut self.blk, GoTarError::UnexpectedEof)?;
                self.at = 0;
            }
            let b = self.blk[self.at];
            self.at += 1;
            if b == b'\n' {
                return Ok(std::mem::take(&mut self.token));
            }
            if self.token.len() >= MAX_TOKEN {
                return Err(GoTarError::Limit(format!(
                    "sparse map line longer than {MAX_TOKEN} bytes"
                )));
            }
            self.token.push(b);
        }
    }
}

/// Go's `validateSparseEntries`: fragments in order, not overlapping, within the size.
pub fn valid(fragments: &Fragments, size: i64) -> bool {
    if size < 0 {
        return false;
    }
    let mut pre_end = 0i64;
    for &(offset, length) in fragments {
        if offset < 0 || length < 0 || offset > i64::MAX - length {
            return false;
        }
        let end = offset + length;
        if end > size || pre_end > offset {
            return false;
        }
        pre_end = end;
    }
    true
}

/// The holes between the data fragments, coalesced; the last hole ends at the size (and is the
/// only one that may be empty), so the list is never empty.
pub fn holes(fragments: &Fragments, size: i64) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut pre_offset = 0i64;
    for &(offset, length) in fragments {
        if length == 0 {
            continue;
        }
        if offset - pre_offset > 0 {
            out.push((pre_offset, offset - pre_offset));
        }
        pre_offset = offset + length;
    }
    out.push((pre_offset, size - pre_offset));
    out
}
