//! Handing events to the next stage, shared by every source.

use std::sync::atomic::Ordering;

use tokio::sync::mpsc;

use crate::event::{Event, EventBody};
use crate::sources::health::DeviceCounters;

/// Sends every event to `out`, in order, counting the readings in `counters.readings`;
/// `false` if nobody receives any more (the task should end).
///
/// A send is never raced against shutdown: what a source has read goes downstream, because
/// the stages after it drain their channels at shutdown (see `pipeline`). If they give up,
/// they close the channel, and the send fails instead of hanging.
pub(crate) async fn send_all(
    out: &mpsc::Sender<Event>,
    events: impl IntoIterator<Item = Event>,
    counters: &DeviceCounters,
) -> bool {
    for event in events {
        let is_reading = matches!(event.body, EventBody::Reading(_));
        if out.send(event).await.is_err() {
            return false;
        }
        if is_reading {
            counters.readings.fetch_add(1, Ordering::Relaxed);
        }
    }
    true
}
