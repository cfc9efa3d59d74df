//! What the agent is doing, for people (the status page) and for Prometheus (`/metrics`).
//!
//! The running agent fills [`AgentStats`] (the wiring registers the sources' counters, the
//! spool, the sink's statistics and the rules; the rules stage feeds the [`StatusModel`]
//! with every event it passes on). An [`Observer`] is the read side the HTTP listener and
//! `edge-agent demo` use.
//!
//! Invariants:
//! - counters kept elsewhere are read where they are (the sources', the spool's stats, the
//!   sink's [`SinkStatsHandle`]), never counted twice;
//! - the data path pays one uncontended mutex lock per event for the [`StatusModel`], whose
//!   memory is bounded per sensor (see [`model`]);
//! - readers never hold the model's lock across an await.

pub mod catalog;
pub mod metrics;
pub mod model;

use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};
use std::time::Instant;

use edge_rules::lang::RuleSet;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::AgentConfig;
use crate::mqtt::SinkStatsHandle;
use crate::spool::SpoolStats;
use crate::stats::{lock, AgentStats};

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

/// The sensors of `config` with what `rules` say of them, for the status page. Called by
/// the wiring at start; the state of sensors already known is kept.
pub fn describe(stats: &AgentStats, config: &AgentConfig, rules: &RuleSet) {
    let mut model = lock(&stats.status);
    model.set_catalog(Catalog::new(config, rules));
    model.rules = Some(rules.clone());
}

/// New rules for the same sensors (a reload): their levels and ISO scales change, their
/// values and trends stay.
pub fn rules_changed(stats: &AgentStats, rules: &RuleSet) {
    let mut model = lock(&stats.status);
    let mut catalog = Catalog::default();
    for sensor in &model.catalog.sensors {
        catalog.add(
            &sensor.id,
            sensor.device.as_deref(),
            sensor.unit.clone(),
            Some(rules),
        );
    }
    model.set_catalog(catalog);
    model.rules = Some(rules.clone());
}

/// See the module docs.
#[derive(Debug, Clone)]
pub struct Observer {
    gateway: Arc<str>,
    started: Instant,
    stats: Arc<AgentStats>,
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
    /// The view of the agent `gateway` whose wiring fills `stats`.
    pub fn new(gateway: &str, stats: Arc<AgentStats>) -> Self {
        Self {
            gateway: Arc::from(gateway),
            started: Instant::now(),
            stats,
        }
    }

    pub fn gateway(&self) -> &str {
        &self.gateway
    }

    pub fn stats(&self) -> &AgentStats {
        &self.stats
    }

    pub fn uptime_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// The model, locked. Never hold it across an await.
    pub fn model(&self) -> MutexGuard<'_, StatusModel> {
        lock(&self.stats.status)
    }

    /// A short hash of the rule files in force (empty before they are loaded).
    pub fn rule_hash(&self) -> String {
        let files = lock(&self.stats.rule_hash).clone();
        if files.is_empty() {
            return files;
        }
        let digest = Sha256::digest(files.as_bytes());
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Reloads that took effect.
    pub fn reloads(&self) -> u64 {
        self.stats.reloads.load(Ordering::Relaxed)
    }

    /// The sink, once the spool is open (the sink is started right after it).
    pub fn sink(&self) -> Option<SinkKind> {
        self.stats.spool.get()?;
        Some(match lock(&self.stats.sink).clone() {
            Some(handle) => SinkKind::Mqtt(handle),
            None => SinkKind::Stdout,
        })
    }

    /// The spool's statistics, if it is open and can be read.
    pub async fn spool_stats(&self) -> Option<SpoolStats> {
        let spool = self.stats.spool.get()?;
        spool.stats().await.ok()
    }

    /// See [`Readiness`].
    pub async fn readiness(&self) -> Readiness {
        let sources_started = self.stats.sources_started.load(Ordering::Relaxed);
        let stats = self.spool_stats().await;
        let spool_open = stats.is_some();
        let sink = self.sink();
        let connected = match &sink {
            Some(SinkKind::Stdout) => true,
            Some(SinkKind::Mqtt(handle)) => handle.snapshot().connected,
            None => false,
        };
        let within_bounds = stats.as_ref().is_some_and(|s| {
            (s.pending_bytes.total() as f64) < READY_SPOOL_FILL * s.max_bytes as f64
        });
        let sink_ok = sink.is_some() && (connected || within_bounds);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::{FullPolicy, Priority, SharedSpool, Spool, SpoolConfig, MIN_MAX_BYTES};

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
        let stats = Arc::new(AgentStats::default());
        let observer = Observer::new("g", Arc::clone(&stats));
        let readiness = observer.readiness().await;
        assert!(!readiness.ready);
        assert!(
            readiness.detail.contains("sources not started"),
            "{readiness:?}"
        );
        assert!(readiness.detail.contains("spool not open"), "{readiness:?}");

        let dir = tempfile::tempdir().expect("tempdir");
        stats.spool.set(open_spool(dir.path())).expect("set once");
        assert!(!observer.readiness().await.ready, "sources still missing");
        stats.sources_started.store(true, Ordering::Relaxed);
        let readiness = observer.readiness().await;
        assert!(readiness.ready, "{readiness:?}");
        assert_eq!(readiness.detail, "ready");
    }

    #[tokio::test]
    async fn a_disconnected_sink_is_ready_while_the_spool_has_room_and_not_after() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = open_spool(dir.path());
        let stats = Arc::new(AgentStats::default());
        let observer = Observer::new("g", Arc::clone(&stats));
        stats.spool.set(spool.clone()).expect("set once");
        stats.sources_started.store(true, Ordering::Relaxed);
        // A sink that has never connected.
        *lock(&stats.sink) = Some(SinkStatsHandle::default());
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
