//! The alert service, `edge-agent alerts --config FILE`: a data-centre service that keeps the
//! fleet's alert history and brings alerts to the maintenance team.
//!
//! Only [`config`] is built without the cargo feature `alerts` (so that `check` validates
//! these configs in every build); everything that talks to Kafka, a database or HTTP needs
//! the feature, and the gateway's build links none of it.
//!
//! # Path of a record
//!
//! Kafka (the bridge's alert, health and status topics, and optionally its telemetry topic)
//! → `consumer.rs` (a consumer group, manual offset commits) → `record.rs` (decode, or a
//! dead letter) → `store.rs` (SQLite or PostgreSQL, one transaction per batch, duplicates
//! dropped by `(gateway, seq)` in `seen.rs`, the feature trend around each episode in
//! `trend.rs`) → offsets committed. Beside it, `notify.rs` reads the store and posts to
//! Alertmanager and the CMMS, `seen.rs` prunes the dedup table past its retention, `board.rs`
//! serves the maintenance board and `metrics.rs` the service's own `/metrics`.
//!
//! # Invariants
//!
//! 1. **Offsets are committed only after the batch's writes are committed** to the store:
//!    a crash or `kill -9` at any point loses nothing and at worst replays records.
//! 2. **Exactly-once view over at-least-once transport**: a replayed or re-sent event
//!    (same gateway and `seq`) changes nothing; so every alert is one episode however
//!    often it arrives, and however many instances share the group.
//! 3. **Bad input never stops the consumer**: a malformed record, an unknown `v` or a clear
//!    without its raise is stored in `dead_letters` with its reason, logged once per reason.
//! 4. **Notifications are driven by the store** (see `notify.rs`): an Alertmanager or CMMS
//!    outage delays them and loses none.
//! 5. **A stage that fails stops the service**: the consumer, the notifier, the pruner, the
//!    board and the metrics server run under one cancellation token; the consumer's end ends
//!    the others, and a board or metrics server that fails (or any task that panics) ends
//!    the consumer and the service with its error.

pub mod config;

#[cfg(feature = "alerts")]
mod board;
#[cfg(feature = "alerts")]
mod consumer;
#[cfg(feature = "alerts")]
mod http;
#[cfg(feature = "alerts")]
mod metrics;
#[cfg(feature = "alerts")]
mod notify;
#[cfg(feature = "alerts")]
mod record;
#[cfg(feature = "alerts")]
mod schema;
#[cfg(feature = "alerts")]
mod seen;
#[cfg(feature = "alerts")]
pub mod store;
#[cfg(feature = "alerts")]
mod trend;

#[cfg(feature = "alerts")]
pub use consumer::ConsumerError;
#[cfg(feature = "alerts")]
pub use notify::{EPISODE_ALERTNAME, OFFLINE_ALERTNAME};
#[cfg(feature = "alerts")]
pub use store::{Store, StoreError};
#[cfg(feature = "alerts")]
use tokio::task::JoinSet;

/// Why the service stopped.
#[cfg(feature = "alerts")]
#[derive(Debug, thiserror::Error)]
pub enum AlertsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Consumer(#[from] ConsumerError),
    #[error("board: {0}")]
    Board(std::io::Error),
    #[error("metrics listener: {0}")]
    Metrics(std::io::Error),
    #[error("a task panicked: {0}")]
    Task(String),
}

/// Runs the service until `shutdown`: the consumer, the notifier, the pruner of
/// `seen_events`, and the board and the metrics when configured.
#[cfg(feature = "alerts")]
pub async fn run(
    config: config::AlertsConfig,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<(), AlertsError> {
    let work_order_min = config.work_orders.as_ref().map(|w| w.min_severity);
    let store = Store::connect(
        &config.store.url.0,
        config.store.max_connections,
        work_order_min,
    )
    .await?;
    let wake = std::sync::Arc::new(tokio::sync::Notify::new());
    let (changes, _) = tokio::sync::watch::channel(0u64);
    let metrics = metrics::Metrics::new();
    let section = config.alerts;
    let consumer = consumer::Consumer::new(
        &config.kafka,
        section.clone(),
        store.clone(),
        wake.clone(),
        changes.clone(),
        metrics.clone(),
    )?;
    let stop = shutdown.child_token();
    let mut tasks: JoinSet<Result<(), AlertsError>> = JoinSet::new();
    if let Some(listen) = section.metrics_listen {
        let serve = metrics::server(listen, metrics.clone(), stop.clone())
            .await
            .map_err(AlertsError::Metrics)?;
        tasks.spawn(async move { serve.await.map_err(AlertsError::Metrics) });
    }
    if let Some(board) = &config.board {
        let listener = tokio::net::TcpListener::bind(board.listen)
            .await
            .map_err(AlertsError::Board)?;
        tracing::info!(listen = %listener.local_addr().map_err(AlertsError::Board)?, "maintenance board");
        let token = std::sync::Arc::from(board.token.0.as_str());
        let serve = board::serve(listener, store.clone(), token, changes, stop.clone());
        tasks.spawn(async move { serve.await.map_err(AlertsError::Board) });
    }
    let pruner = seen::run_pruner(
        store.clone(),
        section.seen_retention,
        metrics.clone(),
        stop.clone(),
    );
    let notifier = notify::Notifier {
        store,
        alertmanager: config.alertmanager,
        work_orders: config.work_orders,
        wake,
        metrics,
    };
    let notifier = notifier.run(stop.clone());
    tasks.spawn(async move {
        tokio::join!(pruner, notifier);
        Ok(())
    });
    // The consumer runs until `shutdown`; a task that fails before it stops the service
    // (a task that ends without error, such as a notifier with nothing to notify, does not).
    let mut consumer = std::pin::pin!(consumer.run(shutdown));
    let mut outcome = loop {
        tokio::select! {
            result = &mut consumer => break result.map_err(AlertsError::from),
            Some(joined) = tasks.join_next() => {
                if let Err(error) = task_outcome(joined) {
                    tracing::error!(%error, "a task of the alert service failed: stopping");
                    break Err(error);
                }
            }
        }
    };
    stop.cancel();
    while let Some(joined) = tasks.join_next().await {
        if let Err(error) = task_outcome(joined) {
            tracing::error!(%error, "a task of the alert service failed while stopping");
            if outcome.is_ok() {
                outcome = Err(error);
            }
        }
    }
    outcome
}

#[cfg(feature = "alerts")]
fn task_outcome(
    joined: Result<Result<(), AlertsError>, tokio::task::JoinError>,
) -> Result<(), AlertsError> {
    joined.unwrap_or_else(|error| Err(AlertsError::Task(error.to_string())))
}
