//! PAX extended header records as Go's archive/tar reads them (`reader.go` `parsePAX` and
//! `mergePAX`, `strconv.go` `parsePAXRecord`, `validPAXRecord` and `parsePAXTime`).

use std::collections::BTreeMap;

use super::{GoTarError, GoTime, Header};

pub type Records = BTreeMap<Vec<u8>, Vec<u8>>;

/// GNU sparse offsets and sizes of format 0.0 come as repeated records; Go joins them, in order,
/// under this key.
pub const SPARSE_MAP: &[u8] = b"GNU.sparse.map";
const XATTR: &[u8] = b"SCHILY.xattr.";

fn bad(why: &str) -> GoTarError {
    GoTarError::Header(format!("bad PAX record: {why}"))
}

/// Every record of one PAX header's content. A repeated key keeps its last value, except the
/// 0.0 sparse pairs, which must alternate offset, size and are gathered into [`SPARSE_MAP`].
pub fn parse(mut buf: &[u8]) -> Result<Records, GoTarError> {
    let mut records = Records::new();
    let mut sparse: Vec<&[u8]> = Vec::new();
    while !buf.is_empty() {
        let (key, value, rest) = record(buf)?;
        buf = rest;
        if key == b"GNU.sparse.offset" || key == b"GNU.sparse.numbytes" {
            let want_offset = sparse.len() % 2 == 0;
            if want_offset != (key == b"GNU.sparse.offset") || value.contains(&b',') {
                return Err(bad("GNU sparse 0.0 offsets and sizes out of order"));
            }
            sparse.push(value);
        } else {
            records.insert(key.to_vec(), value.to_vec());
        }
    }
    if !sparse.is_empty() {
        records.insert(SPARSE_MAP.to_vec(), sparse.join(&b','));
    }
    Ok(records)
}

/// A record's key and value, and the bytes after it.
type Record<'a> = (&'a [u8], &'a [u8], &'a [u8]);

/// One `"%d %s=%s\n"` record: its key, value and what follows it.
fn record(s: &[u8]) -> Result<Record<'_>, GoTarError> {
    let space = s.iter().position(|&b| b == b' ').ok_or_else(|| bad("no length"))?;
    let n = parse_int(&s[..space]).ok_or_else(|| bad("length does not parse"))?;
    if n < 5 || n > s.len() as i64 {
        return Err(bad("length out of range"));
    }
    let n = n - (space as i64 + 1);
    if n <= 0 {
        return Err(bad("length out of range"));
    }
    let rest = &s[space + 1..];
    let n = n as usize;
    let (rec, nl, rem) = (&rest[..n - 1], &rest[n - 1..n], &rest[n..]);
    if nl != b"\n" {
        return Err(bad("no newline where its length ends"));
    }
    let eq = rec.iter().position(|&b| b == b'=').ok_or_else(|| bad("no `=`"))?;
    let (k, v) = (&rec[..eq], &rec[eq + 1..]);
    if !valid(k, v) {
        return Err(bad("empty key, or NUL in a key or a name"));
    }
    Ok((k, v, rem))
}

fn valid(k: &[u8], v: &[u8]) -> bool {
    if k.is_empty() || k.contains(&b'=') {
        return false;
    }
    match k {
        b"path" | b"linkpath" | b"uname" | b"gname" => !v.contains(&0),
        _ => !k.contains(&0),
    }
}

/// Go's `strconv.ParseInt(s, 10, 64)`: an optional sign and decimal digits, no overflow.
pub fn parse_int(s: &[u8]) -> Option<i64> {
    std::str::from_utf8(s).ok()?.parse::<i64>().ok()
}

/// Applies the records to `hdr` (Go's `mergePAX`): empty values keep the header's own field.
pub fn merge(hdr: &mut Header, records: &Records) -> Result<(), GoTarError> {
    for (k, v) in records {
        if v.is_empty() {
            continue;
        }
        let number = || parse_int(v).ok_or_else(|| bad("number does not parse"));
        match k.as_slice() {
            b"path" => hdr.name = v.clone(),
            b"linkpath" => hdr.linkname = v.clone(),
            b"uname" => hdr.uname = v.clone(),
            b"gname" => hdr.gname = v.clone(),
            b"uid" => hdr.uid = number()?,
            b"gid" => hdr.gid = number()?,
            b"atime" => hdr.atime = Some(time(v)?),
            b"mtime" => hdr.mtime = Some(time(v)?),
            b"ctime" => hdr.ctime = Some(time(v)?),
            b"size" => hdr.size = number()?,
            _ => {
                if let Some(name) = k.strip_prefix(XATTR) {
                    hdr.xattrs.insert(name.to_vec(), v.clone());
                }
            }
        }
    }
    hdr.pax_records = records.clone();
    Ok(())
}

/// A PAX time, `secs[.fraction]`, kept to the nanosecond (further digits cut) and, for a negative
/// time, taken away from the seconds as Go's `time.Unix(secs, -nsecs)` does.
pub fn time(v: &[u8]) -> Result<GoTime, GoTarError> {
    let (ss, sn) = match v.iter().position(|&b| b == b'.') {
        Some(i) => (&v[..i], &v[i + 1..]),
        None => (v, &v[v.len()..]),
    };
    let secs = parse_int(ss).ok_or_else(|| bad("time does not parse"))?;
    if sn.is_empty() {
        return Ok(GoTime::unix(secs));
    }
    if !sn.iter().all(u8::is_ascii_digit) {
        return Err(bad("time fraction does not parse"));
    }
    let mut nanos: i64 = 0;
    for i in 0..9 {
        nanos = nanos * 10 + sn.get(i).map_or(0, |d| i64::from(d - b'0'));
    }
    if ss.first() == Some(&b'-') {
        nanos = -nanos;
    }
    Ok(GoTime::new(secs, nanos))
}
