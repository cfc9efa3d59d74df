//! A Modbus TCP device: one connection, each poll group at its own interval, every request
//! under a timeout, reconnects with capped jittered backoff.
//!
//! After a timeout or a broken link the connection is dropped and made again: a late answer
//! on the old connection would otherwise be taken for the answer to the next request.
//!
//! Invariants, whatever the device does:
//! - **The schedule holds across connections.** Each group's next due time lives with the
//!   device, not the connection: a reconnect never polls a group before it is due, so a
//!   device that accepts connections and breaks every answer is polled no faster than
//!   configured.
//! - **A broken link is followed by a pause**: the same capped, jittered backoff as a failed
//!   connect, reset only by a poll that read something. Such a device costs a connection
//!   per backoff step, not thousands a second.
//! - **One bad-quality reading per register per failure streak**: the gap is marked per
//!   group on the first failed poll and not again until a poll of that group succeeds,
//!   however many connections the streak spans.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info_span, Instrument};

use super::connect;
use super::poller::{next_due, poll_group, wait_until, PlannedGroup};
use super::readings::PollMemory;
use crate::backoff::Backoff;
use crate::config::{Device, Transport};
use crate::event::Event;
use crate::sources::health::{
    DeviceCounters, DeviceHealth, MODBUS_SETTLE_FOR, MODBUS_SETTLE_POLLS,
};
use crate::sources::now_ms;
use crate::sources::send::send_all;

/// The first wait before a reconnect, and the cap.
pub const RECONNECT_MIN: Duration = Duration::from_millis(200);
pub const RECONNECT_MAX: Duration = Duration::from_secs(30);

/// One TCP device's polling task.
#[derive(Debug)]
pub struct TcpDevice {
    device: Device,
    address: String,
    groups: Vec<PlannedGroup>,
    health: DeviceHealth,
    backoff: Backoff,
    /// When each group is due next (set at the first connection).
    due: Vec<Option<Instant>>,
    /// Gap marks and refused registers, kept across connections.
    memory: PollMemory,
}

/// How a connection ended.
enum LinkEnd {
    /// Shutdown, or nobody listens: end the task.
    Stop,
    /// The link broke: pause, then connect again.
    Broken,
}

impl TcpDevice {
    /// `None` if the device is not a TCP device.
    pub fn new(device: Device) -> Option<Self> {
        let Transport::Tcp { address } = &device.transport else {
            return None;
        };
        let address = address.clone();
        let groups: Vec<PlannedGroup> = device
            .polls
            .iter()
            .map(|g| PlannedGroup::new(g, device.merge_reads))
            .collect();
        let health = DeviceHealth::new(&device.id).settle(MODBUS_SETTLE_POLLS, MODBUS_SETTLE_FOR);
        let backoff = Backoff::seeded(RECONNECT_MIN, RECONNECT_MAX, &device.id);
        Some(Self {
            due: vec![None; groups.len()],
            memory: PollMemory::new(groups.len()),
            device,
            address,
            groups,
            health,
            backoff,
        })
    }

    pub fn counters(&self) -> Arc<DeviceCounters> {
        Arc::clone(&self.health.counters)
    }

    /// Polls until `shutdown` is cancelled or `out` is closed.
    pub async fn run(mut self, out: mpsc::Sender<Event>, shutdown: CancellationToken) {
        let span = info_span!("device", id = %self.device.id, address = %self.address);
        async move {
            while !shutdown.is_cancelled() {
                let connected = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    c = connect::tcp(&self.address, self.device.unit, self.device.timeout) => c,
                };
                match connected {
                    Ok(mut ctx) => {
                        self.health
                            .counters
                            .connects
                            .fetch_add(1, Ordering::Relaxed);
                        match self.poll_until_link_breaks(&mut ctx, &out, &shutdown).await {
                            LinkEnd::Stop => return,
                            LinkEnd::Broken => {}
                        }
                    }
                    Err(failure) => {
                        let event = self.health.unreachable(&failure.to_string(), now_ms());
                        if !send_all(&out, event, &self.health.counters).await {
                            return;
                        }
                    }
                }
                let wait = self.backoff.next_delay();
                debug!(?wait, "reconnecting after a pause");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
        .instrument(span)
        .await;
    }

    /// Polls every group when it is due, until the link breaks or the task should end.
    async fn poll_until_link_breaks(
        &mut self,
        ctx: &mut tokio_modbus::client::Context,
        out: &mpsc::Sender<Event>,
        shutdown: &CancellationToken,
    ) -> LinkEnd {
        let now = Instant::now();
        for due in &mut self.due {
            // Due since the link broke: once now, not once per missed interval.
            *due = Some(due.map_or(now, |d| d.max(now)));
        }
        loop {
            let Some((index, when)) = self
                .due
                .iter()
                .enumerate()
                .filter_map(|(i, d)| d.map(|d| (i, d)))
                .min_by_key(|(_, when)| *when)
            else {
                return LinkEnd::Stop;
            };
            if !wait_until(when, shutdown).await {
                return LinkEnd::Stop;
            }
            let group = &self.groups[index];
            let outcome = poll_group(ctx, group, self.device.timeout).await;
            self.due[index] = Some(next_due(
                when,
                group.interval,
                &self.health.counters.overruns,
            ));
            if !outcome.values.is_empty() {
                self.backoff.reset();
            }
            let (id, health) = (&self.device.id, &mut self.health);
            let events = self
                .memory
                .events(id, index, group, &outcome, health, now_ms());
            if !send_all(out, events, &self.health.counters).await {
                return LinkEnd::Stop;
            }
            if outcome.link_broken() {
                return LinkEnd::Broken;
            }
        }
    }
}
