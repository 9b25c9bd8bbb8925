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
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy could not serve, in request order without repeats.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Misses {
    /// `http://` URLs that are not among the recipe's downloads (or not in the cache).
    pub urls: BTreeSet<String>,
    /// Hosts of `https://` requests (CONNECT), which a proxy cannot serve from a cache.
    pub tunnels: BTreeSet<String>,
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
        std::thread::Builder::new()
            .name("retrace-download-proxy".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { continue };
                    let (files, misses) = (files.clone(), shared.clone());
                    // One thread per connection: a build's RUN steps make few requests.
                    let _ = std::thread::Builder::new().spawn(move || {
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
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.by_ref().take(8192).read_line(&mut request_line)?;
    // Skip the headers: nothing in them changes what is served.
    loop {
        let mut line = String::new();
        if reader.by_ref().take(8192).read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let mut out = stream;
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method == "CONNECT" {
        let host = target.rsplit_once(':').map_or(target, |(h, _)| h).to_string();
        misses.lock().unwrap_or_else(|p| p.into_inner()).tunnels.insert(host);
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
        .and_then(|p| std::fs::File::open(p).ok().map(|f| (p, f)))
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
            misses
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .urls
                .insert(target.to_string());
            respond(
                &mut out,
                "404 Not Found",
                b"retrace: not among the recipe's downloads (add it under `downloads:` with its sha256)\n",
            )
        }
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
}
