//! A child process of a test (the agent, the bridge): started with its stderr appended to a
//! log file, stopped with SIGTERM (and its exit checked) or SIGKILL, killed when dropped; and
//! the SIGTERM-then-SIGKILL stop of the brokers' tokio children; waiting for a condition.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{ensure, Context, Result};

/// A running process and its log.
#[derive(Debug)]
pub struct Service {
    child: Child,
    log: PathBuf,
}

impl Service {
    /// Starts `binary` with `args`, stderr appended to `log`.
    pub fn start<I, S>(binary: &Path, args: I, log: &Path) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let child = Command::new(binary)
            .args(args)
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(Service {
            child,
            log: log.to_owned(),
        })
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL: nothing it held in memory survives.
    pub fn kill_9(mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// SIGTERM, then waits; fails unless it exits with success.
    pub fn terminate(mut self) -> Result<()> {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status()?;
        ensure!(status.success(), "kill -TERM {pid} failed");
        let status = self.child.wait()?;
        ensure!(
            status.success(),
            "exited with {status} after SIGTERM; log:\n{}",
            self.log()
        );
        Ok(())
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Stops a tokio child with SIGTERM and waits for it, with SIGKILL after `grace`.
pub async fn terminate_child(
    mut child: tokio::process::Child,
    grace: std::time::Duration,
) -> Result<()> {
    if let Some(pid) = child.id() {
        let status = tokio::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await
            .context("running kill -TERM")?;
        ensure!(status.success(), "kill -TERM {pid} failed: {status}");
    }
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(status) => {
            status.context("waiting for the process")?;
        }
        Err(_) => child
            .kill()
            .await
            .context("killing after SIGTERM timed out")?,
    }
    Ok(())
}

/// Polls `check` every 200 ms until it gives a value; fails after `limit`, naming `what`.
pub async fn wait_for<T, F, Fut>(what: &str, limit: std::time::Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(found) = check().await? {
            return Ok(found);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() <= deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
