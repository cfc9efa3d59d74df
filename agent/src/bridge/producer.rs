//! The Kafka side: librdkafka's idempotent producer (`acks=all`, `enable.idempotence`), and
//! the delivery of one record until Kafka acknowledged it.
//!
//! While Kafka is unreachable, librdkafka reconnects with its own capped backoff
//! (`reconnect.backoff.ms` … `reconnect.backoff.max.ms`) and retries the produce requests
//! with `retry.backoff.ms` … `retry.backoff.max.ms`. `message.timeout.ms = 0` means it never
//! gives up on a record: an outage only delays deliveries, in order, and the bridge
//! acknowledges nothing to MQTT meanwhile. A record Kafka refuses outright is either a dead
//! letter (too large, invalid: it would be refused again) or produced again after a capped,
//! doubling delay (`retry_max`), counted in `edge_bridge_retries_total`.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::future_producer::DeliveryFuture;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use tracing::warn;

use super::config::{KafkaConfig, KafkaTopics};
use super::error::BridgeError;
use super::mapping::{DeadReason, Destination, Record};
use super::metrics::Metrics;

/// librdkafka's client context: global errors go to the log and the `kafka_up` gauge.
#[derive(Debug)]
pub(crate) struct KafkaContext {
    metrics: Metrics,
}

impl ClientContext for KafkaContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
            self.metrics.kafka_up.set(0);
        }
        warn!(%error, reason, "Kafka client");
    }
}

/// A record handed to librdkafka (or refused by its queue at once), to be awaited with
/// [`Kafka::deliver`].
pub(crate) struct Sending {
    record: Record,
    queued: Result<DeliveryFuture, KafkaError>,
}

/// The producer, its topics and metrics.
pub(crate) struct Kafka {
    producer: FutureProducer<KafkaContext>,
    topics: Arc<KafkaTopics>,
    metrics: Metrics,
    retry_max: Duration,
}

impl std::fmt::Debug for Kafka {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kafka")
            .field("topics", &self.topics)
            .finish()
    }
}

/// The librdkafka properties of `config`; `queue_room` bounds the producer's queue.
pub(crate) fn properties(
    config: &KafkaConfig,
    queue_room: usize,
) -> Result<ClientConfig, BridgeError> {
    let mut client = ClientConfig::new();
    for (key, value) in &config.properties {
        client.set(key, value);
    }
    client
        .set("bootstrap.servers", &config.bootstrap_servers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("message.timeout.ms", "0")
        .set("compression.type", config.compression.as_str())
        .set("linger.ms", config.linger.as_millis().to_string())
        .set(
            "queue.buffering.max.messages",
            queue_room.max(1000).to_string(),
        )
        .set("security.protocol", config.security_protocol.as_str());
    if !config.properties.contains_key("reconnect.backoff.max.ms") {
        client.set("reconnect.backoff.max.ms", "5000");
    }
    if config.security_protocol.sasl() {
        client.set("sasl.mechanism", config.sasl_mechanism.as_str());
        if let Some(user) = &config.sasl_username {
            client.set("sasl.username", user);
        }
        let password =
            match (&config.sasl_password, &config.sasl_password_file) {
                (Some(secret), _) => Some(secret.0.clone()),
                (None, Some(path)) => Some(crate::mqtt::options::read_password(path).map_err(
                    |e| match e {
                        crate::mqtt::MqttError::ReadFile { path, source, .. } => {
                            BridgeError::ReadFile {
                                key: "sasl_password_file",
                                path,
                                source,
                            }
                        }
                        other => BridgeError::Mqtt(other),
                    },
                )?),
                (None, None) => None,
            };
        if let Some(password) = password {
            client.set("sasl.password", password);
        }
    }
    for (key, path) in [
        ("ssl.ca.location", &config.ssl_ca_file),
        ("ssl.certificate.location", &config.ssl_certificate_file),
        ("ssl.key.location", &config.ssl_key_file),
    ] {
        if let Some(path) = path {
            client.set(key, path.display().to_string());
        }
    }
    Ok(client)
}

impl Kafka {
    pub(crate) fn new(
        config: &KafkaConfig,
        queue_room: usize,
        metrics: Metrics,
    ) -> Result<Self, BridgeError> {
        let context = KafkaContext {
            metrics: metrics.clone(),
        };
        let producer = properties(config, queue_room)?
            .create_with_context(context)
            .map_err(BridgeError::Producer)?;
        Ok(Kafka {
            producer,
            topics: Arc::new(config.topics.clone()),
            metrics,
            retry_max: config.retry_max,
        })
    }

    /// Hands `record` to librdkafka's queue now, synchronously: records sent in the order
    /// of these calls keep that order per partition (the idempotent producer keeps it
    /// through its retries). [`deliver`](Self::deliver) then waits for the acknowledgement.
    pub(crate) fn send(&self, record: Record) -> Sending {
        let queued = self.enqueue(&record);
        Sending { record, queued }
    }

    fn enqueue(&self, record: &Record) -> Result<DeliveryFuture, KafkaError> {
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
        for (key, value) in &record.headers {
            headers = headers.insert(Header {
                key,
                value: Some(value.as_bytes()),
            });
        }
        let future = FutureRecord::to(record.destination.topic(&self.topics))
            .key(record.key.as_bytes())
            .payload(&record.value[..])
            .headers(headers);
        self.producer
            .send_result(future)
            .map_err(|(error, _)| error)
    }

    /// Waits until Kafka acknowledges the record [`send`](Self::send) queued, producing it
    /// again when needed (or its dead letter, when Kafka refuses the record itself). Returns
    /// where it went. Errs only when the producer failed for good.
    pub(crate) async fn deliver(&self, sending: Sending) -> Result<Destination, BridgeError> {
        let Sending { mut record, queued } = sending;
        let mut queued = Some(queued);
        let mut delay = Duration::from_millis(100);
        loop {
            let topic = record.destination.topic(&self.topics);
            let attempt = match queued.take() {
                Some(attempt) => attempt,
                None => self.enqueue(&record),
            };
            let error = match attempt {
                Ok(delivery) => match delivery.await {
                    Ok(Ok(_)) => {
                        self.metrics.kafka_up.set(1);
                        self.metrics
                            .produced
                            .with_label_values(&[record.destination.label()])
                            .inc();
                        return Ok(record.destination);
                    }
                    Ok(Err((error, _))) => error,
                    Err(_canceled) => KafkaError::Canceled,
                },
                Err(error) => error,
            };
            if let Some((code, reason)) = self.producer.client().fatal_error() {
                return Err(BridgeError::Fatal(format!("{code:?}: {reason}")));
            }
            let code = error.rdkafka_error_code();
            let refused_for_itself = matches!(
                code,
                Some(
                    RDKafkaErrorCode::MessageSizeTooLarge
                        | RDKafkaErrorCode::InvalidRecord
                        | RDKafkaErrorCode::InvalidMessage
                )
            );
            if refused_for_itself && record.destination != Destination::DeadLetter {
                let reason = DeadReason {
                    code: "refused_by_kafka",
                    detail: format!("Kafka refused the record: {error}"),
                };
                warn!(topic, %error, "record refused by Kafka: sent to the dead-letter topic");
                self.metrics
                    .dead_lettered
                    .with_label_values(&[reason.code])
                    .inc();
                let gateway = record.header("gateway").map(str::to_owned);
                let source = topic.to_owned();
                record = Record::dead_letter(&source, gateway.as_deref(), &reason, record.value);
                continue;
            }
            if refused_for_itself {
                // A dead letter too large for Kafka: keep its headers, drop its payload.
                record.value = bytes::Bytes::new();
                record.headers.push(("payload_dropped", error.to_string()));
                continue;
            }
            if code != Some(RDKafkaErrorCode::QueueFull) {
                warn!(topic, %error, retry_in = ?delay, "Kafka did not take a record; retrying");
                self.metrics.retries.inc();
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(self.retry_max);
        }
    }
}
