//! JUnit XML, the format CI systems display natively: one testsuite per recipe and platform, one
//! testcase per layer; `differs` is a failure, `not-built` is skipped, both matches pass.

use std::fmt::Write as _;

use super::{Summary, Verdict};
use crate::escape::xml as xml_escape;

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
