//! The running agent: every stage wired together.
//!
//! ```text
//! sources ──readings, health──▶ rules ──readings, features, alerts──▶ spool writer ──▶ spool ──▶ sink
//!  (a task per TCP device,        (one task)                            (one task)        (sled)   (MQTT, or stdout)
//!   per RTU bus, per stream)
//! ```
//!
//! Stages are joined by bounded channels, so a slow stage slows the ones before it rather
//! than growing a queue. Shutdown walks the path from the front: the sources stop; the rules
//! task ends when the last source has dropped its sender; the writer spools what is left and
//! ends; the spool is flushed; then the sink gets a deadline to send what it can. Whatever it
//! could not send stays in the spool for the next start.

mod rules_stage;
pub mod spool_writer;
pub mod stdout_sink;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

pub use rules_stage::RulesStage;

use crate::config::{AgentConfig, Transport};
use crate::event::{Event, HealthState};
use crate::observe::{Observer, SinkKind};
use crate::sources::modbus::rtu::RtuBus;
use crate::sources::modbus::tcp::TcpDevice;
use crate::sources::now_ms;
use crate::sources::serial::StreamSource;
use crate::spool::{self, SharedSpool, Spool};
use crate::{mqtt, rule_files};

/// Capacity of the channels between stages.
pub const CHANNEL: usize = 4096;
/// How long the sources get to stop, and the sink to send what it can, at shutdown.
const STOP_DEADLINE: Duration = Duration::from_secs(5);

/// Runs the agent described by `config` until `shutdown` is cancelled, reporting what it
/// does to `observer` (metrics, health, the status page).
pub async fn run(
    config: AgentConfig,
    shutdown: CancellationToken,
    observer: Observer,
) -> anyhow::Result<()> {
    let rules = rule_files::load(&config.rules).map_err(|diagnostics| {
        let lines: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("the rules do not load:\n{}", lines.join("\n"))
    })?;
    let spool_dir = spool::dir_in(&config.data_dir);
    let (opened, report) = Spool::open(&spool_dir, config.spool.clone())
        .with_context(|| format!("cannot open the spool in {}", spool_dir.display()))?;
    let spool = SharedSpool::new(opened);
    observer.rules_loaded(&config, &rules);
    observer.spool_opened(&spool);
    info!(gateway = %config.gateway, spool = %spool_dir.display(), pending = report.pending.total(), "agent starting");

    let (source_tx, mut source_rx) = mpsc::channel::<Event>(CHANNEL);
    let (spool_tx, spool_rx) = mpsc::channel::<Event>(CHANNEL);
    if let Some(aside) = &report.moved_aside {
        error!(reason = %aside.reason, moved_to = %aside.to.display(), "THE SPOOL COULD NOT BE OPENED: it was moved aside (kept, not deleted) and a fresh one started");
        let detail = format!(
            "spool unreadable ({}); moved to {} and a fresh one started",
            aside.reason,
            aside.to.display()
        );
        let health = Event::health(now_ms(), "spool", HealthState::Degraded, detail);
        observer.observe(&health);
        spool_tx.send(health).await.ok();
    }

    let mut stage = RulesStage::new(rules, config.forward_readings);
    stage.prepare(
        config
            .devices
            .iter()
            .flat_map(|d| &d.polls)
            .flat_map(|g| &g.registers)
            .map(|r| r.sensor.as_str()),
    );
    let sources_stop = CancellationToken::new();
    let sources = TaskTracker::new();
    start_sources(&config, &sources, &source_tx, &sources_stop);
    sources.close();
    drop(source_tx);
    observer.sources_started();

    let tap = observer.clone();
    let rules_task = tokio::spawn(async move {
        let mut out = Vec::new();
        while let Some(event) = source_rx.recv().await {
            {
                let mut seen = tap.tap();
                seen.observe(&event);
                stage.process(event, &mut out);
                out.iter()
                    .filter(|e| e.body.kind() != "reading")
                    .for_each(|e| seen.observe(e));
            }
            for event in out.drain(..) {
                if spool_tx.send(event).await.is_err() {
                    return;
                }
            }
        }
    });

    let sink_stop = CancellationToken::new();
    let (waker, sink_task) = start_sink(&config, spool.clone(), sink_stop.clone(), &observer)?;
    let writer_task = tokio::spawn(spool_writer::run(
        spool.clone(),
        spool_rx,
        Arc::clone(&waker),
    ));

    shutdown.cancelled().await;
    info!("stopping: sources first, then the spool, then the sink");
    sources_stop.cancel();
    if tokio::time::timeout(STOP_DEADLINE, sources.wait())
        .await
        .is_err()
    {
        warn!("sources did not stop in time");
    }
    rules_task.abort(); // its input is closed once the sources are gone; abort covers stragglers
    let _ = rules_task.await;
    let _ = writer_task.await;
    if let Err(e) = spool.flush().await {
        error!(error = %e, "spool flush at shutdown failed");
    }
    sink_stop.cancel();
    waker.notify_one();
    match tokio::time::timeout(STOP_DEADLINE, sink_task).await {
        Ok(_) => info!("stopped"),
        Err(_) => warn!("the sink did not finish in time; unsent events stay in the spool"),
    }
    Ok(())
}

/// Starts a task per TCP device, per RTU bus and per serial stream of `config` on `tracker`,
/// each sending its readings and health changes to `out` until `stop`.
pub fn start_sources(
    config: &AgentConfig,
    tracker: &TaskTracker,
    out: &mpsc::Sender<Event>,
    stop: &CancellationToken,
) {
    let mut buses: BTreeMap<String, (crate::config::SerialLine, Vec<crate::config::Device>)> =
        BTreeMap::new();
    for device in &config.devices {
        match &device.transport {
            Transport::Tcp { .. } => {
                if let Some(task) = TcpDevice::new(device.clone()) {
                    tracker.spawn(task.run(out.clone(), stop.clone()));
                }
            }
            Transport::Rtu(line) => {
                let entry = buses
                    .entry(line.path.display().to_string())
                    .or_insert_with(|| (line.clone(), Vec::new()));
                entry.1.push(device.clone());
            }
        }
    }
    for (line, devices) in buses.into_values() {
        tracker.spawn(RtuBus::new(line, devices).run(out.clone(), stop.clone()));
    }
    for stream in &config.streams {
        match StreamSource::new(stream.clone()) {
            Ok(source) => {
                tracker.spawn(source.run(out.clone(), stop.clone()));
            }
            // The config validation refuses what the decoder would; this is belt and braces.
            Err(e) => error!(stream = %stream.id, error = %e, "serial stream not started"),
        }
    }
}
type SinkTask = tokio::task::JoinHandle<()>;

fn start_sink(
    config: &AgentConfig,
    spool: SharedSpool,
    stop: CancellationToken,
    observer: &Observer,
) -> anyhow::Result<(Arc<Notify>, SinkTask)> {
    let Some(table) = &config.mqtt else {
        info!("no [mqtt] section: events go to stdout as JSON lines");
        observer.sink_started(SinkKind::Stdout);
        let waker = Arc::new(Notify::new());
        let task = tokio::spawn(stdout_sink::run(
            spool,
            config.gateway.clone(),
            Arc::clone(&waker),
            stop,
        ));
        return Ok((waker, task));
    };
    let mqtt_config = mqtt::MqttConfig::from_table(table.clone()).context("[mqtt]")?;
    let sink = mqtt::MqttSink::new(&mqtt_config, &config.gateway, spool).context("[mqtt]")?;
    let waker = sink.waker();
    observer.sink_started(SinkKind::Mqtt(sink.stats()));
    let task = tokio::spawn(async move {
        if let Err(e) = sink.run(stop).await {
            error!(error = %e, "the MQTT sink stopped");
        }
    });
    Ok((waker, task))
}
