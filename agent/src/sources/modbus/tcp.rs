//! A Modbus TCP device: one connection, each poll group at its own interval, every request
//! under a timeout, reconnects with capped jittered backoff.
//!
//! After a timeout or a broken link the connection is dropped and made again: a late answer
//! on the old connection would otherwise be taken for the answer to the next request.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info_span, Instrument};

use super::poller::{next_due, poll_group, wait_until, PlannedGroup};
use super::{connect, readings};
use crate::config::{Device, Transport};
use crate::event::Event;
use crate::sources::backoff::Backoff;
use crate::sources::health::{DeviceCounters, DeviceHealth};
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
}

impl TcpDevice {
    /// `None` if the device is not a TCP device.
    pub fn new(device: Device) -> Option<Self> {
        let Transport::Tcp { address } = &device.transport else {
            return None;
        };
        let address = address.clone();
        let groups = device
            .polls
            .iter()
            .map(|g| PlannedGroup::new(g, device.merge_reads))
            .collect();
        let health = DeviceHealth::new(&device.id);
        Some(Self {
            device,
            address,
            groups,
            health,
            backoff: Backoff::new(RECONNECT_MIN, RECONNECT_MAX),
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
                let mut ctx = match connected {
                    Ok(ctx) => ctx,
                    Err(failure) => {
                        if let Some(event) = self.health.unreachable(&failure.to_string(), now_ms())
                        {
                            if out.send(event).await.is_err() {
                                return;
                            }
                        }
                        let wait = self.backoff.next_wait();
                        debug!(?wait, "reconnecting after a pause");
                        tokio::select! {
                            _ = shutdown.cancelled() => return,
                            _ = tokio::time::sleep(wait) => continue,
                        }
                    }
                };
                self.health
                    .counters
                    .connects
                    .fetch_add(1, Ordering::Relaxed);
                if !self.poll_until_link_breaks(&mut ctx, &out, &shutdown).await {
                    return;
                }
            }
        }
        .instrument(span)
        .await;
    }

    /// Polls every group at its interval; returns `false` when the task should end (shutdown,
    /// or nobody listens), `true` when the link broke and must be made again.
    async fn poll_until_link_breaks(
        &mut self,
        ctx: &mut tokio_modbus::client::Context,
        out: &mpsc::Sender<Event>,
        shutdown: &CancellationToken,
    ) -> bool {
        let start = Instant::now();
        let mut due: Vec<Instant> = vec![start; self.groups.len()];
        let mut gap_marked = false;
        loop {
            let Some((index, &when)) = due.iter().enumerate().min_by_key(|(_, when)| **when) else {
                return false;
            };
            if !wait_until(when, shutdown).await {
                return false;
            }
            let group = &self.groups[index];
            let outcome = poll_group(ctx, group, self.device.timeout).await;
            let now = now_ms();
            let mut events = readings::events(group, &outcome, now, !gap_marked);
            gap_marked = !outcome.failures.is_empty();
            if !outcome.values.is_empty() {
                events.extend(self.health.succeeded(now));
            }
            for (failure, _) in &outcome.failures {
                events.extend(self.health.failed(failure, now));
            }
            if !send_all(out, events, &self.health.counters).await {
                return false;
            }
            if outcome.link_broken() {
                return true;
            }
            self.backoff.reset();
            due[index] = next_due(when, group.interval, &self.health.counters.overruns);
        }
    }
}
