//! The typed model of a repo-info document: plain data, serde-serializable, free of parser types.
//!
//! A document holds one or more tag sections (`## `), each naming a manifest list (or OCI index) and
//! the images of its platforms (`### `). Everything the document states is kept; everything it omits
//! (older documents lack `Manifest MIME`, pull blocks, byte counts) is an `Option`, so consumers can
//! tell "absent" from "zero".

use std::fmt;

use serde::{Serialize, Serializer};

use crate::Digest;

/// One parsed document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Document {
    pub tags: Vec<TagSection>,
}

/// One `## \`name:tag\`` section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TagSection {
    /// `name:tag` as written in the heading.
    pub tag: String,
    /// 1-based line of the heading.
    pub line: usize,
    /// Digest of the manifest list / index (from the `docker pull name@digest` block), when present.
    pub digest: Option<Digest>,
    /// `Manifest MIME` of the list or index; absent in documents written before 2017.
    pub media_type: Option<String>,
    /// The count written on the `Platforms: N` line by newer documents.
    pub platform_count: Option<u32>,
    /// The platforms listed under `Platforms:`, in order (attestation entries included).
    pub declared_platforms: Vec<Platform>,
    /// One entry per `### ` section, in document order.
    pub platforms: Vec<PlatformImage>,
    /// `- Key: value` fields this parser does not interpret, kept verbatim.
    pub extra_fields: Vec<Field>,
    /// What the section says instead of describing an image: older documents list tags the
    /// registry did not have yet as `**does not exist** (yet?)`, with no platforms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl TagSection {
    /// Whether a user's `want` names this section: its whole `name:tag` (`httpd:2-alpine`,
    /// `127.0.0.1:5000/retrace/demo:latest`) or only the tag after the repository's last `:`
    /// (`2-alpine`, `latest`); a registry's port is never taken for a tag. The one tag rule of
    /// every command.
    pub fn answers_to(&self, want: &str) -> bool {
        let tag = self.tag.rsplit_once(':').map(|(_, t)| t).filter(|t| !t.contains('/'));
        self.tag == want || tag == Some(want)
    }
}

/// An OCI platform as repo-info writes it: `linux; arm variant v7`, `windows version 10.0.14393.2007; amd64`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
    pub os_version: Option<String>,
}

impl Platform {
    /// Attestation manifests (provenance, SBOM) are listed as `unknown; unknown`.
    pub fn is_attestation(&self) -> bool {
        self.os == "unknown" && self.architecture == "unknown"
    }

    pub fn is_windows(&self) -> bool {
        self.os.eq_ignore_ascii_case("windows")
    }

    /// The platform to compare by the one rule (`crate::platform`); `os_version` is not part of it.
    pub fn platform(&self) -> crate::platform::Platform {
        crate::platform::Platform::new(&self.os, &self.architecture, self.variant.as_deref())
    }
}

impl fmt::Display for Platform {
    /// `os/arch[/variant]`, the form `docker --platform` takes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.platform().fmt(f)
    }
}

/// The image of one platform (`### ` section).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlatformImage {
    pub platform: Platform,
    /// 1-based line of the `### ` heading.
    pub line: usize,
    /// Digest of the platform's manifest (its own pull block); missing in some older documents.
    pub digest: Option<Digest>,
    pub docker_version: Option<String>,
    pub media_type: Option<String>,
    pub total_size: Option<Size>,
    pub image_id: Option<Digest>,
    /// The image ID was written as bare hex (Docker 1.9-era v1 manifests), not as a digest.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub legacy_image_id: bool,
    pub entrypoint: Option<Command>,
    pub cmd: Option<Command>,
    /// The image's `SHELL` (Windows images), from the `` `SHELL` `` field.
    pub shell: Option<Command>,
    pub history: Vec<HistoryEntry>,
    pub layers: Vec<Layer>,
    pub extra_fields: Vec<Field>,
}

/// A size as the document prints it, with the exact byte count when the document gives one
/// (`40.8 MB (40752666 bytes)`) or when the unit is bytes (`147.0 B` is exactly 147 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Size {
    pub bytes: Option<u64>,
    /// The human-readable text, e.g. `40.8 MB`.
    pub display: String,
}

/// One history entry of the `dockerfile` block.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEntry {
    /// 1-based line of the entry's first line (its date comment when present).
    pub line: usize,
    pub created: Option<Timestamp>,
    /// Build arguments from a `# ARGS:` line.
    pub args: Vec<BuildArg>,
    /// The instruction exactly as recorded (keyword included; lines joined with "\n").
    pub text: String,
    pub instruction: Instruction,
}

/// A `NAME=value` build argument; a bare `NAME` has no value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuildArg {
    pub name: String,
    pub value: Option<String>,
}

/// One entry of the `Layers:` list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Layer {
    pub line: usize,
    pub digest: Digest,
    /// Exact size in bytes; `None` only when the document gives a rounded size in KB/MB/GB without
    /// a byte count.
    pub size: Option<u64>,
    pub size_display: Option<String>,
    /// Missing for foreign (Windows base) layers in newer documents.
    pub last_modified: Option<Timestamp>,
    pub media_type: Option<String>,
}

impl Layer {
    /// Foreign layers (Windows base images) are not served by the registry and cannot be rebuilt.
    pub fn is_foreign(&self) -> bool {
        self.media_type.as_deref().is_some_and(|m| m.contains("foreign"))
    }
}

/// A field this parser keeps but does not interpret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Field {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// A point in time with one-second resolution, always UTC. Serialized as RFC 3339 (`2019-01-30T22:19:52Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    /// Seconds since 1970-01-01T00:00:00Z (negative before, e.g. Go's zero time in year 1).
    pub unix: i64,
}

impl Timestamp {
    /// Parses the RFC 1123 form the documents use (`crate::time::parse_rfc1123`).
    pub fn parse_rfc1123(text: &str) -> Result<Timestamp, crate::time::DateError> {
        crate::time::parse_rfc1123(text).map(|unix| Timestamp { unix })
    }

    /// The RFC 3339 form in UTC, e.g. `2019-01-30T22:19:52Z`.
    pub fn to_rfc3339(self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::time::format_rfc3339(self.unix))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

// The instructions of the history, as `crate::ir` reads them from `created_by` texts.

/// A command as stored in an image config: exec form (a JSON array) or, when the text is not an
/// array, the shell form as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Command {
    Exec(Vec<String>),
    Shell(String),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_rfc1123_and_print_rfc3339() {
        let t = Timestamp::parse_rfc1123("Wed, 30 Jan 2019 22:19:52 GMT").unwrap();
        assert_eq!(t.to_string(), "2019-01-30T22:19:52Z");
    }

    #[test]
    fn platforms_display_in_the_selector_form() {
        let p = Platform {
            os: "linux".into(),
            architecture: "arm".into(),
            variant: Some("v7".into()),
            os_version: None,
        };
        assert_eq!(p.to_string(), "linux/arm/v7");
        assert_eq!(p.platform().to_string(), "linux/arm/v7");
    }
}

#[cfg(test)]
mod tag_tests {
    use super::TagSection;

    fn section(tag: &str) -> TagSection {
        TagSection {
            tag: tag.to_string(),
            line: 1,
            digest: None,
            media_type: None,
            platform_count: None,
            declared_platforms: Vec::new(),
            platforms: Vec::new(),
            extra_fields: Vec::new(),
            note: None,
        }
    }

    #[test]
    fn a_tag_answers_to_its_whole_name_or_its_tag_but_never_to_a_registry_port() {
        let demo = section("127.0.0.1:5000/retrace/demo:latest");
        assert!(demo.answers_to("latest") && demo.answers_to("127.0.0.1:5000/retrace/demo:latest"));
        assert!(!demo.answers_to("5000/retrace/demo:latest"));
        let untagged = section("127.0.0.1:5000/demo");
        assert!(!untagged.answers_to("5000/demo"));
        assert!(section("httpd:2-alpine").answers_to("2-alpine"));
    }
}
