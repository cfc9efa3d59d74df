//! A real Prometheus Alertmanager for tests: Debian's `prometheus-alertmanager`, on a free
//! loopback port with clustering off, its storage and a one-receiver configuration in a
//! temporary directory; read back through its v2 HTTP API. Stopped (SIGTERM) and started
//! again on the same port by [`Alertmanager::stop`] and [`Alertmanager::restart`]; killed
//! when dropped.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use tokio::process::{Child, Command};
use tokio::time::{sleep, timeout, Instant};

use crate::mosquitto::free_port;

const START_TIMEOUT: Duration = Duration::from_secs(30);

const CONFIG: &str = "route:\n  receiver: none\n  group_wait: 1s\nreceivers:\n  - name: none\n";

/// The binary: `ALERTMANAGER`, else Debian's.
pub fn binary() -> Result<PathBuf> {
    let path = std::env::var_os("ALERTMANAGER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/prometheus-alertmanager"));
    if path.is_file() {
        Ok(path)
    } else {
        Err(anyhow!(
            "{} is missing: run ./scripts/setup-test-deps.sh (package prometheus-alertmanager)",
            path.display()
        ))
    }
}

/// A running (or stopped) Alertmanager owned by a test.
#[derive(Debug)]
pub struct Alertmanager {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl Alertmanager {
    pub async fn start() -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("alertmanager-").tempdir()?;
        std::fs::write(dir.path().join("alertmanager.yml"), CONFIG)?;
        let mut am = Alertmanager {
            dir,
            port: free_port()?,
            child: None,
        };
        am.restart().await?;
        Ok(am)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("alertmanager.log")).unwrap_or_default()
    }

    /// Starts it (again, same port and storage) and waits until `/-/ready` answers 200.
    pub async fn restart(&mut self) -> Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("alertmanager.log"))?;
        let child = Command::new(binary()?)
            .arg(format!(
                "--config.file={}",
                self.dir.path().join("alertmanager.yml").display()
            ))
            .arg(format!(
                "--storage.path={}",
                self.dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{}", self.port))
            .arg("--cluster.listen-address=")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("starting prometheus-alertmanager")?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    self.child = None;
                    bail!("alertmanager exited at start ({status}):\n{}", self.log());
                }
            }
            if let Ok((200, _)) = self.get("/-/ready").await {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "alertmanager not ready within {START_TIMEOUT:?}:\n{}",
                    self.log()
                );
            }
            sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops it with SIGTERM (SIGKILL after 10 s).
    pub async fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if let Some(pid) = child.id() {
            Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await?;
        }
        if timeout(Duration::from_secs(10), child.wait())
            .await
            .is_err()
        {
            child.kill().await?;
        }
        Ok(())
    }

    /// The active alerts (`GET /api/v2/alerts`; resolved ones are not listed).
    pub async fn alerts(&self) -> Result<Vec<serde_json::Value>> {
        let (status, body) = self.get("/api/v2/alerts").await?;
        if status != 200 {
            bail!("GET /api/v2/alerts: {status} {body}");
        }
        Ok(serde_json::from_str(&body)?)
    }

    /// One HTTP/1.0 GET on loopback: (status, body).
    async fn get(&self, path: &str) -> Result<(u16, String)> {
        let port = self.port;
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || http_get(port, &path)).await?
    }
}

/// A minimal HTTP/1.0 GET on loopback (the server closes the connection after the answer).
pub fn http_get(port: u16, path: &str) -> Result<(u16, String)> {
    http_request(port, "GET", path, &[], "")
}

/// A minimal HTTP/1.0 request on loopback with a JSON body: (status, body).
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<(u16, String)> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut request = format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no HTTP status")?;
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}
