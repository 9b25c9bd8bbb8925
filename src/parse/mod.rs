//! The repo-info document parser: the only module that knows pest.
//!
//! `grammar/repo-info.pest` recognises the structure; this module converts the captured spans into
//! the plain [`crate::model`] types, checking every value (digests, dates, sizes) and naming the
//! line and column of anything it cannot read.

mod error;

use std::path::Path;

use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;
use pest::Parser as _;

pub use error::ParseError;

use crate::ir::{Command, Instruction};
use crate::model::{
    BuildArg, Document, Field, HistoryEntry, Layer, Platform, PlatformImage, Size, TagSection, Timestamp,
};
use crate::Digest;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/repo-info.pest"]
struct RepoInfoParser;

/// The largest document read. Real repo-info documents are under 1 MiB; the bound keeps a device
/// such as `/dev/zero` or a crafted file from exhausting memory before parsing starts.
pub const MAX_DOCUMENT_BYTES: u64 = 16 << 20;

/// Reads and parses one document file.
pub fn parse_file(path: &Path) -> Result<Document, ParseError> {
    let whole_file = |line, message| ParseError {
        path: path.display().to_string(),
        line,
        column: 0,
        message,
    };
    let bytes = crate::fsutil::read_regular(path, MAX_DOCUMENT_BYTES).map_err(|e| match e.kind() {
        std::io::ErrorKind::FileTooLarge => whole_file(
            0,
            format!("the document is larger than the limit of {MAX_DOCUMENT_BYTES} bytes"),
        ),
        _ => whole_file(0, format!("cannot read the file: {}", crate::error::Chain(&e))),
    })?;
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let text = String::from_utf8_lossy(valid);
            let (line, column) = line_col(&text, text.len());
            return Err(ParseError {
                path: path.display().to_string(),
                line,
                column,
                message: "the document is not valid UTF-8 text".into(),
            });
        }
    };
    parse_str(&text, &path.display().to_string())
}

/// Parses a document held in memory; `path` only names it in errors.
pub fn parse_str(text: &str, path: &str) -> Result<Document, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let original = text;
    // The grammar expects every line, the last one included, to end with a newline.
    let owned;
    let text = if text.ends_with('\n') {
        text
    } else {
        owned = format!("{text}\n");
        owned.as_str()
    };
    let mut pairs = RepoInfoParser::parse(Rule::document, text).map_err(|e| syntax_error(&e, original, path))?;
    // A successful parse of `Rule::document` is that one pair.
    let document = pairs.next().expect("the document rule always yields one pair");
    let mut b = Builder { text, path };
    let mut tags = Vec::new();
    for pair in document.into_inner() {
        if pair.as_rule() == Rule::tag_section {
            tags.push(b.tag_section(pair)?);
        }
    }
    Ok(Document { tags })
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

struct Builder<'t> {
    text: &'t str,
    path: &'t str,
}

impl<'t> Builder<'t> {
    fn error_at(&self, offset: usize, message: impl Into<String>) -> ParseError {
        let (line, column) = line_col(self.text, offset);
        ParseError {
            path: self.path.to_string(),
            line,
            column,
            message: message.into(),
        }
    }

    /// The 1-based line of a pair, from the line index pest builds for every parse.
    fn line(&mut self, pair: &Pair<'t, Rule>) -> usize {
        pair.line_col().0
    }

    fn tag_section(&mut self, pair: Pair<'t, Rule>) -> Result<TagSection, ParseError> {
        let mut section = TagSection {
            tag: String::new(),
            line: self.line(&pair),
            digest: None,
            media_type: None,
            platform_count: None,
            declared_platforms: Vec::new(),
            platforms: Vec::new(),
            extra_fields: Vec::new(),
            note: None,
        };
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::tag_heading => {
                    section.tag = first_inner(&p, Rule::tag_name).unwrap_or_default().to_string();
                }
                Rule::missing_tag => section.note = Some(p.as_str().trim_end().to_string()),
                Rule::pull_block => section.digest = self.pull_digest(p)?,
                Rule::platforms_field => {
                    for q in p.into_inner() {
                        match q.as_rule() {
                            Rule::platform_count => {
                                section.platform_count = Some(q.as_str().parse().map_err(|_| {
                                    self.error_at(q.as_span().start(), "the platform count is too large")
                                })?)
                            }
                            Rule::platform_item => {
                                if let Some(d) = q.into_inner().find(|r| r.as_rule() == Rule::platform_desc) {
                                    section.declared_platforms.push(platform(d));
                                }
                            }
                            _ => {}
                        }
                    }
                }
                Rule::field => {
                    let line = self.line(&p);
                    let (key, value, _) = field_parts(p);
                    match key {
                        "Manifest MIME" => section.media_type = Some(unticked(value).to_string()),
                        _ => section.extra_fields.push(Field {
                            key: key.to_string(),
                            value: value.trim_end().to_string(),
                            line,
                        }),
                    }
                }
                Rule::platform_section => {
                    let image = self.platform_section(p)?;
                    section.platforms.push(image);
                }
                _ => {}
            }
        }
        Ok(section)
    }

    /// The digest from `$ docker pull name@sha256:...`; `None` when the block names no digest.
    fn pull_digest(&self, pair: Pair<'t, Rule>) -> Result<Option<Digest>, ParseError> {
        let Some(r) = pair
            .into_inner()
            .find(|p| p.as_rule() == Rule::pull_line)
            .and_then(|l| l.into_inner().find(|p| p.as_rule() == Rule::pull_ref))
        else {
            return Ok(None);
        };
        let reference = r.as_str().trim_end();
        let Some(at) = reference.find('@') else {
            return Ok(None);
        };
        let digest_text = &reference[at + 1..];
        digest_text.parse::<Digest>().map(Some).map_err(|e| {
            self.error_at(
                r.as_span().start() + at + 1,
                format!("expected a sha256 digest after `@`: {}", crate::error::Chain(&e)),
            )
        })
    }

    fn platform_section(&mut self, pair: Pair<'t, Rule>) -> Result<PlatformImage, ParseError> {
        let mut image = PlatformImage {
            platform: Platform {
                os: String::new(),
                architecture: String::new(),
                variant: None,
                os_version: None,
            },
            line: self.line(&pair),
            digest: None,
            docker_version: None,
            media_type: None,
            total_size: None,
            image_id: None,
            legacy_image_id: false,
            entrypoint: None,
            cmd: None,
            shell: None,
            history: Vec::new(),
            layers: Vec::new(),
            extra_fields: Vec::new(),
        };
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::platform_heading => {
                    if let Some(d) = p.into_inner().find(|r| r.as_rule() == Rule::platform_desc) {
                        image.platform = platform(d);
                    }
                }
                Rule::pull_block => image.digest = self.pull_digest(p)?,
                Rule::field => {
                    let line = self.line(&p);
                    let (key, value, value_start) = field_parts(p);
                    let value = value.trim_end();
                    match key.trim_matches('`').to_ascii_lowercase().as_str() {
                        "docker version" => image.docker_version = Some(value.to_string()),
                        "manifest mime" => image.media_type = Some(unticked(value).to_string()),
                        "total size" => image.total_size = Some(self.size(value.trim_matches('*'), value_start)?),
                        "image id" => {
                            let v = unticked(value);
                            // Docker 1.9-era v1 manifests: a bare 64-hex ID, the same value a
                            // later daemon would write with `sha256:`.
                            let legacy = v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit());
                            image.legacy_image_id = legacy;
                            let v = if legacy { format!("sha256:{v}") } else { v.to_string() };
                            image.image_id = Some(v.parse().map_err(|e| {
                                self.error_at(
                                    value_start + value.find(unticked(value)).unwrap_or(0),
                                    format!("expected the image ID as a sha256 digest: {}", crate::error::Chain(&e)),
                                )
                            })?)
                        }
                        "entrypoint" => image.entrypoint = Some(Command::parse(unticked(value))),
                        "default command" | "command" | "cmd" => image.cmd = Some(Command::parse(unticked(value))),
                        "shell" => image.shell = Some(Command::parse(unticked(value))),
                        _ => image.extra_fields.push(Field {
                            key: key.to_string(),
                            value: value.to_string(),
                            line,
                        }),
                    }
                }
                Rule::history_block => {
                    for e in p.into_inner() {
                        if e.as_rule() == Rule::history_entry {
                            let entry = self.history_entry(e)?;
                            image.history.push(entry);
                        }
                    }
                }
                Rule::layers_field => {
                    for l in p.into_inner() {
                        if l.as_rule() == Rule::layer {
                            let layer = self.layer(l)?;
                            image.layers.push(layer);
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(image)
    }

    fn history_entry(&mut self, pair: Pair<'t, Rule>) -> Result<HistoryEntry, ParseError> {
        let line = self.line(&pair);
        let mut created = None;
        let mut args = Vec::new();
        let mut text = String::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::date_line => {
                    if let Some(d) = p.into_inner().find(|r| r.as_rule() == Rule::date) {
                        created = Some(
                            Timestamp::parse_rfc1123(d.as_str())
                                .map_err(|m| self.error_at(d.as_span().start(), m.to_string()))?,
                        );
                    }
                }
                Rule::args_line => {
                    let raw = first_inner(&p, Rule::rest).unwrap_or_default();
                    args = parse_build_args(raw);
                }
                Rule::instruction_line => text = instruction_text(p.as_str()),
                _ => {}
            }
        }
        let mut instruction = Instruction::parse(&text);
        // The classic builder's build args (`# ARGS:`) belong to the RUN they applied to, like
        // BuildKit's `|N A=b` prefix does.
        if let Instruction::Run(run) = &mut instruction {
            if run.args.is_empty() {
                run.args = args.clone();
            }
        }
        Ok(HistoryEntry {
            line,
            created,
            args,
            text,
            instruction,
        })
    }

    fn layer(&mut self, pair: Pair<'t, Rule>) -> Result<Layer, ParseError> {
        let line = self.line(&pair);
        let mut digest = None;
        let mut layer = Layer {
            line,
            digest: Digest::from_bytes([0; 32]),
            size: None,
            size_display: None,
            last_modified: None,
            media_type: None,
        };
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::layer_digest => {
                    digest = Some(p.as_str().parse::<Digest>().map_err(|e| {
                        self.error_at(
                            p.as_span().start(),
                            format!(
                                "expected a layer digest like `sha256:<64 hex digits>`: {}",
                                crate::error::Chain(&e)
                            ),
                        )
                    })?)
                }
                Rule::layer_attr => {
                    let mut key = "";
                    let mut value = ("", 0);
                    for q in p.into_inner() {
                        match q.as_rule() {
                            Rule::attr_key => key = q.as_str(),
                            Rule::attr_value => value = (q.as_str().trim_end(), q.as_span().start()),
                            _ => {}
                        }
                    }
                    match key.trim().to_ascii_lowercase().as_str() {
                        "last modified" => {
                            layer.last_modified = Some(
                                Timestamp::parse_rfc1123(value.0).map_err(|m| self.error_at(value.1, m.to_string()))?,
                            )
                        }
                        "size" => {
                            let s = self.size(value.0, value.1)?;
                            layer.size = s.bytes;
                            layer.size_display = Some(s.display);
                        }
                        "mime" | "media type" => layer.media_type = Some(unticked(value.0).to_string()),
                        // Attributes added by future documents are not needed to rebuild; skip them.
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        // The grammar's layer rule has a mandatory digest line, so a parsed layer has one.
        layer.digest = digest.expect("the grammar requires a layer digest");
        Ok(layer)
    }

    /// `40.8 MB (40752666 bytes)`, `147.0 B` or `1.2 KB`.
    fn size(&self, text: &str, offset: usize) -> Result<Size, ParseError> {
        let t = text.trim();
        let bad = |what: &str| {
            self.error_at(
                offset,
                format!("expected a size like `2.8 MB (2754728 bytes)` or `147.0 B`, {what} `{t}`"),
            )
        };
        if let Some(open) = t.find('(') {
            let inner = t[open + 1..].trim_end_matches(')').trim();
            let digits = inner.strip_suffix("bytes").unwrap_or(inner).trim();
            let bytes = digits.parse::<u64>().map_err(|_| bad("found"))?;
            return Ok(Size {
                bytes: Some(bytes),
                display: t[..open].trim().to_string(),
            });
        }
        let mut parts = t.split_whitespace();
        let (Some(num), unit) = (parts.next(), parts.next()) else {
            return Err(bad("found"));
        };
        let value: f64 = num.parse().map_err(|_| bad("found"))?;
        let bytes = match unit {
            Some("B") | Some("bytes") | None if value.fract() == 0.0 && (0.0..1e15).contains(&value) => {
                Some(value as u64)
            }
            _ => None,
        };
        Ok(Size {
            bytes,
            display: t.to_string(),
        })
    }
}

fn first_inner<'t>(pair: &Pair<'t, Rule>, rule: Rule) -> Option<&'t str> {
    pair.clone()
        .into_inner()
        .find(|p| p.as_rule() == rule)
        .map(|p| p.as_str())
}

fn field_parts<'t>(pair: Pair<'t, Rule>) -> (&'t str, &'t str, usize) {
    let mut key = "";
    let mut value = ("", 0);
    for q in pair.into_inner() {
        match q.as_rule() {
            Rule::field_key => key = q.as_str(),
            Rule::field_value => value = (q.as_str().trim_end_matches('\r'), q.as_span().start()),
            _ => {}
        }
    }
    (key.trim().trim_matches('`'), value.0, value.1)
}

/// Strips the trailing markdown line-break spaces and one pair of backticks.
fn unticked(value: &str) -> &str {
    let v = value.trim();
    v.strip_prefix('`').and_then(|s| s.strip_suffix('`')).unwrap_or(v)
}

fn platform(pair: Pair<'_, Rule>) -> Platform {
    let mut p = Platform {
        os: String::new(),
        architecture: String::new(),
        variant: None,
        os_version: None,
    };
    for q in pair.into_inner() {
        match q.as_rule() {
            Rule::os => p.os = q.as_str().to_string(),
            Rule::os_version => p.os_version = Some(q.as_str().to_string()),
            Rule::architecture => p.architecture = q.as_str().to_string(),
            Rule::variant => p.variant = Some(q.as_str().to_string()),
            _ => {}
        }
    }
    p
}

/// The instruction's lines without CRs and without the final newline; trailing blank lines (a blank
/// line before the closing fence or the next entry) do not belong to the instruction.
fn instruction_text(raw: &str) -> String {
    let mut text = raw.replace("\r\n", "\n");
    while text.ends_with('\n') {
        text.pop();
        let last_line_start = text.rfind('\n').map_or(0, |i| i + 1);
        if text.len() > last_line_start && text[last_line_start..].trim().is_empty() && last_line_start > 0 {
            text.truncate(last_line_start);
        }
    }
    text
}

/// `# ARGS: A=1 B=two words` -> pairs. Values are unquoted; a token that does not look like `NAME=`
/// continues the previous value.
fn parse_build_args(raw: &str) -> Vec<BuildArg> {
    let mut out: Vec<BuildArg> = Vec::new();
    for tok in raw.split_whitespace() {
        let key_like = tok
            .split_once('=')
            .is_some_and(|(k, _)| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        match (key_like, out.last_mut()) {
            (false, Some(last)) if last.value.is_some() => {
                let v = last.value.get_or_insert_with(String::new);
                v.push(' ');
                v.push_str(tok);
            }
            _ => {
                let (name, value) = match tok.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (tok.to_string(), None),
                };
                out.push(BuildArg { name, value });
            }
        }
    }
    out
}

/// Turns pest's error into one in user words: where, what would have been valid there, and what was
/// found instead.
fn syntax_error(e: &pest::error::Error<Rule>, text: &str, path: &str) -> ParseError {
    let offset = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let offset = offset.min(text.len());
    let (line, column) = line_col(text, offset);
    let mut expected: Vec<&str> = Vec::new();
    if let ErrorVariant::ParsingError { positives, .. } = &e.variant {
        for r in positives {
            let w = describe(*r);
            if !expected.contains(&w) {
                expected.push(w);
            }
        }
    }
    let found_line = text[offset..].lines().next().unwrap_or("");
    let found = if offset >= text.len() {
        "the end of the document".to_string()
    } else if found_line.is_empty() {
        "an empty line".to_string()
    } else {
        let snippet: String = found_line.chars().take(60).collect();
        format!(
            "`{}`{}",
            snippet.replace('\t', "\\t"),
            if found_line.chars().count() > 60 { "…" } else { "" }
        )
    };
    let what = match expected.len() {
        0 => "something else".to_string(),
        1 => expected[0].to_string(),
        n => format!("{} or {}", expected[..n - 1].join(", "), expected[n - 1]),
    };
    ParseError {
        path: path.to_string(),
        line,
        column,
        message: format!("expected {what}; found {found}"),
    }
}

fn describe(rule: Rule) -> &'static str {
    match rule {
        Rule::document | Rule::tag_section | Rule::tag_heading => "a tag heading like ## `name:tag`",
        Rule::tag_name => "a tag name in backticks",
        Rule::pull_block | Rule::pull_line | Rule::pull_ref => {
            "a ```console block with `$ docker pull name@sha256:...`"
        }
        Rule::platforms_field => "the `- Platforms:` list",
        Rule::platform_count => "a platform count",
        Rule::platform_item => "an indented platform item like `- linux; amd64`",
        Rule::platform_desc | Rule::os => "a platform like `linux; arm64 variant v8`",
        Rule::os_version => "an OS version",
        Rule::architecture => "an architecture after `; `",
        Rule::variant => "a variant name",
        Rule::field | Rule::field_key => "a field like `- Key: value`",
        Rule::field_value => "a field value",
        Rule::platform_section | Rule::platform_heading => "a platform heading like ### `name:tag` - linux; amd64",
        Rule::history_block => "a ```dockerfile history block",
        Rule::history_entry | Rule::instruction_line => "a history instruction",
        Rule::date_line | Rule::date => "a date comment like `# Wed, 30 Jan 2019 22:19:52 GMT`",
        Rule::args_line => "a `# ARGS:` line",
        Rule::layers_field => "the `- Layers:` list",
        Rule::layer | Rule::layer_digest => "an indented layer item like ``- `sha256:<digest>` ``",
        Rule::layer_attr | Rule::attr_key | Rule::attr_value => "a layer detail like `Size: 1.2 KB (1249 bytes)`",
        Rule::rest => "the rest of the line",
        Rule::EOI => "the end of the document",
        Rule::nl => "the end of the line",
        Rule::fence => "a closing ``` fence",
        _ => "valid text",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_args_with_spaces() {
        let a = parse_build_args(" A=1 B=two words C=");
        assert_eq!(a.len(), 3);
        assert_eq!(a[1].value.as_deref(), Some("two words"));
        assert_eq!(a[2].value.as_deref(), Some(""));
    }

    #[test]
    fn instruction_text_drops_trailing_blank_lines() {
        assert_eq!(instruction_text("RUN a\n\n"), "RUN a");
        assert_eq!(instruction_text("RUN <<EOF\nx\nEOF\n"), "RUN <<EOF\nx\nEOF");
        assert_eq!(instruction_text("COPY file:x in / \r\n"), "COPY file:x in / ");
    }
}
