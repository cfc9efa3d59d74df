//! The MQTT side: one persistent session (clean session off, a fixed client id, QoS 1,
//! manual acknowledgements), read, mapped, handed to Kafka, acknowledged in order once Kafka
//! has the record. See the module documentation of `bridge` for the invariants.
//!
//! Each connection gets a fresh rumqttc client and event loop: a PUBACK queued for a lost
//! connection must never be written on the next one, where the broker may have given its
//! packet id to another message. The broker's session survives (clean session off), so it
//! sends again, with DUP set, everything the lost connection did not acknowledge.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use rumqttc::{
    AsyncClient, Event, EventLoop, MqttOptions, NetworkOptions, Outgoing, Packet, Publish, QoS,
    SubscribeReasonCode,
};
use tokio::time::{sleep, sleep_until, timeout_at};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::acks::{AckQueue, EntryId};
use super::config::BridgeConfig;
use super::error::BridgeError;
use super::mapping::{owns, Mapped, Mapping};
use super::metrics::Metrics;
use super::producer::Kafka;
use crate::backoff::Backoff;
use crate::mqtt::MqttConfig;

/// The delivery of every record one MQTT message became: its entry, how many records, and
/// whether all of them are in Kafka.
type Delivery = BoxFuture<'static, (EntryId, usize, Result<(), BridgeError>)>;

/// rumqttc's options for the bridge's session; password and TLS files are read here.
pub(crate) fn mqtt_options(
    config: &MqttConfig,
) -> Result<(MqttOptions, NetworkOptions), BridgeError> {
    let client_id = config
        .client_id
        .clone()
        .unwrap_or_else(|| "edge-bridge".to_owned());
    let mut options = MqttOptions::new(client_id, config.host.clone(), config.effective_port());
    options.set_keep_alive(config.keep_alive);
    options.set_clean_session(false);
    options.set_manual_acks(true);
    let packet = config.max_packet_size as usize;
    options.set_max_packet_size(packet, packet);
    crate::mqtt::options::set_credentials_and_tls(&mut options, config)?;
    Ok((options, crate::mqtt::options::network_options(config)))
}

/// The most records on their way to Kafka before the bridge stops reading MQTT: a batch of
/// readings is one message but many records. librdkafka's queue is sized to twice this
/// (`bridge::run`), so that a lost connection's leftovers never fill it.
pub(crate) fn max_records_in_flight(max_inflight: usize) -> usize {
    (4 * max_inflight).max(10_000)
}

/// How a connection ended.
enum End {
    Shutdown,
    Lost(String),
}

/// The consumer's state across connections.
pub(crate) struct Consumer {
    options: MqttOptions,
    network: NetworkOptions,
    subscription: String,
    mapping: Mapping,
    instance: u32,
    instances: u32,
    kafka: std::sync::Arc<Kafka>,
    metrics: Metrics,
    acks: AckQueue,
    /// Records on their way to Kafka, of this connection and of lost ones.
    deliveries: FuturesUnordered<Delivery>,
    /// How many records those deliveries hold (a batch of readings is several).
    records_in_flight: usize,
    max_inflight: usize,
    /// Stop reading MQTT while this many records are on their way to Kafka.
    max_records: usize,
    grace: Duration,
    backoff: Backoff,
    started: Instant,
    /// Dead-letter reasons already logged at `warn` (each is logged once, then counted).
    logged_reasons: Vec<&'static str>,
}

impl Consumer {
    pub(crate) fn new(
        config: &BridgeConfig,
        kafka: Kafka,
        metrics: Metrics,
    ) -> Result<Self, BridgeError> {
        let (options, network) = mqtt_options(&config.mqtt)?;
        let mapping = Mapping::new(
            &config.mqtt.topics.prefix,
            config.bridge.asset_levels,
            config.bridge.batches,
        );
        let max_inflight = usize::from(config.mqtt.max_inflight);
        let seed = Backoff::seed_from(options.client_id().as_str());
        Ok(Consumer {
            subscription: mapping.subscription(),
            options,
            network,
            mapping,
            instance: config.bridge.instance,
            instances: config.bridge.instances,
            kafka: std::sync::Arc::new(kafka),
            metrics,
            acks: AckQueue::new(max_inflight),
            deliveries: FuturesUnordered::new(),
            records_in_flight: 0,
            max_inflight,
            max_records: max_records_in_flight(max_inflight),
            grace: config.mqtt.shutdown_grace,
            backoff: Backoff::new(config.mqtt.reconnect_min, config.mqtt.reconnect_max, seed),
            started: Instant::now(),
            logged_reasons: Vec::new(),
        })
    }

    /// Runs until `shutdown`, reconnecting as needed. Errs only when Kafka's producer failed
    /// for good or the broker refused the subscription.
    pub(crate) async fn run(mut self, shutdown: CancellationToken) -> Result<(), BridgeError> {
        info!(
            subscription = %self.subscription,
            client_id = %self.options.client_id(),
            instance = self.instance,
            instances = self.instances,
            max_inflight = self.max_inflight,
            "bridge started"
        );
        loop {
            // Room for every request the acks of a full queue make, and a few more.
            let (client, mut eventloop) =
                AsyncClient::new(self.options.clone(), 2 * self.max_inflight + 64);
            eventloop.set_network_options(self.network.clone());
            let end = self.connection(&client, &mut eventloop, &shutdown).await?;
            self.metrics.mqtt_up.set(0);
            let forgotten = self.acks.clear();
            self.metrics.in_flight.set(0);
            match end {
                End::Shutdown => {
                    info!(unacknowledged = forgotten, "bridge stopped");
                    return Ok(());
                }
                End::Lost(reason) => {
                    let delay = self.backoff.next_delay();
                    warn!(
                        %reason,
                        unacknowledged = forgotten,
                        retry_in = ?delay,
                        "MQTT connection lost; the broker keeps the session"
                    );
                    tokio::select! {
                        _ = shutdown.cancelled() => return Ok(()),
                        _ = sleep(delay) => {}
                    }
                }
            }
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// One connection, from connecting to its loss or the end of a shutdown.
    async fn connection(
        &mut self,
        client: &AsyncClient,
        eventloop: &mut EventLoop,
        shutdown: &CancellationToken,
    ) -> Result<End, BridgeError> {
        let mut drain_deadline: Option<tokio::time::Instant> = None;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            // The poll future lives until it completes (rumqttc's poll is not meant to be
            // cancelled half-way), while deliveries and the shutdown are served beside it.
            let polled = {
                let step = eventloop.poll();
                tokio::pin!(step);
                loop {
                    let draining = drain_deadline.is_some();
                    let may_read = !self.acks.is_full()
                        && self.deliveries.len() < 2 * self.max_inflight
                        && self.records_in_flight < self.max_records;
                    if draining && self.acks.is_empty() {
                        break None;
                    }
                    let deadline = drain_deadline.unwrap_or_else(tokio::time::Instant::now);
                    tokio::select! {
                        biased;
                        _ = shutdown.cancelled(), if !draining => {
                            info!(in_flight = self.acks.len(), grace = ?self.grace, "shutdown: finishing what is in flight");
                            drain_deadline = Some(tokio::time::Instant::now() + self.grace);
                        }
                        _ = sleep_until(deadline), if draining => {
                            warn!(in_flight = self.acks.len(), "shutdown grace over: what is in flight stays with the broker");
                            break None;
                        }
                        Some((id, records, result)) = self.deliveries.next(), if !self.deliveries.is_empty() => {
                            self.records_in_flight -= records;
                            result?;
                            self.acks.complete(id);
                            if let Err(reason) = self.send_acks(client) {
                                return Ok(End::Lost(reason));
                            }
                        }
                        result = &mut step, if may_read => break Some(result),
                        _ = tick.tick() => self.update_gauges(),
                    }
                }
            };
            let Some(polled) = polled else {
                return Ok(self.disconnect(client, eventloop, drain_deadline).await);
            };
            match polled {
                Ok(event) => {
                    let draining = drain_deadline.is_some();
                    if let Err(reason) = self.on_event(event, client, draining)? {
                        return Ok(End::Lost(reason));
                    }
                }
                Err(error) => {
                    if drain_deadline.is_some() {
                        return Ok(End::Shutdown);
                    }
                    return Ok(End::Lost(error.to_string()));
                }
            }
        }
    }

    /// Handles one event of the event loop. The outer error stops the bridge, the inner one
    /// drops the connection.
    fn on_event(
        &mut self,
        event: Event,
        client: &AsyncClient,
        draining: bool,
    ) -> Result<Result<(), String>, BridgeError> {
        match event {
            Event::Incoming(Packet::ConnAck(ack)) => {
                self.metrics.mqtt_up.set(1);
                self.metrics.mqtt_connections.inc();
                self.backoff.reset();
                info!(session_present = ack.session_present, "connected to MQTT");
                // Every time: cheap, and it covers a broker that lost the session.
                if let Err(error) = client.try_subscribe(&self.subscription, QoS::AtLeastOnce) {
                    return Ok(Err(format!("subscribe request refused: {error}")));
                }
            }
            Event::Incoming(Packet::SubAck(ack))
                if ack
                    .return_codes
                    .iter()
                    .any(|c| matches!(c, SubscribeReasonCode::Failure)) =>
            {
                return Err(BridgeError::Subscription(self.subscription.clone()));
            }
            Event::Incoming(Packet::Publish(publish)) if !draining => {
                return Ok(self.on_publish(publish, client));
            }
            Event::Outgoing(Outgoing::PubAck(pkid)) => debug!(pkid, "acknowledged"),
            _ => {}
        }
        Ok(Ok(()))
    }

    fn on_publish(&mut self, publish: Publish, client: &AsyncClient) -> Result<(), String> {
        self.metrics.consumed.inc();
        if publish.dup {
            // A re-send of a message the broker has no PUBACK for: forwarded like any other
            // (Kafka may get it twice; consumers deduplicate by gateway and seq).
            self.metrics.redelivered.inc();
        }
        let pkid = (publish.qos != QoS::AtMostOnce).then_some(publish.pkid);
        let id = self
            .acks
            .push(pkid, self.now_ms())
            .map_err(|error| error.to_string())?;
        self.metrics.in_flight.set(self.acks.len() as i64);
        let all = self.mapping.map(&publish.topic, publish.payload);
        let mapped: Vec<Mapped> = all
            .into_iter()
            .filter(|m| owns(&m.record().key, self.instance, self.instances))
            .collect();
        if mapped.is_empty() {
            self.metrics.skipped.inc();
            self.acks.complete(id);
            return self.send_acks(client);
        }
        for m in &mapped {
            if let Mapped::DeadLetter { reason, .. } = m {
                self.metrics
                    .dead_lettered
                    .with_label_values(&[reason.code])
                    .inc();
                if self.logged_reasons.contains(&reason.code) {
                    debug!(topic = %publish.topic, reason = %reason.detail, "dead letter");
                } else {
                    self.logged_reasons.push(reason.code);
                    warn!(topic = %publish.topic, reason = %reason.detail, "not a valid event: sent to the dead-letter topic (further ones of this kind are counted, logged at debug)");
                }
            }
        }
        // Queued with librdkafka here, in message order, so that the records of one key
        // keep the order of the messages whatever order their deliveries are polled in.
        let sending: Vec<_> = mapped
            .into_iter()
            .map(|m| self.kafka.send(m.into_record()))
            .collect();
        let records = sending.len();
        self.records_in_flight += records;
        let kafka = self.kafka.clone();
        self.deliveries.push(
            async move {
                let mut result = Ok(());
                for sending in sending {
                    if let Err(error) = kafka.deliver(sending).await {
                        result = Err(error);
                        break;
                    }
                }
                (id, records, result)
            }
            .boxed(),
        );
        Ok(())
    }

    /// Acknowledges the completed prefix, in order.
    fn send_acks(&mut self, client: &AsyncClient) -> Result<(), String> {
        for pkid in self.acks.ackable() {
            let mut publish = Publish::new("", QoS::AtLeastOnce, Bytes::new());
            publish.pkid = pkid;
            client
                .try_ack(&publish)
                .map_err(|error| format!("PUBACK request refused: {error}"))?;
        }
        self.metrics.in_flight.set(self.acks.len() as i64);
        Ok(())
    }

    fn update_gauges(&self) {
        let age = self
            .acks
            .oldest_ms()
            .map_or(0, |at| self.now_ms().saturating_sub(at) / 1000);
        self.metrics
            .oldest_unacked_age_seconds
            .set(i64::try_from(age).unwrap_or(i64::MAX));
        self.metrics.in_flight.set(self.acks.len() as i64);
    }

    /// Sends DISCONNECT after the PUBACKs already requested (the channel keeps their order)
    /// and polls until it is written, within the deadline. The session stays with the
    /// broker: what was not acknowledged is sent again to the next connection.
    async fn disconnect(
        &mut self,
        client: &AsyncClient,
        eventloop: &mut EventLoop,
        deadline: Option<tokio::time::Instant>,
    ) -> End {
        let deadline = deadline.unwrap_or_else(|| tokio::time::Instant::now() + self.grace);
        // Not connected (mqtt_up is set on CONNACK): nothing to say goodbye to.
        if self.metrics.mqtt_up.get() == 1 && client.try_disconnect().is_ok() {
            loop {
                match timeout_at(deadline, eventloop.poll()).await {
                    Ok(Ok(Event::Outgoing(Outgoing::Disconnect))) | Ok(Err(_)) | Err(_) => break,
                    Ok(Ok(_)) => {}
                }
            }
        }
        End::Shutdown
    }
}
