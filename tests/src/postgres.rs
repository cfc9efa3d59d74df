//! A real PostgreSQL for tests: Debian's server binaries (`/usr/lib/postgresql/N/bin`), a
//! cluster made with `initdb` in a temporary directory, listening on a free loopback port
//! (and a socket in that directory), trust authentication for the `postgres` user. PostgreSQL
//! refuses to run as root, so as root the cluster belongs to the `postgres` user and every
//! command runs as that user through `setpriv` (which execs, so the child is the server
//! itself). Killed when dropped.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::process::{Child, Command};
use tokio::time::{sleep, Instant};

use crate::mosquitto::{free_port, running_as_root};

/// How long a start may take before it is an error.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The directory of the newest installed PostgreSQL's binaries.
pub fn bin_dir() -> Result<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .context(
            "PostgreSQL is not installed (/usr/lib/postgresql): run ./scripts/setup-test-deps.sh",
        )?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, bin)| bin)
        .context("no PostgreSQL server binaries under /usr/lib/postgresql")
}

/// A running PostgreSQL owned by a test.
#[derive(Debug)]
pub struct Postgres {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
}

/// A command that runs as `postgres` when this process is root.
fn command(program: PathBuf) -> Command {
    if running_as_root() {
        let mut command = Command::new("setpriv");
        command
            .args([
                "--reuid=postgres",
                "--regid=postgres",
                "--init-groups",
                "--",
            ])
            .arg(program);
        command
    } else {
        Command::new(program)
    }
}

impl Postgres {
    /// Makes a cluster and starts it; returns once it accepts connections.
    pub async fn start() -> Result<Self> {
        let bin = bin_dir()?;
        let dir = tempfile::Builder::new().prefix("postgres-").tempdir()?;
        if running_as_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .await?;
            if !status.success() {
                bail!("chown of the cluster directory to postgres failed: {status}");
            }
        }
        let data = dir.path().join("data");
        let output = command(bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .output()
            .await
            .context("running initdb")?;
        if !output.status.success() {
            bail!("initdb failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        let port = free_port()?;
        let log = std::fs::File::create(dir.path().join("postgres.log"))?;
        let child = command(bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            .arg("-k")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("starting postgres")?;
        let mut server = Postgres { dir, port, child };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = server.child.try_wait()? {
                bail!("postgres exited at start ({status}):\n{}", server.log());
            }
            let ready = Command::new(bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q"])
                .status()
                .await?;
            if ready.success() {
                return Ok(server);
            }
            if Instant::now() > deadline {
                bail!(
                    "postgres not ready within {START_TIMEOUT:?}:\n{}",
                    server.log()
                );
            }
            sleep(Duration::from_millis(100)).await;
        }
    }

    /// The URL of the `postgres` database as the `postgres` user.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }
}
