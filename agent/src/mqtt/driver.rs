//! The sink's state while it runs, and what it does on each event: the
//! bookkeeping between the spool, the in-flight tracker and rumqttc. The loop
//! that drives it is in `sink.rs`; the invariants are in the module doc.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use rumqttc::{AsyncClient, ConnectionError, Event, EventLoop, Incoming, Outgoing, QoS};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::spool::{Record, SharedSpool, SpoolError, SpoolStats};

use super::batching::{self, BatchConfig, Outbound};
use super::error::MqttError;
use super::inflight::{Carried, Inflight, TrackError};
use super::message::Encoder;
use super::options::STATUS_ONLINE;
use super::stats::SinkStatsHandle;
use crate::backoff::Backoff;

/// How often the backlog metrics are refreshed from the spool.
const STATS_EVERY: Duration = Duration::from_secs(1);
/// The least time between two refreshes.
const STATS_EAGER_GAP: Duration = Duration::from_millis(100);
/// Most records read from the spool at once when readings are batched.
const MAX_FETCH: usize = 4096;

type SpoolFuture = Pin<Box<dyn Future<Output = Result<OpReply, SpoolError>> + Send>>;

/// One spool operation in progress (at most one at a time: the operations
/// must reach the spool in the order they were decided).
pub(crate) struct PendingOp {
    /// The connection generation it was started in.
    generation: u64,
    /// How many records it asked for.
    requested: usize,
    future: SpoolFuture,
}

/// What a spool operation returns.
pub(crate) struct OpReply {
    records: Vec<Record>,
    stats: Option<SpoolStats>,
}

/// The completed spool operation: generation, records requested, result.
pub(crate) type OpDone = (u64, usize, Result<OpReply, SpoolError>);

/// Awaits the spool operation in `slot`; cancel-safe (the operation stays in
/// the slot until it completes). Never resolves when the slot is empty.
pub(crate) async fn op_done(slot: &mut Option<PendingOp>) -> OpDone {
    let Some(op) = slot.as_mut() else {
        return std::future::pending().await;
    };
    let result = op.future.as_mut().await;
    let generation = op.generation;
    let requested = op.requested;
    *slot = None;
    (generation, requested, result)
}

/// The sink's state.
pub(crate) struct Driver {
    pub client: AsyncClient,
    spool: SharedSpool,
    encoder: Encoder,
    batch: BatchConfig,
    /// Messages grouped from records read, not yet published (no room in flight):
    /// published before anything new is read. Forgotten with the connection (the
    /// rewind reads their records again).
    held: VecDeque<Outbound>,
    /// Records per message in the last read (1 to `max_events`): the next read asks
    /// for the room in flight times this, so that what it reads fills about one
    /// window and a live alert waits at most about one window behind held messages.
    records_per_message: usize,
    status_topic: String,
    pub inflight: Inflight,
    /// Seqs whose PUBACK came and that the spool has not removed yet.
    acks: Vec<u64>,
    /// The next spool operation must rewind first (the connection was lost).
    rewind: bool,
    /// Incremented on every lost connection; batches read in an older
    /// generation are not published.
    generation: u64,
    /// A CONNACK was received on the current connection.
    pub up: bool,
    /// Shutdown requested: publish nothing new, wait for what is in flight.
    pub draining: bool,
    pub drain_deadline: Option<Instant>,
    /// The last read returned less than asked: wait for a wake-up or a tick.
    pub drained: bool,
    /// When a drained sink looks at the spool again without a wake-up: a
    /// fixed instant, so that a stream of other events does not postpone it.
    pub recheck_at: Instant,
    /// A drained sink woken by new events reads them at this instant, not at once
    /// (`[mqtt.batch] linger`), so that it finds whole poll cycles to batch.
    pub read_after: Option<Instant>,
    linger: Duration,
    idle_poll: Duration,
    pub op: Option<PendingOp>,
    pub stats: SinkStatsHandle,
    pub stats_due: Instant,
    /// When the metrics were last refreshed.
    stats_at: Instant,
    pub backoff: Backoff,
    /// When the next connection attempt may start (`None`: now).
    pub next_attempt: Option<Instant>,
    /// Read a new batch when at least this many publishes may be added.
    refill_at: usize,
    last_error: Option<String>,
}

impl Driver {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        client: AsyncClient,
        spool: SharedSpool,
        encoder: Encoder,
        batch: BatchConfig,
        status_topic: String,
        max_inflight: usize,
        idle_poll: Duration,
        stats: SinkStatsHandle,
        backoff: Backoff,
    ) -> Self {
        let linger = if batch.readings {
            batch.linger
        } else {
            Duration::ZERO
        };
        Driver {
            client,
            spool,
            encoder,
            batch,
            held: VecDeque::new(),
            records_per_message: 1,
            status_topic,
            inflight: Inflight::new(max_inflight),
            acks: Vec::new(),
            // A spool that another sink (or an earlier run of this one in the
            // same process) read from may have records handed out and never
            // acknowledged: start from the oldest unacknowledged.
            rewind: true,
            generation: 0,
            up: false,
            draining: false,
            drain_deadline: None,
            drained: false,
            recheck_at: Instant::now(),
            read_after: None,
            linger,
            idle_poll,
            op: None,
            stats,
            stats_due: Instant::now(),
            stats_at: Instant::now(),
            backoff,
            next_attempt: None,
            refill_at: (max_inflight / 2).max(1),
            last_error: None,
        }
    }

    /// Starts a spool operation if one is due and none is running: commit
    /// acknowledgements, rewind after a lost connection, read the next batch,
    /// refresh the backlog metrics; whichever apply, in that order, in one
    /// call on the blocking pool (one flush).
    pub(crate) fn maybe_start_op(&mut self) {
        self.publish_held();
        if self.op.is_some() {
            return;
        }
        let room = self.inflight.room();
        let wanted = self.up
            && !self.draining
            && !self.drained
            && self.read_after.is_none()
            && self.held.is_empty();
        let fetch = if wanted && room >= self.refill_at {
            (room * self.records_per_message).min(MAX_FETCH).max(room)
        } else {
            0
        };
        let commit = !self.acks.is_empty()
            && (self.acks.len() >= self.refill_at
                || self.inflight.is_empty()
                || !self.up
                || self.draining);
        let now = Instant::now();
        // Every second; sooner (but at most every 100 ms) when the picture
        // just changed: a lost connection, or a drain that caught up.
        let eager = self.rewind || (commit && self.inflight.is_empty());
        let stats_now = now >= self.stats_due || (eager && now >= self.stats_at + STATS_EAGER_GAP);
        if !(self.rewind || fetch > 0 || commit || stats_now) {
            return;
        }
        if stats_now {
            self.stats_at = now;
            self.stats_due = now + STATS_EVERY;
        }
        let acks = if commit {
            std::mem::take(&mut self.acks)
        } else {
            Vec::new()
        };
        let rewind = std::mem::take(&mut self.rewind);
        let shared = self.spool.clone();
        let future = async move {
            shared
                .run(move |spool| {
                    if !acks.is_empty() {
                        spool.ack(&acks)?;
                    }
                    if rewind {
                        spool.rewind_unacked();
                    }
                    let records = if fetch > 0 {
                        spool.next_batch(fetch)?
                    } else {
                        Vec::new()
                    };
                    let stats = if stats_now {
                        Some(spool.stats()?)
                    } else {
                        None
                    };
                    Ok(OpReply { records, stats })
                })
                .await
        };
        self.op = Some(PendingOp {
            generation: self.generation,
            requested: fetch,
            future: Box::pin(future),
        });
    }

    /// The agent appended events while the sink was drained: read them after the
    /// linger.
    pub(crate) fn woken(&mut self) {
        self.drained = false;
        self.read_after = None;
        if !self.linger.is_zero() {
            self.read_after = Some(Instant::now() + self.linger);
        }
    }

    /// A spool operation completed: publish what it read, if still wanted.
    pub(crate) fn on_op_done(&mut self, done: OpDone) -> Result<(), MqttError> {
        let (generation, requested, result) = done;
        let reply = result.map_err(|source| MqttError::Spool {
            op: "acknowledging and reading the next batch",
            source,
        })?;
        if let Some(spool) = reply.stats {
            self.stats.update(|s| {
                s.backlog = spool.pending;
                s.oldest_unacked_age_ms = spool.oldest_pending_age_ms;
            });
        }
        if requested == 0 {
            return Ok(());
        }
        if generation != self.generation || self.draining || !self.up {
            // Read on a connection that is gone, or during shutdown: the
            // records stay in the spool and are read again after the rewind.
            debug!(
                records = reply.records.len(),
                "batch read for a lost connection not published"
            );
            return Ok(());
        }
        self.drained = reply.records.len() < requested;
        if self.drained {
            self.recheck_at = Instant::now() + self.idle_poll;
        }
        let records: Vec<Record> = reply.records;
        let count = records.len();
        let messages = batching::group(&self.encoder, &self.batch, records);
        if !messages.is_empty() {
            self.records_per_message = (count / messages.len()).clamp(1, self.batch.per_message());
        }
        self.held.extend(messages);
        self.publish_held();
        self.update_inflight_stats();
        Ok(())
    }

    /// Publishes held messages while there is room in flight.
    fn publish_held(&mut self) {
        if !self.up || self.draining {
            return;
        }
        while self.inflight.room() > 0 {
            let Some(outbound) = self.held.pop_front() else {
                break;
            };
            if !self.publish(outbound) {
                // The records stay in the spool; the rewind reads them again.
                self.held.clear();
                break;
            }
        }
    }

    /// Publishes one message; false if the request could not be made.
    fn publish(&mut self, outbound: Outbound) -> bool {
        let Outbound { message, seqs } = outbound;
        let first = seqs.first().copied().unwrap_or_default();
        if let Some(reason) = &message.dead_letter {
            warn!(seq = first, %reason, "record goes to the dead-letter topic");
            self.stats.update(|s| s.dead_lettered += 1);
        }
        if let Err(error) = self.inflight.queue(Carried::Records(seqs)) {
            // Cannot happen: publish_held checks the room first.
            warn!(seq = first, %error, "no room in flight; rewinding");
            self.rewind = true;
            return false;
        }
        if let Err(error) =
            self.client
                .try_publish(message.topic, QoS::AtLeastOnce, false, message.payload)
        {
            self.inflight.unqueue_last();
            warn!(seq = first, %error, "publish request refused; rewinding");
            self.rewind = true;
            return false;
        }
        true
    }

    /// Publishes the retained status (`online` at connect, `offline` at a
    /// clean shutdown), tracked like a record so the packet ids stay paired.
    pub(crate) fn publish_status(&mut self, payload: &str) -> Result<(), TrackError> {
        self.inflight.queue(Carried::Status)?;
        if let Err(error) =
            self.client
                .try_publish(self.status_topic.clone(), QoS::AtLeastOnce, true, payload)
        {
            self.inflight.unqueue_last();
            warn!(%error, payload, "status publish refused");
        }
        Ok(())
    }

    /// One event of the event loop. An error means the pairing of packet ids
    /// and records can no longer be trusted: the caller drops the connection.
    pub(crate) fn on_event(&mut self, event: Event) -> Result<(), TrackError> {
        match event {
            Event::Incoming(Incoming::ConnAck(connack)) => {
                self.on_connected(connack.session_present)?
            }
            Event::Incoming(Incoming::PubAck(puback)) => self.on_puback(puback.pkid),
            Event::Outgoing(Outgoing::Publish(pkid)) => {
                if let Carried::Records(seqs) = self.inflight.on_outgoing(pkid)? {
                    self.stats.update(|s| {
                        s.messages += 1;
                        s.published += seqs.len() as u64;
                    });
                }
            }
            Event::Outgoing(Outgoing::AwaitAck(pkid)) => {
                debug!(pkid, "packet id collision: waiting for its PUBACK");
            }
            _ => {}
        }
        self.update_inflight_stats();
        Ok(())
    }

    fn on_connected(&mut self, session_present: bool) -> Result<(), TrackError> {
        self.up = true;
        self.drained = false;
        self.read_after = None;
        self.next_attempt = None;
        // Empty already (reset when the last connection was lost).
        self.inflight.reset();
        let mut reconnect = false;
        self.stats.update(|s| {
            reconnect = s.connections > 0;
            s.connections += 1;
            s.reconnects += u64::from(reconnect);
            s.connected = true;
        });
        info!(reconnect, session_present, "connected to the broker");
        self.publish_status(STATUS_ONLINE)
    }

    fn on_puback(&mut self, pkid: u16) {
        match self.inflight.on_puback(pkid) {
            Ok(carried) => {
                // A PUBACK proves the connection works: start backoff over.
                self.backoff.reset();
                if let Carried::Records(seqs) = carried {
                    let n = seqs.len() as u64;
                    self.acks.extend(seqs);
                    self.stats.update(|s| s.acked += n);
                }
            }
            Err(error) => warn!(%error, "PUBACK ignored"),
        }
    }

    /// The connection failed (or an attempt to make one). Acknowledgements
    /// that rumqttc had already read are honoured; rumqttc's own replay of
    /// unacknowledged publishes is discarded, because the spool re-sends them.
    pub(crate) fn on_connection_error(
        &mut self,
        eventloop: &mut EventLoop,
        error: ConnectionError,
    ) {
        let stale: Vec<Event> = eventloop.state.events.drain(..).collect();
        for event in stale {
            match event {
                Event::Incoming(Incoming::PubAck(puback)) => self.on_puback(puback.pkid),
                Event::Outgoing(Outgoing::Publish(pkid)) => {
                    if let Err(error) = self.inflight.on_outgoing(pkid) {
                        // The pairing is lost: trust no later PUBACK of this
                        // connection (their records are re-sent instead).
                        warn!(%error, "buffered events of the lost connection ignored");
                        break;
                    }
                }
                _ => {}
            }
        }
        self.lost_connection(eventloop, error.to_string());
    }

    /// Tracking is inconsistent: drop the connection without trusting any
    /// buffered event, and re-send everything unacknowledged from the spool.
    pub(crate) fn force_reconnect(&mut self, eventloop: &mut EventLoop, error: TrackError) {
        warn!(%error, "in-flight tracking inconsistent; dropping the connection");
        eventloop.clean();
        eventloop.state.events.clear();
        self.lost_connection(eventloop, format!("tracking: {error}"));
    }

    fn lost_connection(&mut self, eventloop: &mut EventLoop, error: String) {
        // rumqttc moved the unacknowledged publishes (and the requests still
        // in its channel) here to replay them: the spool is the only source.
        eventloop.pending.clear();
        // rumqttc 0.24's clean() keeps a publish held back by a packet-id
        // collision; on the new connection it would block every request
        // until a PUBACK that can never come. Its record is re-sent instead.
        eventloop.state.collision = None;
        let forgotten = self.inflight.reset();
        self.held.clear();
        let was_up = std::mem::replace(&mut self.up, false);
        self.generation += 1;
        self.rewind = true;
        self.drained = false;
        self.read_after = None;
        let delay = self.backoff.next_delay();
        self.next_attempt = Some(Instant::now() + delay);
        let failures = self.backoff.failures();
        let repeated = self.last_error.as_deref() == Some(error.as_str());
        if !repeated || failures.is_power_of_two() {
            warn!(%error, was_up, in_flight = forgotten, failures, retry_in_ms = delay.as_millis() as u64, "MQTT connection failed");
        } else {
            debug!(%error, failures, retry_in_ms = delay.as_millis() as u64, "MQTT connection failed again");
        }
        self.stats.update(|s| {
            s.connected = false;
            s.connection_errors += 1;
            s.inflight = 0;
            s.last_error = Some(error.clone());
        });
        self.last_error = Some(error);
    }

    fn update_inflight_stats(&self) {
        let (now, high) = (self.inflight.len(), self.inflight.high_water());
        self.stats.update(|s| {
            s.inflight = now;
            s.inflight_high_water = high;
        });
    }

    /// Waits for the running spool operation, then removes every acknowledged
    /// record. Called last, on every way out of the sink.
    pub(crate) async fn finish(&mut self) -> Result<(), MqttError> {
        if self.op.is_some() {
            let done = op_done(&mut self.op).await;
            self.draining = true;
            self.on_op_done(done)?;
        }
        let acks = std::mem::take(&mut self.acks);
        if !acks.is_empty() {
            self.spool
                .ack(acks)
                .await
                .map_err(|source| MqttError::Spool {
                    op: "acknowledging at shutdown",
                    source,
                })?;
        }
        self.stats.update(|s| {
            s.connected = false;
            s.inflight = 0;
        });
        Ok(())
    }
}
