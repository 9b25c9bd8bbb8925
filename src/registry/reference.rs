//! Image references the way `docker pull` reads them: `[registry/]repository[:tag][@digest]`, where a
//! first component with a dot, a colon or equal to `localhost` names the registry and everything
//! else lives on Docker Hub (with `library/` for single-component names).

use std::fmt;
use std::str::FromStr;

use super::error::RegistryError;
use crate::digest::Digest;

/// Docker Hub's name in references, and the host its API actually answers on.
pub const DOCKER_HUB: &str = "docker.io";
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// `docker.io`, `127.0.0.1:5000`, `ghcr.io`...
    pub registry: String,
    /// `library/httpd`, `retrace/demo`...
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl Reference {
    /// The host (and port) the distribution API answers on.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// Plain HTTP is used for loopback registries only (as Docker does by default); everything else
    /// is HTTPS. `RETRACE_PLAIN_HTTP=host:port,...` adds more plain-HTTP registries.
    pub fn scheme(&self) -> &'static str {
        let host = self
            .registry
            .rsplit_once(':')
            .map_or(self.registry.as_str(), |(h, _)| h);
        let loopback = host == "localhost" || host.starts_with("127.") || host == "[::1]";
        let listed = std::env::var("RETRACE_PLAIN_HTTP")
            .map(|v| v.split(',').any(|h| h.trim() == self.registry))
            .unwrap_or(false);
        if loopback || listed {
            "http"
        } else {
            "https"
        }
    }

    /// `https://registry-1.docker.io/v2/library/httpd`
    pub fn api_base(&self) -> String {
        format!("{}://{}/v2/{}", self.scheme(), self.api_host(), self.repository)
    }

    /// The name as repo-info and `docker pull` print it: `httpd` for official images, the registry
    /// and full path otherwise.
    pub fn familiar_name(&self) -> String {
        if self.registry == DOCKER_HUB {
            self.repository
                .strip_prefix("library/")
                .unwrap_or(&self.repository)
                .to_string()
        } else {
            format!("{}/{}", self.registry, self.repository)
        }
    }

    /// The tag, or `latest` when the reference has neither tag nor digest.
    pub fn tag_or_latest(&self) -> &str {
        self.tag.as_deref().unwrap_or("latest")
    }

    /// What to put after `/manifests/`: the digest when there is one (it pins the content), else the tag.
    pub fn manifest_reference(&self) -> String {
        match &self.digest {
            Some(d) => d.to_string(),
            None => self.tag_or_latest().to_string(),
        }
    }

    /// The same repository at another digest (a platform's manifest, a blob).
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            digest: Some(digest),
            ..self.clone()
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.familiar_name())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = RegistryError;

    fn from_str(text: &str) -> Result<Reference, RegistryError> {
        let err = |reason| RegistryError::Reference {
            text: text.to_string(),
            reason,
        };
        let (rest, digest) = match text.split_once('@') {
            Some((rest, d)) => (
                rest,
                Some(d.parse::<Digest>().map_err(|_| err("bad digest after `@`"))?),
            ),
            None => (text, None),
        };
        // The tag is after the last colon that follows the last slash, so `host:5000/name` has none.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag {
            let ok = !tag.is_empty()
                && tag.len() <= 128
                && tag.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
                && !tag.starts_with(['.', '-']);
            if !ok {
                return Err(err(
                    "a tag is 1-128 characters of [A-Za-z0-9_.-], not starting with . or -",
                ));
            }
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, path)) if first.contains(['.', ':']) || first == "localhost" => {
                (first.to_string(), path.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        if registry
            .chars()
            .any(|c| !(c.is_ascii_alphanumeric() || ".-:[]".contains(c)))
        {
            return Err(err("bad registry host"));
        }
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        let component_ok = |c: &str| {
            !c.is_empty()
                && c.chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "._-".contains(ch))
                && c.starts_with(|ch: char| ch.is_ascii_alphanumeric())
                && c.ends_with(|ch: char| ch.is_ascii_alphanumeric())
        };
        if !repository.split('/').all(component_ok) {
            return Err(err("a repository is lowercase path components of [a-z0-9._-]"));
        }
        Ok(Reference {
            registry,
            repository,
            tag: tag.map(str::to_string),
            digest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_names_get_library_and_the_api_host() {
        let r: Reference = "httpd:2-alpine".parse().unwrap();
        assert_eq!(r.registry, "docker.io");
        assert_eq!(r.repository, "library/httpd");
        assert_eq!(r.tag.as_deref(), Some("2-alpine"));
        assert_eq!(r.api_base(), "https://registry-1.docker.io/v2/library/httpd");
        assert_eq!(r.to_string(), "httpd:2-alpine");
        let r: Reference = "tianon/true".parse().unwrap();
        assert_eq!(r.repository, "tianon/true");
        assert_eq!(r.tag_or_latest(), "latest");
    }

    #[test]
    fn a_port_is_not_a_tag() {
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let r: Reference = format!("127.0.0.1:5000/retrace/demo@{d}").parse().unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "retrace/demo");
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.unwrap().to_string(), d);
        assert_eq!(r.scheme(), "http");
        assert_eq!(r.manifest_reference(), d);
        let r: Reference = "localhost:5000/x:v1".parse().unwrap();
        assert_eq!((r.registry.as_str(), r.tag.as_deref()), ("localhost:5000", Some("v1")));
    }

    #[test]
    fn bad_references_are_refused_with_the_reason() {
        for bad in ["Httpd:1", "httpd:", "httpd:-x", "httpd@sha256:00", "a//b", "x/"] {
            assert!(bad.parse::<Reference>().is_err(), "{bad}");
        }
    }
}
