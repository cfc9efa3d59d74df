//! The rules stage as a task: events from the sources in, what the rules made of them out
//! to the spool writer.
//!
//! Shutdown is a drain, never an abort: the task ends when its input is closed and empty.
//! The input closes when the last source drops its sender; if a source is stuck past the
//! sources' deadline, the wiring cancels `sources_gone`, and the task closes its receiver
//! itself, which refuses further sends but still yields every event already queued.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::RulesStage;
use crate::event::Event;
use crate::stats::AgentStats;

/// Why the rules stage stopped early.
#[derive(Debug, thiserror::Error)]
pub enum RulesTaskError {
    #[error("the spool writer stopped receiving; {unsent} event(s) of the rules not passed on")]
    WriterGone { unsent: usize },
}

/// Runs `stage` over `input` until it is closed and drained, sending to `output`. If the
/// writer stops receiving, what could not be passed on is counted in
/// [`AgentStats::not_spooled`].
pub async fn run(
    mut stage: RulesStage,
    mut input: mpsc::Receiver<Event>,
    output: mpsc::Sender<Event>,
    sources_gone: CancellationToken,
    stats: Arc<AgentStats>,
) -> Result<(), RulesTaskError> {
    let mut out = Vec::new();
    let mut closed = false;
    loop {
        let next = if closed {
            input.recv().await
        } else {
            tokio::select! {
                biased;
                next = input.recv() => next,
                () = sources_gone.cancelled() => {
                    input.close();
                    closed = true;
                    continue;
                }
            }
        };
        let Some(event) = next else {
            return Ok(());
        };
        stage.process(event, &mut out);
        let made = out.len();
        for (sent, event) in out.drain(..).enumerate() {
            if output.send(event).await.is_err() {
                input.close();
                let unsent = made - sent + input.len();
                stats
                    .not_spooled
                    .fetch_add(unsent as u64, Ordering::Relaxed);
                return Err(RulesTaskError::WriterGone { unsent });
            }
        }
    }
}
