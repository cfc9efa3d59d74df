//! The sink task: [`MqttSink::run`] drains the spool to the broker until its
//! cancellation token fires. One task owns the rumqttc event loop, the
//! in-flight tracker and the spool operations, so every decision is made in
//! one place and in order.
//!
//! The loop, per event-loop step:
//!
//! 1. start a spool operation if one is due (commit acknowledgements, rewind,
//!    read up to the in-flight room, refresh metrics), on the blocking pool;
//! 2. wait for whichever comes first: the event loop's next event (or the next
//!    connection attempt, after the backoff delay), the spool operation's
//!    result (its records are published at once), a wake-up or idle tick when
//!    the spool was found empty, shutdown;
//! 3. the event loop's future is never dropped half-way while publishes are in
//!    flight (a cancelled rumqttc write could leave half a packet in its
//!    buffer); it is pinned across the other branches and polled to its end.
//!
//! Shutdown walks through: stop reading the spool; wait up to `shutdown_grace`
//! for the PUBACKs of what is in flight; publish the retained `offline`; send
//! DISCONNECT (so the broker drops the will); remove every acknowledged record
//! from the spool; return. If the grace period ends first, the connection is
//! dropped as it is: the broker publishes the will, and what was not
//! acknowledged stays in the spool for the next start.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, NetworkOptions, Outgoing};
use tokio::sync::Notify;
use tokio::time::{sleep_until, timeout_at, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{info, info_span, warn, Instrument};

use crate::spool::SharedSpool;

use super::config::{BatchConfig, MqttConfig};
use super::driver::{op_done, Driver};
use super::error::MqttError;
use super::message::Encoder;
use super::options::{self, STATUS_OFFLINE};
use super::probe::{wait_for_attempt, WaitEnd};
use super::stats::SinkStatsHandle;
use super::topics::TopicLayout;
use crate::backoff::Backoff;

/// The MQTT sink of one gateway: built from the `[mqtt]` config, then run as
/// one task under the agent's cancellation token.
pub struct MqttSink {
    options: MqttOptions,
    network: NetworkOptions,
    encoder: Encoder,
    batch: BatchConfig,
    status_topic: String,
    client_id: String,
    broker: String,
    spool: SharedSpool,
    stats: SinkStatsHandle,
    wake: Arc<Notify>,
    max_inflight: usize,
    reconnect_min: Duration,
    reconnect_max: Duration,
    /// Host, port and interval of the probe between attempts (`probe.rs`).
    probe: (String, u16, Option<Duration>),
    shutdown_grace: Duration,
    idle_poll: Duration,
}

impl std::fmt::Debug for MqttSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttSink")
            .field("client_id", &self.client_id)
            .field("broker", &self.broker)
            .field("status_topic", &self.status_topic)
            .field("max_inflight", &self.max_inflight)
            .finish_non_exhaustive()
    }
}

/// How one wait of the loop ended.
enum Outcome {
    Polled(Result<Event, rumqttc::ConnectionError>),
    /// Shutdown with nothing in flight: close now.
    Close,
    /// The shutdown grace period is over with publishes still in flight.
    Abandon,
}

impl MqttSink {
    /// Validates `config`, reads its password and TLS files, and prepares the
    /// sink of `gateway` (the id in every event and topic) over `spool`. No
    /// connection is made before [`run`](Self::run).
    pub fn new(config: &MqttConfig, gateway: &str, spool: SharedSpool) -> Result<Self, MqttError> {
        config.validate()?;
        if gateway.is_empty() || gateway.contains(['/', '+', '#', '\0']) {
            return Err(MqttError::config(
                "gateway",
                format!("`{gateway}` must be non-empty, without `/`, `+`, `#`"),
            ));
        }
        let topics = TopicLayout::parse(&config.topics)?;
        let status_topic = topics.status_topic(gateway);
        let client_id = config.effective_client_id(gateway);
        let (options, network) = options::build(config, &client_id, &status_topic)?;
        Ok(MqttSink {
            options,
            network,
            encoder: Encoder::new(gateway, topics, config.max_packet_size as usize),
            batch: config.batch.clone(),
            status_topic,
            broker: format!("{}:{}", config.host, config.effective_port()),
            client_id,
            spool,
            stats: SinkStatsHandle::default(),
            wake: Arc::new(Notify::new()),
            max_inflight: usize::from(config.max_inflight),
            reconnect_min: config.reconnect_min,
            reconnect_max: config.reconnect_max,
            probe: (
                config.host.clone(),
                config.effective_port(),
                Some(config.reconnect_probe).filter(|p| !p.is_zero()),
            ),
            shutdown_grace: config.shutdown_grace,
            idle_poll: config.idle_poll,
        })
    }

    /// The sink's live statistics; clone it before `run` consumes the sink.
    pub fn stats(&self) -> SinkStatsHandle {
        self.stats.clone()
    }

    /// Wakes an idle sink at once (call `notify_one` after appending to the
    /// spool); without it, an idle sink looks every `idle_poll`.
    pub fn waker(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    /// The retained status topic (birth `online`, will `offline`).
    pub fn status_topic(&self) -> &str {
        &self.status_topic
    }

    /// Drains the spool to the broker until `shutdown` is cancelled, then
    /// closes as described in the module doc. Connection failures are retried
    /// forever with backoff; only a failing spool ends the sink with an error.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), MqttError> {
        let span = info_span!("mqtt_sink", client_id = %self.client_id, broker = %self.broker);
        self.run_inner(shutdown).instrument(span).await
    }

    async fn run_inner(self, shutdown: CancellationToken) -> Result<(), MqttError> {
        let capacity = self.options.request_channel_capacity();
        let seed = Backoff::seed_from(&self.client_id);
        let (client, mut eventloop) = AsyncClient::new(self.options, capacity);
        eventloop.set_network_options(self.network);
        let wake = self.wake;
        let grace = self.shutdown_grace;
        let (probe_host, probe_port, probe_every) = self.probe;
        let probe_host = probe_host.as_str();
        let probe_stats = self.stats.clone();
        let mut d = Driver::new(
            client,
            self.spool,
            self.encoder,
            self.batch,
            self.status_topic,
            self.max_inflight,
            self.idle_poll,
            self.stats,
            Backoff::new(self.reconnect_min, self.reconnect_max, seed),
        );
        info!(max_inflight = self.max_inflight, "MQTT sink started");
        loop {
            let outcome = {
                let attempt_at = if d.up { None } else { d.next_attempt };
                let step = async {
                    if let Some(at) = attempt_at {
                        if wait_for_attempt(at, probe_host, probe_port, probe_every).await
                            == WaitEnd::BrokerBack
                        {
                            info!("the broker's port is open again: reconnecting now");
                            probe_stats.update(|s| s.probe_reconnects += 1);
                        }
                    }
                    eventloop.poll().await
                };
                tokio::pin!(step);
                loop {
                    d.maybe_start_op();
                    let (draining, op_running) = (d.draining, d.op.is_some());
                    let idle_wait = d.drained && !draining;
                    let recheck_at = d.recheck_at;
                    let read_after = d.read_after;
                    let deadline = d.drain_deadline.unwrap_or_else(Instant::now);
                    let stats_due = d.stats_due;
                    tokio::select! {
                        biased;
                        _ = shutdown.cancelled(), if !draining => {
                            if !d.up || d.inflight.is_empty() {
                                break Outcome::Close;
                            }
                            info!(in_flight = d.inflight.len(), "shutdown: waiting for PUBACKs");
                            d.draining = true;
                            d.drain_deadline = Some(Instant::now() + grace);
                        }
                        _ = sleep_until(deadline), if draining => break Outcome::Abandon,
                        done = op_done(&mut d.op), if op_running => d.on_op_done(done)?,
                        result = &mut step => break Outcome::Polled(result),
                        _ = wake.notified(), if idle_wait => d.woken(),
                        _ = sleep_until(read_after.unwrap_or_else(Instant::now)), if read_after.is_some() => d.read_after = None,
                        _ = sleep_until(recheck_at), if idle_wait => d.drained = false,
                        _ = sleep_until(stats_due), if !op_running => {}
                    }
                }
            };
            match outcome {
                Outcome::Polled(Ok(event)) => {
                    if let Err(error) = d.on_event(event) {
                        d.force_reconnect(&mut eventloop, error);
                    }
                }
                Outcome::Polled(Err(error)) => d.on_connection_error(&mut eventloop, error),
                Outcome::Close => return close(&mut d, &mut eventloop, grace).await,
                Outcome::Abandon => {
                    warn!(
                        in_flight = d.inflight.len(),
                        "shutdown grace period over: dropping the connection; \
                         unacknowledged records stay in the spool"
                    );
                    return d.finish().await;
                }
            }
            if d.draining && (!d.up || d.inflight.is_empty()) {
                return close(&mut d, &mut eventloop, grace).await;
            }
        }
    }
}

/// The clean end: `offline` (retained), DISCONNECT, acknowledged records
/// removed. Every wait is bounded by the shutdown deadline.
async fn close(
    d: &mut Driver,
    eventloop: &mut EventLoop,
    grace: Duration,
) -> Result<(), MqttError> {
    let deadline = *d
        .drain_deadline
        .get_or_insert_with(|| Instant::now() + grace);
    d.draining = true;
    if d.up {
        match d.publish_status(STATUS_OFFLINE) {
            Ok(()) => {
                while !d.inflight.is_empty() {
                    match timeout_at(deadline, eventloop.poll()).await {
                        Ok(Ok(event)) => {
                            if d.on_event(event).is_err() {
                                break;
                            }
                        }
                        Ok(Err(_)) | Err(_) => break,
                    }
                }
            }
            Err(error) => warn!(%error, "offline status not published"),
        }
        if d.client.try_disconnect().is_ok() {
            loop {
                match timeout_at(deadline, eventloop.poll()).await {
                    Ok(Ok(Event::Outgoing(Outgoing::Disconnect))) | Ok(Err(_)) | Err(_) => break,
                    Ok(Ok(event)) => {
                        if let Err(error) = d.on_event(event) {
                            warn!(%error, "while disconnecting");
                        }
                    }
                }
            }
        }
    }
    d.finish().await?;
    info!("MQTT sink stopped");
    Ok(())
}
