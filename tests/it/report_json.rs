//! report.json as a boundary: the build writes it through `retrace::report_json`, and `retrace
//! report` and `retrace diff` read the same bytes back through the same types. The golden file
//! `testdata/report/roundtrip/report.json` is what the build's type writes for a report using every
//! field; set `UPDATE_GOLDEN=1` to rewrite it after an intended change.

use std::collections::BTreeMap;
use std::path::Path;

use retrace::diff::source::{resolve, Opener, Subject};
use retrace::report_json::{
    BuildRecord, Cause, DownloadRecord, FileRecord, InputRecord, LayerReport, PackageChange, PlatformReport, Report,
    ReportJsonError, Verdict,
};
use retrace::Digest;

const GOLDEN_DIR: &str = "testdata/report/roundtrip";

/// A digest spelled out, as a label: these tests claim nothing about any bytes' hash.
fn digest(c: char) -> Digest {
    format!("sha256:{}", c.to_string().repeat(64)).parse().unwrap()
}

fn layer(index: usize, verdict: Verdict, rebuilt: Option<char>) -> LayerReport {
    LayerReport {
        index,
        step: format!("RUN step {index}"),
        expected: digest('e'),
        rebuilt: rebuilt.map(digest),
        replayed: None,
        verdict,
        reason: String::new(),
        causes: Vec::new(),
        recovered_mtimes: BTreeMap::new(),
        recovered_dates: BTreeMap::new(),
        variant: None,
        variants_tried: Vec::new(),
        context_mode: None,
    }
}

/// A build's report with every field of the schema set somewhere.
fn built() -> Report {
    let mut base = layer(1, Verdict::Imported, None);
    base.context_mode = Some("0664".into());
    let mut timed = layer(2, Verdict::MatchAfterTimestamps, Some('a'));
    timed
        .recovered_mtimes
        .insert("usr/local/apache2".into(), "2024-01-01T00:00:00Z".into());
    timed.recovered_dates.insert("etc/shadow".into(), "19723".into());
    timed.variant = Some("opaque-new-dirs".into());
    timed.replayed = Some(digest('c'));
    let mut differs = layer(3, Verdict::Differs, Some('b'));
    differs.reason = "2 files differ".into();
    differs.variants_tried = vec!["plain".into(), "opaque-new-dirs".into()];
    differs.causes = vec![
        Cause::PackageVersions {
            packages: vec![PackageChange {
                name: "musl".into(),
                a: Some("1.2.4-r2".into()),
                b: None,
            }],
        },
        Cause::OnlyTimestamps { paths: 3 },
        Cause::CompressionOnly,
    ];
    Report {
        recipe: "recipes/httpd.yaml".into(),
        platforms: vec![PlatformReport {
            platform: "linux/amd64".into(),
            layers: vec![base, timed, differs, layer(4, Verdict::NotBuilt, None)],
            error: None,
            stopped: Some("step 4 needs the network and the build is offline".into()),
            seconds: 12.5,
            cached_steps: 2,
            engine: Some("20.10.24+dfsg1".into()),
            profile: Some("docker-18.06".into()),
            inputs: vec![InputRecord {
                step: 1,
                reference: "file:0b5d".into(),
                content: digest('d').to_string(),
                origin: "../shared/rootfs/alpine.tar.gz".into(),
            }],
        }],
        notes: vec!["the download proxy could not start".into()],
        record: Some(BuildRecord {
            retrace: "0.1.0".into(),
            recipe: Some(FileRecord {
                path: "recipes/httpd.yaml".into(),
                sha256: digest('e'),
            }),
            document: Some(FileRecord {
                path: "testdata/seeds/httpd.txt".into(),
                sha256: digest('f'),
            }),
            platforms: vec!["linux/amd64".into()],
            offline: true,
            inputs: vec!["../shared/rootfs".into()],
            search_candidates: 4_000_000,
            downloads: vec![DownloadRecord {
                url: "https://example.org/httpd.tar.bz2".into(),
                sha256: digest('a'),
            }],
        }),
        lines: Vec::new(),
    }
}

#[test]
fn the_builds_report_json_reads_back_in_report_and_diff() {
    let golden = Path::new(GOLDEN_DIR).join("report.json");
    let mut written = built().to_json();
    written.push(b'\n');
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &written).unwrap();
    }
    assert_eq!(
        String::from_utf8(written).unwrap(),
        std::fs::read_to_string(&golden).unwrap(),
        "rerun with UPDATE_GOLDEN=1 and review the diff"
    );
    assert_eq!(Report::read(&golden).unwrap(), built());

    let summary = retrace::report::load_build(Path::new(GOLDEN_DIR)).unwrap();
    let verdicts: Vec<Verdict> = summary.platforms[0].layers.iter().map(|l| l.verdict).collect();
    assert_eq!(
        verdicts,
        [
            Verdict::Imported,
            Verdict::MatchAfterTimestamps,
            Verdict::Differs,
            Verdict::NotBuilt
        ]
    );
    assert_eq!(summary.platforms[0].layers[2].reason, "2 files differ");

    let Subject::Image(platforms) = resolve(GOLDEN_DIR, None).unwrap() else {
        panic!("a build dir is an image");
    };
    let rebuilt: Vec<Option<String>> = platforms[0]
        .layers
        .iter()
        .map(|l| {
            l.as_ref().map(|l| match &l.opener {
                Opener::File(p) => p.file_name().unwrap().to_string_lossy().into_owned(),
                other => panic!("{other:?}"),
            })
        })
        .collect();
    let hex = |c: char| Some(c.to_string().repeat(64));
    assert_eq!(rebuilt, [None, hex('a'), hex('b'), None]);
}

#[test]
fn a_report_json_from_an_earlier_retrace_reads_with_defaults() {
    // Written before `seconds`, `cached_steps`, causes and variants existed.
    let report = Report::read(Path::new("testdata/diff/report/night1/httpd/report.json")).unwrap();
    assert_eq!(report.platforms[0].cached_steps, 0);
    assert!(report.platforms[0]
        .layers
        .iter()
        .all(|l| l.causes.is_empty() && l.variant.is_none()));
}

#[test]
fn a_malformed_report_json_names_the_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.json");
    std::fs::write(
        &path,
        "{\n  \"recipe\": \"r\",\n  \"platforms\": [{\"platform\": 7}]\n}\n",
    )
    .unwrap();
    let err = Report::read(&path).unwrap_err();
    assert!(matches!(err, ReportJsonError::Json { line: 3, .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("{}: line 3, column ", path.display())),
        "{text}"
    );
    let via_diff = resolve(dir.path().to_str().unwrap(), None).unwrap_err().to_string();
    assert!(via_diff.contains("report.json: line 3, column"), "{via_diff}");
}
