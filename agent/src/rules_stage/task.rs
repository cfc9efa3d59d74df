//! The rules stage as a task: events from the sources in, what the rules made of them out
//! to the spool writer, and new rules in between events when a reload delivers them.
//!
//! Shutdown is a drain, never an abort: the task ends when its input is closed and empty.
//! The input closes when the last source drops its sender; if a source is stuck past the
//! sources' deadline, the wiring cancels `sources_gone`, and the task closes its receiver
//! itself, which refuses further sends but still yields every event already queued.
//!
//! Feature sets wait for the rest of their instant: while more readings of the same
//! timestamp (the rest of a device's poll cycle) are already in the input, the features
//! made from one of them are passed on after those readings, not between them. Seqs are
//! given later, by the spool, so every consumer still sees each asset's events in seq
//! order; what this buys is a poll cycle's readings consecutive in the spool, which the
//! MQTT sink sends as one batch (`mqtt/batching.rs`). Features never wait for an event that
//! has not arrived yet.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use edge_rules::lang::RuleSet;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::RulesStage;
use crate::event::{Event, EventBody};
use crate::stats::AgentStats;

/// What a reload hands the stage: new rules (or none, when the reload was refused) and a
/// health event saying what happened, spooled in order with the events around it.
#[derive(Debug)]
pub struct Reload {
    pub rules: Option<(RuleSet, bool)>,
    pub health: Event,
}

/// Why the rules stage stopped early.
#[derive(Debug, thiserror::Error)]
pub enum RulesTaskError {
    #[error("the spool writer stopped receiving; {unsent} event(s) of the rules not passed on")]
    WriterGone { unsent: usize },
}

/// The stage's channels.
#[derive(Debug)]
pub struct RulesLinks {
    pub input: mpsc::Receiver<Event>,
    pub output: mpsc::Sender<Event>,
    pub reloads: mpsc::Receiver<Reload>,
    pub sources_gone: CancellationToken,
    pub stats: Arc<AgentStats>,
}

/// Runs `stage` over the input until it is closed and drained, sending to the output. If
/// the writer stops receiving, what could not be passed on is counted in
/// [`AgentStats::not_spooled`].
pub async fn run(mut stage: RulesStage, links: RulesLinks) -> Result<(), RulesTaskError> {
    let RulesLinks {
        mut input,
        output,
        mut reloads,
        sources_gone,
        stats,
    } = links;
    let mut out = Vec::new();
    // Feature sets of the instant being read, held back until its readings are passed on.
    let mut deferred: Vec<Event> = Vec::new();
    let mut closed = false;
    let mut ended = false;
    loop {
        let next = tokio::select! {
            biased;
            Some(reload) = reloads.recv() => {
                if let Some((rules, forward_readings)) = reload.rules {
                    let summary = stage.replace_rules(rules, forward_readings);
                    info!(kept = summary.kept, rebuilt = summary.rebuilt, "new rules running");
                }
                out.push(reload.health);
                None
            }
            next = input.recv() => match next {
                Some(event) => Some(event),
                None => {
                    ended = true;
                    None
                }
            },
            () = sources_gone.cancelled(), if !closed => {
                input.close();
                closed = true;
                continue;
            }
        };
        if let Some(event) = next {
            let instant = event.ts_ms;
            let same_instant = matches!(event.body, EventBody::Reading(_))
                && deferred.first().is_some_and(|d| d.ts_ms == instant);
            if !same_instant {
                out.append(&mut deferred);
            }
            let from = out.len();
            // The status page sees what the sources read and what the rules made of it.
            let mut seen = crate::stats::lock(&stats.status);
            seen.observe(&event);
            stage.process(event, &mut out);
            seen.held_back = stage.held_back();
            let derived = out[from..].iter().filter(|e| e.body.kind() != "reading");
            derived.for_each(|e| seen.observe(e));
            drop(seen);
            if !input.is_empty() {
                // A few events at most: the reading, an alert, its features.
                let mut i = from;
                while i < out.len() {
                    if matches!(out[i].body, EventBody::Features(_)) && out[i].ts_ms == instant {
                        deferred.push(out.remove(i));
                    } else {
                        i += 1;
                    }
                }
            }
        }
        if next_is_none_or_idle(ended, &input) {
            out.append(&mut deferred);
        }
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
        if ended {
            return Ok(());
        }
    }
}

/// Whether held-back features must go now: the input ended, or nothing waits in it.
fn next_is_none_or_idle(ended: bool, input: &mpsc::Receiver<Event>) -> bool {
    ended || input.is_empty()
}
