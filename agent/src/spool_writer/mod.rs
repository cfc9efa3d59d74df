//! The spool writer: every event goes into the durable spool before anything sends it.
//!
//! Events are appended in groups (whatever has arrived, up to [`MAX_GROUP`]), so that the
//! per-append flush of the default durability is shared. Alerts and health events are
//! spooled as [`Priority::Alert`], so they survive a full spool and go out first; readings
//! and features as telemetry. When the spool drops records to make room, a `spool` health
//! event says how many, at most once per [`DROP_REPORT_EVERY`]. When the spool refuses
//! (policy `reject`), the writer waits and retries: its channel fills and the sources wait.
//!
//! Shutdown: the writer ends when its channel is closed and drained (the rules stage has
//! ended). Every wait of its retry loop is raced against `give_up`, which the wiring cancels
//! when the drain deadline has passed (say, a full spool with `full_policy = "reject"` and
//! the broker down): the writer then counts what it could not spool
//! ([`AgentStats::not_spooled`]), says so in one error line, and ends.

use std::sync::Arc;
use std::time::Duration;

use std::sync::atomic::Ordering;

use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{error, warn};

use crate::event::{payload, Event, EventBody, HealthState};
use crate::sources::now_ms;
use crate::spool::{Priority, SharedSpool, SpoolError};
use crate::stats::AgentStats;

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

/// The writer's side of the wiring.
#[derive(Debug, Clone)]
pub struct WriterLinks {
    /// Woken after each group is appended.
    pub sink: Arc<Notify>,
    /// Cancelled when the drain deadline has passed: stop retrying, count the rest as lost.
    pub give_up: CancellationToken,
    pub stats: Arc<AgentStats>,
}

/// The writer gave up (only at shutdown, past the deadline) with this many events of the
/// group not spooled.
struct GaveUp(usize);

/// Appends everything from `events` to `spool` until the channel closes; wakes the sink
/// after each group. Never fails: a spool that refuses is retried until `give_up`.
pub async fn run(
    spool: SharedSpool,
    mut events: mpsc::Receiver<Event>,
    links: WriterLinks,
) -> Result<(), std::convert::Infallible> {
    let mut dropped_unreported = (0u64, 0u64);
    let mut last_report: Option<Instant> = None;
    let mut group = Vec::with_capacity(MAX_GROUP);
    while events.recv_many(&mut group, MAX_GROUP).await > 0 {
        let dropped = match append_with_backpressure(&spool, &group, &links).await {
            Ok(dropped) => dropped,
            Err(GaveUp(unspooled)) => {
                events.close();
                let mut lost = unspooled as u64;
                while events.recv().await.is_some() {
                    lost += 1;
                }
                links.stats.not_spooled.fetch_add(lost, Ordering::Relaxed);
                error!(lost, "shutdown deadline passed while the spool refused events: they were not spooled");
                return Ok(());
            }
        };
        group.clear();
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
            // A health event refused at the deadline is not worth a separate report.
            let _ = append_with_backpressure(&spool, &[health], &links).await;
            last_report = Some(Instant::now());
        }
        links.sink.notify_one();
    }
    Ok(())
}

/// Sleeps `wait`; `false` if `give_up` comes first.
async fn pause(wait: Duration, give_up: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(wait) => true,
        () = give_up.cancelled() => false,
    }
}

/// Appends `group`, retrying while the spool refuses; returns (telemetry, alerts) dropped.
async fn append_with_backpressure(
    spool: &SharedSpool,
    group: &[Event],
    links: &WriterLinks,
) -> Result<(u64, u64), GaveUp> {
    let encoded: Vec<(Priority, Vec<u8>)> = group
        .iter()
        .map(|e| (priority(e), payload::encode(e)))
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
                if !pause(wait, &links.give_up).await {
                    return Err(GaveUp(pending.len()));
                }
                wait = (wait * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        let mut refused = Vec::new();
        let mut spooled = 0;
        for (result, item) in results.into_iter().zip(pending) {
            match result {
                Ok(appended) => {
                    spooled += 1;
                    dropped.0 += *appended.dropped.dropped.get(Priority::Telemetry);
                    dropped.1 += *appended.dropped.dropped.get(Priority::Alert);
                }
                Err(SpoolError::Full { .. }) => refused.push(item),
                Err(e) => {
                    links.stats.not_spooled.fetch_add(1, Ordering::Relaxed);
                    error!(error = %e, "event not spooled");
                }
            }
        }
        links.stats.spooled.fetch_add(spooled, Ordering::Relaxed);
        if refused.is_empty() {
            return Ok(dropped);
        }
        pending = refused;
        if !pause(wait, &links.give_up).await {
            return Err(GaveUp(pending.len()));
        }
        wait = (wait * 2).min(Duration::from_secs(1));
    }
}
