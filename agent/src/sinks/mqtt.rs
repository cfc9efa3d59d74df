//! [`MqttSink`] as a [`Sink`]: the protocol and its invariants are in [`crate::mqtt`].

use std::sync::Arc;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{Sink, SinkError, SinkRun};
use crate::mqtt::MqttSink;

impl Sink for MqttSink {
    fn name(&self) -> &'static str {
        "mqtt"
    }

    fn waker(&self) -> Arc<Notify> {
        MqttSink::waker(self)
    }

    fn run(self: Box<Self>, stop: CancellationToken) -> SinkRun {
        Box::pin(async move { MqttSink::run(*self, stop).await.map_err(SinkError::Mqtt) })
    }
}
