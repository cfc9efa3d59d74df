//! The Kafka side: one member of a consumer group on the alert, health and status topics.
//!
//! A batch is what arrived together (up to `[alerts] max_batch` records): it is decoded,
//! written to the store in one transaction, and only after that commit are its offsets
//! committed to Kafka (`enable.auto.commit = false`). A store that fails keeps the batch and
//! retries it with a capped backoff, reading nothing more meanwhile. An offset commit that
//! fails (a rebalance took the partition) only means those records come again, to this
//! instance or another: the store drops them as duplicates.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer as _, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::config::{AlertsSection, ConsumerKafka};
use super::metrics::Metrics;
use super::record::{decode, Source};
use super::store::{now_ms, Applied, Item, Position, Store, StoreError};

/// Why the consumer stopped.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    #[error("Kafka consumer: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
}

/// librdkafka's context: client errors and the group's assignments go to the log, its
/// statistics to the lag gauge.
#[derive(Debug)]
pub(crate) struct GroupContext {
    consumer_lag: prometheus::IntGauge,
}

impl ClientContext for GroupContext {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        warn!(%error, reason, "Kafka client");
    }

    fn stats(&self, statistics: rdkafka::Statistics) {
        // Partition -1 is librdkafka's internal one; a lag of -1 means "not known yet".
        let lag: i64 = statistics
            .topics
            .values()
            .flat_map(|topic| topic.partitions.iter())
            .filter(|(partition, p)| **partition >= 0 && p.consumer_lag >= 0)
            .map(|(_, p)| p.consumer_lag)
            .sum();
        self.consumer_lag.set(lag);
    }
}

impl ConsumerContext for GroupContext {
    fn post_rebalance(
        &self,
        _consumer: &rdkafka::consumer::BaseConsumer<Self>,
        rebalance: &Rebalance<'_>,
    ) {
        match rebalance {
            Rebalance::Assign(list) => {
                let partitions: Vec<String> = list
                    .elements()
                    .iter()
                    .map(|e| format!("{}/{}", e.topic(), e.partition()))
                    .collect();
                info!(?partitions, "partitions assigned");
            }
            Rebalance::Revoke(list) => info!(count = list.count(), "partitions revoked"),
            Rebalance::Error(error) => warn!(%error, "rebalance failed"),
        }
    }
}

/// The consumer and what it writes to.
pub(crate) struct Consumer {
    consumer: StreamConsumer<GroupContext>,
    sources: BTreeMap<String, Source>,
    store: Store,
    section: AlertsSection,
    wake: Arc<Notify>,
    /// Bumped after each batch: the board's live updates.
    changes: watch::Sender<u64>,
    /// Dead-letter reasons already logged at `warn` (each is logged once, then counted).
    logged_reasons: Vec<&'static str>,
    metrics: Metrics,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("sources", &self.sources)
            .finish()
    }
}

impl Consumer {
    pub(crate) fn new(
        kafka: &ConsumerKafka,
        section: AlertsSection,
        store: Store,
        wake: Arc<Notify>,
        changes: watch::Sender<u64>,
        metrics: Metrics,
    ) -> Result<Self, ConsumerError> {
        let mut client = ClientConfig::new();
        client
            .set("auto.offset.reset", "earliest")
            .set("statistics.interval.ms", "5000");
        for (key, value) in &kafka.properties {
            client.set(key, &value.0);
        }
        client
            .set("bootstrap.servers", &kafka.bootstrap_servers)
            .set("group.id", &kafka.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false");
        let context = GroupContext {
            consumer_lag: metrics.consumer_lag.clone(),
        };
        let consumer: StreamConsumer<GroupContext> = client.create_with_context(context)?;
        let topics = &kafka.topics;
        let sources: BTreeMap<String, Source> = [
            (Some(&topics.alerts), Source::Alerts),
            (Some(&topics.health), Source::Health),
            (Some(&topics.status), Source::Status),
            (topics.telemetry.as_ref(), Source::Telemetry),
        ]
        .into_iter()
        .filter_map(|(topic, source)| Some((topic?.clone(), source)))
        .collect();
        let names: Vec<&str> = sources.keys().map(String::as_str).collect();
        consumer.subscribe(&names)?;
        Ok(Consumer {
            consumer,
            sources,
            store,
            section,
            wake,
            changes,
            logged_reasons: Vec::new(),
            metrics,
        })
    }

    fn item(&self, message: &BorrowedMessage<'_>) -> Item {
        let topic = message.topic();
        let source = self.sources.get(topic).copied().unwrap_or(Source::Alerts);
        self.metrics
            .records
            .with_label_values(&[source.label()])
            .inc();
        let key = message.key();
        let payload = message.payload().unwrap_or_default();
        let ts = message.timestamp().to_millis().unwrap_or_else(now_ms);
        Item {
            at: Position {
                topic: topic.to_owned(),
                partition: message.partition(),
                offset: message.offset(),
                key: key.map(|k| String::from_utf8_lossy(k).into_owned()),
            },
            payload: payload.to_vec(),
            decoded: decode(source, key, payload, self.section.asset_levels, ts),
        }
    }

    /// Runs until `shutdown`. Errs only when the Kafka client cannot be used at all.
    pub(crate) async fn run(mut self, shutdown: CancellationToken) -> Result<(), ConsumerError> {
        info!(topics = ?self.sources.keys().collect::<Vec<_>>(), "alert consumer started");
        let mut kafka_failing = false;
        loop {
            let first = tokio::select! {
                _ = shutdown.cancelled() => break,
                received = self.consumer.recv() => received,
            };
            let mut batch = match first {
                Ok(message) => {
                    kafka_failing = false;
                    vec![self.item(&message)]
                }
                Err(error) => {
                    if !kafka_failing {
                        warn!(%error, "Kafka consumer error (repeats at debug)");
                    } else {
                        debug!(%error, "Kafka consumer error");
                    }
                    kafka_failing = true;
                    continue;
                }
            };
            // Whatever else is already here joins the batch.
            while batch.len() < self.section.max_batch {
                match tokio::time::timeout(Duration::from_millis(2), self.consumer.recv()).await {
                    Ok(Ok(message)) => batch.push(self.item(&message)),
                    _ => break,
                }
            }
            if !self.write(&batch, &shutdown).await {
                break;
            }
            self.commit(&batch);
        }
        info!("alert consumer stopped");
        Ok(())
    }

    /// Writes the batch, retrying a failing store; false when shutdown came first.
    async fn write(&mut self, batch: &[Item], shutdown: &CancellationToken) -> bool {
        let mut backoff = Duration::from_millis(200);
        let mut failures = 0u32;
        loop {
            let started = std::time::Instant::now();
            match self.store.apply(batch).await {
                Ok(applied) => {
                    if failures > 0 {
                        info!(failures, "store writes again");
                    }
                    self.count(&applied, started.elapsed());
                    for code in &applied.dead_reasons {
                        if !self.logged_reasons.contains(code) {
                            self.logged_reasons.push(code);
                            warn!(reason = code, "records kept as dead letters (this reason is logged once; see the dead_letters table)");
                        }
                    }
                    debug!(
                        records = batch.len(),
                        raised = applied.raised,
                        cleared = applied.cleared,
                        duplicates = applied.duplicates,
                        dead_letters = applied.dead_letters,
                        "batch stored"
                    );
                    self.wake.notify_one();
                    self.changes.send_modify(|n| *n = n.wrapping_add(1));
                    return true;
                }
                Err(error) => {
                    self.metrics.store_failures.inc();
                    self.store_failed(&error, failures);
                    failures += 1;
                    tokio::select! {
                        _ = shutdown.cancelled() => return false,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    fn count(&self, applied: &Applied, took: Duration) {
        let m = &self.metrics;
        m.store_write_seconds.observe(took.as_secs_f64());
        m.episodes_opened.inc_by(applied.opened);
        m.episodes_cleared.inc_by(applied.cleared);
        m.duplicates.inc_by(applied.duplicates);
        for code in &applied.dead_reasons {
            m.dead_lettered.with_label_values(&[code]).inc();
        }
    }

    fn store_failed(&self, error: &StoreError, failures: u32) {
        if failures == 0 {
            warn!(%error, "store write failed: the batch is kept and retried, its offsets not committed");
        } else {
            debug!(%error, failures, "store write failed again");
        }
    }

    /// Commits the offsets after the batch (the next record of each partition).
    fn commit(&self, batch: &[Item]) {
        let mut next: BTreeMap<(&str, i32), i64> = BTreeMap::new();
        for item in batch {
            let at = &item.at;
            let entry = next.entry((&at.topic, at.partition)).or_insert(0);
            *entry = (*entry).max(at.offset + 1);
        }
        let mut list = TopicPartitionList::new();
        for ((topic, partition), offset) in next {
            if let Err(error) = list.add_partition_offset(topic, partition, Offset::Offset(offset))
            {
                warn!(%error, topic, partition, "offset not committed");
            }
        }
        if let Err(error) = self.consumer.commit(&list, CommitMode::Sync) {
            // The records come again, and are dropped as duplicates.
            warn!(%error, "offset commit failed: the batch will be read again");
        }
    }
}
