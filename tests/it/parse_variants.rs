//! Hand-written small documents in `testdata/parse/`, one per format variation the corpus does not
//! (or rarely) show, and broken documents in `testdata/parse/errors/` whose errors must name the
//! right line and column.

use std::path::Path;

use retrace::ir::{Command, Instruction, Source};
use retrace::mapping::{map_platform, Certainty};
use retrace::model::Document;
use retrace::parse::{parse_file, parse_str};

fn doc(name: &str) -> Document {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/parse").join(name);
    parse_file(&path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn pre_2017_document_without_manifest_mime_and_with_schema1_empty_layers() {
    let d = doc("pre2017_no_mime.md");
    let t = &d.tags[0];
    assert_eq!(t.media_type, None);
    let p = &t.platforms[0];
    assert_eq!(p.media_type, None);
    assert_eq!(p.digest, None, "no pull block in the platform section");
    assert_eq!(p.docker_version.as_deref(), Some("1.9.1"));
    // `32.0 B` is exact: the unit is bytes.
    assert_eq!(p.layers[1].size, Some(32));
    // Old builders committed a layer per step, even CMD.
    let m = map_platform(p);
    assert_eq!(m.certainty, Certainty::Certain);
    assert_eq!(m.steps, vec![Some(1), Some(2)]);
}

#[test]
fn crlf_line_ends_and_missing_final_newline_read_the_same() {
    let a = doc("pre2017_no_mime.md");
    let b = doc("crlf_no_final_newline.md");
    assert_eq!(a, b);
}

#[test]
fn go_struct_dumps_and_percent_v_arguments() {
    let d = doc("go_struct_dumps.md");
    let p = &d.tags[0].platforms[0];
    assert_eq!(p.platform.to_string(), "linux/arm/v7");
    assert_eq!(p.entrypoint, Some(Command::Exec(vec!["/x".into()])));
    assert_eq!(p.total_size.as_ref().unwrap().bytes, Some(823));
    let ins: Vec<&Instruction> = p.history.iter().map(|e| &e.instruction).collect();
    assert_eq!(ins[1], &Instruction::Entrypoint(Command::Exec(vec!["/x".into()])));
    assert_eq!(ins[2], &Instruction::Volume(vec!["/data".into(), "/cache".into()]));
    assert_eq!(ins[3], &Instruction::User("nobody".into()));
    assert_eq!(ins[4], &Instruction::Stopsignal("SIGTERM".into()));
    assert_eq!(ins[5], &Instruction::Expose(vec!["80/tcp".into(), "443/tcp".into()]));
    let Instruction::Healthcheck(h) = ins[6] else {
        panic!("{:?}", ins[6])
    };
    assert_eq!(h.test, vec!["CMD", "/x", "--check"]);
    assert_eq!(h.retries, Some(3));
    assert_eq!(
        ins[7],
        &Instruction::Cmd(Command::Exec(vec!["--serve".into(), "0.0.0.0:80".into()]))
    );
    assert_eq!(p.layers[0].size, Some(823));
    assert_eq!(
        map_platform(p).steps,
        vec![Some(1), None, None, None, None, None, None, None]
    );
}

#[test]
fn buildkit_multiline_oci_index_with_attestation() {
    let d = doc("multiline_buildkit.md");
    let t = &d.tags[0];
    assert_eq!(t.media_type.as_deref(), Some("application/vnd.oci.image.index.v1+json"));
    assert_eq!(t.platform_count, Some(2));
    assert_eq!(t.declared_platforms.len(), 2);
    assert!(t.declared_platforms[1].is_attestation());
    let p = &t.platforms[0];
    assert_eq!(p.platform.to_string(), "linux/arm64/v8");
    // Rounded sizes without a byte count stay unknown rather than invented.
    assert_eq!(p.total_size.as_ref().unwrap().bytes, None);
    assert_eq!(p.layers[1].size, None);
    assert_eq!(p.layers[0].size, Some(150));
    // `# ARGS:` on the entry, `|1 VERSION=` and `# buildkit` on the RUN.
    assert_eq!(p.history[1].args[0].name, "VERSION");
    let Instruction::Run(r) = &p.history[1].instruction else {
        panic!()
    };
    assert!(r.buildkit);
    assert_eq!(r.shell_prefix.as_deref(), Some("/bin/sh -c"));
    assert_eq!(r.args[0].value.as_deref(), Some("1.2.3"));
    assert_eq!(r.script(), "set -eux; \\\n\techo \"$VERSION\" > /version");
    // COPY without a content hash.
    let Instruction::Copy(c) = &p.history[2].instruction else {
        panic!()
    };
    assert_eq!(
        c.source,
        Source::Paths {
            paths: vec!["docker-entrypoint.sh".into()]
        }
    );
    assert!(c.buildkit);
    // A heredoc keeps its real newlines.
    assert_eq!(p.history[4].text.lines().count(), 5);
    let Instruction::Run(r) = &p.history[4].instruction else {
        panic!()
    };
    assert!(r.recorded.contains("#!/bin/sh\necho hello\nEOT"));
    // 4 layers = 3 RUN/COPY + the new WORKDIR.
    let m = map_platform(p);
    assert_eq!(m.certainty, Certainty::Certain);
    assert_eq!(m.steps, vec![None, Some(1), Some(2), Some(3), Some(4), None]);
    // The attestation entry has no history and an in-toto layer.
    let a = &t.platforms[1];
    assert!(a.platform.is_attestation());
    assert!(a.history.is_empty());
    assert_eq!(map_platform(a).certainty, Certainty::Certain);
}

#[test]
fn windows_foreign_layers_shell_and_nop_steps() {
    let d = doc("windows.md");
    let p = &d.tags[0].platforms[0];
    assert_eq!(p.platform.os_version.as_deref(), Some("10.0.20348.5622"));
    assert!(p.layers[0].is_foreign());
    assert_eq!(p.layers[0].last_modified, None);
    assert_eq!(
        p.shell,
        Some(Command::Exec(vec![
            "powershell".into(),
            "-Command".into(),
            "$ErrorActionPreference = 'Stop';".into()
        ]))
    );
    assert_eq!(
        p.cmd,
        Some(Command::Exec(vec![
            "cmd".into(),
            "/C".into(),
            "type C:\\hello.txt".into()
        ]))
    );
    assert!(matches!(&p.history[0].instruction, Instruction::Run(r) if r.windows_base));
    assert!(matches!(&p.history[3].instruction, Instruction::Copy(_)));
    assert_eq!(
        p.history[4].instruction,
        Instruction::Cmd(Command::Exec(vec![
            "cmd".into(),
            "/C".into(),
            "type C:\\hello.txt".into()
        ]))
    );
    let m = map_platform(p);
    assert_eq!(m.certainty, Certainty::Certain);
    assert_eq!(m.steps, (1..=5).map(Some).collect::<Vec<_>>());
    // The Dockerfile takes the exact SHELL from the field, not the lossy `%v` history text.
    let text = retrace::dockerfile::render("winapp:ltsc2022", p, &m);
    assert!(
        text.contains(r#"SHELL ["powershell","-Command","$ErrorActionPreference = 'Stop';"]"#),
        "{text}"
    );
}

#[test]
fn several_tags_without_pull_blocks_and_ambiguous_workdirs() {
    let d = doc("two_tags_no_pull.md");
    assert_eq!(d.tags.len(), 2);
    assert_eq!(d.tags[1].tag, "multi:b");
    assert_eq!(d.tags[0].digest, None);
    // One layer for ADD + WORKDIR: the WORKDIR made none, certainly.
    let m = map_platform(&d.tags[0].platforms[0]);
    assert_eq!(m.certainty, Certainty::Certain);
    assert_eq!(m.steps, vec![Some(1), None]);
    // Two layers for ADD + two WORKDIRs + an unknown instruction: one of three made the second.
    let p = &d.tags[1].platforms[0];
    assert_eq!(
        p.history[3].instruction,
        Instruction::Unknown {
            keyword: "FROBNICATE".into(),
            text: "--hard".into()
        }
    );
    let m = map_platform(p);
    assert_eq!(m.certainty, Certainty::Ambiguous);
    assert_eq!(m.undetermined, vec![2, 3, 4]);
    assert_eq!(m.step_certain, vec![true, false, false, false]);
    assert!(m.reason.contains("#2 WORKDIR /srv"), "{}", m.reason);
}

/// Each broken document must fail with the line and column of the fault and a message in words.
#[test]
fn errors_name_line_column_and_what_was_expected() {
    let cases = [
        ("bad_layer_digest.md", 44, 5, "expected a layer digest"),
        ("impossible_date.md", 27, 3, "does not exist"),
        ("unclosed_history.md", 42, 1, "closing ``` fence"),
        ("stray_text.md", 22, 1, "a field like"),
        ("empty.md", 1, 1, "a tag heading"),
        ("bad_size.md", 46, 9, "expected a size"),
    ];
    for (name, line, column, words) in cases {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/parse/errors")
            .join(name);
        let e = parse_file(&path).expect_err(name);
        assert_eq!((e.line, e.column), (line, column), "{name}: {e}");
        assert!(e.message.contains(words), "{name}: {e}");
        assert!(
            !e.message.contains("Rule::") && !e.message.contains("_line"),
            "{name}: raw rule names: {e}"
        );
        assert!(e.path.ends_with(name));
    }
}

#[test]
fn error_column_counts_characters_not_bytes() {
    let text = "## `é:x`\n\nnot a field\n";
    let e = parse_str(text, "mem").unwrap_err();
    assert_eq!((e.line, e.column), (3, 1), "{e}");
    let text = "## `é:x`\n\n-\tPlatforms:\n\t-\tlinux;\n";
    let e = parse_str(text, "mem").unwrap_err();
    assert_eq!(e.line, 4, "{e}");
    assert_eq!(e.column, 10, "{e}");
}

#[test]
fn a_run_that_changed_nothing_makes_the_mapping_ambiguous_but_keeps_what_is_certain() {
    let d = doc("empty_run.md");
    let p = &d.tags[0].platforms[0];
    let m = map_platform(p);
    assert_eq!(m.certainty, Certainty::Ambiguous);
    // Either RUN may be the empty one; ADD and COPY are pinned to the first and last layer.
    assert_eq!(m.undetermined, vec![2, 3]);
    assert_eq!(m.step_certain, vec![true, false, false, true]);
    assert_eq!(m.steps[0], Some(1));
    assert_eq!(m.steps[3], Some(3));
    assert_eq!(
        m.steps[1..3].iter().flatten().count(),
        1,
        "exactly one RUN made layer 2"
    );
    assert!(m.reason.contains("1 RUN step(s) changed nothing"), "{}", m.reason);
}

#[test]
fn a_tag_that_does_not_exist_yet_has_no_platforms_and_a_note() {
    let d = doc("legacy_2016.md");
    let t = &d.tags[0];
    assert_eq!(t.tag, "consul:1.4.3");
    assert!(t.platforms.is_empty());
    assert_eq!(t.note.as_deref(), Some("**does not exist** (yet?)"));
    assert_eq!(d.tags[1].note, None);
}

#[test]
fn a_bare_hex_image_id_is_a_legacy_id() {
    let d = doc("legacy_2016.md");
    let p = &d.tags[1].platforms[0];
    assert!(p.legacy_image_id);
    assert_eq!(
        p.image_id.map(|i| i.to_string()).as_deref(),
        Some("sha256:3597e26ec9755c6cca27fda2b00d517123bde5ef41f9979615fbfef84952880b")
    );
}

#[test]
fn an_exec_form_run_with_build_args_is_a_run_and_an_empty_run_beside_a_new_workdir_is_ambiguous() {
    let d = doc("legacy_2016.md");
    let p = &d.tags[1].platforms[0];
    let Instruction::Run(run) = &p.history[4].instruction else {
        panic!("{:?}", p.history[4].instruction)
    };
    assert!(run.exec_form);
    assert_eq!(run.args.len(), 1);
    assert_eq!(
        run.exec_argv(),
        Some(vec![
            "/bin/busybox".to_string(),
            "touch".into(),
            "/srv/exec-form".into()
        ])
    );
    // Three layers for ADD and two RUNs: the counts also fit `RUN true` changing nothing and the
    // WORKDIR creating its directory, which only a replay can tell.
    let m = map_platform(p);
    assert_eq!(m.certainty, Certainty::Ambiguous, "{}", m.reason);
    assert!(
        m.undetermined.contains(&2) && m.undetermined.contains(&3),
        "{:?}",
        m.undetermined
    );
}
