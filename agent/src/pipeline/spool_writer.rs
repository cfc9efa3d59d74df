//! The spool writer: every event goes into the durable spool before anything sends it.
//!
//! Events are appended in groups (whatever has arrived, up to [`MAX_GROUP`]), so that the
//! per-append flush of the default durability is shared. Alerts and health events are
//! spooled as [`Priority::Alert`], so they survive a full spool and go out first; readings
//! and features as telemetry. When the spool drops records to make room, a `spool` health
//! event says how many, at most once per [`DROP_REPORT_EVERY`]. When the spool refuses
//! (policy `reject`), the writer waits and retries: its channel fills and the sources wait.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;
use tracing::{error, warn};

use crate::event::{Event, EventBody, HealthState};
use crate::sources::now_ms;
use crate::spool::{Priority, SharedSpool, SpoolError};

/// Events appended with one flush, at most. A group and its encoded records are transient,
/// but each group's peak is what the heap grows to: at 20,000 readings a second the agent's
/// resident memory measured 37 MiB with groups of 4,096, 27 with 1,024 and 22 with 256, at
/// the same throughput and CPU (README, "Modbus load"). Still a few hundred flushes a second
/// at most, which the spool's grouped appends sustain many times over.
pub const MAX_GROUP: usize = 256;
/// How often drops are reported, at most.
pub const DROP_REPORT_EVERY: Duration = Duration::from_secs(10);

/// The spool class of an event.
pub fn priority(event: &Event) -> Priority {
    match event.body {
        EventBody::Alert(_) | EventBody::Health(_) => Priority::Alert,
        EventBody::Reading(_) | EventBody::Features(_) => Priority::Telemetry,
    }
}

/// Appends everything from `events` to `spool` until the channel closes; wakes `sink` after
/// each group.
pub async fn run(spool: SharedSpool, mut events: mpsc::Receiver<Event>, sink: Arc<Notify>) {
    let mut dropped_unreported = (0u64, 0u64);
    let mut last_report: Option<Instant> = None;
    while let Some(first) = events.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match events.try_recv() {
                Ok(event) => group.push(event),
                Err(_) => break,
            }
        }
        let dropped = append_with_backpressure(&spool, &group).await;
        dropped_unreported.0 += dropped.0;
        dropped_unreported.1 += dropped.1;
        let due = last_report.is_none_or(|t| t.elapsed() >= DROP_REPORT_EVERY);
        if dropped_unreported != (0, 0) && due {
            let (telemetry, alerts) = std::mem::take(&mut dropped_unreported);
            warn!(
                telemetry,
                alerts, "spool full: dropped the oldest records to make room"
            );
            let detail = format!(
                "spool full: dropped {telemetry} telemetry and {alerts} alert records to make room"
            );
            let health = Event::health(now_ms(), "spool", HealthState::Degraded, detail);
            append_with_backpressure(&spool, &[health]).await;
            last_report = Some(Instant::now());
        }
        sink.notify_one();
    }
}

/// Appends `group`, retrying while the spool refuses; returns (telemetry, alerts) dropped.
async fn append_with_backpressure(spool: &SharedSpool, group: &[Event]) -> (u64, u64) {
    let encoded: Vec<(Priority, Vec<u8>)> = group
        .iter()
        .map(|e| {
            (
                priority(e),
                postcard::to_stdvec(e).expect("events always encode with postcard"),
            )
        })
        .collect();
    let mut pending = encoded;
    let mut dropped = (0, 0);
    let mut wait = Duration::from_millis(50);
    loop {
        let batch = pending.clone();
        let result = spool
            .run(move |s| {
                let refs: Vec<(Priority, &[u8])> =
                    batch.iter().map(|(p, b)| (*p, b.as_slice())).collect();
                s.append_all(&refs)
            })
            .await;
        let results = match result {
            Ok(results) => results,
            Err(e) => {
                error!(error = %e, "cannot write to the spool; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        let mut refused = Vec::new();
        for (result, item) in results.into_iter().zip(pending) {
            match result {
                Ok(appended) => {
                    dropped.0 += *appended.dropped.dropped.get(Priority::Telemetry);
                    dropped.1 += *appended.dropped.dropped.get(Priority::Alert);
                }
                Err(SpoolError::Full { .. }) => refused.push(item),
                Err(e) => error!(error = %e, "event not spooled"),
            }
        }
        if refused.is_empty() {
            return dropped;
        }
        pending = refused;
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(1));
    }
}
