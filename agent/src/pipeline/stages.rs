//! Supervision of the agent's stages: every stage task runs on one [`TaskTracker`], and
//! however it ends (returns, returns an error, panics) an [`Exit`] naming it is reported
//! to the wiring, which decides what that means.
//!
//! Invariants:
//! - every stage is spawned through [`Stages::spawn`], so none is detached and every end is
//!   seen: a watcher task (on the same tracker) awaits the stage's join handle and reports;
//! - an exit is reported exactly once per stage, in the order the stages end;
//! - a panic is caught by tokio at the task boundary and reported with its message, so one
//!   panicking stage never takes the process down without the orderly stop.

use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

/// Which part of the data path a stage is, in the order the path is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StageKind {
    Source,
    Rules,
    SpoolWriter,
    Sink,
    /// Helpers beside the path (the reload watcher).
    Helper,
}

/// How a stage ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It returned normally.
    Returned,
    /// It returned an error.
    Failed(String),
    /// It panicked.
    Panicked(String),
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Returned => f.write_str("ended"),
            Outcome::Failed(error) => write!(f, "failed: {error}"),
            Outcome::Panicked(message) => write!(f, "panicked: {message}"),
        }
    }
}

/// The end of one stage.
#[derive(Debug, Clone)]
pub struct Exit {
    pub stage: String,
    pub kind: StageKind,
    pub outcome: Outcome,
}

/// The tracker every stage runs on, and the channel their exits come back on.
#[derive(Debug)]
pub struct Stages {
    tracker: TaskTracker,
    exits_tx: mpsc::UnboundedSender<Exit>,
    exits: mpsc::UnboundedReceiver<Exit>,
    running: Vec<(String, StageKind)>,
}

impl Default for Stages {
    fn default() -> Self {
        let (exits_tx, exits) = mpsc::unbounded_channel();
        Self {
            tracker: TaskTracker::new(),
            exits_tx,
            exits,
            running: Vec::new(),
        }
    }
}

impl Stages {
    /// Runs `stage` as a task named `name`; its end is reported by [`next_exit`](Self::next_exit).
    pub fn spawn<F, E>(&mut self, name: impl Into<String>, kind: StageKind, stage: F)
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        let name = name.into();
        self.running.push((name.clone(), kind));
        let handle = self.tracker.spawn(stage);
        let exits = self.exits_tx.clone();
        self.tracker.spawn(async move {
            let outcome = match handle.await {
                Ok(Ok(())) => Outcome::Returned,
                Ok(Err(error)) => Outcome::Failed(error.to_string()),
                Err(join) => Outcome::Panicked(panic_message(join)),
            };
            // The receiver lives as long as `Stages`; after that nobody is asking.
            let _ = exits.send(Exit {
                stage: name,
                kind,
                outcome,
            });
        });
    }

    /// The next stage to end; `None` when no stage is running.
    pub async fn next_exit(&mut self) -> Option<Exit> {
        if self.running.is_empty() {
            return None;
        }
        let exit = self.exits.recv().await?;
        if let Some(at) = self
            .running
            .iter()
            .position(|(n, k)| *n == exit.stage && *k == exit.kind)
        {
            self.running.remove(at);
        }
        Some(exit)
    }

    /// Whether a stage of `kind` is still running.
    pub fn any_running(&self, kind: StageKind) -> bool {
        self.running.iter().any(|(_, k)| *k == kind)
    }

    /// Names of the stages still running.
    pub fn running(&self) -> impl Iterator<Item = &str> {
        self.running.iter().map(|(n, _)| n.as_str())
    }

    /// Names of the stages of `kind` still running.
    pub fn running_of(&self, kind: StageKind) -> impl Iterator<Item = &str> {
        self.running
            .iter()
            .filter(move |(_, k)| *k == kind)
            .map(|(n, _)| n.as_str())
    }

    /// Waits until no stage of `kind` runs or `deadline` passes, collecting every exit seen
    /// meanwhile (of any kind). `true` if they all ended in time.
    pub async fn wait_for(
        &mut self,
        kind: StageKind,
        deadline: Instant,
        seen: &mut Vec<Exit>,
    ) -> bool {
        while self.any_running(kind) {
            match tokio::time::timeout_at(deadline, self.next_exit()).await {
                Ok(Some(exit)) => seen.push(exit),
                Ok(None) => return true,
                Err(_) => return false,
            }
        }
        true
    }

    /// Closes the tracker and waits up to `limit` for every task on it (watchers included).
    pub async fn close(&self, limit: Duration) -> bool {
        self.tracker.close();
        tokio::time::timeout(limit, self.tracker.wait())
            .await
            .is_ok()
    }
}

fn panic_message(join: tokio::task::JoinError) -> String {
    if join.is_cancelled() {
        return "cancelled".to_owned();
    }
    let payload = join.into_panic();
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic with no message".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_stage_is_reported_with_its_name_and_message() {
        let mut stages = Stages::default();
        stages.spawn("rules", StageKind::Rules, async {
            if true {
                panic!("boom in the rules");
            }
            Ok::<(), String>(())
        });
        let exit = stages.next_exit().await.expect("an exit");
        assert_eq!(exit.stage, "rules");
        assert_eq!(exit.outcome, Outcome::Panicked("boom in the rules".into()));
        assert!(stages.next_exit().await.is_none(), "nothing else runs");
    }

    #[tokio::test]
    async fn errors_and_returns_are_reported_in_the_order_they_happen() {
        tokio::time::pause();
        let mut stages = Stages::default();
        stages.spawn("sink", StageKind::Sink, async {
            tokio::time::sleep(Duration::from_secs(2)).await;
            Err::<(), _>("broker refused")
        });
        stages.spawn("source:a", StageKind::Source, async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<(), String>(())
        });
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        assert!(
            stages
                .wait_for(StageKind::Source, deadline, &mut seen)
                .await
        );
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].stage, "source:a");
        assert!(stages.any_running(StageKind::Sink));
        let exit = stages.next_exit().await.expect("the sink ends");
        assert_eq!(exit.outcome, Outcome::Failed("broker refused".into()));
        assert!(stages.close(Duration::from_secs(1)).await);
    }

    #[tokio::test]
    async fn waiting_gives_up_at_the_deadline() {
        tokio::time::pause();
        let mut stages = Stages::default();
        stages.spawn("source:stuck", StageKind::Source, async {
            std::future::pending::<()>().await;
            Ok::<(), String>(())
        });
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        assert!(
            !stages
                .wait_for(StageKind::Source, deadline, &mut seen)
                .await
        );
        assert_eq!(stages.running().collect::<Vec<_>>(), ["source:stuck"]);
    }
}
