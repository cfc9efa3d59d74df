//! Headless Debian Chromium driven through chromedriver's WebDriver protocol (JSON over
//! HTTP on 127.0.0.1): open a page, run a script in it, take a screenshot. chromedriver and
//! the browser are stopped when the [`Browser`] is dropped.

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::agent_process::request;

const DEADLINE: Duration = Duration::from_secs(60);

/// One browser session.
pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium session with a fresh profile.
    pub fn start() -> Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("chromedriver (Debian package chromium-driver; scripts/setup-test-deps.sh installs it)")?;
        let profile = tempfile::tempdir()?;
        let mut browser = Self {
            driver,
            addr,
            session: String::new(),
            _profile: profile,
        };
        let start = Instant::now();
        while browser.call("GET", "/status", None).is_err() {
            if start.elapsed() > Duration::from_secs(20) {
                bail!("chromedriver did not answer on {addr}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1100,1500",
        ]
        .map(String::from)
        .into_iter()
        .chain([format!(
            "--user-data-dir={}",
            browser._profile.path().display()
        )])
        .collect::<Vec<_>>();
        let created = browser.call(
            "POST",
            "/session",
            Some(json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}
            }}})),
        )?;
        browser.session = created["sessionId"]
            .as_str()
            .context("no session id")?
            .to_owned();
        Ok(browser)
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let body = body.map(|b| b.to_string());
        let response = request(self.addr, method, path, "", body.as_deref(), DEADLINE)?;
        let value: Value = serde_json::from_str(&response.body)
            .with_context(|| format!("{method} {path}: {}", response.body))?;
        if response.status != 200 {
            bail!("{method} {path}: {} {}", response.status, value);
        }
        Ok(value["value"].clone())
    }

    /// Opens `url` in the session's window.
    pub fn open(&self, url: &str) -> Result<()> {
        let path = format!("/session/{}/url", self.session);
        self.call("POST", &path, Some(json!({ "url": url })))?;
        Ok(())
    }

    /// Runs `script` (a function body that `return`s) in the page.
    pub fn run(&self, script: &str) -> Result<Value> {
        let path = format!("/session/{}/execute/sync", self.session);
        self.call("POST", &path, Some(json!({ "script": script, "args": [] })))
    }

    /// A PNG of the window.
    pub fn screenshot(&self) -> Result<Vec<u8>> {
        let path = format!("/session/{}/screenshot", self.session);
        let encoded = self.call("GET", &path, None)?;
        base64_decode(encoded.as_str().context("screenshot is not a string")?)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let path = format!("/session/{}", self.session);
            let _ = self.call("DELETE", &path, None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Standard base64 (with padding), as WebDriver sends screenshots.
fn base64_decode(text: &str) -> Result<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let clean: Vec<u8> = text.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    let mut out = Vec::with_capacity(clean.len() / 4 * 3);
    for chunk in clean.chunks(4) {
        let digits: Vec<u32> = chunk.iter().map_while(|&c| value(c)).collect();
        if digits.len() < 2 {
            bail!("bad base64");
        }
        let n = digits
            .iter()
            .chain(std::iter::repeat(&0))
            .take(4)
            .fold(0u32, |acc, d| (acc << 6) | d);
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..digits.len()]);
    }
    Ok(out)
}
