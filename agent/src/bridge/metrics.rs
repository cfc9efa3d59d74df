//! The bridge's metrics, in Prometheus text format 0.0.4 (the `prometheus` crate's classic
//! encoder), served at `GET /metrics` when `[bridge] metrics_listen` is set.
//!
//! | metric | type | what |
//! |---|---|---|
//! | `edge_bridge_consumed_total` | counter | MQTT messages received (a batch of readings is one) |
//! | `edge_bridge_redelivered_total` | counter | of those, with the DUP flag (forwarded like any other) |
//! | `edge_bridge_skipped_total` | counter | acknowledged without forwarding: another instance's key |
//! | `edge_bridge_produced_total{topic}` | counter | records Kafka acknowledged, by destination (`telemetry`, `alerts`, `health`, `status`, `dead_letter`) |
//! | `edge_bridge_dead_lettered_total{reason}` | counter | records sent to the dead-letter topic (a message, or one entry of a batch), by reason |
//! | `edge_bridge_retries_total` | counter | records produced again after Kafka refused them |
//! | `edge_bridge_in_flight` | gauge | messages received and not yet acknowledged to MQTT |
//! | `edge_bridge_oldest_unacked_age_seconds` | gauge | age of the oldest of those (0 when none) |
//! | `edge_bridge_kafka_up` | gauge | 1 while Kafka acknowledges records, 0 after "all brokers down" |
//! | `edge_bridge_mqtt_up` | gauge | 1 while connected to the MQTT broker |
//! | `edge_bridge_mqtt_connections_total` | counter | MQTT connections made (CONNACKs) |

use std::net::SocketAddr;

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};
use tokio_util::sync::CancellationToken;

use super::error::BridgeError;

/// Every metric of the bridge; cheap to clone (the counters are shared).
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    pub(crate) consumed: IntCounter,
    pub(crate) redelivered: IntCounter,
    pub(crate) skipped: IntCounter,
    pub(crate) produced: IntCounterVec,
    pub(crate) dead_lettered: IntCounterVec,
    pub(crate) retries: IntCounter,
    pub(crate) in_flight: IntGauge,
    pub(crate) oldest_unacked_age_seconds: IntGauge,
    pub(crate) kafka_up: IntGauge,
    pub(crate) mqtt_up: IntGauge,
    pub(crate) mqtt_connections: IntCounter,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("a valid metric name");
            registry
                .register(Box::new(c.clone()))
                .expect("registered once");
            c
        };
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("a valid metric name");
            registry
                .register(Box::new(g.clone()))
                .expect("registered once");
            g
        };
        let by = |name: &str, help: &str, label: &str| {
            let c = IntCounterVec::new(Opts::new(name, help), &[label]).expect("a valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("registered once");
            c
        };
        Metrics {
            consumed: counter("edge_bridge_consumed_total", "MQTT messages received."),
            redelivered: counter(
                "edge_bridge_redelivered_total",
                "MQTT messages received with the DUP flag (forwarded like any other).",
            ),
            skipped: counter(
                "edge_bridge_skipped_total",
                "MQTT messages acknowledged without forwarding: their key belongs to another instance.",
            ),
            produced: by(
                "edge_bridge_produced_total",
                "Records Kafka acknowledged, by destination.",
                "topic",
            ),
            dead_lettered: by(
                "edge_bridge_dead_lettered_total",
                "Messages sent to the dead-letter topic, by reason.",
                "reason",
            ),
            retries: counter(
                "edge_bridge_retries_total",
                "Records produced again after Kafka refused them.",
            ),
            in_flight: gauge(
                "edge_bridge_in_flight",
                "MQTT messages received and not yet acknowledged.",
            ),
            oldest_unacked_age_seconds: gauge(
                "edge_bridge_oldest_unacked_age_seconds",
                "Age of the oldest MQTT message not yet acknowledged (0 when none).",
            ),
            kafka_up: gauge(
                "edge_bridge_kafka_up",
                "1 while Kafka acknowledges records, 0 after all brokers went down.",
            ),
            mqtt_up: gauge(
                "edge_bridge_mqtt_up",
                "1 while connected to the MQTT broker.",
            ),
            mqtt_connections: counter(
                "edge_bridge_mqtt_connections_total",
                "MQTT connections made.",
            ),
            registry,
        }
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_else(|error| format!("# encoding failed: {error}\n"))
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Binds `listen` now (so a taken port is a startup error) and returns the server, which
/// runs until `shutdown`.
pub(crate) async fn serve(
    listen: SocketAddr,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> Result<impl std::future::Future<Output = std::io::Result<()>>, BridgeError> {
    use axum::{http::header, routing::get, Router};
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| BridgeError::MetricsListen { listen, source })?;
    tracing::info!(%listen, "metrics at /metrics");
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let body = metrics.render();
            async move { ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], body) }
        }),
    );
    Ok(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_rendered_with_their_labels_in_the_classic_text_format() {
        let metrics = Metrics::new();
        metrics.consumed.inc_by(3);
        metrics.produced.with_label_values(&["telemetry"]).inc();
        metrics.dead_lettered.with_label_values(&["not_json"]).inc();
        let text = metrics.render();
        assert!(
            text.contains(
                "# TYPE edge_bridge_consumed_total counter\nedge_bridge_consumed_total 3\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("edge_bridge_produced_total{topic=\"telemetry\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("edge_bridge_dead_lettered_total{reason=\"not_json\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE edge_bridge_in_flight gauge"),
            "{text}"
        );
    }
}
