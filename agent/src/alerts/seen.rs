//! Duplicate detection by `(gateway, seq)`, kept bounded by a retention.
//!
//! # Invariants
//!
//! 1. **Every applied event is remembered for at least the retention**: its row in
//!    `seen_events` carries `seen_ms`, when it was applied, and is pruned only once that is
//!    older than `[alerts] seen_retention` (default 8 days: longer than Kafka's default
//!    retention of 7 days, so a replay of anything Kafka still holds falls inside it). The
//!    table holds the events of one retention, no more.
//! 2. **A replay older than the retention changes nothing either**, because the episodes
//!    recognise their own events (`store.rs`): a raise whose episode exists (its id is
//!    `{gateway}:{seq}`) is a duplicate, and a raise or clear with a `seq` below the open
//!    episode's raise is stale. Health states are kept by timestamp, so an old one does not
//!    overwrite a newer one. Only the `duplicates` count can tell the two paths apart.
//! 3. No low-water mark per gateway: a gateway whose `seq` starts again from 1 (a lost spool,
//!    a reinstall) would be silenced for good by one; with the retention alone, its new
//!    events are applied once its old ones are forgotten.
//!
//! The check and the insert are one statement, in the batch's transaction.

use std::time::Duration;

use sqlx::AnyPool;
use tokio_util::sync::CancellationToken;

use super::metrics::Metrics;
use super::store::{now_ms, query_error, Store, StoreError, Tx};

/// Records `(gateway, seq)` as applied at `now_ms`; false when it was already there.
pub(crate) async fn first_time(
    tx: &mut Tx,
    gateway: &str,
    seq: u64,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO seen_events (gateway, seq, seen_ms) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(gateway)
    .bind(seq as i64)
    .bind(now_ms)
    .execute(&mut **tx)
    .await
    .map_err(query_error("dedup"))?;
    Ok(done.rows_affected() == 1)
}

/// Forgets the events applied before `cutoff_ms`; returns the rows removed.
pub(crate) async fn prune(pool: &AnyPool, cutoff_ms: i64) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM seen_events WHERE seen_ms < $1")
        .bind(cutoff_ms)
        .execute(pool)
        .await
        .map_err(query_error("prune seen events"))?;
    Ok(done.rows_affected())
}

/// How often the pruner runs: a tenth of the retention, between a minute and an hour.
fn period(retention: Duration) -> Duration {
    (retention / 10).clamp(Duration::from_secs(60), Duration::from_secs(3600))
}

/// Prunes at start-up and then every [`period`] until `stop`; a failure is logged and tried
/// again at the next period.
pub(crate) async fn run_pruner(
    store: Store,
    retention: Duration,
    metrics: Metrics,
    stop: CancellationToken,
) {
    let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    loop {
        match store
            .prune_seen(now_ms().saturating_sub(retention_ms))
            .await
        {
            Ok(removed) => {
                metrics.seen_events_pruned.inc_by(removed);
                if removed > 0 {
                    tracing::debug!(removed, "seen events pruned");
                }
            }
            Err(error) => tracing::warn!(%error, "pruning seen events failed; trying again later"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(period(retention)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pruner_runs_often_enough_and_not_too_often() {
        assert_eq!(
            period(Duration::from_secs(8 * 86_400)),
            Duration::from_secs(3600)
        );
        assert_eq!(period(Duration::from_secs(3000)), Duration::from_secs(300));
        assert_eq!(period(Duration::from_secs(10)), Duration::from_secs(60));
    }
}
