//! The MQTT → Kafka bridge, `edge-agent bridge --config FILE`: a data-centre service that
//! reads the gateways' events from the plant's MQTT broker and produces them to Kafka, at
//! least once, in order per asset.
//!
//! Only [`config`] is built without the cargo feature `bridge` (so that `check` validates
//! bridge configs in every build); everything that talks to Kafka needs the feature, and the
//! gateway's build links no Kafka client.
//!
//! # Path of a message
//!
//! Mosquitto (persistent session) → `consumer.rs` (rumqttc, manual acks) → `mapping.rs`
//! (topic, key, headers, or a dead letter) → `producer.rs` (librdkafka, idempotent,
//! `acks=all`) → `acks.rs` (which PUBACKs may go) → back to Mosquitto.
//!
//! # Invariants
//!
//! 1. **A message is acknowledged to MQTT only after Kafka acknowledged its record** (or its
//!    dead letter); for a batch of readings, every record it became (`mapping.rs`). Until then the broker holds it in the bridge's persistent session (clean
//!    session off, a fixed client id, QoS 1) and sends it again after a crash, a `kill -9`
//!    or a lost connection. Duplicates in Kafka are therefore possible and are always
//!    byte-identical re-sends of the same event (same gateway and `seq`): consumers
//!    deduplicate by `(gateway, seq)`.
//! 2. **A message with the DUP flag is a normal message**: it is forwarded like any other.
//! 3. **Order per asset**: one connection delivers a topic's messages in order; the records
//!    of one key go to one partition, and the idempotent producer keeps their order through
//!    its retries. PUBACKs leave in the order messages came in (MQTT 3.1.1, 4.6).
//! 4. **Kafka down: nothing is acknowledged, memory stays bounded.** librdkafka retries with
//!    backoff and never drops a record (`message.timeout.ms = 0`). At most
//!    `[mqtt] max_inflight` messages, and at most `max(4 × max_inflight, 10,000)` records
//!    (a batch of readings is one message, many records), are held unacknowledged; at
//!    either bound the bridge stops reading the broker, which keeps the backlog (set Mosquitto's `max_inflight_messages`
//!    to at most the same value, see `deploy/bridge.md`).
//! 5. **Bad input never stops the bridge and is never dropped silently**: it goes to the
//!    dead-letter topic with `reason` and `source_topic` headers, counted by reason, each
//!    reason logged once at `warn`.
//! 6. **Scale-out keeps order per asset**: N instances each forward the keys that hash to
//!    their number (see [`config::BridgeSection::instances`]); an asset has one owner.
//! 7. **SIGTERM** stops reading, waits up to `[mqtt] shutdown_grace` for the records in
//!    flight, acknowledges those Kafka took and disconnects; what is left stays with the
//!    broker for the next start.

pub mod config;

#[cfg(feature = "bridge")]
mod acks;
#[cfg(feature = "bridge")]
mod consumer;
#[cfg(feature = "bridge")]
mod error;
#[cfg(feature = "bridge")]
mod mapping;
#[cfg(feature = "bridge")]
mod metrics;
#[cfg(feature = "bridge")]
mod producer;

#[cfg(feature = "bridge")]
pub use error::BridgeError;
#[cfg(feature = "bridge")]
pub use metrics::Metrics;

/// Runs the bridge until `shutdown`: the consumer, and the metrics server when configured.
#[cfg(feature = "bridge")]
pub async fn run(
    config: config::BridgeConfig,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<(), BridgeError> {
    let metrics = Metrics::new();
    // librdkafka's queue holds at most what is in flight, of this connection and of lost ones.
    let queue_room = 2 * consumer::max_records_in_flight(usize::from(config.mqtt.max_inflight));
    let kafka = producer::Kafka::new(&config.kafka, queue_room, metrics.clone())?;
    let consumer = consumer::Consumer::new(&config, kafka, metrics.clone())?;
    let server_stop = tokio_util::sync::CancellationToken::new();
    let server = match config.bridge.metrics_listen {
        Some(listen) => Some(metrics::serve(listen, metrics, server_stop.clone()).await?),
        None => None,
    };
    let consumer = consumer.run(shutdown.clone());
    until_both_end(consumer, server, shutdown, server_stop).await
}

/// Runs the consumer and the metrics server (if any) until both have ended: the consumer ends
/// on `shutdown`, and then the server is stopped; a server that ends first is a failure, and
/// stops the consumer. Without a server the consumer's end is the end.
#[cfg(feature = "bridge")]
async fn until_both_end(
    consumer: impl std::future::Future<Output = Result<(), BridgeError>>,
    server: Option<impl std::future::Future<Output = std::io::Result<()>>>,
    shutdown: tokio_util::sync::CancellationToken,
    server_stop: tokio_util::sync::CancellationToken,
) -> Result<(), BridgeError> {
    let Some(server) = server else {
        return consumer.await;
    };
    tokio::pin!(server, consumer);
    tokio::select! {
        result = &mut consumer => {
            server_stop.cancel();
            let served = server.await;
            result.and(served.map_err(BridgeError::MetricsServer))
        }
        served = &mut server => {
            // The server ends only when told to: this is a failure, and it stops the bridge.
            shutdown.cancel();
            let result = consumer.await;
            let error = served.err().unwrap_or_else(|| std::io::Error::other("stopped"));
            result.and(Err(BridgeError::MetricsServer(error)))
        }
    }
}

#[cfg(all(test, feature = "bridge"))]
mod tests {
    use std::future::Future;
    use std::time::Duration;

    use tokio_util::sync::CancellationToken;

    use super::*;

    /// Runs a consumer that ends when told to, as the real one does, beside `server`, with
    /// `shutdown` already cancelled or not; `None` if it had not ended 5 s (paused) later.
    async fn run_beside(
        server: Option<impl Future<Output = std::io::Result<()>>>,
        server_stop: CancellationToken,
        shut_down: bool,
    ) -> (Option<Result<(), BridgeError>>, CancellationToken) {
        let shutdown = CancellationToken::new();
        if shut_down {
            shutdown.cancel();
        }
        let told = shutdown.clone();
        let consumer = async move {
            told.cancelled().await;
            Ok(())
        };
        let run = until_both_end(consumer, server, shutdown.clone(), server_stop);
        let ended = tokio::time::timeout(Duration::from_secs(5), run).await.ok();
        (ended, shutdown)
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_metrics_server_the_bridge_ends_when_its_consumer_does() {
        let no_server: Option<std::future::Ready<std::io::Result<()>>> = None;
        let (ended, _) = run_beside(no_server, CancellationToken::new(), true).await;
        assert!(
            matches!(ended, Some(Ok(()))),
            "the bridge did not end: {ended:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_metrics_server_is_stopped_when_the_consumer_ends() {
        let server_stop = CancellationToken::new();
        let stopped = server_stop.clone();
        let server = async move {
            stopped.cancelled().await;
            Ok(())
        };
        let (ended, _) = run_beside(Some(server), server_stop, true).await;
        assert!(
            matches!(ended, Some(Ok(()))),
            "the bridge did not end: {ended:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_metrics_server_that_fails_stops_the_consumer_with_its_error() {
        let server = async { Err(std::io::Error::other("address in use")) };
        let (ended, shutdown) = run_beside(Some(server), CancellationToken::new(), false).await;
        assert!(
            matches!(ended, Some(Err(BridgeError::MetricsServer(_)))),
            "{ended:?}"
        );
        assert!(shutdown.is_cancelled(), "the consumer was told to stop");
    }
}
