//! Prints a platform's recorded history back as a Dockerfile a person can read and `docker build`.
//!
//! Each step gets a comment with its recorded time and the layer it made. RUN scripts get their line
//! continuations back (see [`crate::ir::Run::script`]), Go-formatted arguments become Dockerfile
//! syntax, and sources the classic builder recorded only as content hashes (`file:<hex>`) are
//! written as placeholder names with a comment, because the original file names are not recorded.

use std::fmt::Write as _;

use crate::ir::{Command, Copy, Instruction, KeyValue, Source};
use crate::mapping::{Certainty, Mapping};
use crate::model::{HistoryEntry, PlatformImage};

/// The Dockerfile text of one platform image. `tag` only names it in the header comment.
pub fn render(tag: &str, image: &PlatformImage, mapping: &Mapping) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Reconstructed by retrace from the recorded history of {tag} ({}).",
        image.platform
    );
    if let Some(d) = &image.digest {
        let _ = writeln!(out, "# Manifest: {d}");
    }
    if let Some(id) = &image.image_id {
        let _ = writeln!(out, "# Image ID: {id}");
    }
    let _ = writeln!(
        out,
        "# Step-to-layer mapping: {} ({}).",
        match mapping.certainty {
            Certainty::Certain => "certain",
            Certainty::Ambiguous => "ambiguous",
        },
        mapping.reason
    );
    if image.platform.is_windows() {
        let version = image.platform.os_version.as_deref().unwrap_or("unknown");
        let _ = writeln!(
            out,
            "# The base layers come from a Windows base image (OS version {version}); name it here."
        );
        let _ = writeln!(out, "ARG WINDOWS_BASE_IMAGE");
        out.push_str("FROM ${WINDOWS_BASE_IMAGE}\n");
    } else {
        out.push_str("FROM scratch\n");
    }
    for (i, entry) in image.history.iter().enumerate() {
        out.push('\n');
        let layer = mapping.steps.get(i).copied().flatten();
        let certain = mapping.step_certain.get(i).copied().unwrap_or(false);
        step_comment(&mut out, entry, layer, certain);
        instruction(&mut out, &entry.instruction, image);
    }
    out
}

fn step_comment(out: &mut String, entry: &HistoryEntry, layer: Option<usize>, certain: bool) {
    let when = entry
        .created
        .map_or_else(|| "no recorded time".to_string(), |t| t.to_string());
    let what = match (layer, certain) {
        (Some(n), true) => format!("layer {n}"),
        (Some(n), false) => format!("layer {n} (guess)"),
        (None, true) => "no layer".to_string(),
        (None, false) => "no layer (guess)".to_string(),
    };
    let _ = writeln!(out, "# {when} · {what}");
    // A RUN prints its own build args; other steps with recorded args note them here.
    if !entry.args.is_empty() && !matches!(entry.instruction, Instruction::Run(_)) {
        let args: Vec<String> = entry
            .args
            .iter()
            .map(|a| match &a.value {
                Some(v) => format!("{}={v}", a.name),
                None => a.name.clone(),
            })
            .collect();
        let _ = writeln!(
            out,
            "# Build args in effect (pass with --build-arg): {}",
            args.join(" ")
        );
    }
}

fn instruction(out: &mut String, ins: &Instruction, image: &PlatformImage) {
    match ins {
        Instruction::Run(r) if r.windows_base => {
            let _ = writeln!(out, "# Windows base layer, provided by the base image: {}", r.recorded);
        }
        Instruction::Run(r) => run(out, r),
        Instruction::Add(c) => copy(out, "ADD", c),
        Instruction::Copy(c) => copy(out, "COPY", c),
        Instruction::Env(kv) => pairs(out, "ENV", kv),
        Instruction::Label(kv) => pairs(out, "LABEL", kv),
        Instruction::Cmd(c) => {
            let _ = writeln!(out, "CMD {}", command(c));
        }
        Instruction::Entrypoint(c) => {
            let _ = writeln!(out, "ENTRYPOINT {}", command(c));
        }
        Instruction::Expose(ports) => {
            let _ = writeln!(out, "EXPOSE {}", ports.join(" "));
        }
        Instruction::Workdir(d) => {
            let _ = writeln!(out, "WORKDIR {d}");
        }
        Instruction::Volume(v) => {
            let _ = writeln!(out, "VOLUME {}", json(v));
        }
        Instruction::User(u) => {
            let _ = writeln!(out, "USER {u}");
        }
        Instruction::Arg { name, default } => match default {
            Some(d) => {
                let _ = writeln!(out, "ARG {name}={}", quote_if_needed(d));
            }
            None => {
                let _ = writeln!(out, "ARG {name}");
            }
        },
        Instruction::Shell(s) => shell(out, s, image),
        Instruction::Healthcheck(h) => healthcheck(out, h),
        Instruction::Stopsignal(s) => {
            let _ = writeln!(out, "STOPSIGNAL {s}");
        }
        Instruction::Onbuild(t) => {
            let _ = writeln!(out, "ONBUILD {t}");
        }
        Instruction::Maintainer(m) => {
            let _ = writeln!(out, "MAINTAINER {m}");
        }
        Instruction::Unknown { keyword, text } => {
            let _ = writeln!(out, "# Not a known instruction, kept verbatim: {keyword} {text}");
        }
    }
}

/// A RUN, with the build arguments it saw named above it.
fn run(out: &mut String, r: &crate::ir::Run) {
    if !r.args.is_empty() {
        let args: Vec<String> = r
            .args
            .iter()
            .map(|a| format!("{}={}", a.name, a.value.as_deref().unwrap_or("")))
            .collect();
        let _ = writeln!(
            out,
            "# Build args in effect (pass with --build-arg): {}",
            args.join(" ")
        );
    }
    match r.exec_argv() {
        Some(argv) => {
            let _ = writeln!(
                out,
                "# exec form: the argv was recorded joined by spaces and is split on them here"
            );
            let _ = writeln!(out, "RUN {}", json(&argv));
        }
        None => {
            let _ = writeln!(out, "RUN {}", r.script());
        }
    }
}

/// SHELL: the exact argument list where the image config or the record has it, else a guess said as one.
fn shell(out: &mut String, s: &crate::ir::ShellForm, image: &PlatformImage) {
    // `%v` lost the element boundaries; the image's own SHELL field has them exactly.
    let exact = match &image.shell {
        Some(Command::Exec(v)) if !s.exact && format!("[{}]", v.join(" ")) == s.recorded => Some(v),
        _ => None,
    };
    match (exact, s.exact) {
        (Some(v), _) => {
            let _ = writeln!(out, "SHELL {}", json(v));
        }
        (None, true) => {
            let _ = writeln!(out, "SHELL {}", json(&s.args));
        }
        (None, false) => {
            let _ = writeln!(
                out,
                "# Recorded as `SHELL {}`; the argument boundaries below are a guess.",
                s.recorded
            );
            let _ = writeln!(out, "SHELL {}", json(&s.args));
        }
    }
}

/// HEALTHCHECK with its flags, in the form Docker records.
fn healthcheck(out: &mut String, h: &crate::ir::Healthcheck) {
    if h.test.first().map(String::as_str) == Some("NONE") {
        out.push_str("HEALTHCHECK NONE\n");
        return;
    }
    let mut line = String::from("HEALTHCHECK");
    for (flag, v) in [
        ("interval", &h.interval),
        ("timeout", &h.timeout),
        ("start-period", &h.start_period),
        ("start-interval", &h.start_interval),
    ] {
        if let Some(v) = v {
            let _ = write!(line, " --{flag}={v}");
        }
    }
    if let Some(r) = h.retries {
        let _ = write!(line, " --retries={r}");
    }
    match h.test.split_first() {
        Some((k, rest)) if k == "CMD-SHELL" => {
            let _ = write!(line, " CMD {}", rest.join(" "));
        }
        Some((k, rest)) if k == "CMD" => {
            let _ = write!(line, " CMD {}", json(rest));
        }
        _ => {
            let _ = write!(line, " CMD {}", json(&h.test));
        }
    }
    out.push_str(&line);
    out.push('\n');
}

fn copy(out: &mut String, keyword: &str, c: &Copy) {
    let flags: String = c.flags.iter().map(|f| format!("{f} ")).collect();
    let sources: Vec<String> = match &c.source {
        Source::Hashed { what, digest } => {
            let name = format!("{what}-{}", &digest.hex()[..12]);
            let kind = match what.as_str() {
                "dir" => "a directory",
                "multi" => "several sources",
                _ => "a file",
            };
            let _ = writeln!(
                out,
                "# The source ({kind}) was recorded only as its content hash {what}:{}; put it in the build context as `{name}`.",
                digest.hex()
            );
            vec![name]
        }
        Source::Paths { paths } => paths.clone(),
    };
    let needs_json = sources.iter().chain([&c.destination]).any(|s| s.contains([' ', '\t']));
    if needs_json {
        let mut all = sources;
        all.push(c.destination.clone());
        let _ = writeln!(out, "{keyword} {flags}{}", json(&all));
    } else {
        let _ = writeln!(out, "{keyword} {flags}{} {}", sources.join(" "), c.destination);
    }
}

fn pairs(out: &mut String, keyword: &str, kv: &[KeyValue]) {
    let parts: Vec<String> = kv.iter().map(|p| format!("{}={}", p.key, quote(&p.value))).collect();
    let _ = writeln!(out, "{keyword} {}", parts.join(" "));
}

/// A double-quoted Dockerfile word: Docker removes the quotes and the backslashes before `"`, `\`
/// and `$` (the values were recorded after variable expansion, so `$` must stay literal).
fn quote(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 2);
    s.push('"');
    for c in v.chars() {
        if matches!(c, '"' | '\\' | '$') {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    s
}

fn quote_if_needed(v: &str) -> String {
    if v.is_empty() || v.contains(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | '$')) {
        quote(v)
    } else {
        v.to_string()
    }
}

fn command(c: &Command) -> String {
    match c {
        Command::Exec(v) => json(v),
        Command::Shell(s) => s.clone(),
    }
}

fn json(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}
