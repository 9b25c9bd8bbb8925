//! `retrace describe REF`: writes an image's repo-info `remote` document, the format of
//! `/work/shared/seeds/*.txt` (docker-library/repo-info `repos/<name>/remote/<tag>.md`), from what a
//! registry (or the store, or an OCI layout) serves.
//!
//! Gathering ([`gather`]) and writing ([`render`]) are separate: `render` is a pure function of plain
//! data, so its formatting rules (sizes in 1000-based units, RFC 1123 dates, JSON with escaped
//! slashes, history lines rewritten into Dockerfile instructions) are tested without a registry.
//!
//! The layout follows the documents of the seeds' era: a `Platforms:` line without a count. Rules
//! taken from the published documents:
//! - sizes: `human_size` divides by 1000 while the integer quotient exceeds 1000, prints one decimal
//!   and a unit of B/KB/MB/GB/TB, and appends `(N bytes)` unless the unit is B;
//! - JSON values (Entrypoint, Default Command, SHELL) escape `/` as `\/`, like Perl's Mojo::JSON;
//! - history: `created_by` loses a `/bin/sh -c ` (or the image's SHELL) prefix; `#(nop) ` marks a
//!   non-RUN instruction and is removed; anything else not starting with an upper-case word becomes
//!   `RUN ...`; `|N a=b ... /bin/sh -c cmd` (build args) gets a `# ARGS: a=b ...` line above it.

use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use crate::digest::Digest;
use crate::registry::manifest::{ImageConfig, Manifest, Platform};
use crate::registry::pull::resolve;
use crate::registry::{ImageSource, Reference, RegistryError};

/// A repo-info remote document as data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteDoc {
    /// `httpd:2-alpine` as written in headings.
    pub title: String,
    /// `httpd`: the name in `docker pull NAME@digest`.
    pub name: String,
    pub digest: Digest,
    /// Present for manifest lists and indexes only (repo-info omits it for a single manifest).
    pub manifest_mime: Option<String>,
    pub images: Vec<ImageDoc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageDoc {
    pub platform: Platform,
    /// The platform manifest's digest when the document's top is an index.
    pub digest: Option<Digest>,
    pub docker_version: Option<String>,
    pub manifest_mime: String,
    pub image_id: Digest,
    pub entrypoint: Option<Vec<String>>,
    pub default_command: Option<Vec<String>>,
    pub shell: Option<Vec<String>>,
    pub history: Vec<HistoryDoc>,
    pub layers: Vec<LayerDoc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryDoc {
    /// Seconds since the epoch (repo-info prints whole seconds).
    pub created: Option<i64>,
    pub created_by: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerDoc {
    pub digest: Digest,
    pub last_modified: Option<String>,
    pub size: u64,
    pub media_type: String,
}

/// Collects everything the document states about `r` from `source`: one HEAD per layer (for its
/// Last-Modified), the configs, no layer downloads.
pub fn gather(
    source: &dyn ImageSource,
    r: &Reference,
    platform: Option<&crate::platform::Platform>,
) -> Result<RemoteDoc, RegistryError> {
    source.describable()?;
    let resolved = resolve(source, r, platform)?;
    let is_index = matches!(resolved.top.manifest, Manifest::Index(_));
    let mut images = Vec::new();
    for image in &resolved.images {
        let Manifest::Image(m) = &image.manifest.manifest else {
            unreachable!("resolve returns image manifests")
        };
        let config_bytes = source.config(r, &m.config)?;
        let config = ImageConfig::parse(&config_bytes, &format!("config {}", m.config.digest))?;
        // repo-info takes the platform from the index entry, and from the config (os and
        // architecture only) for a single manifest.
        let platform = match &image.entry {
            Some(e) => e.platform.clone().unwrap_or_default(),
            None => Platform {
                os: config.os.clone(),
                architecture: config.architecture.clone(),
                ..Platform::default()
            },
        };
        let mut layers = Vec::new();
        for desc in &m.layers {
            let meta = source.blob_meta(r, desc)?;
            layers.push(LayerDoc {
                digest: desc.digest,
                last_modified: meta.last_modified,
                size: desc.size,
                media_type: if desc.media_type.is_empty() {
                    meta.media_type.unwrap_or_default()
                } else {
                    desc.media_type.clone()
                },
            });
        }
        let cc = config.config.clone().unwrap_or_default();
        images.push(ImageDoc {
            platform,
            digest: image.entry.as_ref().map(|e| e.digest),
            docker_version: config.docker_version.clone().filter(|v| !v.is_empty()),
            manifest_mime: image.manifest.media_type.clone(),
            image_id: m.config.digest,
            entrypoint: cc.entrypoint,
            default_command: cc.cmd,
            shell: cc.shell,
            history: config
                .history
                .iter()
                .map(|h| HistoryDoc {
                    created: h.created.as_deref().and_then(parse_rfc3339),
                    created_by: h.created_by.clone().unwrap_or_default(),
                })
                .collect(),
            layers,
        });
    }
    Ok(RemoteDoc {
        title: format!("{}:{}", r.familiar_name(), r.tag_or_latest()),
        name: r.familiar_name(),
        digest: resolved.top.digest,
        manifest_mime: is_index.then(|| resolved.top.media_type.clone()),
        images,
    })
}

/// Which generation of repo-info output to write. The two differ only in the `Platforms:` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Style {
    /// `-\tPlatforms:` with no count, as in the seeds and the 2018 corpus.
    #[default]
    Seeds,
    /// `-\tPlatforms: N`, as repo-info writes since about 2020.
    Current,
}

/// Writes the document text in the seeds' style.
pub fn render(doc: &RemoteDoc) -> String {
    render_styled(doc, Style::Seeds)
}

/// Writes the document text in the given style.
pub fn render_styled(doc: &RemoteDoc, style: Style) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "## `{}`", doc.title);
    let _ = write!(s, "\n```console\n$ docker pull {}@{}\n```\n\n", doc.name, doc.digest);
    if let Some(mime) = &doc.manifest_mime {
        let _ = writeln!(s, "-\tManifest MIME: `{mime}`");
    }
    match style {
        Style::Seeds => s.push_str("-\tPlatforms:\n"),
        Style::Current => {
            let _ = writeln!(s, "-\tPlatforms: {}", doc.images.len());
        }
    }
    for image in &doc.images {
        let _ = writeln!(s, "\t-\t{}", platform_string(&image.platform));
    }
    for image in &doc.images {
        let _ = write!(s, "\n### `{}` - {}\n", doc.title, platform_string(&image.platform));
        if let Some(d) = &image.digest {
            let _ = write!(s, "\n```console\n$ docker pull {}@{d}\n```\n", doc.name);
        }
        s.push('\n');
        if let Some(v) = &image.docker_version {
            let _ = writeln!(s, "-\tDocker Version: {v}");
        }
        let _ = writeln!(s, "-\tManifest MIME: `{}`", image.manifest_mime);
        let total: u64 = image.layers.iter().map(|l| l.size).sum();
        let _ = writeln!(s, "-\tTotal Size: **{}**  ", size_text(total));
        s.push_str("\t(compressed transfer size, not on-disk size)\n");
        let _ = writeln!(s, "-\tImage ID: `{}`", image.image_id);
        if let Some(e) = image.entrypoint.as_ref().filter(|e| !e.is_empty()) {
            let _ = writeln!(s, "-\tEntrypoint: `{}`", json_array(e));
        }
        if let Some(c) = &image.default_command {
            let _ = writeln!(s, "-\tDefault Command: `{}`", json_array(c));
        }
        if let Some(sh) = &image.shell {
            let _ = writeln!(s, "-\t`SHELL`: `{}`", json_array(sh));
        }
        s.push_str("\n```dockerfile\n");
        for h in &image.history {
            let _ = writeln!(s, "# {}", http_date(h.created.unwrap_or(0)));
            let _ = writeln!(s, "{}", history_to_dockerfile(&h.created_by, image.shell.as_deref()));
        }
        s.push_str("```\n\n-\tLayers:\n");
        for l in &image.layers {
            let _ = writeln!(s, "\t-\t`{}`  ", l.digest);
            if let Some(lm) = &l.last_modified {
                let _ = writeln!(s, "\t\tLast Modified: {}  ", normalize_http_date(lm));
            }
            let _ = writeln!(s, "\t\tSize: {}  ", size_text(l.size));
            let _ = writeln!(s, "\t\tMIME: {}", l.media_type);
        }
    }
    s
}

/// `linux; arm variant v7`, `windows version 10.0.16299.125; amd64`.
pub fn platform_string(p: &Platform) -> String {
    let mut s = String::new();
    s.push_str(if p.os.is_empty() { "linux" } else { &p.os });
    if let Some(v) = &p.os_version {
        let _ = write!(s, " version {v}");
    }
    if let Some(f) = &p.os_features {
        let _ = write!(s, " ft. {}", f.join(", "));
    }
    s.push_str("; ");
    s.push_str(if p.architecture.is_empty() {
        "amd64"
    } else {
        &p.architecture
    });
    if let Some(v) = &p.variant {
        let _ = write!(s, " variant {v}");
    }
    if let Some(f) = &p.features {
        let _ = write!(s, " ft. {}", f.join(", "));
    }
    s
}

/// `2.8 MB`, `147.0 B`, in 1000-based units.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut unit = 0;
    while bytes / 1000u64.pow(unit as u32) > 1000 && unit + 1 < UNITS.len() {
        unit += 1;
    }
    format!("{:.1} {}", bytes as f64 / 1000f64.powi(unit as i32), UNITS[unit])
}

/// `2.8 MB (2754728 bytes)`, or just `147.0 B`.
pub fn size_text(bytes: u64) -> String {
    let h = human_size(bytes);
    if h.ends_with(" B") {
        h
    } else {
        format!("{h} ({bytes} bytes)")
    }
}

/// A JSON array of strings the way Mojo::JSON writes it: no spaces, `/` escaped as `\/`, control
/// characters as upper-case `\u00XX`.
pub fn json_array(items: &[String]) -> String {
    let mut s = String::from("[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push('"');
        for c in item.chars() {
            match c {
                '"' => s.push_str("\\\""),
                '\\' => s.push_str("\\\\"),
                '/' => s.push_str("\\/"),
                '\u{8}' => s.push_str("\\b"),
                '\u{c}' => s.push_str("\\f"),
                '\n' => s.push_str("\\n"),
                '\r' => s.push_str("\\r"),
                '\t' => s.push_str("\\t"),
                '\u{2028}' => s.push_str("\\u2028"),
                '\u{2029}' => s.push_str("\\u2029"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(s, "\\u{:04X}", c as u32);
                }
                c => s.push(c),
            }
        }
        s.push('"');
    }
    s.push(']');
    s
}

/// Rewrites a history `created_by` into the instruction repo-info prints.
pub fn history_to_dockerfile(created_by: &str, shell: Option<&[String]>) -> String {
    let mut shells = vec!["/bin/sh -c ".to_string()];
    if let Some(sh) = shell.filter(|s| !s.is_empty()) {
        shells.push(format!("{} ", sh.join(" ")));
    }
    let mut s = created_by.strip_prefix("RUN ").unwrap_or(created_by).to_string();
    let mut prefix = None;
    // `|2 a=1 b=2 /bin/sh -c cmd`: build args recorded before the shell. The args end at the first
    // shell prefix found after the count.
    if let Some(rest) = s.strip_prefix('|') {
        let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
        if digits > 0 && rest[digits..].starts_with(' ') {
            let after = &rest[digits + 1..];
            let found = (0..=after.len())
                .filter(|&i| after.is_char_boundary(i) && after[..i].ends_with(' '))
                .find_map(|i| shells.iter().find(|sh| after[i..].starts_with(sh.as_str())).map(|_| i));
            if let Some(i) = found.filter(|&i| i > 0) {
                prefix = Some(format!("# ARGS: {}", &after[..i - 1]));
                s = after[i..].to_string();
            }
        }
        if prefix.is_none() {
            return format!("# unable to parse image command string further:\n{s}");
        }
    }
    for sh in &shells {
        if let Some(rest) = s.strip_prefix(sh.as_str()) {
            s = rest.to_string();
            break;
        }
    }
    let nop = s
        .strip_prefix("#(nop)")
        .map(|r| r.trim_start_matches(' ').len() < r.len());
    if nop == Some(true) {
        s = s["#(nop)".len()..].trim_start_matches(' ').to_string();
    } else if !starts_with_instruction(&s) {
        s = format!("RUN {s}");
    }
    match prefix {
        Some(p) => format!("{p}\n{s}"),
        None => s,
    }
}

/// An upper-case word followed by a space, as in `COPY file:... in /`.
fn starts_with_instruction(s: &str) -> bool {
    let n = s.chars().take_while(|c| c.is_ascii_uppercase()).count();
    n > 0 && s[n..].starts_with(' ')
}

/// `Wed, 30 Jan 2019 22:19:52 GMT`.
pub fn http_date(epoch_seconds: i64) -> String {
    let t = if epoch_seconds >= 0 {
        UNIX_EPOCH + Duration::from_secs(epoch_seconds as u64)
    } else {
        UNIX_EPOCH
    };
    httpdate::fmt_http_date(t)
}

/// Last-Modified headers are re-printed through the same formatter, as repo-info does (it parses and
/// re-formats them), so any valid HTTP date comes out in RFC 1123 form.
fn normalize_http_date(text: &str) -> String {
    match httpdate::parse_http_date(text) {
        Ok(t) => httpdate::fmt_http_date(t),
        Err(_) => text.to_string(),
    }
}

pub use crate::time::parse_rfc3339;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_the_published_documents() {
        // Every pair below appears in /work/shared/seeds.
        assert_eq!(size_text(2754728), "2.8 MB (2754728 bytes)");
        assert_eq!(size_text(1249), "1.2 KB (1249 bytes)");
        assert_eq!(size_text(147), "147.0 B");
        assert_eq!(size_text(40752666), "40.8 MB (40752666 bytes)");
        assert_eq!(size_text(37996256), "38.0 MB (37996256 bytes)");
        // The unit changes only once the quotient exceeds 1000, so 1000 bytes stay bytes.
        assert_eq!(size_text(1000), "1000.0 B");
        assert_eq!(size_text(1001), "1.0 KB (1001 bytes)");
        assert_eq!(size_text(1_000_999), "1001.0 KB (1000999 bytes)");
        assert_eq!(size_text(2978639203), "3.0 GB (2978639203 bytes)");
        // Exact ties round to even, as C's printf (and so Perl's sprintf) does.
        assert_eq!(size_text(1250), "1.2 KB (1250 bytes)");
        assert_eq!(size_text(1350), "1.4 KB (1350 bytes)");
    }

    #[test]
    fn json_escapes_slashes_like_mojo() {
        assert_eq!(json_array(&["/bin/sh".into()]), r#"["\/bin\/sh"]"#);
        assert_eq!(
            json_array(&["a\"b\\c".into(), "\u{1}".into()]),
            r#"["a\"b\\c","\u0001"]"#
        );
        assert_eq!(json_array(&[]), "[]");
    }

    #[test]
    fn history_lines_become_instructions() {
        let f = |s: &str| history_to_dockerfile(s, None);
        assert_eq!(f("/bin/sh -c #(nop) ADD file:2a1f in / "), "ADD file:2a1f in / ");
        assert_eq!(f("/bin/sh -c #(nop)  CMD [\"/bin/sh\"]"), "CMD [\"/bin/sh\"]");
        assert_eq!(f("/bin/sh -c set -x \t&& addgroup"), "RUN set -x \t&& addgroup");
        assert_eq!(
            f("/bin/sh -c #(nop) WORKDIR /usr/local/apache2"),
            "WORKDIR /usr/local/apache2"
        );
        assert_eq!(f("|1 A=b /bin/sh -c echo $A"), "# ARGS: A=b\nRUN echo $A");
        assert_eq!(f("RUN /bin/sh -c apk add x # buildkit"), "RUN apk add x # buildkit");
        assert_eq!(f("COPY /rootfs/ / # buildkit"), "COPY /rootfs/ / # buildkit");
        assert_eq!(f("|2 a b"), "# unable to parse image command string further:\n|2 a b");
        let ps = vec!["powershell".to_string(), "-Command".to_string()];
        assert_eq!(
            history_to_dockerfile("powershell -Command Write-Host hi", Some(&ps)),
            "RUN Write-Host hi"
        );
    }

    #[test]
    fn dates_are_rfc1123_in_whole_seconds() {
        let t = parse_rfc3339("2019-01-30T22:19:52.123456789Z").unwrap();
        assert_eq!(http_date(t), "Wed, 30 Jan 2019 22:19:52 GMT");
        assert_eq!(
            normalize_http_date("Wed, 30 Jan 2019 22:21:08 GMT"),
            "Wed, 30 Jan 2019 22:21:08 GMT"
        );
    }

    #[test]
    fn platforms_read_like_repo_info() {
        let p = |arch: &str, variant: Option<&str>| Platform {
            os: "linux".into(),
            architecture: arch.into(),
            variant: variant.map(Into::into),
            ..Platform::default()
        };
        assert_eq!(platform_string(&p("arm", Some("v7"))), "linux; arm variant v7");
        assert_eq!(platform_string(&p("386", None)), "linux; 386");
        let w = Platform {
            os: "windows".into(),
            architecture: "amd64".into(),
            os_version: Some("10.0.16299.125".into()),
            ..Platform::default()
        };
        assert_eq!(platform_string(&w), "windows version 10.0.16299.125; amd64");
    }
}
