//! The children of the benchmark: started with `NO_COLOR`, stopped by closing stdin, then
//! SIGTERM, then SIGKILL, and never left running (stopped on drop).

use std::process::{Child, ChildStdout, Command};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// A child process that is stopped when dropped (see [`Spawned::stop`]).
#[derive(Debug)]
pub struct Spawned {
    child: Child,
    name: String,
}

/// How a child ended.
#[derive(Debug, Clone, Copy)]
pub struct Stopped {
    /// Exited by itself with status 0.
    pub clean: bool,
    /// From the call to [`Spawned::stop`] to its exit.
    pub took: Duration,
    /// Had to be killed (SIGKILL) at the end of the grace period.
    pub killed: bool,
}

impl Spawned {
    pub fn start(name: &str, command: &mut Command) -> Result<Self> {
        let child = command
            .env("NO_COLOR", "1")
            .spawn()
            .with_context(|| format!("starting {name}: {command:?}"))?;
        Ok(Self {
            child,
            name: name.to_owned(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stdout(&mut self) -> Result<ChildStdout> {
        self.child.stdout.take().context("stdout is piped")
    }

    /// Sends SIGTERM (the agent's graceful stop).
    pub fn terminate(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
    }

    /// Closes stdin (the children of this example stop at its end of file) and waits; sends
    /// SIGTERM half-way through `grace`, SIGKILL at its end.
    pub fn stop(&mut self, grace: Duration) -> Stopped {
        drop(self.child.stdin.take());
        let start = Instant::now();
        let mut termed = false;
        loop {
            let took = start.elapsed();
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    return Stopped {
                        clean: status.success(),
                        took,
                        killed: false,
                    }
                }
                Ok(None) if took > grace => {
                    eprintln!("{} did not stop within {grace:?}: killing it", self.name);
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Stopped {
                        clean: false,
                        took,
                        killed: true,
                    };
                }
                Ok(None) if !termed && took > grace / 2 => {
                    self.terminate();
                    termed = true;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(_) => {
                    return Stopped {
                        clean: false,
                        took,
                        killed: false,
                    }
                }
            }
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.stop(Duration::from_secs(10));
        }
    }
}
