//! A stand-in for a person with the status page open, so that the load table can show what the
//! page costs the agent: it loads the page and its assets once, keeps the server-sent event
//! stream open (reading every byte), fetches the trend of one sensor every 3 s as the page
//! does, and scrapes `/metrics` every 15 s as Prometheus would. Loopback only.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

/// The open page; stops when dropped.
pub struct Viewer {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// Bytes of event stream received.
    pub event_bytes: Arc<AtomicU64>,
}

/// The listener's address from the agent's log (`url=http://ADDR/`), within `limit`.
pub fn listener_in_log(log: &Path, limit: Duration) -> Result<SocketAddr> {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        // Field names may be wrapped in colour codes: look for the scheme alone.
        if let Some(at) = text.find("http://") {
            let rest = &text[at + "http://".len()..];
            let addr: String = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                .collect();
            return Ok(addr.parse()?);
        }
        if start.elapsed() > limit {
            bail!("no listener address in {}", log.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn fetch(addr: SocketAddr, path: &str) -> std::io::Result<usize> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut body = Vec::new();
    stream.read_to_end(&mut body)?;
    Ok(body.len())
}

impl Viewer {
    /// Opens the page of the agent at `addr`; `sensor` is the one whose trend is shown.
    pub fn open(addr: SocketAddr, sensor: &str) -> Result<Self> {
        for path in [
            "/",
            "/assets/app.js",
            "/assets/style.css",
            "/assets/uPlot.iife.min.js",
            "/api/sensors",
        ] {
            fetch(addr, path)?;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let event_bytes = Arc::new(AtomicU64::new(0));
        let mut threads = Vec::new();
        {
            let (stop, bytes) = (Arc::clone(&stop), Arc::clone(&event_bytes));
            let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
            stream.set_read_timeout(Some(Duration::from_millis(500)))?;
            write!(stream, "GET /api/events HTTP/1.1\r\nHost: {addr}\r\n\r\n")?;
            threads.push(std::thread::spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                while !stop.load(Ordering::Relaxed) {
                    match stream.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            bytes.fetch_add(n as u64, Ordering::Relaxed);
                        }
                        Err(e)
                            if e.kind() == std::io::ErrorKind::WouldBlock
                                || e.kind() == std::io::ErrorKind::TimedOut => {}
                        Err(_) => break,
                    }
                }
            }));
        }
        {
            let stop = Arc::clone(&stop);
            let trend = format!("/api/trend?sensor={sensor}");
            threads.push(std::thread::spawn(move || {
                let mut tick = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    if tick % 30 == 0 {
                        let _ = fetch(addr, &trend);
                    }
                    if tick % 150 == 0 {
                        let _ = fetch(addr, "/metrics");
                    }
                    tick += 1;
                    std::thread::sleep(Duration::from_millis(100));
                }
            }));
        }
        Ok(Self {
            stop,
            threads,
            event_bytes,
        })
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}
