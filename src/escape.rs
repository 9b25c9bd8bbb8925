//! Escaping for each kind of output, defined once and applied where text leaves retrace: the
//! terminal (text on standard output), HTML and XML. Text from inputs (a step's command, a reason,
//! a platform read from report.json) may hold any character; each function here makes it inert for
//! its output kind, so a caller never escapes by hand.

use std::borrow::Cow;

/// Text for a terminal or a text file read line by line: control characters (C0 including
/// newline, carriage return and ESC, DEL and the C1 range) are written as `\xNN` of their UTF-8
/// bytes, so an input can neither break a line, forge one, nor send a terminal escape. This is the
/// rule file names follow in text output (`layer::name`), so both read the same.
pub fn terminal(s: &str) -> Cow<'_, str> {
    crate::layer::name::escape_text(s)
}

/// Text for XML 1.0 character data and attribute values: the five markup characters become
/// entities, tab and newline are kept, and every character XML 1.0 does not allow (the other C0
/// controls, and the noncharacters U+FFFE and U+FFFF) becomes U+FFFD, so the document stays
/// well-formed whatever the input held.
pub fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' => out.push(c),
            c if !xml_allows(c) => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Whether XML 1.0's `Char` production allows `c` (surrogates cannot be a Rust `char`).
fn xml_allows(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{fffd}' | '\u{10000}'..)
}

/// Text for HTML content and quoted attribute values. HTML accepts what XML does, and its
/// controls are parse errors too, so it follows the XML rule.
pub fn html(s: &str) -> String {
    xml(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_text_holds_no_control_character() {
        let hostile = "a\u{1b}[31mred\rforged\nline\0\u{7f}\u{9b}2J";
        let safe = terminal(hostile);
        assert!(!safe.chars().any(char::is_control), "{safe}");
        assert_eq!(safe, "a\\x1b[31mred\\x0dforged\\x0aline\\x00\\x7f\\xc2\\x9b2J");
    }

    #[test]
    fn xml_text_holds_only_characters_xml_allows() {
        let safe = xml("<a b='c'>&\u{fffe}\u{ffff}\u{b}\u{0}\t\n\u{1f600}");
        assert_eq!(
            safe,
            "&lt;a b=&apos;c&apos;&gt;&amp;\u{fffd}\u{fffd}\u{fffd}\u{fffd}\t\n\u{1f600}"
        );
    }
}
