//! The real `edge-agent` binary in a child process, for tests of what it serves: started with
//! a config in a temp dir, its stderr collected, its HTTP listener found in its log, stopped
//! with SIGTERM. Plain HTTP/1.1 requests to 127.0.0.1, each under a deadline.

#![allow(dead_code)] // each test file uses its own part of this helper

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// A running agent; killed on drop if the test did not stop it.
pub struct Agent {
    child: Child,
    log: Arc<Mutex<String>>,
    pub dir: tempfile::TempDir,
}

impl Agent {
    /// Starts `edge-agent run` with `config` (`@DATA@` is replaced by a fresh data dir) and
    /// the extra environment `env`.
    pub fn start(config: &str, env: &[(&str, String)]) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        let path = dir.path().join("agent.toml");
        std::fs::write(&path, config.replace("@DATA@", &data.display().to_string()))?;
        let mut command = Command::new(env!("CARGO_BIN_EXE_edge-agent"));
        command
            .arg("run")
            .arg("--config")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().context("spawn edge-agent")?;
        let stderr = child.stderr.take().context("stderr")?;
        let log = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().expect("log lock");
                log.push_str(&strip_ansi(&line));
                log.push('\n');
            }
        });
        Ok(Self { child, log, dir })
    }

    pub fn log(&self) -> String {
        self.log.lock().expect("log lock").clone()
    }

    /// The address of the HTTP listener, from the agent's log line.
    pub fn http_addr(&mut self, limit: Duration) -> Result<SocketAddr> {
        let start = Instant::now();
        loop {
            let log = self.log();
            if let Some(at) = log.find("url=http://") {
                let rest = &log[at + "url=http://".len()..];
                let addr = rest.split(['/', ' ', '\n']).next().unwrap_or("");
                return addr
                    .parse()
                    .with_context(|| format!("listener address {addr:?}"));
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("the agent exited ({status}) before listening:\n{log}");
            }
            if start.elapsed() > limit {
                bail!("no listener within {limit:?}:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, then waits for the exit status (killing it after `limit`).
    pub fn stop(mut self, limit: Duration) -> Result<std::process::ExitStatus> {
        let pid = i32::try_from(self.child.id())?;
        let sent = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()?;
        if !sent.success() {
            bail!("kill -TERM {pid} failed");
        }
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if start.elapsed() > limit {
                self.child.kill()?;
                bail!("the agent did not stop within {limit:?}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Removes ANSI colour sequences (`ESC [ ... m`) from a log line.
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A response: status code and body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// `GET path` with an optional bearer token, under a 5 s deadline.
pub fn get(addr: SocketAddr, path: &str, bearer: Option<&str>) -> Result<Response> {
    let auth = bearer
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    request(addr, "GET", path, &auth, None, Duration::from_secs(5))
}

/// One HTTP/1.1 request with extra `headers` (each ending in CRLF) and an optional JSON body,
/// under `deadline` for each read and write.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    json: Option<&str>,
    deadline: Duration,
) -> Result<Response> {
    let mut stream = TcpStream::connect_timeout(&addr, deadline)?;
    stream.set_read_timeout(Some(deadline))?;
    stream.set_write_timeout(Some(deadline))?;
    let body = json.unwrap_or("");
    let content = json
        .map(|b| {
            format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                b.len()
            )
        })
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}{content}Connection: close\r\n\r\n{body}"
    )?;
    // Read the head, then the body by its length: some servers keep the connection open.
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = find(&raw, b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            bail!("{method} {path}: connection closed before the headers ended");
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
    let length: Option<usize> = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok());
    let chunked = head.contains("transfer-encoding: chunked");
    let body_start = head_end + 4;
    loop {
        let have = raw.len() - body_start;
        let complete = match length {
            Some(length) => have >= length,
            None if chunked => find(&raw[body_start..], b"0\r\n\r\n").is_some(),
            None => false,
        };
        if complete {
            break;
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let status = head
        .split_whitespace()
        .nth(1)
        .context("no status")?
        .parse()?;
    let body = String::from_utf8_lossy(&raw[body_start..]).into_owned();
    let body = if chunked { dechunk(&body)? } else { body };
    Ok(Response { status, body })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn dechunk(mut body: &str) -> Result<String> {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").context("chunk size")?;
        let size = usize::from_str_radix(size.trim(), 16)?;
        if size == 0 {
            return Ok(out);
        }
        out.push_str(rest.get(..size).context("short chunk")?);
        body = rest.get(size + 2..).context("chunk end")?;
    }
}

/// Polls `GET path` until `done` accepts the response or `limit` passes.
pub fn wait_for(
    addr: SocketAddr,
    path: &str,
    limit: Duration,
    done: impl Fn(&Response) -> bool,
) -> Result<Response> {
    let start = Instant::now();
    loop {
        let response = get(addr, path, None)?;
        if done(&response) {
            return Ok(response);
        }
        if start.elapsed() > limit {
            bail!("GET {path}: not as expected within {limit:?}: {response:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
