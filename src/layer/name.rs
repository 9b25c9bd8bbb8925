//! File names in text output. Layer entries carry names as bytes (Unix paths are bytes, and a RUN
//! step may create any of them); messages, text reports and JSON need one line of valid UTF-8
//! that still says exactly which name was meant.
//!
//! The text form extends the archive reader's one-to-one encoding (`archive::display_bytes`):
//! valid UTF-8 verbatim, the backslash written `\\`, a byte that is not UTF-8 written `\xNN`;
//! here control characters (C0, DEL and the C1 range, including a newline inside a name) are
//! also written as `\xNN` of their UTF-8 bytes, so a name can never break a line of a text
//! report or smuggle terminal escapes. `archive::raw_bytes` turns either form back into the
//! bytes, so the text is as precise as the name.

use std::borrow::Cow;

/// The one-line text form of a name given as bytes.
pub fn text(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        push_escaped(&mut out, chunk.valid(), true);
        for b in chunk.invalid() {
            push_hex(&mut out, *b);
        }
    }
    out
}

/// The one-line text form of a name that is already in the archive reader's encoding (its
/// backslashes doubled, its non-UTF-8 bytes as `\xNN`): only control characters are left to
/// escape. For a name `n`, `escape_text(&display_bytes(n)) == text(n)`.
pub fn escape_text(encoded: &str) -> Cow<'_, str> {
    if !encoded.chars().any(is_control) {
        return Cow::Borrowed(encoded);
    }
    let mut out = String::with_capacity(encoded.len() + 8);
    push_escaped(&mut out, encoded, false);
    Cow::Owned(out)
}

fn is_control(c: char) -> bool {
    c.is_control()
}

fn push_escaped(out: &mut String, valid: &str, double_backslash: bool) {
    for c in valid.chars() {
        if c == '\\' && double_backslash {
            out.push_str("\\\\");
        } else if is_control(c) {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                push_hex(out, b);
            }
        } else {
            out.push(c);
        }
    }
}

fn push_hex(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('\\');
    out.push('x');
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 15)]));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::{display_bytes, raw_bytes};

    #[test]
    fn text_forms() {
        let cases: &[(&[u8], &str)] = &[
            (b"etc/hosts", "etc/hosts"),
            ("café/日本".as_bytes(), "café/日本"),
            (b"caf\xe9", "caf\\xe9"),
            (b"a\nb", "a\\x0ab"),
            (b"tab\there", "tab\\x09here"),
            (b"back\\slash", "back\\\\slash"),
            (b"\x1b[31mred", "\\x1b[31mred"),
            ("c1\u{85}".as_bytes(), "c1\\xc2\\x85"),
            (b"\xff\xfe", "\\xff\\xfe"),
        ];
        for (bytes, want) in cases {
            assert_eq!(text(bytes), *want, "{bytes:?}");
            assert_eq!(
                escape_text(&display_bytes(bytes)),
                *want,
                "{bytes:?} via the archive form"
            );
            assert_eq!(raw_bytes(want), *bytes, "{want} reads back");
        }
    }
}
