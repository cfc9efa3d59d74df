//! The sink's metrics: a snapshot that the agent (health events, a metrics
//! endpoint) and tests read while the sink runs.
//!
//! | field | meaning |
//! |---|---|
//! | `connected` | a CONNACK was received and the connection has not failed since |
//! | `connections` | CONNACKs received |
//! | `reconnects` | CONNACKs after the first |
//! | `connection_errors` | connection attempts that failed and connections that broke |
//! | `messages` | publishes of records written to the network (a batch of readings is one), re-sends included |
//! | `published` | records in those publishes, re-sends included |
//! | `acked` | records whose publish the broker acknowledged (PUBACK) |
//! | `dead_lettered` | records sent to the dead-letter topic instead of as events |
//! | `inflight` | publishes in flight now (status messages included) |
//! | `inflight_high_water` | the most ever in flight at once (never above `max_inflight`) |
//! | `backlog` | records in the spool not yet acknowledged, per class |
//! | `oldest_unacked_age_ms` | age of the oldest of them (by its append time) |
//! | `last_error` | the last connection error, as text |
//!
//! `backlog` and `oldest_unacked_age_ms` come from the spool's statistics,
//! refreshed at most once a second (also during an outage); the counters are
//! exact and current.

use std::sync::{Arc, Mutex};

use crate::spool::PerClass;

/// A snapshot of the sink's state and counters (counters since the sink started).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// Whether the sink has a working connection.
    pub connected: bool,
    /// CONNACKs received.
    pub connections: u64,
    /// CONNACKs after the first.
    pub reconnects: u64,
    /// Failed connection attempts and broken connections.
    pub connection_errors: u64,
    /// Reconnects started early because the probe saw the broker's port open again.
    pub probe_reconnects: u64,
    /// Publishes of records written to the network (a batch is one), re-sends included.
    pub messages: u64,
    /// Records in those publishes, re-sends included.
    pub published: u64,
    /// Records whose publish the broker acknowledged.
    pub acked: u64,
    /// Records published on the dead-letter topic.
    pub dead_lettered: u64,
    /// Publishes in flight now.
    pub inflight: usize,
    /// The most publishes ever in flight at once.
    pub inflight_high_water: usize,
    /// Records waiting in the spool (unacknowledged), per class.
    pub backlog: PerClass<u64>,
    /// Age of the oldest unacknowledged record in milliseconds, `None` if none.
    pub oldest_unacked_age_ms: Option<u64>,
    /// The last connection error.
    pub last_error: Option<String>,
}

/// A cloneable handle on the live [`SinkStats`] of one sink.
#[derive(Debug, Clone, Default)]
pub struct SinkStatsHandle {
    inner: Arc<Mutex<SinkStats>>,
}

impl SinkStatsHandle {
    /// A copy of the current statistics.
    pub fn snapshot(&self) -> SinkStats {
        match self.inner.lock() {
            Ok(stats) => stats.clone(),
            // Only a panic inside `update` poisons it; the values are still counters.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub(crate) fn update(&self, f: impl FnOnce(&mut SinkStats)) {
        match self.inner.lock() {
            Ok(mut stats) => f(&mut stats),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }
}
