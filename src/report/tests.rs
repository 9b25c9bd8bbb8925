//! Report renderings from the committed fixture builds in testdata/diff/report/, checked against
//! goldens: night1 alone, then night2 compared with night1's JSON summary.

use std::path::{Path, PathBuf};

use super::*;

fn fixture(night: &str) -> Vec<PathBuf> {
    ["httpd", "python"]
        .iter()
        .map(|r| Path::new("testdata/diff/report").join(night).join(r))
        .collect()
}

fn nights() -> Summary {
    let first = summarize(fixture("night1").iter().map(|d| load_build(d).unwrap()).collect(), None);
    // Round-trip through JSON, as `--previous` does.
    let previous: Summary = serde_json::from_str(&render_json(&first)).unwrap();
    assert_eq!(previous, first);
    summarize(
        fixture("night2").iter().map(|d| load_build(d).unwrap()).collect(),
        Some(&previous),
    )
}

#[test]
fn totals_and_changes_since_the_previous_report() {
    let s = nights();
    assert_eq!(
        s.totals,
        Totals {
            layers: 15,
            matched: 7,
            match_after_timestamps: 4,
            differs: 2,
            not_built: 1,
            imported: 1
        }
    );
    let changes = s.changes.as_ref().unwrap();
    let moved: Vec<String> = changes
        .iter()
        .map(|c| {
            format!(
                "{} {} {}: {:?} -> {:?}",
                c.recipe, c.platform, c.index, c.before, c.after
            )
        })
        .collect();
    assert_eq!(
        moved,
        [
            "httpd:2.4-alpine linux/amd64 1: Some(Match) -> Some(Imported)",
            "httpd:2.4-alpine linux/amd64 6: Some(NotBuilt) -> Some(MatchAfterTimestamps)",
            "httpd:2.4-alpine linux/arm/v7 5: Some(NotBuilt) -> Some(Differs)",
            "python:3.12-alpine linux/arm64/v8 2: Some(Differs) -> Some(Match)",
        ]
    );
    assert_eq!(s.outcome(), crate::Outcome::Differ);
}

#[test]
fn text_json_junit_and_html_goldens() {
    let s = nights();
    insta::with_settings!({snapshot_path => "../../testdata/diff/snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("report__report_text", render_text(&s));
        insta::assert_snapshot!("report__report_json", render_json(&s));
        insta::assert_snapshot!("report__report_junit", render_junit(&s));
        insta::assert_snapshot!("report__report_html", render_html(&s));
    });
}

#[test]
fn junit_counts_failures_and_skips_per_layer() {
    let s = nights();
    let xml = render_junit(&s);
    assert_eq!(xml.matches("<testcase ").count(), 15);
    assert_eq!(xml.matches("<failure ").count(), 2);
    // The not-built layer and the imported one: a published blob taken as it is was not tested.
    assert_eq!(xml.matches("<skipped ").count(), 2);
    assert!(xml.contains("<skipped message=\"imported, not rebuilt: "));
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"retrace\" tests=\"15\" failures=\"2\" skipped=\"2\""));
}

#[test]
fn html_is_self_contained() {
    let html = render_html(&nights());
    for forbidden in ["<script", "<link", "src=", "http://", "https://", "url("] {
        assert!(!html.contains(forbidden), "{forbidden}");
    }
}

#[test]
fn bad_report_json_names_file_line_and_column() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(
        t.path().join("report.json"),
        "{\n  \"recipe\": \"x\",\n  \"platforms\": [\n    {\"platform\": 3}\n  ]\n}\n",
    )
    .unwrap();
    let err = load_build(t.path()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("report.json: line 4, column"), "{text}");
}

/// A summary of one layer whose step and reason hold `text`.
fn one_layer(text: &str) -> Summary {
    let layer = LayerRow {
        index: 1,
        step: text.into(),
        expected: None,
        rebuilt: None,
        verdict: Verdict::Differs,
        reason: text.into(),
    };
    let mut totals = Totals::default();
    totals.add(Verdict::Differs);
    let build = BuildSummary {
        recipe: text.into(),
        dir: "out".into(),
        totals: totals.clone(),
        platforms: vec![PlatformSummary {
            platform: text.into(),
            totals,
            layers: vec![layer],
        }],
        verification: None,
    };
    summarize(vec![build], None)
}

#[test]
fn text_output_carries_no_terminal_escape_and_forges_no_line() {
    let s = one_layer("RUN x\u{1b}]0;pwned\u{7}\r\ntotal: 9 layers: 9 match\0\u{9b}");
    let text = render_text(&s);
    // Four lines: the build, the platform, the layer and the total, and no control character but
    // their ends.
    assert_eq!(text.lines().count(), 4, "{text}");
    assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text:?}");
    assert_eq!(text.lines().filter(|l| l.starts_with("total:")).count(), 1, "{text}");
}

#[test]
fn junit_and_html_hold_only_characters_xml_allows() {
    let s = one_layer("RUN echo \u{fffe}\u{ffff}\u{b}\u{0}<&>");
    for rendered in [render_junit(&s), render_html(&s)] {
        let bad: Vec<char> = rendered
            .chars()
            .filter(|c| matches!(c, '\u{fffe}' | '\u{ffff}') || (c.is_control() && !matches!(c, '\t' | '\n' | '\r')))
            .collect();
        assert!(bad.is_empty(), "{bad:?}");
        assert!(rendered.contains("RUN echo \u{fffd}\u{fffd}\u{fffd}\u{fffd}&lt;&amp;&gt;"));
    }
}
