//! The download cache as RUN steps see it: a small HTTP forward proxy that serves the recipe's
//! `downloads:` from the cache, so a replay needs no network for them. RUN containers get
//! `http_proxy`/`HTTP_PROXY` pointing here (Docker's own predefined proxy build args, which the
//! history never records).
//!
//! Only plain `http://` URLs can be served this way: an `https://` fetch reaches a proxy as a
//! `CONNECT` tunnel whose content is encrypted end to end, so it is refused, and the host is
//! remembered for the error message. Every URL a step asked for and did not get is remembered the
//! same way, so a failing step can name exactly what to add to the recipe.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Connections served at once; one more is closed at once. A RUN step's package manager opens a
/// few; the limit keeps a step that opens thousands from making as many threads.
pub const MAX_CONNECTIONS: usize = 64;

/// The time a client has to send its request line and headers, in all (not per read, so a client
/// that sends a byte now and then cannot hold its thread for longer).
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(30);

/// The time one write of the response may wait for a client that does not read.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// Misses kept per kind between two [`DownloadProxy::take_misses`]; later ones are only counted.
pub const MAX_MISSES: usize = 64;

/// The longest URL or host kept in a miss list; a longer one is cut, marked with `...`.
pub const MAX_MISS_LEN: usize = 512;

/// What the proxy could not serve, sorted and without repeats, bounded: at most [`MAX_MISSES`]
/// of each kind, each at most [`MAX_MISS_LEN`] bytes, the rest counted in `more`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Misses {
    /// `http://` URLs that are not among the recipe's downloads (or not in the cache).
    pub urls: BTreeSet<String>,
    /// Hosts of `https://` requests (CONNECT), which a proxy cannot serve from a cache.
    pub tunnels: BTreeSet<String>,
    /// Requests that missed after a list was full.
    pub more: usize,
}

impl Misses {
    fn add_url(&mut self, url: &str) {
        add_bounded(&mut self.urls, &mut self.more, url);
    }

    fn add_tunnel(&mut self, host: &str) {
        add_bounded(&mut self.tunnels, &mut self.more, host);
    }
}

/// Adds `text` (cut to [`MAX_MISS_LEN`]) to `set` unless the set is full; then counts it in `more`.
fn add_bounded(set: &mut BTreeSet<String>, more: &mut usize, text: &str) {
    let kept = if text.len() > MAX_MISS_LEN {
        let mut end = MAX_MISS_LEN;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &text[..end])
    } else {
        text.to_string()
    };
    if set.len() < MAX_MISSES || set.contains(&kept) {
        set.insert(kept);
    } else {
        *more += 1;
    }
}

/// One connection being served, counted in the proxy's total until it ends.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    /// A slot when fewer than [`MAX_CONNECTIONS`] are taken.
    fn take(count: &Arc<AtomicUsize>) -> Option<Slot> {
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_CONNECTIONS).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(count.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A running proxy. It serves until the process ends (a build is one process).
#[derive(Debug, Clone)]
pub struct DownloadProxy {
    addr: SocketAddr,
    /// A panic while the sets were held leaves them usable (plain sets), so a poisoned lock is taken.
    misses: Arc<Mutex<Misses>>,
}

impl DownloadProxy {
    /// Starts serving `files` (URL -> verified file in the cache) on `bind` (an address RUN
    /// containers reach, such as the Docker bridge's gateway; port 0 picks a free one).
    pub fn start(bind: SocketAddr, files: BTreeMap<String, PathBuf>) -> io::Result<DownloadProxy> {
        let listener = TcpListener::bind(bind)?;
        let addr = listener.local_addr()?;
        let misses = Arc::new(Mutex::new(Misses::default()));
        let files = Arc::new(files);
        let shared = misses.clone();
        let open = Arc::new(AtomicUsize::new(0));
        std::thread::Builder::new()
            .name("retrace-download-proxy".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { continue };
                    // Past the limit the connection is closed unanswered (dropped here).
                    let Some(slot) = Slot::take(&open) else { continue };
                    let (files, misses) = (files.clone(), shared.clone());
                    // One thread per connection, at most MAX_CONNECTIONS of them.
                    let _ = std::thread::Builder::new().spawn(move || {
                        let _slot = slot;
                        let _ = serve(stream, &files, &misses);
                    });
                }
            })?;
        Ok(DownloadProxy { addr, misses })
    }

    /// `http://IP:PORT`, the value of `http_proxy` for RUN containers.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The environment entries that route a RUN step's HTTP through the proxy.
    pub fn env(&self) -> Vec<String> {
        let url = self.url();
        vec![format!("http_proxy={url}"), format!("HTTP_PROXY={url}")]
    }

    /// Takes what was not served since the last call.
    pub fn take_misses(&self) -> Misses {
        std::mem::take(&mut *self.misses.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Answers the requests of one connection (one request each: `Connection: close`).
fn serve(stream: TcpStream, files: &BTreeMap<String, PathBuf>, misses: &Mutex<Misses>) -> io::Result<()> {
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let mut reader = BufReader::new(Deadline {
        stream: stream.try_clone()?,
        until: Instant::now() + REQUEST_DEADLINE,
    });
    let mut request_line = String::new();
    reader.by_ref().take(8192).read_line(&mut request_line)?;
    // Skip the headers (at most 64 KiB of them): nothing in them changes what is served.
    let mut headers = reader.take(64 << 10);
    loop {
        let mut line = String::new();
        if headers.by_ref().take(8192).read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let mut out = stream;
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method == "CONNECT" {
        let host = target.rsplit_once(':').map_or(target, |(h, _)| h).to_string();
        misses.lock().unwrap_or_else(|p| p.into_inner()).add_tunnel(&host);
        return respond(
            &mut out,
            "403 Forbidden",
            b"retrace: https cannot be served from the download cache\n",
        );
    }
    if method != "GET" && method != "HEAD" {
        return respond(&mut out, "405 Method Not Allowed", b"retrace: only GET and HEAD\n");
    }
    match files
        .get(target)
        .and_then(|p| crate::fsutil::open_regular(p).ok().map(|f| (p, f)))
    {
        Some((path, mut file)) => {
            let len = file.metadata()?.len();
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
            )?;
            if method == "GET" {
                io::copy(&mut file, &mut out).map_err(|e| {
                    io::Error::new(e.kind(), format!("{}: {}", path.display(), crate::error::Chain(&e)))
                })?;
            }
            out.flush()
        }
        None => {
            misses.lock().unwrap_or_else(|p| p.into_inner()).add_url(target);
            respond(
                &mut out,
                "404 Not Found",
                b"retrace: not among the recipe's downloads (add it under `downloads:` with its sha256)\n",
            )
        }
    }
}

/// A connection read against one deadline for the whole request: each read waits at most until
/// then.
struct Deadline {
    stream: TcpStream,
    until: Instant,
}

impl Read for Deadline {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the request took longer than its deadline",
            ));
        }
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf)
    }
}

fn respond(out: &mut TcpStream, status: &str, body: &[u8]) -> io::Result<()> {
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    out.write_all(body)?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(addr: &str, text: &str) -> String {
        let mut s = TcpStream::connect(addr.trim_start_matches("http://")).unwrap();
        s.write_all(text.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn serves_listed_urls_and_remembers_what_it_could_not() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("blob");
        std::fs::write(&file, b"cached bytes\n").unwrap();
        let files = BTreeMap::from([("http://example.org/pkg.tar".to_string(), file)]);
        let proxy = DownloadProxy::start("127.0.0.1:0".parse().unwrap(), files).unwrap();
        let url = proxy.url();

        let ok = request(
            &url,
            "GET http://example.org/pkg.tar HTTP/1.1\r\nHost: example.org\r\n\r\n",
        );
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.ends_with("\r\n\r\ncached bytes\n"), "{ok}");
        let head = request(&url, "HEAD http://example.org/pkg.tar HTTP/1.0\r\n\r\n");
        assert!(
            head.contains("Content-Length: 13") && head.ends_with("\r\n\r\n"),
            "{head}"
        );

        let missing = request(&url, "GET http://example.org/other HTTP/1.1\r\n\r\n");
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
        let tunnel = request(&url, "CONNECT www.python.org:443 HTTP/1.1\r\n\r\n");
        assert!(tunnel.starts_with("HTTP/1.1 403"), "{tunnel}");

        let misses = proxy.take_misses();
        assert_eq!(
            misses.urls.into_iter().collect::<Vec<_>>(),
            ["http://example.org/other"]
        );
        assert_eq!(misses.tunnels.into_iter().collect::<Vec<_>>(), ["www.python.org"]);
        assert_eq!(proxy.take_misses(), Misses::default());
        assert_eq!(proxy.env(), [format!("http_proxy={url}"), format!("HTTP_PROXY={url}")]);
    }

    /// 200 missed URLs of 4 KiB each are kept as at most 64, each cut to 512 bytes, and counted
    /// (2,100 of 8 KB made a 51 MB report.json).
    #[test]
    fn miss_lists_are_bounded_and_long_urls_cut() {
        let proxy = DownloadProxy::start("127.0.0.1:0".parse().unwrap(), BTreeMap::new()).unwrap();
        let url = proxy.url();
        let long = "a".repeat(4096);
        for i in 0..200 {
            let missing = request(&url, &format!("GET http://example.org/{i}/{long} HTTP/1.1\r\n\r\n"));
            assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
        }
        let misses = proxy.take_misses();
        assert_eq!(misses.urls.len(), 64);
        assert!(misses.urls.iter().all(|u| u.len() <= 515 && u.ends_with("...")));
        assert_eq!(misses.more, 136);
    }

    /// Connections past the limit are closed at once instead of each holding a thread: with 200
    /// idle connections open, the next one ends without waiting for the idle ones' deadline.
    #[test]
    fn connections_past_the_limit_are_closed_at_once() {
        let proxy = DownloadProxy::start("127.0.0.1:0".parse().unwrap(), BTreeMap::new()).unwrap();
        let addr = proxy.url().trim_start_matches("http://").to_string();
        let held: Vec<TcpStream> = (0..200).map(|_| TcpStream::connect(&addr).unwrap()).collect();
        let mut late = TcpStream::connect(&addr).unwrap();
        late.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut out = Vec::new();
        let read = late.read_to_end(&mut out);
        assert!(
            read.is_ok() || read.as_ref().is_err_and(|e| e.kind() == io::ErrorKind::ConnectionReset),
            "{read:?}"
        );
        assert!(out.is_empty());
        drop(held);
    }
}
