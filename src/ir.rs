//! The instruction IR: what each recorded history step did, as plain data.
//!
//! History texts are not Dockerfile source: the classic builder recorded `created_by` strings with
//! Go's `%v`/`%q` formatting (`VOLUME [/data]`, `CMD ["a" "b"]`, `ENTRYPOINT &{["/x"]}`), joined line
//! continuations into TABs, expanded variables and replaced sources by content hashes
//! (`file:<hex> in /`). BuildKit records `RUN /bin/sh -c ... # buildkit` and plain source paths. This
//! module turns every such text into a typed instruction and never fails: a keyword it does not know,
//! or an argument it cannot read, is kept verbatim as [`Instruction::Unknown`].

use serde::Serialize;

use crate::model::BuildArg;
use crate::Digest;

/// A command as stored in an image config: exec form (a JSON array) or, when the text is not an
/// array, the shell form as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Command {
    Exec(Vec<String>),
    Shell(String),
}

impl Command {
    /// Reads a command written as a JSON array (`["\/bin\/sh"]`, the form of the document's fields),
    /// a Go `%q` slice (`["a" "b"]`, the form of history texts), a Go struct dump (`&{["/x"]}`) or,
    /// failing those, plain shell text.
    pub fn parse(text: &str) -> Command {
        let t = text.trim();
        if let Ok(v) = serde_json::from_str::<Vec<String>>(t) {
            return Command::Exec(v);
        }
        match parse_list(t) {
            Some((items, true)) => Command::Exec(items),
            _ => Command::Shell(t.to_string()),
        }
    }
}

/// One recorded history step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Instruction {
    Run(Run),
    Add(Copy),
    Copy(Copy),
    Env(Vec<KeyValue>),
    Cmd(Command),
    Entrypoint(Command),
    Expose(Vec<String>),
    Workdir(String),
    Volume(Vec<String>),
    User(String),
    Label(Vec<KeyValue>),
    Arg {
        name: String,
        default: Option<String>,
    },
    Shell(ShellForm),
    Healthcheck(Healthcheck),
    Stopsignal(String),
    /// The trigger exactly as written in the Dockerfile (`ONBUILD` keeps source text).
    Onbuild(String),
    Maintainer(String),
    /// A keyword this IR does not know, or arguments it could not read; kept verbatim.
    Unknown {
        keyword: String,
        text: String,
    },
}

/// A `RUN` step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Run {
    /// The command exactly as recorded (TABs where the Dockerfile had line continuations).
    pub recorded: String,
    /// Build arguments in effect: BuildKit's `|N A=b` prefix, or the classic builder's `# ARGS:` line.
    pub args: Vec<BuildArg>,
    /// A shell prefix BuildKit keeps in the text (`/bin/sh -c`), removed from `recorded`/`script`.
    pub shell_prefix: Option<String>,
    /// The text carried BuildKit's `# buildkit` marker.
    pub buildkit: bool,
    /// Windows base layers (`Apply image ...`, `Install update ...`) are not commands at all.
    pub windows_base: bool,
    /// The classic builder recorded build arguments (`|N A=b`) and then no shell: an exec-form
    /// `RUN ["prog", "arg"]`, whose argv it joined with spaces. repo-info prints such a step as
    /// `# unable to parse image command string further:` and the recorded text.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub exec_form: bool,
}

impl Run {
    /// The command as the Dockerfile had it: every run of TABs that followed a line continuation is
    /// preceded again by `\` + newline. Docker joins continuation lines without touching the TABs,
    /// so building this text records exactly `recorded` again. Computed on demand because most
    /// consumers only need `recorded`.
    pub fn script(&self) -> String {
        restore_continuations(&self.recorded)
    }

    /// The argv of an exec-form RUN. The builder joined it with single spaces, so splitting on
    /// them is exact unless an argument itself held a space, which the record cannot tell.
    pub fn exec_argv(&self) -> Option<Vec<String>> {
        self.exec_form
            .then(|| self.recorded.split(' ').map(str::to_string).collect())
    }
}

/// The source of an `ADD`/`COPY`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Source {
    /// `file:<hex>` (one file), `dir:<hex>` (a directory tree) or `multi:<hex>` (several sources):
    /// the classic builder recorded only the hash of the content.
    Hashed { what: String, digest: Digest },
    /// Plain paths (BuildKit, or a source that carried no hash).
    Paths { paths: Vec<String> },
}

/// An `ADD` or `COPY` step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Copy {
    pub source: Source,
    pub destination: String,
    /// Flags such as `--chown=1000:1000` or `--from=builder` when recorded.
    pub flags: Vec<String>,
    pub buildkit: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

/// A `SHELL` step. The classic builder recorded it with `%v` (`[powershell -Command $x = 'y';]`),
/// which loses the element boundaries; `exact` says whether they were recovered from quotes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShellForm {
    pub args: Vec<String>,
    pub exact: bool,
    pub recorded: String,
}

/// A `HEALTHCHECK`, recorded as a Go struct dump: `&{["CMD-SHELL" "x"] "1m0s" "10s" "0s" '\n'}`
/// (test, interval, timeout, start period, [start interval,] retries as a Go rune).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Healthcheck {
    pub test: Vec<String>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub start_period: Option<String>,
    pub start_interval: Option<String>,
    pub retries: Option<u32>,
}

impl Instruction {
    /// Reads one recorded history text (keyword included). Never fails.
    pub fn parse(text: &str) -> Instruction {
        let trimmed = text.trim_start();
        if let Some(run) = trimmed
            .strip_prefix(UNPARSED_COMMAND)
            .and_then(|r| exec_form_run(r.trim_start_matches(['\n', ' '])))
        {
            return run;
        }
        let (keyword, rest) = match trimmed.find(|c: char| c.is_whitespace()) {
            Some(i) => (&trimmed[..i], &trimmed[i..]),
            None => (trimmed, ""),
        };
        // Arguments keep inner whitespace but not the separator after the keyword nor the trailing
        // space the classic builder appended to ADD/COPY.
        let args = rest.strip_prefix(' ').unwrap_or(rest.trim_start_matches([' ', '\t']));
        let upper = keyword.to_ascii_uppercase();
        let unknown = || Instruction::Unknown {
            keyword: keyword.to_string(),
            text: args.to_string(),
        };
        match upper.as_str() {
            "RUN" => parse_run(args),
            "ADD" | "COPY" => match parse_copy(args) {
                Some(c) if upper == "ADD" => Instruction::Add(c),
                Some(c) => Instruction::Copy(c),
                None => unknown(),
            },
            "ENV" => match split_pairs(args.trim_end(), is_env_key) {
                Some(kv) => Instruction::Env(kv),
                None => unknown(),
            },
            "LABEL" => match split_pairs(args.trim_end(), is_label_key) {
                Some(kv) => Instruction::Label(kv),
                None => unknown(),
            },
            "CMD" => Instruction::Cmd(Command::parse(args)),
            "ENTRYPOINT" => Instruction::Entrypoint(Command::parse(args)),
            "EXPOSE" => Instruction::Expose(parse_ports(args)),
            "WORKDIR" => Instruction::Workdir(args.trim().to_string()),
            "VOLUME" => Instruction::Volume(match parse_list(args.trim()) {
                Some((items, _)) => items,
                None => args.split_whitespace().map(str::to_string).collect(),
            }),
            "USER" => Instruction::User(unbracket(args)),
            "STOPSIGNAL" => Instruction::Stopsignal(unbracket(args)),
            "ARG" => {
                let a = args.trim();
                match a.split_once('=') {
                    Some((n, v)) => Instruction::Arg {
                        name: n.to_string(),
                        default: Some(v.to_string()),
                    },
                    None => Instruction::Arg {
                        name: a.to_string(),
                        default: None,
                    },
                }
            }
            "SHELL" => match parse_list(args.trim()) {
                Some((items, exact)) => Instruction::Shell(ShellForm {
                    args: if exact { items } else { regroup_shell(&items) },
                    exact,
                    recorded: args.trim().to_string(),
                }),
                None => unknown(),
            },
            "HEALTHCHECK" => match parse_healthcheck(args.trim()) {
                Some(h) => Instruction::Healthcheck(h),
                None => unknown(),
            },
            "ONBUILD" => Instruction::Onbuild(args.trim().to_string()),
            "MAINTAINER" => Instruction::Maintainer(args.trim().to_string()),
            _ => unknown(),
        }
    }

    /// The Dockerfile keyword, upper case (the original spelling for unknown ones).
    pub fn keyword(&self) -> &str {
        match self {
            Instruction::Run(_) => "RUN",
            Instruction::Add(_) => "ADD",
            Instruction::Copy(_) => "COPY",
            Instruction::Env(_) => "ENV",
            Instruction::Cmd(_) => "CMD",
            Instruction::Entrypoint(_) => "ENTRYPOINT",
            Instruction::Expose(_) => "EXPOSE",
            Instruction::Workdir(_) => "WORKDIR",
            Instruction::Volume(_) => "VOLUME",
            Instruction::User(_) => "USER",
            Instruction::Label(_) => "LABEL",
            Instruction::Arg { .. } => "ARG",
            Instruction::Shell(_) => "SHELL",
            Instruction::Healthcheck(_) => "HEALTHCHECK",
            Instruction::Stopsignal(_) => "STOPSIGNAL",
            Instruction::Onbuild(_) => "ONBUILD",
            Instruction::Maintainer(_) => "MAINTAINER",
            Instruction::Unknown { keyword, .. } => keyword,
        }
    }

    /// Whether the text carried BuildKit's marker.
    pub fn is_buildkit(&self) -> bool {
        match self {
            Instruction::Run(r) => r.buildkit,
            Instruction::Add(c) | Instruction::Copy(c) => c.buildkit,
            _ => false,
        }
    }
}

/// What repo-info prints before a history text it could not turn into an instruction.
pub const UNPARSED_COMMAND: &str = "# unable to parse image command string further:";

/// A text repo-info could not read that is the classic builder's `|N A=b prog arg`: an exec-form
/// RUN with build arguments. Anything else stays an unknown instruction.
fn exec_form_run(recorded: &str) -> Option<Instruction> {
    if !recorded.starts_with('|') {
        return None;
    }
    match parse_run(recorded) {
        Instruction::Run(mut run) if !run.args.is_empty() && !run.buildkit && !run.recorded.is_empty() => {
            run.exec_form = true;
            Some(Instruction::Run(run))
        }
        _ => None,
    }
}

fn parse_run(args: &str) -> Instruction {
    let mut text = args.trim_end_matches(['\n', '\r']);
    // The Windows classic builder recorded metadata steps as `cmd /S /C #(nop) COPY ...` and the
    // repo-info tool only strips the Linux `/bin/sh -c #(nop)` prefix: the real step follows `#(nop)`.
    if let Some(i) = text.find("#(nop) ") {
        let before = text[..i].trim();
        if before.is_empty() || before.ends_with("/C") || before.ends_with("-c") || before.ends_with("-Command") {
            return Instruction::parse(text[i + "#(nop) ".len()..].trim_start());
        }
    }
    let mut buildkit = false;
    if let Some(t) = text.trim_end().strip_suffix("# buildkit") {
        buildkit = true;
        text = t.strip_suffix(' ').unwrap_or(t);
    }
    let mut run_args = Vec::new();
    // BuildKit keeps `|2 A=1 B=2 ` before the shell when build args were used.
    if let Some(after_bar) = text.strip_prefix('|') {
        let count_end = after_bar.find(' ').unwrap_or(after_bar.len());
        if let Ok(n) = after_bar[..count_end].parse::<usize>() {
            let mut rest = after_bar[count_end..].trim_start();
            for _ in 0..n {
                let end = rest.find(' ').unwrap_or(rest.len());
                let tok = &rest[..end];
                let (name, value) = match tok.split_once('=') {
                    Some((n, v)) => (n.to_string(), Some(v.to_string())),
                    None => (tok.to_string(), None),
                };
                run_args.push(BuildArg { name, value });
                rest = rest[end..].trim_start();
            }
            text = rest;
        }
    }
    let mut shell_prefix = None;
    if buildkit {
        for p in ["/bin/sh -c ", "cmd /S /C "] {
            if let Some(t) = text.strip_prefix(p) {
                shell_prefix = Some(p.trim_end().to_string());
                text = t;
                break;
            }
        }
    }
    let windows_base = text.starts_with("Apply image ") || text.starts_with("Install update ");
    Instruction::Run(Run {
        recorded: text.to_string(),
        args: run_args,
        shell_prefix,
        buildkit,
        windows_base,
        exec_form: false,
    })
}

/// Puts `\` + newline back before every run of TABs that starts a continuation line. A run of TABs
/// at the very start or end, or one followed only by whitespace, is left alone so that the rebuilt
/// Dockerfile never has a blank continuation line (which Docker would drop).
pub fn restore_continuations(recorded: &str) -> String {
    let mut out = String::with_capacity(recorded.len() + recorded.len() / 16);
    let mut rest = recorded;
    let mut prev: Option<char> = None;
    while let Some(i) = rest.find('\t') {
        out.push_str(&rest[..i]);
        let before = if i > 0 { rest[..i].chars().next_back() } else { prev };
        let tabs = rest[i..].bytes().take_while(|&b| b == b'\t').count();
        let after = rest[i + tabs..].chars().next();
        if before.is_some_and(|c| c != '\n') && after.is_some_and(|c| !c.is_whitespace() && c != '#') {
            out.push_str("\\\n");
        }
        out.push_str(&rest[i..i + tabs]);
        prev = Some('\t');
        rest = &rest[i + tabs..];
    }
    out.push_str(rest);
    out
}

fn parse_copy(args: &str) -> Option<Copy> {
    let mut text = args.trim_end_matches(['\n', '\r']);
    let mut buildkit = false;
    if let Some(t) = text.trim_end().strip_suffix("# buildkit") {
        buildkit = true;
        text = t;
    }
    let text = text.trim();
    let mut flags = Vec::new();
    let mut rest = text;
    while rest.starts_with("--") {
        let end = rest.find(' ')?;
        let (flag, hashed) = split_glued_source(&rest[..end]);
        flags.push(flag.to_string());
        rest = match hashed {
            // The source hash was glued to the flag; it starts the rest again.
            Some(_) => &rest[flag.len()..],
            None => rest[end..].trim_start(),
        };
    }
    // Classic builder: `<kind>:<hex> in <dest>` where dest may contain spaces.
    if let Some((src, dest)) = rest.split_once(" in ") {
        if let Some((what, hex)) = src.split_once(':') {
            if matches!(what, "file" | "dir" | "multi") {
                if let Ok(digest) = Digest::from_hex(hex) {
                    return Some(Copy {
                        source: Source::Hashed {
                            what: what.to_string(),
                            digest,
                        },
                        destination: dest.trim().to_string(),
                        flags,
                        buildkit,
                    });
                }
            }
        }
        if !src.contains(' ') && !buildkit {
            return Some(Copy {
                source: Source::Paths {
                    paths: vec![src.to_string()],
                },
                destination: dest.trim().to_string(),
                flags,
                buildkit,
            });
        }
    }
    // BuildKit and Dockerfile form: `src... dest`, or the JSON form `["src", "dest"]`.
    let items = match parse_list(rest) {
        Some((items, true)) => items,
        _ => rest.split_whitespace().map(str::to_string).collect(),
    };
    if items.len() < 2 {
        return None;
    }
    let (dest, srcs) = items.split_last()?;
    Some(Copy {
        source: Source::Paths { paths: srcs.to_vec() },
        destination: dest.clone(),
        flags,
        buildkit,
    })
}

/// The classic builder of 17.09 and later recorded `--chown` with no space before the source hash
/// (`COPY --chown=1000:1000file:<hex> in /srv/`, `performCopy`'s `"%s %s%s in %s "`). Splits such a
/// token into the flag and the `file:`/`dir:`/`multi:<64 hex>` that follows it; a token without a
/// glued hash is returned whole.
fn split_glued_source(token: &str) -> (&str, Option<&str>) {
    for kind in ["file:", "dir:", "multi:"] {
        let Some(at) = token.len().checked_sub(kind.len() + 64) else {
            continue;
        };
        let (flag, hashed) = token.split_at(at);
        let hex_ok = hashed[kind.len()..].bytes().all(|b| b.is_ascii_hexdigit());
        if hashed.starts_with(kind) && hex_ok && flag.contains('=') {
            return (flag, Some(hashed));
        }
    }
    (token, None)
}

fn is_env_key(k: &str) -> bool {
    let mut chars = k.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_label_key(k: &str) -> bool {
    !k.is_empty()
        && k.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/'))
}

/// Splits `A=1 B=two words C=3` into pairs. Values are recorded unquoted and may hold spaces, so a
/// new pair starts only at a space followed by something that looks like a key and `=`.
fn split_pairs(text: &str, is_key: fn(&str) -> bool) -> Option<Vec<KeyValue>> {
    let (first_key, _) = text.split_once('=')?;
    if !is_key(first_key) {
        // Old form `ENV KEY value`.
        let (k, v) = text.split_once([' ', '\t'])?;
        return is_key(k).then(|| {
            vec![KeyValue {
                key: k.to_string(),
                value: v.trim_start().to_string(),
            }]
        });
    }
    // Positions where a new `key=` starts: the text start, or after a space.
    let mut starts = vec![0usize];
    let bytes = text.as_bytes();
    for i in 1..bytes.len() {
        if bytes[i - 1] == b' ' && bytes[i] != b' ' {
            if let Some(eq) = text[i..].find('=') {
                let cand = &text[i..i + eq];
                if is_key(cand) {
                    starts.push(i);
                }
            }
        }
    }
    let mut out = Vec::new();
    for (n, &s) in starts.iter().enumerate() {
        let end = starts.get(n + 1).map(|&e| e - 1).unwrap_or(text.len());
        let part = &text[s..end];
        let (k, v) = part.split_once('=')?;
        out.push(KeyValue {
            key: k.to_string(),
            value: v.to_string(),
        });
    }
    Some(out)
}

fn parse_ports(args: &str) -> Vec<String> {
    let t = args.trim();
    // A Go map dump from very old builders: `map[80/tcp:{} 443/tcp:{}]`.
    if let Some(inner) = t.strip_prefix("map[").and_then(|s| s.strip_suffix(']')) {
        return inner
            .split_whitespace()
            .map(|p| p.trim_end_matches(":{}").to_string())
            .collect();
    }
    match parse_list(t) {
        Some((items, _)) => items,
        None => t.split_whitespace().map(str::to_string).collect(),
    }
}

/// `[solr]` (a Go `%v` of a one-element slice) -> `solr`.
fn unbracket(args: &str) -> String {
    let t = args.trim();
    match t.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        Some(inner) if !inner.contains(' ') => inner.trim_matches('"').to_string(),
        _ => t.to_string(),
    }
}

/// `%v` lost the boundaries of `SHELL ["powershell", "-Command", "$a = 'b'; $c = 'd';"]`: the
/// common shells take one script argument after their switch, so everything after it is one element.
fn regroup_shell(tokens: &[String]) -> Vec<String> {
    let switch = tokens
        .iter()
        .position(|t| matches!(t.to_ascii_lowercase().as_str(), "-command" | "/c" | "/s" | "-c"));
    match switch {
        Some(i) if i + 2 < tokens.len() => {
            let mut v: Vec<String> = tokens[..=i].to_vec();
            if tokens[i].eq_ignore_ascii_case("/s") && tokens.get(i + 1).is_some_and(|t| t.eq_ignore_ascii_case("/c")) {
                v.push(tokens[i + 1].clone());
                v.push(tokens[i + 2..].join(" "));
            } else {
                v.push(tokens[i + 1..].join(" "));
            }
            v
        }
        _ => tokens.to_vec(),
    }
}

fn parse_healthcheck(text: &str) -> Option<Healthcheck> {
    let inner = text.strip_prefix("&{")?.strip_suffix('}')?.trim();
    let close = inner.find(']')?;
    let (test, _) = parse_list(&inner[..=close])?;
    let mut fields = Vec::new();
    let mut rest = inner[close + 1..].trim();
    while !rest.is_empty() {
        let (val, used) = go_literal(rest)?;
        fields.push(val);
        rest = rest[used..].trim_start();
    }
    let dur = |s: Option<&String>| s.filter(|d| !d.is_empty() && d.as_str() != "0s").cloned();
    // Retries is the last field; the start interval was added between start period and retries.
    let retries = fields.last().and_then(|r| r.parse::<u32>().ok()).filter(|&r| r != 0);
    let n = fields.len();
    Some(Healthcheck {
        test,
        interval: dur(fields.first()),
        timeout: dur(fields.get(1)),
        start_period: dur(fields.get(2)),
        start_interval: if n >= 5 { dur(fields.get(3)) } else { None },
        retries,
    })
}

/// Reads one Go literal: a `"string"`, a `'rune'` (returned as its number) or a bare word.
fn go_literal(s: &str) -> Option<(String, usize)> {
    match s.as_bytes().first()? {
        b'"' => {
            let (v, used) = unquote(s)?;
            Some((v, used))
        }
        b'\'' => {
            let body = &s[1..];
            let end = find_closing(body, '\'')?;
            let (v, _) = unquote(&format!("\"{}\"", &body[..end]))?;
            let c = v.chars().next()?;
            Some(((c as u32).to_string(), end + 2))
        }
        _ => {
            let end = s.find(char::is_whitespace).unwrap_or(s.len());
            Some((s[..end].to_string(), end))
        }
    }
}

fn find_closing(body: &str, quote: char) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == quote {
            return Some(i);
        }
    }
    None
}

/// Reads a bracketed list: `["a", "b"]` (JSON), `["a" "b"]` (Go `%q`), `&{["a"]}` (Go struct dump)
/// or `[a b]` (Go `%v`, boundaries lost). The flag says whether element boundaries are exact.
pub fn parse_list(text: &str) -> Option<(Vec<String>, bool)> {
    let mut t = text.trim();
    if let Some(inner) = t.strip_prefix("&{").and_then(|s| s.strip_suffix('}')) {
        t = inner.trim();
    }
    let inner = t.strip_prefix('[')?.strip_suffix(']')?;
    let inner_trim = inner.trim();
    if inner_trim.is_empty() {
        return Some((Vec::new(), true));
    }
    if !inner_trim.starts_with('"') {
        return Some((inner_trim.split_whitespace().map(str::to_string).collect(), false));
    }
    let mut items = Vec::new();
    let mut rest = inner_trim;
    while !rest.is_empty() {
        let (s, used) = unquote(rest)?;
        items.push(s);
        rest = rest[used..].trim_start_matches([' ', '\t', ',']);
    }
    Some((items, true))
}

/// Reads one double-quoted string with Go/JSON escapes at the start of `s`; returns it and the
/// number of bytes used (quotes included).
fn unquote(s: &str) -> Option<(String, usize)> {
    let body = s.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, i + 2)),
            '\\' => {
                let (_, e) = chars.next()?;
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'a' => out.push('\u{7}'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'v' => out.push('\u{b}'),
                    '0'..='7' => {
                        let mut v = e.to_digit(8)?;
                        for _ in 0..2 {
                            v = v * 8 + chars.next()?.1.to_digit(8)?;
                        }
                        out.push(char::from_u32(v)?);
                    }
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let mut v = 0u32;
                        for _ in 0..n {
                            v = v * 16 + chars.next()?.1.to_digit(16)?;
                        }
                        match char::from_u32(v) {
                            Some(ch) => out.push(ch),
                            // A JSON surrogate pair: `\ud83d\ude00`.
                            None if (0xD800..0xDC00).contains(&v) => {
                                let (_, b) = chars.next()?;
                                let (_, u) = chars.next()?;
                                if b != '\\' || u != 'u' {
                                    return None;
                                }
                                let mut lo = 0u32;
                                for _ in 0..4 {
                                    lo = lo * 16 + chars.next()?.1.to_digit(16)?;
                                }
                                let cp = 0x10000 + ((v - 0xD800) << 10) + (lo.checked_sub(0xDC00)?);
                                out.push(char::from_u32(cp)?);
                            }
                            None => return None,
                        }
                    }
                    other => out.push(other),
                }
            }
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Run {
        match Instruction::parse(text) {
            Instruction::Run(r) => r,
            other => panic!("not a RUN: {other:?}"),
        }
    }

    #[test]
    fn run_restores_line_continuations() {
        let r = run("RUN set -x \t&& addgroup -g 82 \t\t&& adduser x");
        assert_eq!(r.recorded, "set -x \t&& addgroup -g 82 \t\t&& adduser x");
        assert_eq!(r.script(), "set -x \\\n\t&& addgroup -g 82 \\\n\t\t&& adduser x");
        // Joining the continuations like Docker does gives back the recorded text.
        assert_eq!(r.script().replace("\\\n", ""), r.recorded);
    }

    #[test]
    fn run_buildkit_marker_prefix_and_args() {
        let r = run("RUN |2 A=1 B=x /bin/sh -c apt-get update # buildkit");
        assert!(r.buildkit);
        assert_eq!(r.recorded, "apt-get update");
        assert_eq!(r.shell_prefix.as_deref(), Some("/bin/sh -c"));
        assert_eq!(r.args.len(), 2);
        assert_eq!(r.args[1].value.as_deref(), Some("x"));
    }

    #[test]
    fn copy_sources() {
        let Instruction::Copy(c) = Instruction::parse(
            "COPY file:8b68ac010cb13f58ebe31c3015d15c988625d2fde7339dca8a84c3c914493323 in /usr/local/bin/ ",
        ) else {
            panic!()
        };
        assert_eq!(c.destination, "/usr/local/bin/");
        assert!(matches!(c.source, Source::Hashed { ref what, .. } if what == "file"));
        let Instruction::Copy(c) = Instruction::parse("COPY docker-entrypoint.sh /usr/local/bin/ # buildkit") else {
            panic!()
        };
        assert!(c.buildkit);
        assert_eq!(
            c.source,
            Source::Paths {
                paths: vec!["docker-entrypoint.sh".into()]
            }
        );
    }

    #[test]
    fn chown_glued_to_the_source_hash_as_the_classic_builder_recorded_it() {
        let hex = "1f0b508096c3cca82ea4db75a9726f6f5ff48702ae75b805d38815e861052060";
        for (text, chown, what, dest) in [
            (
                format!("COPY --chown=1000:1000file:{hex} in /opt/x/y/suid "),
                "--chown=1000:1000",
                "file",
                "/opt/x/y/suid",
            ),
            (
                format!("COPY --chown=1000:1000 dir:{hex} in /srv/ "),
                "--chown=1000:1000",
                "dir",
                "/srv/",
            ),
            (
                format!("ADD --chown=app:filemulti:{hex} in /a b/ "),
                "--chown=app:file",
                "multi",
                "/a b/",
            ),
        ] {
            let (Instruction::Copy(c) | Instruction::Add(c)) = Instruction::parse(&text) else {
                panic!("{text}")
            };
            assert_eq!(c.flags, vec![chown.to_string()], "{text}");
            assert_eq!(c.destination, dest, "{text}");
            assert!(
                matches!(c.source, Source::Hashed { what: ref w, digest } if w == what && digest.hex() == hex),
                "{text}"
            );
        }
    }

    #[test]
    fn go_formatted_arguments() {
        assert_eq!(
            Instruction::parse("CMD [\"supervisord\" \"-n\"]"),
            Instruction::Cmd(Command::Exec(vec!["supervisord".into(), "-n".into()]))
        );
        assert_eq!(
            Instruction::parse("ENTRYPOINT &{[\"/x\"]}"),
            Instruction::Entrypoint(Command::Exec(vec!["/x".into()]))
        );
        assert_eq!(
            Instruction::parse("VOLUME [/var/www/html]"),
            Instruction::Volume(vec!["/var/www/html".into()])
        );
        assert_eq!(Instruction::parse("USER [solr]"), Instruction::User("solr".into()));
        assert_eq!(
            Instruction::parse("STOPSIGNAL [SIGTERM]"),
            Instruction::Stopsignal("SIGTERM".into())
        );
        assert_eq!(
            Instruction::parse("EXPOSE map[80/tcp:{} 443/tcp:{}]"),
            Instruction::Expose(vec!["80/tcp".into(), "443/tcp".into()])
        );
        let Instruction::Shell(s) = Instruction::parse(
            "SHELL [powershell -Command $ErrorActionPreference = 'Stop'; $ProgressPreference = 'SilentlyContinue';]",
        ) else {
            panic!()
        };
        assert!(!s.exact);
        assert_eq!(
            s.args[2],
            "$ErrorActionPreference = 'Stop'; $ProgressPreference = 'SilentlyContinue';"
        );
    }

    #[test]
    fn healthcheck_struct_dump() {
        let Instruction::Healthcheck(h) =
            Instruction::parse(r#"HEALTHCHECK &{["CMD-SHELL" "kong-health"] "1m0s" "10s" "0s" '\n'}"#)
        else {
            panic!()
        };
        assert_eq!(h.test, vec!["CMD-SHELL", "kong-health"]);
        assert_eq!(h.interval.as_deref(), Some("1m0s"));
        assert_eq!(h.timeout.as_deref(), Some("10s"));
        assert_eq!(h.start_period, None);
        assert_eq!(h.retries, Some(10));
    }

    #[test]
    fn env_and_label_pairs() {
        assert_eq!(
            Instruction::parse("ENV A=1 B=two words C_D=3"),
            Instruction::Env(vec![
                KeyValue {
                    key: "A".into(),
                    value: "1".into()
                },
                KeyValue {
                    key: "B".into(),
                    value: "two words".into()
                },
                KeyValue {
                    key: "C_D".into(),
                    value: "3".into()
                },
            ])
        );
        assert_eq!(
            Instruction::parse("ENV JAVA_OPTS=-Xmx1g -Dfoo=bar"),
            Instruction::Env(vec![KeyValue {
                key: "JAVA_OPTS".into(),
                value: "-Xmx1g -Dfoo=bar".into()
            }])
        );
        assert_eq!(
            Instruction::parse("LABEL maintainer=Kong Docker <d@k.com> (@team)"),
            Instruction::Label(vec![KeyValue {
                key: "maintainer".into(),
                value: "Kong Docker <d@k.com> (@team)".into()
            }])
        );
    }

    #[test]
    fn windows_nop_and_unknown() {
        assert!(matches!(
            Instruction::parse("RUN cmd /S /C #(nop) COPY file:9fca1d3c77d0758894ceeb7952e49e3b465b238dc4943832e9436b0ce84d8ae0 in C: "),
            Instruction::Copy(_)
        ));
        assert!(run("RUN Apply image 10.0.14393.0").windows_base);
        assert_eq!(
            Instruction::parse("FROBNICATE a b"),
            Instruction::Unknown {
                keyword: "FROBNICATE".into(),
                text: "a b".into()
            }
        );
    }
}
