//! Registry authentication: credentials from the Docker client's `config.json` and the challenge a
//! registry sends with a 401 (`WWW-Authenticate: Bearer realm=...,service=...,scope=...` or `Basic`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use super::error::RegistryError;
use super::reference::DOCKER_HUB;

/// A user name and password (or token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a password, not even in a debug dump.
        write!(f, "Credential {{ username: {:?}, password: <hidden> }}", self.username)
    }
}

impl Credential {
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
    }
}

/// Credentials by registry host, as read from a Docker `config.json`.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    by_host: HashMap<String, Credential>,
}

impl Credentials {
    /// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
    pub fn default_path() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
            return Some(PathBuf::from(dir).join("config.json"));
        }
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json"))
    }

    /// Reads a Docker `config.json`. A missing file means "no credentials", not an error; a file that
    /// is there but unreadable is an error, since silently pulling anonymously would hide it.
    /// Credential helpers (`credsStore`, `credHelpers`) are not consulted.
    pub fn load(path: &Path) -> Result<Credentials, RegistryError> {
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Credentials::default()),
            Err(e) => return Err(RegistryError::io(path, e)),
        };
        Credentials::from_json(&text, &path.display().to_string())
    }

    pub fn from_json(text: &[u8], what: &str) -> Result<Credentials, RegistryError> {
        let json_err = |message: String| RegistryError::Credentials {
            what: what.to_string(),
            message,
        };
        let value: serde_json::Value = serde_json::from_slice(text).map_err(|source| RegistryError::Json {
            what: what.to_string(),
            source,
        })?;
        let mut by_host = HashMap::new();
        let Some(auths) = value.get("auths").and_then(|a| a.as_object()) else {
            return Ok(Credentials { by_host });
        };
        for (key, entry) in auths {
            let cred = if let Some(auth) = entry.get("auth").and_then(|a| a.as_str()).filter(|a| !a.is_empty()) {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(auth.trim())
                    .map_err(|e| json_err(format!("auths.{key}.auth is not base64: {}", crate::error::Chain(&e))))?;
                let raw = String::from_utf8(raw).map_err(|_| json_err(format!("auths.{key}.auth is not UTF-8")))?;
                let (user, pass) = raw
                    .split_once(':')
                    .ok_or_else(|| json_err(format!("auths.{key}.auth does not decode to user:password")))?;
                Credential {
                    username: user.to_string(),
                    password: pass.to_string(),
                }
            } else if let (Some(u), Some(p)) = (
                entry.get("username").and_then(|v| v.as_str()),
                entry.get("password").and_then(|v| v.as_str()),
            ) {
                Credential {
                    username: u.to_string(),
                    password: p.to_string(),
                }
            } else {
                continue;
            };
            by_host.insert(normalize_host(key), cred);
        }
        Ok(Credentials { by_host })
    }

    /// The credential for a registry as named in references (`docker.io`, `127.0.0.1:5000`).
    pub fn for_registry(&self, registry: &str) -> Option<&Credential> {
        self.by_host.get(registry)
    }

    pub fn insert(&mut self, registry: &str, cred: Credential) {
        self.by_host.insert(normalize_host(registry), cred);
    }
}

/// `https://index.docker.io/v1/`, `registry-1.docker.io` and `docker.io` all mean Docker Hub; other
/// keys may carry a scheme and a path that the reference does not.
fn normalize_host(key: &str) -> String {
    let host = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = host.split('/').next().unwrap_or(host);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => DOCKER_HUB.to_string(),
        other => other.to_string(),
    }
}

/// A parsed `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
    Basic,
}

impl Challenge {
    /// Parses `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="..."`.
    /// Quoted values may contain commas (scopes like `repository:x:pull,push` do), so this is a small
    /// scanner rather than a split on commas.
    pub fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Some(Challenge::Basic);
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let params = parse_params(rest);
        let get = |k: &str| {
            params
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
        };
        Some(Challenge::Bearer {
            realm: get("realm")?,
            service: get("service"),
            scope: get("scope"),
        })
    }
}

fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while matches!(chars.peek(), Some(c) if *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if chars.next().is_none() {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            value.push(n)
                        }
                    }
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((key.trim().to_string(), value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_keep_commas_inside_quotes() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/httpd:pull,push""#,
        )
        .unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/httpd:pull,push".into()),
            }
        );
        assert_eq!(Challenge::parse(r#"Basic realm="Registry""#), Some(Challenge::Basic));
        assert_eq!(Challenge::parse("Negotiate"), None);
    }

    #[test]
    fn docker_config_auths_decode_and_hub_aliases_unify() {
        // "dXNlcjpwYXNz" is base64 for "user:pass".
        let json = br#"{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNz"},
            "127.0.0.1:5000":{"username":"u","password":"p"},"ghcr.io":{}}}"#;
        let c = Credentials::from_json(json, "config.json").unwrap();
        let hub = c.for_registry("docker.io").unwrap();
        assert_eq!((hub.username.as_str(), hub.password.as_str()), ("user", "pass"));
        assert_eq!(hub.basic_header(), "Basic dXNlcjpwYXNz");
        assert_eq!(c.for_registry("127.0.0.1:5000").unwrap().username, "u");
        assert!(c.for_registry("ghcr.io").is_none());
        assert!(!format!("{hub:?}").contains("pass\""));
        let bad = Credentials::from_json(br#"{"auths":{"x.io":{"auth":"!!"}}}"#, "config.json").unwrap_err();
        assert!(bad.to_string().contains("auths.x.io.auth"), "{bad}");
    }
}
