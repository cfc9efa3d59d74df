//! The alert service's own metrics, in Prometheus text format 0.0.4 (the `prometheus` crate's
//! classic encoder), served at `GET /metrics` when `[alerts] metrics_listen` is set.
//!
//! | metric | type | what |
//! |---|---|---|
//! | `edge_alerts_records_total{source}` | counter | Kafka records consumed, by topic role (`alerts`, `health`, `status`) |
//! | `edge_alerts_duplicates_total` | counter | events dropped as already applied (same gateway and `seq`) |
//! | `edge_alerts_dead_lettered_total{reason}` | counter | records stored as dead letters, by reason code |
//! | `edge_alerts_episodes_opened_total` | counter | alert episodes opened |
//! | `edge_alerts_episodes_cleared_total` | counter | alert episodes cleared |
//! | `edge_alerts_store_write_seconds` | histogram | time of one batch's transaction (successful ones) |
//! | `edge_alerts_store_failures_total` | counter | batch transactions that failed (each is retried) |
//! | `edge_alerts_alertmanager_posts_total` | counter | posts Alertmanager answered 2xx |
//! | `edge_alerts_alertmanager_failures_total` | counter | posts that failed (retried at the next round) |
//! | `edge_alerts_work_orders_total` | counter | work orders the CMMS answered 2xx |
//! | `edge_alerts_work_order_failures_total` | counter | work-order posts that failed (retried) |
//! | `edge_alerts_seen_events_pruned_total` | counter | `seen_events` rows removed by the retention |
//! | `edge_alerts_consumer_lag` | gauge | records behind the end of the assigned partitions, from librdkafka's statistics (every 5 s; -1 before the first) |
//!
//! The counters count what this process did since it started: after a restart, replayed
//! records are counted again (as duplicates).

use std::net::SocketAddr;

use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};
use tokio_util::sync::CancellationToken;

/// Every metric of the service; cheap to clone (the counters are shared).
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) records: IntCounterVec,
    pub(crate) duplicates: IntCounter,
    pub(crate) dead_lettered: IntCounterVec,
    pub(crate) episodes_opened: IntCounter,
    pub(crate) episodes_cleared: IntCounter,
    pub(crate) store_write_seconds: Histogram,
    pub(crate) store_failures: IntCounter,
    pub(crate) alertmanager_posts: IntCounter,
    pub(crate) alertmanager_failures: IntCounter,
    pub(crate) work_orders: IntCounter,
    pub(crate) work_order_failures: IntCounter,
    pub(crate) seen_events_pruned: IntCounter,
    pub(crate) consumer_lag: IntGauge,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let registry = Registry::new();
        let register = |metric: Box<dyn prometheus::core::Collector>| {
            registry
                .register(metric)
                .expect("each name registered once");
        };
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("a valid metric name");
            register(Box::new(c.clone()));
            c
        };
        let by = |name: &str, help: &str, label: &str| {
            let c = IntCounterVec::new(Opts::new(name, help), &[label]).expect("a valid metric");
            register(Box::new(c.clone()));
            c
        };
        // From 1 ms to about 4 s: a batch's transaction on SQLite or PostgreSQL.
        let buckets = prometheus::exponential_buckets(0.001, 2.0, 13).expect("valid buckets");
        let store_write_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "edge_alerts_store_write_seconds",
                "Time of one batch's store transaction (successful ones).",
            )
            .buckets(buckets),
        )
        .expect("a valid histogram");
        register(Box::new(store_write_seconds.clone()));
        let consumer_lag = IntGauge::new(
            "edge_alerts_consumer_lag",
            "Records behind the end of the assigned partitions (librdkafka statistics; -1 before the first).",
        )
        .expect("a valid metric name");
        consumer_lag.set(-1);
        register(Box::new(consumer_lag.clone()));
        Metrics {
            records: by(
                "edge_alerts_records_total",
                "Kafka records consumed, by topic role.",
                "source",
            ),
            duplicates: counter(
                "edge_alerts_duplicates_total",
                "Events dropped as already applied (same gateway and seq).",
            ),
            dead_lettered: by(
                "edge_alerts_dead_lettered_total",
                "Records stored as dead letters, by reason.",
                "reason",
            ),
            episodes_opened: counter(
                "edge_alerts_episodes_opened_total",
                "Alert episodes opened.",
            ),
            episodes_cleared: counter(
                "edge_alerts_episodes_cleared_total",
                "Alert episodes cleared.",
            ),
            store_write_seconds,
            store_failures: counter(
                "edge_alerts_store_failures_total",
                "Batch transactions that failed (each is retried).",
            ),
            alertmanager_posts: counter(
                "edge_alerts_alertmanager_posts_total",
                "Posts to Alertmanager answered 2xx.",
            ),
            alertmanager_failures: counter(
                "edge_alerts_alertmanager_failures_total",
                "Posts to Alertmanager that failed (retried at the next round).",
            ),
            work_orders: counter(
                "edge_alerts_work_orders_total",
                "Work orders the CMMS answered 2xx.",
            ),
            work_order_failures: counter(
                "edge_alerts_work_order_failures_total",
                "Work-order posts that failed (retried at the next round).",
            ),
            seen_events_pruned: counter(
                "edge_alerts_seen_events_pruned_total",
                "seen_events rows removed by the retention.",
            ),
            consumer_lag,
            registry,
        }
    }

    /// The text exposition of every metric (an encoding failure is reported in it).
    pub(crate) fn render(&self) -> String {
        let families = self.registry.gather();
        match TextEncoder::new().encode_to_string(&families) {
            Ok(text) => text,
            Err(error) => format!("# encoding failed: {error}\n"),
        }
    }
}

/// Binds `listen` now (a taken port is a start-up error) and returns the server of
/// `GET /metrics`, which runs until `stop`.
pub(crate) async fn server(
    listen: SocketAddr,
    metrics: Metrics,
    stop: CancellationToken,
) -> std::io::Result<impl std::future::Future<Output = std::io::Result<()>>> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(listen = %listener.local_addr()?, "metrics at /metrics");
    let scrape = move || {
        let text = metrics.render();
        let content_type = [(axum::http::header::CONTENT_TYPE, prometheus::TEXT_FORMAT)];
        async move { (content_type, text) }
    };
    let app = axum::Router::new().route("/metrics", axum::routing::get(scrape));
    let shutdown = async move { stop.cancelled().await };
    Ok(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_rendered_with_its_type_and_labels() {
        let metrics = Metrics::new();
        metrics.records.with_label_values(&["alerts"]).inc_by(3);
        metrics.dead_lettered.with_label_values(&["not_json"]).inc();
        metrics.store_write_seconds.observe(0.004);
        let text = metrics.render();
        assert!(
            text.contains("edge_alerts_records_total{source=\"alerts\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("edge_alerts_dead_lettered_total{reason=\"not_json\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE edge_alerts_store_write_seconds histogram"),
            "{text}"
        );
        assert!(
            text.contains("edge_alerts_store_write_seconds_count 1"),
            "{text}"
        );
        assert!(text.contains("edge_alerts_consumer_lag -1"), "{text}");
        for name in [
            "edge_alerts_duplicates_total",
            "edge_alerts_episodes_opened_total",
            "edge_alerts_alertmanager_failures_total",
            "edge_alerts_work_orders_total",
        ] {
            assert!(
                text.contains(&format!("# TYPE {name} counter")),
                "{name}: {text}"
            );
        }
    }
}
