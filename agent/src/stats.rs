//! Counters the running agent shares with whoever wants to show them (the metrics endpoint,
//! the status page, tests): plain atomics and small locked values, filled in by the wiring
//! and the stages, read without stopping anything.
//!
//! The wiring ([`pipeline::run_with`](crate::pipeline::run_with)) takes an `Arc<AgentStats>`
//! and registers into it what it starts; nothing here is computed on read.

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, OnceLock};

use crate::mqtt::SinkStatsHandle;
use crate::observe::StatusModel;
use crate::sources::health::DeviceCounters;
use crate::sources::serial::StreamCounters;
use crate::spool::SharedSpool;

/// See the module docs.
#[derive(Debug, Default)]
pub struct AgentStats {
    /// The health counters of every Modbus device and serial stream, by id, in start order.
    pub devices: Mutex<Vec<(String, Arc<DeviceCounters>)>>,
    /// Events the spool writer appended to the spool.
    pub spooled: AtomicU64,
    /// Events that never reached the spool: refused by a full spool (`full_policy =
    /// "reject"`) when the shutdown deadline passed, or refused by the spool with an error.
    pub not_spooled: AtomicU64,
    /// Rule and config reloads that took effect.
    pub reloads: AtomicU64,
    /// Reloads refused because the new files did not pass `check`.
    pub reloads_refused: AtomicU64,
    /// The content hashes of the rule files now running, sorted (`file:hash`).
    pub rule_hash: Mutex<String>,
    /// The MQTT sink's statistics, when the sink is MQTT.
    pub sink: Mutex<Option<SinkStatsHandle>>,
    /// The frame and line counters of every serial stream, by id, in start order.
    pub streams: Mutex<Vec<(String, Arc<StreamCounters>)>>,
    /// The spool, once open (its statistics are read on demand).
    pub spool: OnceLock<SharedSpool>,
    /// Set once every source task is started.
    pub sources_started: AtomicBool,
    /// The status page's picture of the plant, fed by the rules stage
    /// ([`crate::observe::model`]).
    pub status: Mutex<StatusModel>,
}

impl AgentStats {
    /// Registers the counters of a device or stream.
    pub fn add_device(&self, id: &str, counters: Arc<DeviceCounters>) {
        lock(&self.devices).push((id.to_owned(), counters));
    }

    /// Registers the frame and line counters of a serial stream.
    pub fn add_stream(&self, id: &str, counters: Arc<StreamCounters>) {
        lock(&self.streams).push((id.to_owned(), counters));
    }

    /// A copy of the registered stream counters.
    pub fn streams(&self) -> Vec<(String, Arc<StreamCounters>)> {
        lock(&self.streams).clone()
    }

    /// A copy of the registered device counters.
    pub fn devices(&self) -> Vec<(String, Arc<DeviceCounters>)> {
        lock(&self.devices).clone()
    }
}

/// Locks a stats value. A panic while one was held cannot leave it half-written (each is
/// replaced or pushed in one step), so a poisoned lock is simply taken over.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
