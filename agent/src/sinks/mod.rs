//! Sinks: what drains the spool out of the agent. Each takes records from the spool and
//! acknowledges them only once delivered, so a record leaves the spool only when it has
//! left the agent. Two exist:
//!
//! - [`stdout::StdoutSink`]: wire-shape JSON lines on stdout, for a config without `[mqtt]`;
//! - [`MqttSink`](crate::mqtt::MqttSink): QoS 1 to the plant's broker; its protocol lives in
//!   [`crate::mqtt`], this folder only adapts it to the [`Sink`] trait (`mqtt.rs`).
//!
//! A sink runs until its stop token is cancelled, then sends what it can within its own
//! deadline and returns; what it could not send stays in the spool for the next start. A
//! sink that returns before it is told to stop (or returns an error) stops the agent.

mod mqtt;
pub mod stdout;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::AgentConfig;
use crate::spool::SharedSpool;
use crate::stats::AgentStats;

pub use stdout::StdoutSink;

/// Why a sink stopped early.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("MQTT sink: {0}")]
    Mqtt(#[source] crate::mqtt::MqttError),
    #[error("stdout sink: cannot write to stdout: {0}")]
    Stdout(#[source] std::io::Error),
    #[error("{sink} sink: spool {operation} failed: {error}")]
    Spool {
        sink: &'static str,
        operation: &'static str,
        #[source]
        error: crate::spool::SpoolError,
    },
}

/// The future a sink runs as.
pub type SinkRun = Pin<Box<dyn Future<Output = Result<(), SinkError>> + Send>>;

/// See the module docs.
pub trait Sink: Send + std::fmt::Debug {
    /// A short name for logs and stage names: `stdout`, `mqtt`.
    fn name(&self) -> &'static str;
    /// Wakes the sink when new records are in the spool (the writer notifies after each group).
    fn waker(&self) -> Arc<Notify>;
    /// Drains the spool until `stop`, then closes within the sink's own deadline.
    fn run(self: Box<Self>, stop: CancellationToken) -> SinkRun;
}

/// The sink `config` asks for: MQTT with an `[mqtt]` section, else stdout. Registers the
/// MQTT sink's statistics in `stats`.
pub fn from_config(
    config: &AgentConfig,
    spool: SharedSpool,
    stats: &AgentStats,
) -> Result<Box<dyn Sink>, SinkError> {
    match &config.mqtt {
        None => Ok(Box::new(StdoutSink::new(spool, config.gateway.clone()))),
        Some(mqtt) => {
            let sink = crate::mqtt::MqttSink::new(mqtt, &config.gateway, spool)
                .map_err(SinkError::Mqtt)?;
            *crate::stats::lock(&stats.sink) = Some(sink.stats());
            Ok(Box::new(sink))
        }
    }
}
