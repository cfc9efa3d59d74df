//! A real Mosquitto for tests: started on a free loopback port with a generated
//! config in a temporary directory, stopped and restarted on the same port,
//! killed when dropped.
//!
//! The generated config keeps what the store-and-forward tests need:
//! persistence on (in the temporary directory), so a subscriber with a
//! persistent session (clean_session = false) keeps its subscription and its
//! queued QoS 1 messages across a broker restart (Mosquitto writes its
//! database on SIGTERM, which [`Mosquitto::stop`] sends); no limit on queued
//! messages (Mosquitto's default drops beyond 1,000 per offline client);
//! anonymous clients on 127.0.0.1 only. With [`TlsListener`], a second
//! listener speaks TLS with the given certificate.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let mut broker = e2e_tests::mosquitto::Mosquitto::start().await?;
//! let port = broker.port();
//! broker.stop().await?;     // SIGTERM: persistent sessions are saved
//! broker.restart().await?;  // same port, same database
//! # Ok(()) }
//! ```

pub mod certs;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use tokio::process::{Child, Command};
use tokio::time::{sleep, timeout, Instant};

/// How long a start may take before it is an error.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stop waits for Mosquitto to save and exit before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A TLS listener: the broker's certificate and key, and the CA that clients
/// must present certificates from (when `require_certificate`).
#[derive(Debug, Clone)]
pub struct TlsListener {
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub require_certificate: bool,
}

/// Options of [`Mosquitto::start_with`].
#[derive(Debug, Clone, Default)]
pub struct MosquittoOptions {
    /// A TLS listener on a second free port.
    pub tls: Option<TlsListener>,
    /// A Mosquitto password file (made with `mosquitto_passwd`): when set,
    /// anonymous clients are refused.
    pub password_file: Option<PathBuf>,
}

/// A running (or stopped) Mosquitto owned by a test.
#[derive(Debug)]
pub struct Mosquitto {
    dir: tempfile::TempDir,
    binary: PathBuf,
    port: u16,
    tls_port: Option<u16>,
    child: Option<Child>,
}

/// The mosquitto binary: on PATH, or where Debian installs it.
pub fn mosquitto_binary() -> Result<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join("mosquitto"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin/mosquitto")])
        .find(|p| p.is_file())
        .ok_or_else(|| {
            anyhow!("mosquitto is not installed: run ./scripts/setup-test-deps.sh (Debian package `mosquitto`)")
        })
}

/// A port that was free on 127.0.0.1 a moment ago.
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Whether this process runs as root (then Mosquitto needs `user root` to
/// keep writing a directory the test made).
pub fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

impl Mosquitto {
    /// Starts a broker with a plain listener and waits until it accepts connections.
    pub async fn start() -> Result<Self> {
        Self::start_with(MosquittoOptions::default()).await
    }

    /// Starts a broker with `options` and waits until it accepts connections.
    pub async fn start_with(options: MosquittoOptions) -> Result<Self> {
        let with_tls = options.tls.is_some();
        Self::start_custom(with_tls, |dir, port, tls_port| {
            let tls = tls_port.zip(options.tls.as_ref());
            Ok(config_text(dir, port, tls, &options))
        })
        .await
    }

    /// Starts a broker with the config text that `config` returns for the
    /// temporary directory (the database goes in `data/` there, the log
    /// should be `mosquitto.log` there), the plain port and, if `with_tls`, a
    /// second free port for a TLS listener.
    pub async fn start_custom(
        with_tls: bool,
        config: impl FnOnce(&Path, u16, Option<u16>) -> Result<String>,
    ) -> Result<Self> {
        let binary = mosquitto_binary()?;
        let dir = tempfile::Builder::new().prefix("mosquitto-").tempdir()?;
        std::fs::create_dir_all(dir.path().join("data"))?;
        let port = free_port()?;
        let tls_port = if with_tls { Some(free_port()?) } else { None };
        let text = config(dir.path(), port, tls_port)?;
        std::fs::write(dir.path().join("mosquitto.conf"), text)?;
        let mut broker = Mosquitto {
            dir,
            binary,
            port,
            tls_port,
            child: None,
        };
        broker.restart().await?;
        Ok(broker)
    }

    /// The plain MQTT port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The TLS port, if a TLS listener was configured.
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
    }

    /// Whether the broker process is running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The broker's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    /// Starts the broker again on the same port(s) with the same database,
    /// and waits until it accepts connections. A running broker is left as is.
    pub async fn restart(&mut self) -> Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        let child = Command::new(&self.binary)
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        let ports: Vec<u16> = std::iter::once(self.port).chain(self.tls_port).collect();
        for port in ports {
            loop {
                if let Some(child) = self.child.as_mut() {
                    if let Some(status) = child.try_wait()? {
                        let stderr = match child.stderr.take() {
                            Some(mut err) => {
                                use tokio::io::AsyncReadExt;
                                let mut text = String::new();
                                let _ = err.read_to_string(&mut text).await;
                                text
                            }
                            None => String::new(),
                        };
                        self.child = None;
                        bail!(
                            "mosquitto exited at start ({status}): {stderr}\nlog:\n{}",
                            self.log()
                        );
                    }
                }
                let connect = tokio::net::TcpStream::connect(("127.0.0.1", port));
                if let Ok(Ok(_)) = timeout(Duration::from_millis(200), connect).await {
                    break;
                }
                if Instant::now() > deadline {
                    bail!(
                        "mosquitto did not listen on {port} within {START_TIMEOUT:?}\nlog:\n{}",
                        self.log()
                    );
                }
                sleep(Duration::from_millis(10)).await;
            }
        }
        Ok(())
    }

    /// Stops the broker with SIGTERM (it saves its database and exits),
    /// SIGKILL if it has not exited within 10 s. Clients see their connections
    /// closed.
    pub async fn stop(&mut self) -> Result<()> {
        match self.child.take() {
            Some(child) => crate::service::terminate_child(child, STOP_TIMEOUT).await,
            None => Ok(()),
        }
    }

    /// Kills the broker with SIGKILL: what it has not saved is lost.
    pub async fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await.context("killing mosquitto")?;
        }
        Ok(())
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            // kill_on_drop also does it; this makes it explicit and immediate.
            let _ = child.start_kill();
        }
    }
}

fn config_text(
    dir: &Path,
    port: u16,
    tls: Option<(u16, &TlsListener)>,
    options: &MosquittoOptions,
) -> String {
    let mut text = format!(
        "# Generated by tests/src/mosquitto.rs for one test.\n\
         per_listener_settings false\n\
         allow_anonymous {anonymous}\n\
         persistence true\n\
         persistence_location {data}/\n\
         autosave_interval 1800\n\
         max_queued_messages 0\n\
         max_queued_bytes 0\n\
         log_dest file {log}\n\
         log_type error\nlog_type warning\nlog_type notice\nlog_type information\n\
         connection_messages true\n",
        anonymous = options.password_file.is_none(),
        data = dir.join("data").display(),
        log = dir.join("mosquitto.log").display(),
    );
    if let Some(password_file) = &options.password_file {
        text.push_str(&format!("password_file {}\n", password_file.display()));
    }
    if running_as_root() {
        // Mosquitto started as root drops to the user `mosquitto`, which could
        // not write the temporary directory.
        text.push_str("user root\n");
    }
    text.push_str(&format!("\nlistener {port} 127.0.0.1\n"));
    if let Some((tls_port, tls)) = tls {
        text.push_str(&format!(
            "\nlistener {tls_port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate {}\n",
            tls.ca_file.display(),
            tls.cert_file.display(),
            tls.key_file.display(),
            tls.require_certificate,
        ));
    }
    text
}
