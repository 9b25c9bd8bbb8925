//! A tiny HTTP/1.1 server for the client's tests: each connection gets one request and one answer
//! chosen by a handler, which can also cut the body short to simulate a dropped connection. It lets
//! the real client code (challenges, retries, Range resumes, digest checks) run without Docker.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// Kept for tests that inspect what was uploaded.
    #[allow(dead_code)]
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Send only this many body bytes (with the full Content-Length) and close: a dropped transfer.
    pub cut_after: Option<usize>,
    /// Send the body this way instead of all at once.
    pub stream: Stream,
}

/// How a reply's body is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stream {
    #[default]
    Whole,
    /// Zeros without end (no Content-Length), until the client goes away.
    Endless,
    /// One byte of the body, then this pause, and so on.
    Drip(std::time::Duration),
}

impl Reply {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.into(),
            cut_after: None,
            stream: Stream::Whole,
        }
    }

    pub fn streamed(mut self, stream: Stream) -> Reply {
        self.stream = stream;
        self
    }

    pub fn header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

pub struct TestServer {
    pub addr: String,
    pub requests: Arc<Mutex<Vec<Request>>>,
}

impl TestServer {
    /// Starts serving on a free loopback port; the thread lives until the test process ends.
    pub fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let log = requests.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let handler = handler.clone();
                let log = log.clone();
                thread::spawn(move || serve(stream, &*handler, &log));
            }
        });
        TestServer { addr, requests }
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

fn send_body(out: &mut TcpStream, body: &[u8], stream: Stream) {
    match stream {
        Stream::Whole => {
            let _ = out.write_all(body);
        }
        Stream::Endless => {
            let zeros = vec![0u8; 64 << 10];
            while out.write_all(&zeros).is_ok() {}
        }
        Stream::Drip(pause) => {
            for b in body {
                if out
                    .write_all(std::slice::from_ref(b))
                    .and_then(|()| out.flush())
                    .is_err()
                {
                    return;
                }
                thread::sleep(pause);
            }
        }
    }
}

fn serve(stream: TcpStream, handler: &Handler, log: &Mutex<Vec<Request>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.trim_end().split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    let _ = reader.read_exact(&mut body);
    let req = Request {
        method,
        path,
        headers,
        body,
    };
    let reply = handler(&req);
    log.lock().unwrap().push(req.clone());
    let mut out = stream;
    let mut head = format!("HTTP/1.1 {} X\r\nConnection: close\r\n", reply.status);
    let has_len = reply
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-length"));
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !has_len && reply.stream != Stream::Endless {
        head.push_str(&format!("Content-Length: {}\r\n", reply.body.len()));
    }
    head.push_str("\r\n");
    let _ = out.write_all(head.as_bytes());
    if req.method != "HEAD" {
        let n = reply.cut_after.unwrap_or(reply.body.len()).min(reply.body.len());
        send_body(&mut out, &reply.body[..n], reply.stream);
    }
    let _ = out.flush();
    let _ = out.shutdown(std::net::Shutdown::Both);
}
