//! Handing events to the next stage, shared by every source.

use std::sync::atomic::Ordering;

use tokio::sync::mpsc;

use crate::event::{Event, EventBody};
use crate::sources::health::DeviceCounters;

/// Sends every event to `out`, in order, counting the readings in `counters.readings`;
/// `false` if nobody receives any more (the task should end).
///
/// The events of one call (one poll of a device, one window of a stream) enter the channel
/// together, with no other source's events between them (`reserve_many` takes the room for
/// all of them at once, up to the channel's capacity): the MQTT sink finds the readings of a
/// poll cycle consecutive in the spool and sends them as one batch (`mqtt/batching.rs`).
///
/// A send is never raced against shutdown: what a source has read goes downstream, because
/// the stages after it drain their channels at shutdown (see `pipeline`). If they give up,
/// they close the channel, and the send fails instead of hanging.
pub(crate) async fn send_all(
    out: &mpsc::Sender<Event>,
    events: impl IntoIterator<Item = Event>,
    counters: &DeviceCounters,
) -> bool {
    let mut events = events.into_iter().peekable();
    while events.peek().is_some() {
        let chunk: Vec<Event> = events.by_ref().take(out.max_capacity()).collect();
        let Ok(permits) = out.reserve_many(chunk.len()).await else {
            return false;
        };
        for (permit, event) in permits.zip(chunk) {
            if matches!(event.body, EventBody::Reading(_)) {
                counters.readings.fetch_add(1, Ordering::Relaxed);
            }
            permit.send(event);
        }
    }
    true
}
