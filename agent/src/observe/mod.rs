//! What the agent is doing, for people (the status page) and for Prometheus (`/metrics`).
//!
//! An [`Observer`] is a cloneable handle that the wiring fills in as the agent starts (the
//! spool once open, the sink once started, the rules and sensors once loaded, the sources
//! once started) and that the rules stage feeds with every event it passes on
//! ([`Observer::tap`]). The HTTP listener reads it.
//!
//! Invariants:
//! - counters kept elsewhere are read where they are (the sources' through [`registry`], the
//!   spool's stats, the sink's [`SinkStatsHandle`]), never counted twice;
//! - the data path pays one uncontended mutex lock per event for the [`StatusModel`], whose
//!   memory is bounded per sensor (see [`model`]);
//! - readers never hold the model's lock across an await.

pub mod catalog;
pub mod metrics;
pub mod model;
pub mod registry;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Instant;

use edge_rules::lang::RuleSet;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::AgentConfig;
use crate::event::Event;
use crate::mqtt::SinkStatsHandle;
use crate::spool::{SharedSpool, SpoolStats};

pub use catalog::Catalog;
pub use model::StatusModel;

/// Where the events go.
#[derive(Debug, Clone)]
pub enum SinkKind {
    /// The stdout sink: always "connected".
    Stdout,
    Mqtt(SinkStatsHandle),
}

/// The share of `max_bytes` the spool may fill while the sink is disconnected and the agent
/// still counts as ready (buffering within bounds).
pub const READY_SPOOL_FILL: f64 = 0.9;

/// See the module docs.
#[derive(Debug, Clone)]
pub struct Observer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    gateway: String,
    started: Instant,
    model: Mutex<StatusModel>,
    spool: OnceLock<SharedSpool>,
    sink: OnceLock<SinkKind>,
    sources_started: AtomicBool,
    rule_hash: Mutex<String>,
    rule_loads: AtomicU64,
}

/// Whether the agent does its job, and if not, why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Readiness {
    pub ready: bool,
    pub sources_started: bool,
    pub spool_open: bool,
    /// The sink is connected (always, for stdout), or the spool holds less than
    /// [`READY_SPOOL_FILL`] of its bound.
    pub sink_ok: bool,
    pub detail: String,
}

impl Observer {
    pub fn new(gateway: &str) -> Self {
        Self {
            inner: Arc::new(Inner {
                gateway: gateway.to_owned(),
                started: Instant::now(),
                model: Mutex::default(),
                spool: OnceLock::new(),
                sink: OnceLock::new(),
                sources_started: AtomicBool::new(false),
                rule_hash: Mutex::default(),
                rule_loads: AtomicU64::new(0),
            }),
        }
    }

    pub fn gateway(&self) -> &str {
        &self.inner.gateway
    }

    pub fn uptime_s(&self) -> f64 {
        self.inner.started.elapsed().as_secs_f64()
    }

    /// The rules in force and the sensors of `config`: the first call at start, each later
    /// one counts as a reload. Sensor state (values, trends) is kept across calls.
    pub fn rules_loaded(&self, config: &AgentConfig, rules: &RuleSet) {
        let catalog = Catalog::new(config, rules);
        {
            let mut model = self.model();
            model.set_catalog(catalog);
            model.rules = Some(rules.clone());
        }
        *self
            .inner
            .rule_hash
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = rule_set_hash(rules);
        self.inner.rule_loads.fetch_add(1, Ordering::Relaxed);
    }

    /// The spool is open.
    pub fn spool_opened(&self, spool: &SharedSpool) {
        let _ = self.inner.spool.set(spool.clone());
    }

    /// The sink is running.
    pub fn sink_started(&self, sink: SinkKind) {
        let _ = self.inner.sink.set(sink);
    }

    /// Every source task is started.
    pub fn sources_started(&self) {
        self.inner.sources_started.store(true, Ordering::Relaxed);
    }

    /// The model, locked, for the rules stage to feed while it runs an event: call
    /// [`StatusModel::observe`] with the incoming event and with what the rules made of it.
    pub fn tap(&self) -> MutexGuard<'_, StatusModel> {
        self.model()
    }

    /// The model, locked. Never hold it across an await.
    pub fn model(&self) -> MutexGuard<'_, StatusModel> {
        // `observe` leaves the model consistent at every step; a panic elsewhere cannot
        // leave it half-changed in a way that matters to a reader.
        self.inner
            .model
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Convenience for tests and callers without a loop: observes one event.
    pub fn observe(&self, event: &Event) {
        self.model().observe(event);
    }

    /// The combined content hash of the rule files in force.
    pub fn rule_hash(&self) -> String {
        self.inner
            .rule_hash
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Times the rules were loaded after the first.
    pub fn reloads(&self) -> u64 {
        self.inner
            .rule_loads
            .load(Ordering::Relaxed)
            .saturating_sub(1)
    }

    pub fn sink(&self) -> Option<&SinkKind> {
        self.inner.sink.get()
    }

    /// The spool's statistics, if it is open and can be read.
    pub async fn spool_stats(&self) -> Option<SpoolStats> {
        let spool = self.inner.spool.get()?;
        spool.stats().await.ok()
    }

    /// See [`Readiness`].
    pub async fn readiness(&self) -> Readiness {
        let sources_started = self.inner.sources_started.load(Ordering::Relaxed);
        let stats = self.spool_stats().await;
        let spool_open = stats.is_some();
        let connected = match self.sink() {
            Some(SinkKind::Stdout) => true,
            Some(SinkKind::Mqtt(handle)) => handle.snapshot().connected,
            None => false,
        };
        let within_bounds = stats.as_ref().is_some_and(|s| {
            (s.pending_bytes.total() as f64) < READY_SPOOL_FILL * s.max_bytes as f64
        });
        let sink_ok = self.sink().is_some() && (connected || within_bounds);
        let mut why = Vec::new();
        if !sources_started {
            why.push("sources not started");
        }
        if !spool_open {
            why.push("spool not open");
        }
        if !sink_ok {
            why.push("sink not connected and the spool is nearly full");
        }
        let detail = if why.is_empty() {
            if connected {
                "ready".to_owned()
            } else {
                "ready: sink disconnected, buffering in the spool".to_owned()
            }
        } else {
            why.join("; ")
        };
        Readiness {
            ready: why.is_empty(),
            sources_started,
            spool_open,
            sink_ok,
            detail,
        }
    }
}

/// One hash for a whole rule set: the first 16 hex digits of SHA-256 over its files' own
/// content hashes, in precedence order.
pub fn rule_set_hash(rules: &RuleSet) -> String {
    let mut hasher = Sha256::new();
    for file in rules.files() {
        hasher.update(file.hash.as_bytes());
        hasher.update(b"\n");
    }
    let digest = hasher.finalize();
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::{FullPolicy, Priority, Spool, SpoolConfig, MIN_MAX_BYTES};

    fn open_spool(dir: &std::path::Path) -> SharedSpool {
        let config = SpoolConfig {
            max_bytes: MIN_MAX_BYTES,
            full_policy: FullPolicy::Reject,
            ..SpoolConfig::default()
        };
        let (spool, _) = Spool::open(&dir.join("spool"), config).expect("open");
        SharedSpool::new(spool)
    }

    #[tokio::test]
    async fn ready_once_sources_spool_and_sink_are_up() {
        let observer = Observer::new("g");
        let readiness = observer.readiness().await;
        assert!(!readiness.ready);
        assert!(
            readiness.detail.contains("sources not started"),
            "{readiness:?}"
        );
        assert!(readiness.detail.contains("spool not open"), "{readiness:?}");

        let dir = tempfile::tempdir().expect("tempdir");
        observer.spool_opened(&open_spool(dir.path()));
        observer.sink_started(SinkKind::Stdout);
        assert!(!observer.readiness().await.ready, "sources still missing");
        observer.sources_started();
        let readiness = observer.readiness().await;
        assert!(readiness.ready, "{readiness:?}");
        assert_eq!(readiness.detail, "ready");
    }

    #[tokio::test]
    async fn a_disconnected_sink_is_ready_while_the_spool_has_room_and_not_after() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = open_spool(dir.path());
        let observer = Observer::new("g");
        observer.spool_opened(&spool);
        observer.sources_started();
        // A sink that has never connected.
        observer.sink_started(SinkKind::Mqtt(SinkStatsHandle::default()));
        let readiness = observer.readiness().await;
        assert!(readiness.ready, "{readiness:?}");
        assert!(readiness.detail.contains("buffering"), "{readiness:?}");

        // Fill the spool past READY_SPOOL_FILL of its bound.
        let limit = READY_SPOOL_FILL * MIN_MAX_BYTES as f64;
        while (spool.stats().await.expect("stats").pending_bytes.total() as f64) < limit {
            spool
                .append(Priority::Alert, vec![7; 64])
                .await
                .expect("room left below the bound");
        }
        let readiness = observer.readiness().await;
        assert!(!readiness.ready, "{readiness:?}");
        assert!(!readiness.sink_ok);
        assert!(readiness.detail.contains("nearly full"), "{readiness:?}");
    }
}
