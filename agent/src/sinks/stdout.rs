//! The stdout sink, for an agent with no `[mqtt]` section (a bench test, a pipe into another
//! tool): spooled events are written to stdout as wire-shape JSON lines, and acknowledged once
//! written, so the spool drains exactly as it would to a broker. A record whose payload does
//! not decode is written as a `kind = "undecodable"` line (with its seq and the error) and
//! acknowledged too: it is reported, not retried forever.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{Sink, SinkError, SinkRun};
use crate::event::payload;
use crate::event::wire::{self, WIRE_VERSION};
use crate::spool::{Record, SharedSpool};

/// Records read from the spool at a time: small, because a batch and its text are transient
/// memory that sets the heap's peak (see `spool_writer::MAX_GROUP`).
const BATCH: usize = 256;

/// See the module docs.
#[derive(Debug)]
pub struct StdoutSink {
    spool: SharedSpool,
    gateway: String,
    waker: Arc<Notify>,
}

impl StdoutSink {
    pub fn new(spool: SharedSpool, gateway: String) -> Self {
        Self {
            spool,
            gateway,
            waker: Arc::new(Notify::new()),
        }
    }

    /// Drains the spool to stdout until `stop`, then writes what is left and returns.
    pub async fn drain(self, stop: CancellationToken) -> Result<(), SinkError> {
        let spool_error = |operation| {
            move |error| SinkError::Spool {
                sink: "stdout",
                operation,
                error,
            }
        };
        let mut text = String::new();
        loop {
            let batch = self
                .spool
                .next_batch(BATCH)
                .await
                .map_err(spool_error("read"))?;
            if batch.is_empty() {
                if stop.is_cancelled() {
                    return Ok(());
                }
                tokio::select! {
                    () = self.waker.notified() => {}
                    () = stop.cancelled() => {}
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                continue;
            }
            text.clear();
            for record in &batch {
                text.push_str(&line(&self.gateway, record));
                text.push('\n');
            }
            // The stdout lock is a guard that must not live across an await: write in one go.
            {
                let mut out = std::io::stdout().lock();
                out.write_all(text.as_bytes())
                    .and_then(|()| out.flush())
                    .map_err(SinkError::Stdout)?;
            }
            let written: Vec<u64> = batch.iter().map(|r| r.seq).collect();
            self.spool
                .ack(written)
                .await
                .map_err(spool_error("acknowledge"))?;
        }
    }
}

/// The JSON line of one record.
pub fn line(gateway: &str, record: &Record) -> String {
    match payload::decode(&record.payload) {
        Ok(event) => wire::to_json(gateway, record.seq, &event),
        Err(error) => serde_json::json!({
            "v": WIRE_VERSION,
            "gateway": gateway,
            "seq": record.seq,
            "kind": "undecodable",
            "error": error.to_string(),
        })
        .to_string(),
    }
}

impl Sink for StdoutSink {
    fn name(&self) -> &'static str {
        "stdout"
    }

    fn waker(&self) -> Arc<Notify> {
        Arc::clone(&self.waker)
    }

    fn run(self: Box<Self>, stop: CancellationToken) -> SinkRun {
        Box::pin(self.drain(stop))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::Priority;

    #[test]
    fn an_undecodable_record_is_a_json_line_with_its_seq_and_the_error() {
        let record = Record {
            seq: 42,
            class: Priority::Telemetry,
            enqueued_at_ms: 0,
            payload: vec![0xff, 0xff, 0xff],
        };
        let value: serde_json::Value =
            serde_json::from_str(&line("gw \"1\"", &record)).expect("valid JSON");
        assert_eq!(value["gateway"], "gw \"1\"");
        assert_eq!(value["seq"], 42);
        assert_eq!(value["kind"], "undecodable");
        assert!(value["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
}
