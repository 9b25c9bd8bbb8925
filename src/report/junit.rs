//! JUnit XML, the format CI systems display natively: one testsuite per recipe and platform, one
//! testcase per layer; `differs` is a failure, `not-built` is skipped, both matches pass.

use std::fmt::Write as _;

use super::{Summary, Verdict};

/// Escapes text for XML attributes and character data; control characters other than tab and
/// newline are not allowed in XML 1.0 at all and are replaced.
pub(crate) fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

pub fn render_junit(s: &Summary) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let t = &s.totals;
    let _ = writeln!(
        out,
        "<testsuites name=\"retrace\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" errors=\"0\">",
        t.layers,
        t.differs,
        t.not_built + t.imported
    );
    for b in &s.builds {
        for p in &b.platforms {
            let pt = &p.totals;
            let _ = writeln!(
                out,
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" errors=\"0\">",
                xml_escape(&format!("{} {}", b.recipe, p.platform)),
                pt.layers,
                pt.differs,
                pt.not_built + pt.imported
            );
            for l in &p.layers {
                let name = format!("layer {:02}: {}", l.index, l.step);
                let _ = write!(
                    out,
                    "    <testcase classname=\"{}\" name=\"{}\">",
                    xml_escape(&format!("retrace.{}.{}", b.recipe, p.platform)),
                    xml_escape(&name)
                );
                let detail = format!(
                    "expected {}\nrebuilt  {}\nverdict  {}\n{}",
                    l.expected.as_deref().unwrap_or("(unknown)"),
                    l.rebuilt.as_deref().unwrap_or("(none)"),
                    l.verdict.as_str(),
                    l.reason
                );
                match l.verdict {
                    Verdict::Differs => {
                        let _ = write!(
                            out,
                            "\n      <failure type=\"differs\" message=\"{}\">{}</failure>\n    ",
                            xml_escape(&l.reason),
                            xml_escape(&detail)
                        );
                    }
                    Verdict::NotBuilt => {
                        let _ = write!(
                            out,
                            "\n      <skipped message=\"{}\"/>\n    ",
                            xml_escape(&format!("not built: {}", l.reason))
                        );
                    }
                    // A published blob taken as it is was not tested: skipped, never passed.
                    Verdict::Imported => {
                        let _ = write!(
                            out,
                            "\n      <skipped message=\"{}\"/>\n    ",
                            xml_escape(&format!("imported, not rebuilt: {}", l.reason))
                        );
                    }
                    Verdict::Match | Verdict::MatchAfterTimestamps => {
                        let _ = write!(out, "\n      <system-out>{}</system-out>\n    ", xml_escape(&detail));
                    }
                }
                out.push_str("</testcase>\n");
            }
            out.push_str("  </testsuite>\n");
        }
    }
    out.push_str("</testsuites>\n");
    out
}
