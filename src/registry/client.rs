//! The HTTP side of the OCI distribution API, on a blocking `reqwest` client (rustls, no OpenSSL).
//!
//! Every request goes through [`Client::send`], which adds the cached `Authorization` header, answers
//! a 401 challenge once (Bearer token from the realm, or Basic with stored credentials), and retries
//! connection failures, 429 and 5xx with exponential backoff. Blob downloads are resumable: bytes go
//! to `tmp/<hex>.partial` in the store, an interrupted transfer continues with `Range: bytes=N-`, and
//! the blob is renamed into `blobs/` only once the whole content hashes to its digest.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::blocking::{RequestBuilder, Response};
use reqwest::header::{
    HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LAST_MODIFIED, LOCATION, RANGE,
    WWW_AUTHENTICATE,
};
use reqwest::{Method, StatusCode};

use super::auth::{Challenge, Credentials};
use super::error::{RegistryError, Result};
use super::manifest::{FetchedManifest, MANIFEST_ACCEPT, MAX_MANIFEST_BYTES};
use super::reference::Reference;
use super::store::{BlobMeta, Store};
use crate::digest::{Digest, DigestWriter};

/// The largest token server answer read; real ones are a few KiB.
pub const MAX_TOKEN_BYTES: usize = 1 << 20;

#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub credentials: Credentials,
    /// Attempts per request (connection failures, 429, 5xx) and per blob download (interruptions).
    pub attempts: u32,
    /// The first retry waits this long; each further one waits twice as long.
    pub backoff: Duration,
    /// Limit for connecting and for each read or write; a stalled transfer fails after this and is
    /// resumed by the next attempt.
    pub timeout: Duration,
    /// Limit for one whole exchange whose body is read into memory (manifest, config, token): a
    /// server that drips its answer a byte at a time never trips `timeout`, so this bounds the total.
    pub request_deadline: Duration,
    /// Limit for one whole blob download, all attempts and resumes together.
    pub blob_deadline: Duration,
    /// A blob transfer averaging fewer bytes per second than this once `rate_grace` has passed is
    /// abandoned: a server dripping bytes would otherwise hold the download until `blob_deadline`.
    pub min_blob_rate: u64,
    pub rate_grace: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            credentials: Credentials::default(),
            attempts: 5,
            backoff: Duration::from_millis(500),
            timeout: Duration::from_secs(60),
            request_deadline: Duration::from_secs(60),
            blob_deadline: Duration::from_secs(3600),
            min_blob_rate: 16 << 10,
            rate_grace: Duration::from_secs(30),
        }
    }
}

impl ClientOptions {
    /// Defaults plus the credentials of the Docker client's `config.json`.
    pub fn from_environment() -> Result<ClientOptions> {
        let credentials = match Credentials::default_path() {
            Some(p) => Credentials::load(&p)?,
            None => Credentials::default(),
        };
        Ok(ClientOptions {
            credentials,
            ..ClientOptions::default()
        })
    }
}

/// What a blob HEAD says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlobHead {
    pub size: Option<u64>,
    pub media_type: Option<String>,
    pub last_modified: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Pull,
    Push,
}

pub struct Client {
    http: reqwest::blocking::Client,
    opts: ClientOptions,
    /// `Authorization` header values by registry and scope, so a token is fetched once per repository.
    /// A panic while the map was held leaves it usable (a plain cache), so a poisoned lock is taken.
    auth: Mutex<HashMap<String, String>>,
}

impl Client {
    pub fn new(opts: ClientOptions) -> Result<Client> {
        let http = reqwest::blocking::Client::builder()
            .user_agent(concat!("retrace/", env!("CARGO_PKG_VERSION")))
            .timeout(opts.timeout)
            .connect_timeout(opts.timeout)
            .build()
            .map_err(|source| RegistryError::HttpClient { source })?;
        Ok(Client {
            http,
            opts,
            auth: Mutex::new(HashMap::new()),
        })
    }

    fn scope(r: &Reference, access: Access) -> String {
        match access {
            Access::Pull => format!("repository:{}:pull", r.repository),
            Access::Push => format!("repository:{}:pull,push", r.repository),
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        self.opts.backoff.saturating_mul(1 << attempt.saturating_sub(1).min(10))
    }

    /// Sends a request with authentication and retries. Returns the first response that is neither a
    /// retryable failure nor a challenge; the caller judges its status.
    pub fn send(
        &self,
        r: &Reference,
        access: Access,
        method: Method,
        url: &str,
        build: &dyn Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response> {
        let method_name = method_name(&method);
        let key = format!("{} {}", r.registry, Client::scope(r, access));
        let mut attempt = 0;
        let mut answered_challenge = false;
        loop {
            attempt += 1;
            let mut req = self.http.request(method.clone(), url);
            if let Some(h) = self.auth.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
                req = req.header(AUTHORIZATION, h.as_str());
            }
            let resp = match build(req).send() {
                Ok(resp) => resp,
                Err(e) => {
                    if e.is_timeout() && attempt >= self.opts.attempts {
                        return Err(RegistryError::Timeout {
                            method: method_name,
                            url: url.to_string(),
                            what: "per-read timeout",
                            seconds: self.opts.timeout.as_secs(),
                        });
                    }
                    // A host that does not resolve will not resolve a moment later either (an
                    // offline machine): retrying would only make every caller wait out the backoff.
                    if attempt >= self.opts.attempts || unresolvable(&e) {
                        return Err(RegistryError::Transport {
                            method: method_name,
                            url: url.to_string(),
                            message: error_chain(&e),
                            attempts: attempt,
                        });
                    }
                    std::thread::sleep(self.backoff(attempt));
                    continue;
                }
            };
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED {
                if answered_challenge {
                    let message = error_message(resp);
                    return Err(RegistryError::Auth {
                        url: url.to_string(),
                        message: format!("still HTTP 401 after authenticating{}", with_colon(&message)),
                    });
                }
                let challenge = resp
                    .headers()
                    .get(WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(Challenge::parse)
                    .ok_or_else(|| RegistryError::Auth {
                        url: url.to_string(),
                        message: "HTTP 401 without a usable WWW-Authenticate challenge".to_string(),
                    })?;
                let header = self.answer_challenge(r, access, &challenge, url)?;
                self.auth
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key.clone(), header);
                answered_challenge = true;
                // Answering the challenge is part of the protocol, not a failed attempt.
                attempt -= 1;
                continue;
            }
            let retryable = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
            if retryable && attempt < self.opts.attempts {
                std::thread::sleep(self.backoff(attempt));
                continue;
            }
            return Ok(resp);
        }
    }

    /// Gets the `Authorization` value a challenge asks for.
    fn answer_challenge(&self, r: &Reference, access: Access, challenge: &Challenge, url: &str) -> Result<String> {
        let cred = self.opts.credentials.for_registry(&r.registry);
        match challenge {
            Challenge::Basic => cred.map(|c| c.basic_header()).ok_or_else(|| RegistryError::Auth {
                url: url.to_string(),
                message: format!(
                    "the registry asks for a user name and password and the Docker config has none for {}",
                    r.registry
                ),
            }),
            Challenge::Bearer { realm, service, scope } => {
                let ours = Client::scope(r, access);
                let mut query: Vec<(&str, &str)> = Vec::new();
                if let Some(s) = service {
                    query.push(("service", s));
                }
                // Ask for the scope the registry named, and ours when it differs (a push needs both).
                if let Some(s) = scope {
                    query.push(("scope", s));
                }
                if scope.as_deref() != Some(ours.as_str()) {
                    query.push(("scope", &ours));
                }
                let mut last_error = String::new();
                for attempt in 1..=self.opts.attempts {
                    let mut req = self.http.get(realm.as_str()).query(&query);
                    if let Some(c) = cred {
                        req = req.header(AUTHORIZATION, c.basic_header());
                    }
                    match req.send() {
                        Ok(resp) if resp.status().is_success() => {
                            let bytes = self.read_limited(resp, "token response", MAX_TOKEN_BYTES, realm)?;
                            let body: serde_json::Value =
                                serde_json::from_slice(&bytes).map_err(|e| RegistryError::Auth {
                                    url: realm.clone(),
                                    message: format!("token response is not JSON: {}", crate::error::Chain(&e)),
                                })?;
                            let token = body
                                .get("token")
                                .or_else(|| body.get("access_token"))
                                .and_then(|t| t.as_str())
                                .filter(|t| !t.is_empty())
                                .ok_or_else(|| RegistryError::Auth {
                                    url: realm.clone(),
                                    message: "token response has neither `token` nor `access_token`".to_string(),
                                })?;
                            return Ok(format!("Bearer {token}"));
                        }
                        Ok(resp) if resp.status().is_client_error() => {
                            let status = resp.status().as_u16();
                            let message = error_message(resp);
                            return Err(RegistryError::Auth {
                                url: realm.clone(),
                                message: format!("token server answered HTTP {status}{}", with_colon(&message)),
                            });
                        }
                        Ok(resp) => last_error = format!("HTTP {}", resp.status().as_u16()),
                        Err(e) if e.is_timeout() => {
                            return Err(RegistryError::Timeout {
                                method: "GET",
                                url: realm.clone(),
                                what: "per-read timeout",
                                seconds: self.opts.timeout.as_secs(),
                            })
                        }
                        Err(e) => last_error = error_chain(&e),
                    }
                    if attempt < self.opts.attempts {
                        std::thread::sleep(self.backoff(attempt));
                    }
                }
                Err(RegistryError::Auth {
                    url: realm.clone(),
                    message: last_error,
                })
            }
        }
    }

    /// Fetches a manifest by tag or digest. When the reference pins a digest, the bytes must hash to
    /// it; a registry's `Docker-Content-Digest` header must agree with the bytes too.
    pub fn manifest(&self, r: &Reference) -> Result<FetchedManifest> {
        let url = format!("{}/manifests/{}", r.api_base(), r.manifest_reference());
        let resp = self.send(r, Access::Pull, Method::GET, &url, &|b| {
            b.header(ACCEPT, MANIFEST_ACCEPT)
        })?;
        let resp = expect_success(resp, "GET", &url)?;
        let content_type = header_string(resp.headers(), CONTENT_TYPE.as_str());
        let served_digest =
            header_string(resp.headers(), "docker-content-digest").and_then(|d| d.parse::<Digest>().ok());
        let bytes = self.read_limited(resp, "manifest", MAX_MANIFEST_BYTES, &url)?;
        let found = Digest::of(&bytes);
        for expected in r.digest.iter().chain(served_digest.iter()) {
            if *expected != found {
                return Err(RegistryError::DigestMismatch {
                    what: "manifest",
                    expected: *expected,
                    found,
                    url,
                    size: bytes.len() as u64,
                });
            }
        }
        FetchedManifest::parse(bytes, content_type.as_deref(), &url)
    }

    /// HEAD of a blob: its size, type and `Last-Modified`, as repo-info reports them.
    pub fn head_blob(&self, r: &Reference, d: &Digest) -> Result<BlobHead> {
        let url = format!("{}/blobs/{d}", r.api_base());
        let resp = self.send(r, Access::Pull, Method::HEAD, &url, &|b| b)?;
        let resp = expect_success(resp, "HEAD", &url)?;
        let h = resp.headers();
        Ok(BlobHead {
            size: header_string(h, CONTENT_LENGTH.as_str()).and_then(|s| s.parse().ok()),
            media_type: header_string(h, CONTENT_TYPE.as_str()),
            last_modified: header_string(h, LAST_MODIFIED.as_str()),
        })
    }

    /// A small blob (a config) in memory, verified.
    pub fn blob_bytes(&self, r: &Reference, d: &Digest, limit: usize) -> Result<Vec<u8>> {
        let url = format!("{}/blobs/{d}", r.api_base());
        let resp = self.send(r, Access::Pull, Method::GET, &url, &|b| b)?;
        let resp = expect_success(resp, "GET", &url)?;
        let bytes = self.read_limited(resp, "blob", limit, &url)?;
        let found = Digest::of(&bytes);
        if found != *d {
            return Err(RegistryError::DigestMismatch {
                what: "blob",
                expected: *d,
                found,
                url,
                size: bytes.len() as u64,
            });
        }
        Ok(bytes)
    }

    /// Downloads a blob into the store (resuming a partial download left by an earlier attempt or
    /// run) and returns what the registry said about it. The blob is stored only if its bytes hash to
    /// `d`; on a mismatch the partial file is deleted, so the next try starts clean.
    pub fn fetch_blob(&self, r: &Reference, d: &Digest, expected_size: Option<u64>, store: &Store) -> Result<BlobMeta> {
        let url = format!("{}/blobs/{d}", r.api_base());
        let partial = store.partial_path(d)?;
        let mut last_error = String::new();
        let until = Instant::now() + self.opts.blob_deadline;
        for attempt in 1..=self.opts.attempts {
            if Instant::now() >= until {
                break;
            }
            let transfer = Transfer {
                url: &url,
                partial: &partial,
                until,
            };
            match self.fetch_attempt(r, d, expected_size, store, &transfer)? {
                Attempt::Done(meta) => return Ok(meta),
                Attempt::Interrupted(why) => last_error = why,
            }
            if attempt < self.opts.attempts {
                std::thread::sleep(self.backoff(attempt));
            }
        }
        if Instant::now() >= until {
            return Err(RegistryError::Timeout {
                method: "GET",
                url,
                what: "download deadline",
                seconds: self.opts.blob_deadline.as_secs(),
            });
        }
        Err(RegistryError::Transport {
            method: "GET",
            url,
            message: format!("download kept being interrupted: {last_error}"),
            attempts: self.opts.attempts,
        })
    }

    fn fetch_attempt(
        &self,
        r: &Reference,
        d: &Digest,
        expected_size: Option<u64>,
        store: &Store,
        transfer: &Transfer<'_>,
    ) -> Result<Attempt> {
        let Transfer { url, partial, until } = *transfer;
        let have = fs::metadata(partial).map(|m| m.len()).unwrap_or(0);
        let resp = self.send(r, Access::Pull, Method::GET, url, &|b| {
            if have > 0 {
                b.header(RANGE, format!("bytes={have}-"))
            } else {
                b
            }
        })?;
        let status = resp.status();
        let resumed = match status {
            StatusCode::PARTIAL_CONTENT if have > 0 => {
                // Only a range that starts exactly where the partial file ends can be appended.
                let start = header_string(resp.headers(), CONTENT_RANGE.as_str()).and_then(|v| {
                    v.strip_prefix("bytes ")
                        .and_then(|v| v.split('-').next())
                        .and_then(|s| s.parse::<u64>().ok())
                });
                if start != Some(have) {
                    let _ = fs::remove_file(partial);
                    return Ok(Attempt::Interrupted(format!(
                        "unusable Content-Range {start:?} for offset {have}"
                    )));
                }
                true
            }
            StatusCode::RANGE_NOT_SATISFIABLE => {
                let _ = fs::remove_file(partial);
                return Ok(Attempt::Interrupted("range not satisfiable; restarting".to_string()));
            }
            s if s.is_success() => false,
            _ => {
                expect_success(resp, "GET", url)?;
                unreachable!("expect_success returns Err for a failure status");
            }
        };
        let last_modified = header_string(resp.headers(), LAST_MODIFIED.as_str());
        let media_type = header_string(resp.headers(), CONTENT_TYPE.as_str());

        // The hash covers the whole blob, so a resumed download first hashes what is already there.
        let mut file = fs::OpenOptions::new()
            .create(true)
            .append(resumed)
            .write(true)
            .truncate(!resumed)
            .open(partial)
            .map_err(|e| RegistryError::io(partial, e))?;
        let mut writer = DigestWriter::new(io::sink());
        if resumed {
            let mut old = fs::File::open(partial).map_err(|e| RegistryError::io(partial, e))?;
            io::copy(&mut old, &mut writer).map_err(|e| RegistryError::io(partial, e))?;
        }
        let mut body = Deadline::new(resp, until).with_floor(self.opts.min_blob_rate, self.opts.rate_grace);
        if let Some(interrupted) = self.receive(&mut body, &mut file, &mut writer, transfer, d, expected_size)? {
            return Ok(interrupted);
        }
        file.flush().map_err(|e| RegistryError::io(partial, e))?;
        drop(file);
        let size = commit_verified(store, transfer, d, expected_size, writer)?;
        let meta = BlobMeta {
            size,
            media_type,
            last_modified,
        };
        Ok(Attempt::Done(meta))
    }

    /// Appends the body to the partial file and the hash, up to the expected size. An
    /// interruption keeps what arrived (the next attempt asks for the rest) and is returned as the
    /// attempt's outcome; `None` means the body ended.
    fn receive(
        &self,
        body: &mut Deadline<Response>,
        file: &mut fs::File,
        writer: &mut DigestWriter<io::Sink>,
        transfer: &Transfer<'_>,
        d: &Digest,
        expected_size: Option<u64>,
    ) -> Result<Option<Attempt>> {
        let Transfer { url, partial, .. } = *transfer;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    // Keep what arrived: the next attempt asks for the rest.
                    file.flush().map_err(|e| RegistryError::io(partial, e))?;
                    if body.slow {
                        return Err(RegistryError::TooSlow {
                            method: "GET",
                            url: url.to_string(),
                            floor: self.opts.min_blob_rate,
                            grace: self.opts.rate_grace.as_secs(),
                        });
                    }
                    return Ok(Some(Attempt::Interrupted(crate::error::chain(&e))));
                }
            };
            if let Some(limit) = expected_size {
                if writer.len() + n as u64 > limit {
                    let _ = fs::remove_file(partial);
                    return Err(RegistryError::TooLarge {
                        what: "blob",
                        digest: *d,
                        url: url.to_string(),
                        expected: limit,
                    });
                }
            }
            file.write_all(&buf[..n]).map_err(|e| RegistryError::io(partial, e))?;
            // The hasher writes into `io::sink`, which never fails.
            writer.write_all(&buf[..n]).expect("hashing into a sink cannot fail");
        }
        Ok(None)
    }

    /// Uploads a blob (monolithic upload: POST for a session, PUT with the digest) unless the
    /// registry has it already.
    pub fn push_blob(&self, r: &Reference, bytes: &[u8]) -> Result<Digest> {
        let d = Digest::of(bytes);
        let head_url = format!("{}/blobs/{d}", r.api_base());
        let resp = self.send(r, Access::Push, Method::HEAD, &head_url, &|b| b)?;
        if resp.status().is_success() {
            return Ok(d);
        }
        let start_url = format!("{}/blobs/uploads/", r.api_base());
        let resp = self.send(r, Access::Push, Method::POST, &start_url, &|b| {
            b.header(CONTENT_LENGTH, "0")
        })?;
        let resp = expect_success(resp, "POST", &start_url)?;
        let location = header_string(resp.headers(), LOCATION.as_str()).ok_or_else(|| RegistryError::Status {
            method: "POST",
            url: start_url.clone(),
            status: resp.status().as_u16(),
            message: "no Location header for the upload".to_string(),
        })?;
        let location = absolute_url(&start_url, &location);
        let sep = if location.contains('?') { '&' } else { '?' };
        let put_url = format!("{location}{sep}digest={d}");
        let body = bytes.to_vec();
        let resp = self.send(r, Access::Push, Method::PUT, &put_url, &|b| {
            b.header(CONTENT_TYPE, "application/octet-stream").body(body.clone())
        })?;
        expect_success(resp, "PUT", &put_url)?;
        Ok(d)
    }

    /// Uploads a manifest under a tag (or its digest) and returns its digest.
    pub fn push_manifest(&self, r: &Reference, tag: &str, media_type: &str, bytes: &[u8]) -> Result<Digest> {
        let d = Digest::of(bytes);
        let url = format!("{}/manifests/{tag}", r.api_base());
        let body = bytes.to_vec();
        let resp = self.send(r, Access::Push, Method::PUT, &url, &|b| {
            b.header(CONTENT_TYPE, media_type).body(body.clone())
        })?;
        let resp = expect_success(resp, "PUT", &url)?;
        if let Some(served) =
            header_string(resp.headers(), "docker-content-digest").and_then(|s| s.parse::<Digest>().ok())
        {
            if served != d {
                return Err(RegistryError::DigestMismatch {
                    what: "pushed manifest",
                    expected: d,
                    found: served,
                    url,
                    size: bytes.len() as u64,
                });
            }
        }
        Ok(d)
    }
}

/// Moves a complete download into the store once it hashes to `d` and has the descriptor's size;
/// a file failing either check is deleted, so it is never resumed nor stored. Returns its size.
fn commit_verified(
    store: &Store,
    transfer: &Transfer<'_>,
    d: &Digest,
    expected_size: Option<u64>,
    hashed: DigestWriter<io::Sink>,
) -> Result<u64> {
    let (found, size, _) = hashed.finish();
    if found == *d && expected_size.is_some_and(|e| e != size) {
        let _ = fs::remove_file(transfer.partial);
        return Err(RegistryError::SizeMismatch {
            what: "blob",
            digest: *d,
            expected: expected_size.unwrap_or(0),
            found: size,
        });
    }
    if found != *d {
        let _ = fs::remove_file(transfer.partial);
        return Err(RegistryError::DigestMismatch {
            what: "blob",
            expected: *d,
            found,
            url: transfer.url.to_string(),
            size,
        });
    }
    store.commit(transfer.partial, d)?;
    Ok(size)
}

/// Where one blob download goes, and until when it may take.
#[derive(Clone, Copy)]
struct Transfer<'a> {
    url: &'a str,
    partial: &'a std::path::Path,
    until: Instant,
}

enum Attempt {
    Done(BlobMeta),
    Interrupted(String),
}

fn method_name(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        _ => "request",
    }
}

fn header_string(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(|s| s.trim().to_string())
}

/// The registry's error text (`{"errors":[{"code":...,"message":...}]}`), shortened, for messages.
fn error_message(resp: Response) -> String {
    let mut text = String::new();
    // Only a courtesy for the message: a server dripping it is not waited on for long.
    let until = Instant::now() + Duration::from_secs(10);
    let _ = Deadline::new(resp, until).take(4096).read_to_string(&mut text);
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
        if let Some(errors) = v.get("errors").and_then(|e| e.as_array()) {
            let parts: Vec<String> = errors
                .iter()
                .map(|e| {
                    let code = e.get("code").and_then(|c| c.as_str()).unwrap_or("");
                    let msg = e.get("message").and_then(|c| c.as_str()).unwrap_or("");
                    format!("{code} {msg}").trim().to_string()
                })
                .collect();
            return parts.join("; ");
        }
    }
    text.chars().take(200).collect::<String>().trim().to_string()
}

fn with_colon(s: &str) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!(": {s}")
    }
}

fn expect_success(resp: Response, method: &'static str, url: &str) -> Result<Response> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    Err(RegistryError::Status {
        method,
        url: url.to_string(),
        status: status.as_u16(),
        message: error_message(resp),
    })
}

/// A body reader that fails with `TimedOut` once its deadline has passed, or, with a floor, once
/// its average rate after the grace period is below the floor (and then says so in `slow`). Each
/// read is also bounded by the client's per-read timeout, so a limit is overshot by at most that.
struct Deadline<R> {
    inner: R,
    until: Instant,
    started: Instant,
    read: u64,
    /// Bytes per second, and the time before it applies.
    floor: Option<(u64, Duration)>,
    slow: bool,
}

impl<R> Deadline<R> {
    fn new(inner: R, until: Instant) -> Deadline<R> {
        Deadline {
            inner,
            until,
            started: Instant::now(),
            read: 0,
            floor: None,
            slow: false,
        }
    }

    fn with_floor(self, rate: u64, grace: Duration) -> Deadline<R> {
        Deadline {
            floor: Some((rate, grace)),
            ..self
        }
    }
}

impl<R: Read> Read for Deadline<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if Instant::now() >= self.until {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"));
        }
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if let Some((rate, grace)) = self.floor {
            let elapsed = self.started.elapsed();
            if elapsed > grace && (self.read as f64) < rate as f64 * elapsed.as_secs_f64() {
                self.slow = true;
                return Err(io::Error::new(io::ErrorKind::TimedOut, "transfer too slow"));
            }
        }
        Ok(n)
    }
}

impl Client {
    /// Reads a body that is kept in memory, refusing more than `limit` bytes or more time than the
    /// request deadline.
    fn read_limited(&self, resp: Response, what: &'static str, limit: usize, url: &str) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        let until = Instant::now() + self.opts.request_deadline;
        Deadline::new(resp, until)
            .take(limit as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| match e.kind() {
                io::ErrorKind::TimedOut => {
                    let (what, limit) = if Instant::now() >= until {
                        ("request deadline", self.opts.request_deadline)
                    } else {
                        ("per-read timeout", self.opts.timeout)
                    };
                    RegistryError::Timeout {
                        method: "GET",
                        url: url.to_string(),
                        what,
                        seconds: limit.as_secs(),
                    }
                }
                _ => RegistryError::Transport {
                    method: "GET",
                    url: url.to_string(),
                    message: crate::error::chain(&e),
                    attempts: 1,
                },
            })?;
        if bytes.len() > limit {
            return Err(RegistryError::BodyTooLarge {
                what,
                url: url.to_string(),
                limit: limit as u64,
            });
        }
        Ok(bytes)
    }
}

/// Resolves an upload `Location`, which registries may send relative to the request.
fn absolute_url(base: &str, location: &str) -> String {
    match reqwest::Url::parse(base).and_then(|b| b.join(location)) {
        Ok(u) => u.to_string(),
        Err(_) => location.to_string(),
    }
}

/// The error and its causes on one line: reqwest's top-level message alone ("error sending
/// request") hides the useful part ("connection refused").
/// Whether a request failed because its host name does not resolve.
fn unresolvable(e: &reqwest::Error) -> bool {
    e.is_connect() && error_chain(e).contains("dns error")
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    crate::error::chain(e)
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
