//! The MQTT sink: drains the spool to the plant's broker, QoS 1, and removes a
//! record from the spool only when the broker has acknowledged *its* publish.
//!
//! ```no_run
//! use edge_agent::mqtt::{MqttConfig, MqttSink};
//! use edge_agent::spool::{SharedSpool, Spool, SpoolConfig};
//! use tokio_util::sync::CancellationToken;
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let (spool, _) = Spool::open("/var/lib/edge-agent/spool".as_ref(), SpoolConfig::default())?;
//! let spool = SharedSpool::new(spool);
//! let config = MqttConfig::from_toml("host = \"broker.plant.example\"")?;
//! let sink = MqttSink::new(&config, "line1-gw01", spool.clone())?;
//! let stats = sink.stats(); // SinkStats snapshots: backlog, oldest age, reconnects, ...
//! let shutdown = CancellationToken::new();
//! let task = tokio::spawn(sink.run(shutdown.clone()));
//! // ... on SIGTERM:
//! shutdown.cancel();
//! task.await??;
//! # Ok(()) }
//! ```
//!
//! # Design: clean sessions, the spool re-sends
//!
//! rumqttc 0.24 keeps unacknowledged QoS 1 publishes in its `MqttState` and,
//! after a connection error, moves them (and the requests still in its
//! channel) to `EventLoop::pending` to replay them on the next connection —
//! whatever `clean_session` says. We do **not** rely on that replay: the spool
//! already holds every unacknowledged record, durably, and replaying from two
//! places would send some records twice per outage and in the wrong order
//! (old telemetry before new alerts). So:
//!
//! - The sink connects with `clean_session = true` (it subscribes to nothing,
//!   so a broker-side session would hold nothing useful).
//! - On every lost connection it first honours the PUBACKs rumqttc had already
//!   read (they wait in `MqttState::events`), then clears `EventLoop::pending`,
//!   forgets everything in flight, and makes the next spool operation call
//!   `rewind_unacked()`: every unacknowledged record is read again, alerts
//!   first, and re-sent on the new connection with the same seq.
//!
//! # Invariants
//!
//! 1. **A record leaves the spool only after the PUBACK of a publish that
//!    carried its seq** (the event, its dead-letter message, or the batch of
//!    readings it is in: one publish, one in-flight entry, all of its seqs). Packet ids
//!    are paired with records by order: the tracker (`inflight.rs`) queues a
//!    publication before each `try_publish`, and each
//!    `Outgoing::Publish(pkid)` takes the oldest queued one, because rumqttc
//!    takes requests from its channel in order and reports one such event per
//!    QoS 1 publish. A PUBACK then names exactly one record. If the pairing is
//!    ever inconsistent (an unknown publish, a packet id reused before its
//!    PUBACK), the sink drops the connection without trusting any buffered
//!    event and re-sends from the spool: duplicates, never a wrong ack.
//! 2. **Nothing is lost across reconnects**: the tracker is reset, but the
//!    records are still in the spool, and the rewind makes each eligible
//!    again. Acknowledgements are committed to the spool *before* the rewind,
//!    in the same operation, so the rewind never re-sends an acknowledged record.
//! 3. **Duplicates are only re-sends of the same seq**: a record is published
//!    once per connection (the spool hands it out once per rewind, and a
//!    rewind happens only after a lost connection, when nothing of the new
//!    connection is in flight). It is published again only if its PUBACK was
//!    not received on the connection that sent it. (One more case rewinds
//!    within a connection: rumqttc refusing a publish request, which the
//!    channel's capacity, `max_inflight + 4`, rules out; the records in
//!    flight are then sent twice, still with their seq.) Receivers
//!    deduplicate by (gateway, seq).
//! 4. **Bounded in flight**: at most `max_inflight` QoS 1 publishes (status
//!    messages included) between request and PUBACK; a batch never asks the
//!    spool for more than the room left. rumqttc's own `inflight` is set to
//!    the same value.
//! 5. **Order**: the spool hands out alerts before telemetry, oldest first
//!    within a class; the sink publishes them in that order on one
//!    connection, so a backlog drains oldest first at the broker's pace (the
//!    in-flight window is the flow control), and a live alert overtakes the
//!    telemetry backlog at the next batch (at most one window later). With
//!    batched readings (`batching.rs`) a read may group into more messages than
//!    the window has room for; those wait in the driver and go before the next
//!    read. Reads are sized by the records per message of the last one, so what
//!    waits is about one window: a live alert then comes at most about two
//!    windows later.
//! 6. **One spool operation at a time**, decided and applied in order:
//!    acknowledgements, rewind, read, statistics. Records read for a
//!    connection that has since been lost (an older generation) are not
//!    published; the rewind that follows makes them eligible again.
//! 7. **The sink never blocks an async worker on sled**: every spool call
//!    runs on the blocking pool through [`SharedSpool`](crate::spool::SharedSpool).
//!
//! # Status: birth and last will
//!
//! The last will is `offline`, retained, QoS 1 on the status topic; after each
//! CONNACK the sink publishes `online`, retained, QoS 1 there. On a clean
//! shutdown it publishes `offline` itself and disconnects (the broker then
//! discards the will). When the connection dies otherwise (process killed,
//! network cut, keep-alive expired), the broker publishes the will.
//!
//! # Timeouts
//!
//! Connecting (TCP, TLS, CONNACK) and every socket write are bounded by
//! `connect_timeout` (rumqttc's network options); a silent connection is
//! detected by keep-alive: a ping still unanswered one keep-alive after it was
//! sent fails the connection. Shutdown is bounded by `shutdown_grace`.
//!
//! # Files
//!
//! `config.rs` (the `[mqtt]` section), `options.rs` (rumqttc options, TLS),
//! `topics.rs` (topic templates), `message.rs` (record → message),
//! `batching.rs` (`[mqtt.batch]`, records → batches of readings),
//! `inflight.rs` (packet id ↔ seq, pure), `probe.rs` (the broker's port watched between
//! attempts), `stats.rs` (backoff: `crate::backoff`),
//! `driver.rs` (the state and its event handlers), `sink.rs` (the task).
//! The broker side is documented in `deploy/mqtt.md`.

mod batching;
pub(crate) mod config;
mod driver;
mod error;
mod inflight;
mod message;
pub(crate) mod options;
mod probe;
mod sink;
mod stats;
mod topics;

pub use config::{BatchConfig, MqttConfig, Secret, TlsConfig, TopicConfig};
pub use error::MqttError;
pub use options::{STATUS_OFFLINE, STATUS_ONLINE};
pub use sink::MqttSink;
pub use stats::{SinkStats, SinkStatsHandle};
