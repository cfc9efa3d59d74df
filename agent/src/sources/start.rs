//! Starting the configured sources: a task per TCP device, per RTU bus (its devices share
//! the line) and per serial stream, each sending readings and health events to one channel.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::error;

use crate::config::{AgentConfig, Device, SerialLine, Transport};
use crate::event::Event;
use crate::sources::modbus::rtu::RtuBus;
use crate::sources::modbus::tcp::TcpDevice;
use crate::sources::serial::StreamSource;
use crate::stats::AgentStats;

/// One source, ready to run: its name (`device:<id>`, `bus:<path>`, `stream:<id>`) and
/// its task, which ends when `stop` is cancelled or its channel is closed.
pub struct SourceTask {
    pub name: String,
    pub task: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl std::fmt::Debug for SourceTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceTask")
            .field("name", &self.name)
            .finish()
    }
}

/// The source tasks of `config`, sending to `out` until `stop`; their counters are
/// registered in `stats`.
pub fn tasks(
    config: &AgentConfig,
    out: &mpsc::Sender<Event>,
    stop: &CancellationToken,
    stats: &AgentStats,
) -> Vec<SourceTask> {
    let mut tasks = Vec::new();
    let mut buses: BTreeMap<String, (SerialLine, Vec<Device>)> = BTreeMap::new();
    for device in &config.devices {
        match &device.transport {
            Transport::Tcp { .. } => {
                if let Some(task) = TcpDevice::new(device.clone()) {
                    stats.add_device(&device.id, task.counters());
                    tasks.push(SourceTask {
                        name: format!("device:{}", device.id),
                        task: Box::pin(task.run(out.clone(), stop.clone())),
                    });
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
    for (path, (line, devices)) in buses {
        let bus = RtuBus::new(line, devices);
        for (id, counters) in bus.device_counters() {
            stats.add_device(&id, counters);
        }
        tasks.push(SourceTask {
            name: format!("bus:{path}"),
            task: Box::pin(bus.run(out.clone(), stop.clone())),
        });
    }
    for stream in &config.streams {
        match StreamSource::new(stream.clone()) {
            Ok(source) => {
                stats.add_device(&stream.id, source.device_counters());
                stats.add_stream(&stream.id, source.counters());
                tasks.push(SourceTask {
                    name: format!("stream:{}", stream.id),
                    task: Box::pin(source.run(out.clone(), stop.clone())),
                });
            }
            // The config validation refuses what the decoder would; this is belt and braces.
            Err(e) => error!(stream = %stream.id, error = %e, "serial stream not started"),
        }
    }
    tasks
}

/// Starts every source of `config` on `tracker`, unsupervised (`edge-agent poll`): each
/// sends to `out` until `stop`.
pub fn start_sources(
    config: &AgentConfig,
    tracker: &TaskTracker,
    out: &mpsc::Sender<Event>,
    stop: &CancellationToken,
) {
    for source in tasks(config, out, stop, &AgentStats::default()) {
        tracker.spawn(source.task);
    }
}
