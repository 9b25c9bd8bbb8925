//! The client against an in-process HTTP server that plays a registry, a token server, a flaky
//! network and a corrupting mirror. These run the real request code; only the far end is scripted.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::*;
use crate::registry::auth::Credentials;
use crate::registry::manifest::DOCKER_MANIFEST_V2;
use crate::registry::testserver::{Reply, Stream, TestServer};

fn client(credentials: Credentials) -> Client {
    Client::new(ClientOptions {
        credentials,
        attempts: 3,
        backoff: Duration::from_millis(1),
        timeout: Duration::from_secs(10),
        request_deadline: Duration::from_secs(10),
        blob_deadline: Duration::from_secs(30),
        ..ClientOptions::default()
    })
    .unwrap()
}

/// A client whose deadlines are short enough for a test to run into them.
fn impatient_client() -> Client {
    Client::new(ClientOptions {
        credentials: Credentials::default(),
        attempts: 2,
        backoff: Duration::from_millis(1),
        timeout: Duration::from_secs(5),
        request_deadline: Duration::from_secs(2),
        blob_deadline: Duration::from_secs(2),
        // Out of the way of the deadline tests; the floor test sets its own.
        min_blob_rate: 0,
        rate_grace: Duration::from_secs(60),
    })
    .unwrap()
}

fn manifest_json() -> String {
    let d = Digest::of(b"{}");
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST_V2}","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"{d}","size":2}},"layers":[]}}"#
    )
}

/// A registry that wants a Bearer token from its own `/token` endpoint, which hands out `tok-<n>`
/// only to callers presenting `expect_basic` (or to anyone when it is `None`).
fn token_registry(expect_basic: Option<String>) -> TestServer {
    let addr: Arc<OnceLock<String>> = Arc::new(OnceLock::new());
    let a = addr.clone();
    let server = TestServer::start(move |req| {
        let addr = a.get().unwrap();
        if req.path.starts_with("/token?") {
            if req.header("authorization").map(str::to_string) != expect_basic {
                return Reply::new(401, r#"{"details":"incorrect username or password"}"#);
            }
            return Reply::new(200, r#"{"token":"tok-1","expires_in":300}"#);
        }
        if req.header("authorization") != Some("Bearer tok-1") {
            let challenge = format!(
                r#"Bearer realm="http://{addr}/token",service="test-registry",scope="repository:test/image:pull""#
            );
            return Reply::new(
                401,
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
            )
            .header("WWW-Authenticate", &challenge);
        }
        Reply::new(200, manifest_json()).header("Content-Type", DOCKER_MANIFEST_V2)
    });
    addr.set(server.addr.clone()).unwrap();
    server
}

#[test]
fn bearer_challenge_is_answered_with_config_credentials_and_the_token_is_reused() {
    // base64("user:secret") = "dXNlcjpzZWNyZXQ="
    let server = token_registry(Some("Basic dXNlcjpzZWNyZXQ=".to_string()));
    let config = format!(r#"{{"auths":{{"{}":{{"auth":"dXNlcjpzZWNyZXQ="}}}}}}"#, server.addr);
    let c = client(Credentials::from_json(config.as_bytes(), "config.json").unwrap());
    let r: Reference = format!("{}/test/image:v1", server.addr).parse().unwrap();
    let m = c.manifest(&r).unwrap();
    assert_eq!(m.media_type, DOCKER_MANIFEST_V2);
    assert_eq!(m.digest, Digest::of(manifest_json().as_bytes()));
    c.manifest(&r).unwrap();

    let reqs = server.requests();
    let paths: Vec<&str> = reqs.iter().map(|r| r.path.as_str()).collect();
    // Challenge, token, retried request; then the cached token serves the second fetch directly.
    assert_eq!(paths.len(), 4, "{paths:?}");
    assert!(paths[1].starts_with("/token?"));
    assert!(paths[1].contains("service=test-registry"), "{}", paths[1]);
    assert!(
        paths[1].contains("scope=repository%3Atest%2Fimage%3Apull"),
        "{}",
        paths[1]
    );
    assert_eq!(reqs[2].header("authorization"), Some("Bearer tok-1"));
    assert_eq!(reqs[3].header("authorization"), Some("Bearer tok-1"));
    assert!(reqs[0].header("accept").unwrap().contains("manifest.list.v2+json"));
}

#[test]
fn anonymous_token_flow_works_without_credentials() {
    // Docker Hub's public images: the token server hands out tokens to anonymous callers.
    let server = token_registry(None);
    let c = client(Credentials::default());
    let r: Reference = format!("{}/test/image:v1", server.addr).parse().unwrap();
    c.manifest(&r).unwrap();
    assert_eq!(server.requests()[1].header("authorization"), None);
}

#[test]
fn refused_credentials_name_the_token_server() {
    let server = token_registry(Some("Basic c29tZW9uZTplbHNl".to_string()));
    let c = client(Credentials::default());
    let r: Reference = format!("{}/test/image:v1", server.addr).parse().unwrap();
    let err = c.manifest(&r).unwrap_err();
    match &err {
        RegistryError::Auth { url, message } => {
            assert_eq!(url, &format!("http://{}/token", server.addr));
            assert!(message.contains("HTTP 401"), "{message}");
        }
        other => panic!("expected an auth error, got {other}"),
    }
}

fn blob_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

#[test]
fn a_corrupted_blob_is_detected_and_never_stored() {
    let good = blob_bytes(50_000);
    let d = Digest::of(&good);
    let mut bad = good.clone();
    bad[12_345] ^= 1;
    let server = TestServer::start(move |_| Reply::new(200, bad.clone()));
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let r: Reference = format!("{}/test/image:v1", server.addr).parse().unwrap();
    let err = client(Credentials::default())
        .fetch_blob(&r, &d, Some(50_000), &store)
        .unwrap_err();
    match &err {
        RegistryError::DigestMismatch {
            expected, url, size, ..
        } => {
            assert_eq!(*expected, d);
            assert!(url.ends_with(&format!("/blobs/{d}")), "{url}");
            assert_eq!(*size, 50_000);
        }
        other => panic!("expected a digest mismatch, got {other}"),
    }
    assert!(err.to_string().contains(&d.to_string()));
    assert!(!store.has(&d));
    assert!(
        !store.partial_path(&d).unwrap().exists(),
        "the bad bytes must not be kept for a resume"
    );
}

#[test]
fn an_interrupted_download_resumes_with_a_range_request() {
    let blob = blob_bytes(300_000);
    let d = Digest::of(&blob);
    let b = blob.clone();
    let server = TestServer::start(move |req| match req.header("range") {
        None => Reply {
            cut_after: Some(100_000),
            ..Reply::new(200, b.clone()).header("Last-Modified", "Wed, 30 Jan 2019 22:21:08 GMT")
        },
        Some(range) => {
            let start: usize = range
                .trim_start_matches("bytes=")
                .trim_end_matches('-')
                .parse()
                .unwrap();
            Reply::new(206, b[start..].to_vec())
                .header("Content-Range", &format!("bytes {start}-{}/{}", b.len() - 1, b.len()))
                .header("Last-Modified", "Wed, 30 Jan 2019 22:21:08 GMT")
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let r: Reference = format!("{}/test/image:v1", server.addr).parse().unwrap();
    let meta = client(Credentials::default())
        .fetch_blob(&r, &d, Some(300_000), &store)
        .unwrap();
    assert_eq!(meta.size, 300_000);
    assert_eq!(meta.last_modified.as_deref(), Some("Wed, 30 Jan 2019 22:21:08 GMT"));
    assert_eq!(store.read(&d).unwrap(), blob);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1].header("range"), Some("bytes=100000-"));
    assert!(!store.partial_path(&d).unwrap().exists());
}

#[test]
fn a_server_ignoring_range_restarts_the_download_cleanly() {
    let blob = blob_bytes(20_000);
    let d = Digest::of(&blob);
    let b = blob.clone();
    let server = TestServer::start(move |_| Reply::new(200, b.clone()));
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    // A partial file from an earlier run, which this server will not continue.
    std::fs::write(store.partial_path(&d).unwrap(), &blob[..5000]).unwrap();
    let r: Reference = format!("{}/test/image:v1", server.addr).parse().unwrap();
    client(Credentials::default())
        .fetch_blob(&r, &d, Some(20_000), &store)
        .unwrap();
    assert_eq!(store.read(&d).unwrap(), blob);
}

#[test]
fn server_errors_are_retried_then_reported_with_the_status() {
    let server = TestServer::start(|req| {
        if req.path.ends_with("/manifests/flaky") {
            Reply::new(503, "busy")
        } else {
            Reply::new(
                404,
                r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
            )
        }
    });
    let c = client(Credentials::default());
    let r: Reference = format!("{}/test/image:flaky", server.addr).parse().unwrap();
    let err = c.manifest(&r).unwrap_err();
    assert!(matches!(err, RegistryError::Status { status: 503, .. }), "{err}");
    assert_eq!(server.requests().len(), 3, "three attempts");
    let r: Reference = format!("{}/test/image:gone", server.addr).parse().unwrap();
    let err = c.manifest(&r).unwrap_err().to_string();
    assert!(
        err.contains("HTTP 404") && err.contains("MANIFEST_UNKNOWN manifest unknown"),
        "{err}"
    );
}

#[test]
fn a_manifest_that_does_not_hash_to_its_digest_is_refused() {
    let server = TestServer::start(|_| Reply::new(200, manifest_json()).header("Content-Type", DOCKER_MANIFEST_V2));
    let wanted = Digest::of(b"something else");
    let r: Reference = format!("{}/test/image@{wanted}", server.addr).parse().unwrap();
    let err = client(Credentials::default()).manifest(&r).unwrap_err();
    assert!(
        matches!(err, RegistryError::DigestMismatch { expected, .. } if expected == wanted),
        "{err}"
    );
}

#[test]
fn refused_connections_report_the_url_and_attempts() {
    // Bind and drop a listener to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r: Reference = format!("127.0.0.1:{port}/test/image:v1").parse().unwrap();
    let err = client(Credentials::default()).manifest(&r).unwrap_err();
    match err {
        RegistryError::Transport { url, attempts, .. } => {
            assert!(url.starts_with(&format!("http://127.0.0.1:{port}/v2/test/image/manifests/v1")));
            assert_eq!(attempts, 3);
        }
        other => panic!("expected a transport error, got {other}"),
    }
}

/// A registry whose token endpoint answers 200 with `token` as its body sending mode.
fn token_server(token: Stream) -> TestServer {
    let addr: Arc<OnceLock<String>> = Arc::new(OnceLock::new());
    let a = addr.clone();
    let server = TestServer::start(move |req| {
        if req.path.starts_with("/token") {
            return Reply::new(200, r#"{"token":"tok-1"}"#).streamed(token);
        }
        let challenge = format!(r#"Bearer realm="http://{}/token",service="s""#, a.get().unwrap());
        Reply::new(401, "").header("WWW-Authenticate", &challenge)
    });
    addr.set(server.addr.clone()).unwrap();
    server
}

#[test]
fn an_endless_token_body_is_refused_at_its_size_limit() {
    let server = token_server(Stream::Endless);
    let r: Reference = format!("{}/test/image:v1", server.addr).parse().unwrap();
    let err = impatient_client().manifest(&r).unwrap_err();
    assert!(
        matches!(err, RegistryError::BodyTooLarge { limit, .. } if limit == MAX_TOKEN_BYTES as u64),
        "{err}"
    );
}

#[test]
fn a_dripping_token_server_is_reported_as_a_timeout() {
    let server = token_server(Stream::Drip(Duration::from_millis(500)));
    let r: Reference = format!("{}/test/image:v1", server.addr).parse().unwrap();
    let err = impatient_client().manifest(&r).unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::Timeout {
                what: "request deadline",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("timed out"), "{err}");
}

/// Fetches a 1000-byte blob, sent as `stream`, from a one-blob registry with `client` under the
/// descriptor size `size`; returns the error and whether the store ended up holding the blob.
fn fetch_refused(client: &Client, stream: Stream, size: u64) -> (RegistryError, bool) {
    let blob = blob_bytes(1000);
    let d = Digest::of(&blob);
    let server = TestServer::start(move |_| Reply::new(200, blob.clone()).streamed(stream));
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let r: Reference = format!("{}/test/image:v1", server.addr).parse().unwrap();
    let err = client.fetch_blob(&r, &d, Some(size), &store).unwrap_err();
    (err, store.has(&d))
}

#[test]
fn a_dripping_blob_ends_at_the_download_deadline() {
    let drip = Stream::Drip(Duration::from_millis(300));
    let (err, stored) = fetch_refused(&impatient_client(), drip, 1000);
    assert!(
        matches!(
            err,
            RegistryError::Timeout {
                what: "download deadline",
                seconds: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(!stored);
}

#[test]
fn a_blob_shorter_than_its_descriptor_is_refused() {
    let (err, stored) = fetch_refused(&client(Credentials::default()), Stream::Whole, 5000);
    assert!(
        matches!(
            err,
            RegistryError::SizeMismatch {
                expected: 5000,
                found: 1000,
                ..
            }
        ),
        "{err}"
    );
    assert!(!stored);
}

#[test]
fn a_dripping_blob_is_abandoned_below_the_rate_floor() {
    let c = Client::new(ClientOptions {
        backoff: Duration::from_millis(1),
        min_blob_rate: 1000,
        rate_grace: Duration::from_secs(1),
        ..ClientOptions::default()
    })
    .unwrap();
    let (err, stored) = fetch_refused(&c, Stream::Drip(Duration::from_millis(100)), 1000);
    assert!(
        matches!(
            err,
            RegistryError::TooSlow {
                floor: 1000,
                grace: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(!stored);
}
