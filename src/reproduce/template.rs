//! A prebuilt layer tar whose mtime fields can be patched in place, so a candidate costs a few
//! byte writes and a checksum instead of a whole tar rewrite.
//!
//! The template does not parse the tar: it asks the writer itself where each entry's mtime lands,
//! by writing the tar once more with only that entry's mtime changed and comparing. Every header
//! block that differs (the entry's own header, and a PAX header that copies the mtime, as Docker
//! 17.06 does) becomes a patch slot; anything else that changes makes the entry unpatchable.

use std::io;

use crate::layer::Entry;

use super::ReproduceError;

const BLOCK: usize = 512;
const MTIME: std::ops::Range<usize> = 136..148;
const CHKSUM: std::ops::Range<usize> = 148..156;

/// Two probe times with the same number of octal digits, so both format to the same width.
const PROBE_A: i64 = 0o10_000_000_000;
const PROBE_B: i64 = 0o12_345_670_123;

#[derive(Debug, Clone)]
pub struct Template {
    tar: Vec<u8>,
    /// Per entry index: the offsets of the header blocks that carry its mtime.
    slots: Vec<Vec<usize>>,
}

impl Template {
    /// Writes `entries` once and locates the mtime fields of the entries listed in `variable`.
    /// The template's bytes are the tar of `entries` exactly as given.
    pub fn build<T>(entries: &[Entry], variable: &[usize], write_tar: &T) -> Result<Template, ReproduceError>
    where
        T: Fn(&[Entry]) -> io::Result<Vec<u8>>,
    {
        let tar = write_tar(entries)?;
        let mut probe: Vec<Entry> = entries.to_vec();
        for &v in variable {
            probe[v].mtime = PROBE_A;
        }
        let base = write_tar(&probe)?;
        let mut slots = vec![Vec::new(); entries.len()];
        for &v in variable {
            probe[v].mtime = PROBE_B;
            let changed = write_tar(&probe)?;
            probe[v].mtime = PROBE_A;
            let unpatchable = || ReproduceError::Unpatchable {
                path: entries[v].path_text(),
            };
            if changed.len() != base.len() || base.len() % BLOCK != 0 || tar.len() != base.len() {
                return Err(unpatchable());
            }
            for off in (0..base.len()).step_by(BLOCK) {
                let (a, b) = (&base[off..off + BLOCK], &changed[off..off + BLOCK]);
                if a == b {
                    continue;
                }
                let outside = (0..BLOCK).any(|i| !MTIME.contains(&i) && !CHKSUM.contains(&i) && a[i] != b[i]);
                let mut patched = a.to_vec();
                patch_block(&mut patched, PROBE_B);
                if outside || patched != b {
                    return Err(unpatchable());
                }
                slots[v].push(off);
            }
            if slots[v].is_empty() {
                return Err(unpatchable());
            }
        }
        Ok(Template { tar, slots })
    }

    pub fn bytes(&self) -> &[u8] {
        &self.tar
    }

    /// Sets the mtime of entry `entry` to `mtime` in `buf` (a copy of [`Template::bytes`]).
    pub fn patch(&self, buf: &mut [u8], entry: usize, mtime: i64) {
        for &off in &self.slots[entry] {
            patch_block(&mut buf[off..off + BLOCK], mtime);
        }
    }
}

/// Writes `mtime` as 11 octal digits and a NUL, then the header checksum as Go's archive/tar
/// does: six octal digits, NUL, space, over the block with the checksum field read as spaces.
fn patch_block(block: &mut [u8], mtime: i64) {
    write_octal(&mut block[MTIME.start..MTIME.end - 1], mtime as u64);
    block[MTIME.end - 1] = 0;
    let sum: u32 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| if CHKSUM.contains(&i) { b' ' as u32 } else { b as u32 })
        .sum();
    write_octal(&mut block[CHKSUM.start..CHKSUM.start + 6], sum as u64);
    block[CHKSUM.start + 6] = 0;
    block[CHKSUM.start + 7] = b' ';
}

fn write_octal(field: &mut [u8], mut v: u64) {
    for b in field.iter_mut().rev() {
        *b = b'0' + (v & 7) as u8;
        v >>= 3;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octal_fields_are_zero_padded() {
        let mut f = [0u8; 11];
        write_octal(&mut f, 1_518_921_091);
        assert_eq!(&f, b"13242162603");
        let mut f = [0u8; 6];
        write_octal(&mut f, 0o4567);
        assert_eq!(&f, b"004567");
    }
}
