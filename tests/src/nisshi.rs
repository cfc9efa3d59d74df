//! A real Kafka-compatible broker for tests: nisshi 0.8.1 (installed by
//! `scripts/setup-test-deps.sh`), started on a free loopback port with its storage in a
//! temporary sqlite file, stopped and restarted on the same port with the same storage,
//! killed when dropped. Topics are created with rdkafka's admin client.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let mut kafka = e2e_tests::nisshi::Nisshi::start().await?;
//! kafka.create_topic("edge.telemetry", 3, false).await?;
//! let bootstrap = kafka.bootstrap(); // "127.0.0.1:PORT"
//! kafka.stop().await?;     // SIGTERM
//! kafka.restart().await?;  // same port, same records
//! # Ok(()) }
//! ```

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use tokio::process::{Child, Command};
use tokio::time::{sleep, timeout, Instant};

use crate::mosquitto::free_port;

/// How long a start may take before it is an error.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a stop waits for the broker to exit before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The nisshi binary: `NISSHI`, else cargo's bin directory, else PATH.
pub fn nisshi_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("NISSHI") {
        return Ok(PathBuf::from(path));
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let on_path = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join("nisshi"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    cargo_home
        .map(|home| home.join("bin/nisshi"))
        .into_iter()
        .chain(on_path)
        .find(|p| p.is_file())
        .ok_or_else(|| anyhow!("nisshi is not installed: run ./scripts/setup-test-deps.sh"))
}

/// A running (or stopped) nisshi owned by a test.
#[derive(Debug)]
pub struct Nisshi {
    dir: tempfile::TempDir,
    binary: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Nisshi {
    /// Starts a broker and waits until it answers a metadata request.
    pub async fn start() -> Result<Self> {
        let mut broker = Nisshi {
            dir: tempfile::Builder::new().prefix("nisshi-").tempdir()?,
            binary: nisshi_binary()?,
            port: free_port()?,
            child: None,
        };
        broker.restart().await?;
        Ok(broker)
    }

    /// `127.0.0.1:PORT`, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The broker's output so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("nisshi.log")).unwrap_or_default()
    }

    /// Starts the broker again on the same port with the same storage and waits until it
    /// answers. A running broker is left as is.
    pub async fn restart(&mut self) -> Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        let url = format!("tcp://127.0.0.1:{}", self.port);
        // nisshi 0.8.1 reads the part after `sqlite://` as a path relative to its working
        // directory unless it starts with `/` itself: an absolute path needs four slashes.
        let storage = format!("sqlite:///{}", self.dir.path().join("nisshi.db").display());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("nisshi.log"))?;
        let child = Command::new(&self.binary)
            .arg("broker")
            .args(["--listener-url", &url])
            .args(["--advertised-listener-url", &url])
            .args(["--storage-engine", &storage])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    self.child = None;
                    bail!("nisshi exited at start ({status}):\n{}", self.log());
                }
            }
            let connect = tokio::net::TcpStream::connect(("127.0.0.1", self.port));
            if let Ok(Ok(_)) = timeout(Duration::from_millis(200), connect).await {
                if self.answers_metadata().await {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "nisshi did not answer on {} within {START_TIMEOUT:?}:\n{}",
                    self.port,
                    self.log()
                );
            }
            sleep(Duration::from_millis(50)).await;
        }
    }

    async fn answers_metadata(&self) -> bool {
        let Ok(admin) = self.admin() else {
            return false;
        };
        tokio::task::spawn_blocking(move || {
            admin
                .inner()
                .fetch_metadata(None, Duration::from_secs(2))
                .is_ok()
        })
        .await
        .unwrap_or(false)
    }

    fn admin(&self) -> Result<AdminClient<DefaultClientContext>> {
        Ok(ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .set("log_level", "3")
            .create()?)
    }

    /// Creates `name` with `partitions` partitions (replication 1), compacted if asked.
    pub async fn create_topic(&self, name: &str, partitions: i32, compacted: bool) -> Result<()> {
        let admin = self.admin()?;
        let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        if compacted {
            topic = topic.set("cleanup.policy", "compact");
        }
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        let results = timeout(
            Duration::from_secs(20),
            admin.create_topics([&topic], &options),
        )
        .await
        .context("create_topics timed out")??;
        for result in results {
            if let Err((topic, code)) = result {
                bail!("creating topic {topic}: {code:?}");
            }
        }
        Ok(())
    }

    /// Stops the broker with SIGTERM, SIGKILL if it has not exited within 10 s.
    pub async fn stop(&mut self) -> Result<()> {
        match self.child.take() {
            Some(child) => crate::service::terminate_child(child, STOP_TIMEOUT).await,
            None => Ok(()),
        }
    }
}

impl Drop for Nisshi {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
    }
}
