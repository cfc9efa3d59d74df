//! The wiring of the running agent: every stage started, supervised and stopped in order.
//! Nothing else lives here; each stage has its own place:
//!
//! ```text
//! sources ──readings, health──▶ rules ──readings, features, alerts──▶ spool writer ──▶ spool ──▶ sink
//! crate::sources                crate::rules_stage                      crate::spool_writer  crate::spool  crate::sinks
//! (a task per TCP device,       (one task)                              (one task)           (sled)        (MQTT: crate::mqtt,
//!  per RTU bus, per stream)                                                                                 or stdout)
//! ```
//!
//! Where things went (for code written against the old `pipeline/`): [`run`] and [`CHANNEL`]
//! are here; [`start_sources`] is `crate::sources::start_sources` (re-exported here); the
//! rules stage is [`crate::rules_stage`]; the writer is [`crate::spool_writer`]; the stdout
//! sink is [`crate::sinks::stdout`]; [`MqttSink`](crate::mqtt::MqttSink) is unchanged in
//! [`crate::mqtt`] and implements [`crate::sinks::Sink`]; the shared counters are
//! [`crate::stats::AgentStats`].
//!
//! # Supervision
//!
//! Every stage runs on one task tracker ([`stages::Stages`]) and stops on tokens that are
//! all children of one root cancellation token. A stage that ends before it was asked to,
//! returns an error or panics stops the agent: an error line names the stage and the cause,
//! the path is stopped in order as below, and [`run`] returns an error (the binary exits
//! non-zero, so systemd restarts it).
//!
//! # Stopping: a drain, not an abort
//!
//! Stages are joined by bounded channels, so a slow stage slows the ones before it rather
//! than growing a queue. Shutdown walks the path from the front, each step under a deadline:
//!
//! 1. the sources are told to stop; each hands what it has already read to the channel and
//!    ends ([`SOURCES_DEADLINE`]). A source still running then is left behind: the rules
//!    stage closes its input, which fails that source's next send instead of waiting on it;
//! 2. the rules stage processes everything queued and ends when its input is empty; the
//!    writer spools everything queued and ends ([`DRAIN_DEADLINE`] for both). The sink still
//!    runs meanwhile, so a spool that is full under `full_policy = "reject"` empties into a
//!    live broker. If the deadline passes anyway (full spool, broker down), the writer gives
//!    up, and counts and logs what it could not spool;
//! 3. the spool is flushed;
//! 4. the sink is told to stop and gets its own grace period (MQTT `shutdown_grace`) plus
//!    [`SINK_MARGIN`]. Whatever it could not send stays in the spool for the next start.
//!
//! So every event read before the stop is in the spool afterwards, except under a full
//! spool with `reject` past the deadline, which is counted in
//! [`AgentStats::not_spooled`](crate::stats::AgentStats::not_spooled).

pub mod reload;
pub mod stages;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::config::AgentConfig;
use crate::event::{Event, HealthState};
use crate::rules_stage::{self, RulesLinks, RulesStage};
use crate::sinks;
use crate::sources::{self, now_ms};
use crate::spool::{self, SharedSpool, Spool};
use crate::spool_writer::{self, WriterLinks};
use crate::stats::AgentStats;
use reload::ReloadOptions;
use stages::{Exit, Outcome, StageKind, Stages};

pub use crate::sources::start_sources;

/// Capacity of the channels between stages.
pub const CHANNEL: usize = 4096;
/// How long the sources get to stop.
pub const SOURCES_DEADLINE: Duration = Duration::from_secs(5);
/// How long the rules stage and the writer get to drain their channels, after the sources.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(10);
/// How long the writer gets to end once told to give up.
const GIVE_UP_GRACE: Duration = Duration::from_secs(2);
/// How long the spool's final flush may take.
const FLUSH_DEADLINE: Duration = Duration::from_secs(10);
/// Added to the sink's own grace period, for its last spool operations.
pub const SINK_MARGIN: Duration = Duration::from_secs(5);

/// Runs the agent described by `config` until `shutdown` is cancelled, or until a stage
/// fails (an error naming it).
pub async fn run(config: AgentConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    run_with(config, shutdown, Arc::new(AgentStats::default())).await
}

/// [`run`], filling `stats` as it goes.
pub async fn run_with(
    config: AgentConfig,
    shutdown: CancellationToken,
    stats: Arc<AgentStats>,
) -> anyhow::Result<()> {
    run_inner(config, shutdown, stats, None).await
}

/// [`run_with`], reloading the rules as [`reload`] describes.
pub async fn run_reloading(
    config: AgentConfig,
    shutdown: CancellationToken,
    stats: Arc<AgentStats>,
    reload: ReloadOptions,
) -> anyhow::Result<()> {
    run_inner(config, shutdown, stats, Some(reload)).await
}

async fn run_inner(
    config: AgentConfig,
    shutdown: CancellationToken,
    stats: Arc<AgentStats>,
    reload: Option<ReloadOptions>,
) -> anyhow::Result<()> {
    let rules = crate::rule_files::load(&config.rules).map_err(|diagnostics| {
        let lines: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("the rules do not load:\n{}", lines.join("\n"))
    })?;
    reload::record_rule_hash(&stats, &rules);
    let spool_dir = spool::dir_in(&config.data_dir);
    let (opened, report) = Spool::open(&spool_dir, config.spool.clone())
        .with_context(|| format!("cannot open the spool in {}", spool_dir.display()))?;
    let spool = SharedSpool::new(opened);
    let _ = stats.spool.set(spool.clone());
    crate::observe::describe(&stats, &config, &rules);
    info!(gateway = %config.gateway, spool = %spool_dir.display(), pending = report.pending.total(), "agent starting");

    let root = CancellationToken::new();
    let stop = Phases {
        sources: root.child_token(),
        sources_gone: root.child_token(),
        give_up: root.child_token(),
        sink: root.child_token(),
    };
    let (source_tx, source_rx) = mpsc::channel::<Event>(CHANNEL);
    let (spool_tx, spool_rx) = mpsc::channel::<Event>(CHANNEL);
    if let Some(aside) = &report.moved_aside {
        error!(reason = %aside.reason, moved_to = %aside.to.display(), "THE SPOOL COULD NOT BE OPENED: it was moved aside (kept, not deleted) and a fresh one started");
        let detail = format!(
            "spool unreadable ({}); moved to {} and a fresh one started",
            aside.reason,
            aside.to.display()
        );
        let health = Event::health(now_ms(), "spool", HealthState::Degraded, detail);
        spool_tx.send(health).await.ok();
    }

    let inferred = rules_stage::device_groups(config.devices.iter().map(|d| {
        d.polls
            .iter()
            .flat_map(|g| &g.registers)
            .map(|r| (r.sensor.as_str(), r.unit.as_deref()))
    }));
    for group in &inferred {
        info!(sensors = ?group, "like registers of one device: each judged against its siblings");
    }
    let mut rules_stage =
        RulesStage::new(rules, config.forward_readings).with_inferred_groups(inferred);
    rules_stage.prepare(
        config
            .devices
            .iter()
            .flat_map(|d| &d.polls)
            .flat_map(|g| &g.registers)
            .map(|r| r.sensor.as_str()),
    );
    let sink = sinks::from_config(&config, spool.clone(), &stats).context("[mqtt]")?;
    let sink_deadline = config
        .mqtt
        .as_ref()
        .map_or(Duration::ZERO, |m| m.shutdown_grace)
        + SINK_MARGIN;
    let waker = sink.waker();

    let mut stages = Stages::default();
    stages.spawn(
        format!("sink:{}", sink.name()),
        StageKind::Sink,
        sink.run(stop.sink.clone()),
    );
    let links = WriterLinks {
        sink: Arc::clone(&waker),
        give_up: stop.give_up.clone(),
        stats: Arc::clone(&stats),
    };
    stages.spawn(
        "spool writer",
        StageKind::SpoolWriter,
        spool_writer::run(spool.clone(), spool_rx, links),
    );
    let (reload_tx, reloads) = mpsc::channel(4);
    let links = RulesLinks {
        input: source_rx,
        output: spool_tx,
        reloads,
        sources_gone: stop.sources_gone.clone(),
        stats: Arc::clone(&stats),
    };
    stages.spawn(
        "rules",
        StageKind::Rules,
        rules_stage::run(rules_stage, links),
    );
    if let Some(options) = reload {
        let watcher = reload::watch(
            options,
            config.clone(),
            reload_tx,
            Arc::clone(&stats),
            stop.sources.clone(),
        );
        stages.spawn("reload watcher", StageKind::Helper, watcher);
    }
    for source in sources::tasks(&config, &source_tx, &stop.sources, &stats) {
        stages.spawn(source.name, StageKind::Source, async move {
            source.task.await;
            Ok::<(), std::convert::Infallible>(())
        });
    }
    stats.sources_started.store(true, Ordering::Relaxed);

    let first = tokio::select! {
        () = shutdown.cancelled() => None,
        exit = stages.next_exit() => exit,
    };
    let mut failures = Vec::new();
    let (readings, spooled) = counts(&stats);
    match first {
        None => info!(
            readings,
            spooled,
            "stopping: sources first, then the rules and the spool writer drain, then the sink"
        ),
        Some(exit) => {
            error!(stage = %exit.stage, cause = %exit.outcome, "a stage stopped on its own: stopping the agent");
            failures.push(exit);
        }
    }
    let mut exits = Vec::new();
    stop_in_order(
        &mut stages,
        &stop,
        &spool,
        &waker,
        sink_deadline,
        &mut exits,
    )
    .await;
    for exit in exits {
        if !stop.expected(&exit) {
            error!(stage = %exit.stage, cause = %exit.outcome, "stage failed while stopping");
            failures.push(exit);
        }
    }
    root.cancel();
    if !stages.close(Duration::from_secs(1)).await {
        warn!("some tasks were still running at the end");
    }
    let (readings, spooled) = counts(&stats);
    let not_spooled = stats.not_spooled.load(Ordering::Relaxed);
    info!(readings, spooled, not_spooled, "stopped");
    match failures.first() {
        None => Ok(()),
        Some(Exit { stage, outcome, .. }) => {
            anyhow::bail!("stage `{stage}` {outcome}; the agent stopped")
        }
    }
}

/// Readings the sources handed on, and events the writer spooled, so far.
fn counts(stats: &AgentStats) -> (u64, u64) {
    let readings = stats
        .devices()
        .iter()
        .map(|(_, c)| c.readings.load(Ordering::Relaxed))
        .sum();
    (readings, stats.spooled.load(Ordering::Relaxed))
}

/// The tokens that stop each part of the path, all children of one root.
struct Phases {
    sources: CancellationToken,
    /// The sources are stopped or left behind: the rules stage closes its input.
    sources_gone: CancellationToken,
    give_up: CancellationToken,
    sink: CancellationToken,
}

impl Phases {
    /// Whether `exit` is an orderly end: the stage returned after it was asked to stop
    /// (the rules stage and the writer end once the sources are stopped), or anything after
    /// the writer was told to give up (whose losses are counted and logged by the writer).
    fn expected(&self, exit: &Exit) -> bool {
        if self.give_up.is_cancelled() && exit.kind != StageKind::Sink {
            return true;
        }
        let asked = match exit.kind {
            StageKind::Source | StageKind::Rules | StageKind::SpoolWriter | StageKind::Helper => {
                self.sources.is_cancelled()
            }
            StageKind::Sink => self.sink.is_cancelled(),
        };
        asked && exit.outcome == Outcome::Returned
    }
}

/// Steps 1 to 4 of the module docs; every exit seen on the way goes to `exits`.
async fn stop_in_order(
    stages: &mut Stages,
    stop: &Phases,
    spool: &SharedSpool,
    waker: &tokio::sync::Notify,
    sink_deadline: Duration,
    exits: &mut Vec<Exit>,
) {
    stop.sources.cancel();
    let deadline = Instant::now() + SOURCES_DEADLINE;
    if !stages.wait_for(StageKind::Source, deadline, exits).await {
        let late: Vec<&str> = stages.running_of(StageKind::Source).collect();
        warn!(
            ?late,
            "sources did not stop in time: left behind, their channel closed"
        );
    }
    stop.sources_gone.cancel();
    let deadline = Instant::now() + DRAIN_DEADLINE;
    let drained = stages.wait_for(StageKind::Rules, deadline, exits).await
        && stages
            .wait_for(StageKind::SpoolWriter, deadline, exits)
            .await;
    if !drained {
        warn!("the rules and the spool writer did not drain in time: the writer gives up");
        stop.give_up.cancel();
        let deadline = Instant::now() + GIVE_UP_GRACE;
        if !(stages
            .wait_for(StageKind::SpoolWriter, deadline, exits)
            .await
            && stages.wait_for(StageKind::Rules, deadline, exits).await)
        {
            error!("the rules stage or the spool writer did not end: events still queued are lost");
        }
    }
    match tokio::time::timeout(FLUSH_DEADLINE, spool.flush()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => error!(error = %e, "spool flush at shutdown failed"),
        Err(_) => error!("spool flush at shutdown did not finish in time"),
    }
    stop.sink.cancel();
    waker.notify_one();
    let deadline = Instant::now() + sink_deadline;
    if !stages.wait_for(StageKind::Sink, deadline, exits).await {
        warn!("the sink did not finish in time; unsent events stay in the spool");
    }
}
