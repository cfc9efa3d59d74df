//! The bridge's error type: what stops it from starting or from running. A broker that is
//! down (MQTT or Kafka) is not an error of the bridge: it waits, retries and counts.

use std::net::SocketAddr;

use crate::mqtt::MqttError;

#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// A file named by `[mqtt]` (password, TLS) is missing or unusable.
    #[error(transparent)]
    Mqtt(#[from] MqttError),

    /// A file named by `[kafka]` could not be read.
    #[error("[kafka] {key}: cannot read {path}: {source}")]
    ReadFile {
        key: &'static str,
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// librdkafka refused the producer's configuration.
    #[error("[kafka]: the producer cannot be created: {0}")]
    Producer(#[source] rdkafka::error::KafkaError),

    /// Kafka's producer failed for good (a fatal error of the idempotent producer). What is
    /// not acknowledged to MQTT stays with the MQTT broker for the next start.
    #[error("Kafka producer failed: {0}")]
    Fatal(String),

    /// The metrics address could not be bound.
    #[error("[bridge] metrics_listen: cannot listen on {listen}: {source}")]
    MetricsListen {
        listen: SocketAddr,
        #[source]
        source: std::io::Error,
    },

    /// The metrics server stopped with an error.
    #[error("metrics server: {0}")]
    MetricsServer(#[source] std::io::Error),

    /// The broker refused the subscription.
    #[error("the MQTT broker refused the subscription to `{0}`")]
    Subscription(String),
}
