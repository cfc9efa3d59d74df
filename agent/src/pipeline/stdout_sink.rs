//! The embedded default sink, for an agent with no `[mqtt]` section (the demo, a bench test):
//! spooled events are written to stdout as wire-shape JSON lines, and acknowledged once
//! written, so the spool drains exactly as it would to a broker.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::error;

use crate::event::{wire, Event};
use crate::spool::SharedSpool;

/// Records read from the spool at a time: small, because a batch and its text are transient
/// memory that sets the heap's peak (see `spool_writer::MAX_GROUP`).
const BATCH: usize = 256;

/// Drains `spool` to stdout until `shutdown`, then writes what is left and returns.
pub async fn run(
    spool: SharedSpool,
    gateway: String,
    waker: Arc<Notify>,
    shutdown: CancellationToken,
) {
    loop {
        let batch = match spool.next_batch(BATCH).await {
            Ok(batch) => batch,
            Err(e) => {
                error!(error = %e, "cannot read the spool");
                Vec::new()
            }
        };
        if batch.is_empty() {
            if shutdown.is_cancelled() {
                return;
            }
            tokio::select! {
                _ = waker.notified() => {}
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            continue;
        }
        let mut text = String::new();
        for record in &batch {
            let line = match postcard::from_bytes::<Event>(&record.payload) {
                Ok(event) => wire::to_json(&gateway, record.seq, &event),
                Err(e) => format!("{{\"v\":1,\"gateway\":{gateway:?},\"seq\":{},\"kind\":\"undecodable\",\"error\":{:?}}}", record.seq, e.to_string()),
            };
            text.push_str(&line);
            text.push('\n');
        }
        // The stdout lock is a guard that must not live across an await: write in one go.
        let delivered = {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes()).and_then(|()| out.flush())
        };
        if delivered.is_err() {
            return; // stdout is gone: nothing more can be delivered here
        }
        let written: Vec<u64> = batch.iter().map(|r| r.seq).collect();
        if let Err(e) = spool.ack(written).await {
            error!(error = %e, "cannot acknowledge in the spool");
        }
    }
}
