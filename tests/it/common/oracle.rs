//! The Go oracle: builds `testdata/oracle/gogzip` (cached by source hash) and talks to one
//! long-running `gogzip -batch` process, so a test can compare hundreds of inputs with Go's own
//! compress/gzip and compress/flate without paying a process start for each.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// Which Go writer to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Gzip,
    RawFlate,
}

pub struct GoOracle {
    child: Child,
    stdin: BufWriter<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

/// The oracle program's source directory.
pub fn oracle_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/oracle/gogzip")
}

/// True when `go` can run.
pub fn go_available() -> bool {
    Command::new("go")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

impl GoOracle {
    /// Starts the oracle for test `test`. Without Go, a test outside CI is skipped (loudly) and
    /// `None` returned; with CI=true a missing Go is a failure.
    pub fn start(test: &str) -> Option<GoOracle> {
        if !go_available() {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{test}: go is not installed, and CI=true requires the Go oracle");
            }
            eprintln!("SKIPPED: go not installed ({test})");
            return None;
        }
        let bin = super::gobuild::build_oracle(&oracle_dir(), &Path::new(env!("CARGO_TARGET_TMPDIR")).join("oracle"))
            .expect("build the Go oracle");
        let mut child = Command::new(bin)
            .arg("-batch")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the Go oracle");
        let stdin = BufWriter::with_capacity(1 << 20, child.stdin.take().unwrap());
        let stdout = BufReader::with_capacity(1 << 20, child.stdout.take().unwrap());
        Some(GoOracle { child, stdin, stdout })
    }

    /// Go's output for `data` at `level`, written in `chunk`-byte `Write` calls (0 = one call);
    /// `None` when Go rejects the level.
    pub fn compress(&mut self, kind: Kind, level: i32, chunk: u32, data: &[u8]) -> Option<Vec<u8>> {
        let mut head = Vec::with_capacity(17);
        head.push(if kind == Kind::Gzip { b'G' } else { b'F' });
        head.extend_from_slice(&level.to_le_bytes());
        head.extend_from_slice(&chunk.to_le_bytes());
        head.extend_from_slice(&(data.len() as u64).to_le_bytes());
        self.stdin.write_all(&head).unwrap();
        self.stdin.write_all(data).unwrap();
        self.stdin.flush().unwrap();
        let mut len = [0u8; 8];
        self.stdout.read_exact(&mut len).expect("oracle answer");
        let len = u64::from_le_bytes(len);
        if len == u64::MAX {
            return None;
        }
        let mut out = vec![0u8; len as usize];
        self.stdout.read_exact(&mut out).unwrap();
        Some(out)
    }

    /// Like `compress`, for inputs too big to hold twice: the input arrives as `pieces` (which
    /// must add up to `len` bytes) and Go's output is written to `sink`.
    pub fn compress_streamed<'a>(
        &mut self,
        kind: Kind,
        level: i32,
        len: u64,
        pieces: impl Iterator<Item = &'a [u8]>,
        sink: &mut impl Write,
    ) {
        let mut head = Vec::with_capacity(17);
        head.push(if kind == Kind::Gzip { b'G' } else { b'F' });
        head.extend_from_slice(&level.to_le_bytes());
        head.extend_from_slice(&0u32.to_le_bytes());
        head.extend_from_slice(&len.to_le_bytes());
        self.stdin.write_all(&head).unwrap();
        for p in pieces {
            self.stdin.write_all(p).unwrap();
        }
        self.stdin.flush().unwrap();
        let mut n = [0u8; 8];
        self.stdout.read_exact(&mut n).expect("oracle answer");
        let n = u64::from_le_bytes(n);
        assert_ne!(n, u64::MAX, "oracle rejected the request");
        std::io::copy(&mut (&mut self.stdout).take(n), sink).unwrap();
    }

    pub fn gzip(&mut self, level: i32, data: &[u8]) -> Vec<u8> {
        self.compress(Kind::Gzip, level, 0, data).expect("valid level")
    }

    pub fn flate(&mut self, level: i32, data: &[u8]) -> Vec<u8> {
        self.compress(Kind::RawFlate, level, 0, data).expect("valid level")
    }
}

impl Drop for GoOracle {
    fn drop(&mut self) {
        // Closing stdin ends the batch loop; wait so no zombie is left behind.
        let _ = self.stdin.flush();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
