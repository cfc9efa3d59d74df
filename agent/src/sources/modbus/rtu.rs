//! A Modbus RTU bus: one task owns the serial port and every slave on it takes its turn.
//!
//! # Scheduling
//! Each (slave, poll group) has a due time. The bus serves the earliest due request whose
//! slave's [`Breaker`] allows it, waits for it to finish (a serial bus carries one transaction
//! at a time), then keeps the line silent for the inter-frame gap before the next request.
//! A slave that stops answering is paused by its breaker, so that its timeouts do not eat the
//! bus time of the others: the live slaves keep their rates.
//!
//! After a link failure (timeout, garbled or CRC-failed answer) the port is reopened: a late
//! answer still on the wire must not be read as the answer to the next request.
//!
//! # Utilisation
//! The time spent in transactions (request, answer and the silence after) over the time the
//! bus has run: near 1.0 the bus cannot take more polls, and overruns are counted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_modbus::client::Context;
use tokio_modbus::slave::{Slave, SlaveContext};
use tokio_util::sync::CancellationToken;
use tracing::{info_span, warn, Instrument};

use super::breaker::Breaker;
use super::poller::{next_due, poll_group, wait_until, PlannedGroup};
use super::readings::PollMemory;
use crate::backoff::Backoff;
use crate::config::{Device, SerialLine, Transport};
use crate::event::Event;
use crate::sources::health::{
    DeviceCounters, DeviceHealth, MODBUS_SETTLE_FOR, MODBUS_SETTLE_POLLS,
};
use crate::sources::now_ms;
use crate::sources::send::send_all;
use crate::sources::serial_port::PortOpener;

/// Counters of one bus, shared with the status page and metrics.
#[derive(Debug, Default)]
pub struct BusCounters {
    pub transactions: AtomicU64,
    /// Microseconds the bus was busy (transactions and the silence after them).
    pub busy_us: AtomicU64,
    /// Microseconds since the bus task started.
    pub elapsed_us: AtomicU64,
    pub reopens: AtomicU64,
}

impl BusCounters {
    /// Busy time over elapsed time, 0 to 1.
    pub fn utilisation(&self) -> f64 {
        let elapsed = self.elapsed_us.load(Ordering::Relaxed);
        if elapsed == 0 {
            return 0.0;
        }
        self.busy_us.load(Ordering::Relaxed) as f64 / elapsed as f64
    }
}

/// The silence between frames: 3.5 character times, and a fixed 1.75 ms above 19,200 baud,
/// as the Modbus over serial line specification says.
pub fn inter_frame_silence(line: &SerialLine) -> Duration {
    if line.baud > 19_200 {
        return Duration::from_micros(1750);
    }
    let parity = u32::from(line.parity != crate::config::Parity::None);
    let bits_per_char = 1 + u32::from(line.data_bits) + parity + u32::from(line.stop_bits);
    Duration::from_secs_f64(3.5 * f64::from(bits_per_char) / f64::from(line.baud))
}

#[derive(Debug)]
struct BusSlave {
    device: Device,
    groups: Vec<PlannedGroup>,
    due: Vec<Instant>,
    health: DeviceHealth,
    breaker: Breaker,
    /// Gap marks and refused registers, per group.
    memory: PollMemory,
}

/// One serial port and the RTU slaves on it.
#[derive(Debug)]
pub struct RtuBus {
    line: SerialLine,
    slaves: Vec<BusSlave>,
    counters: Arc<BusCounters>,
}

impl RtuBus {
    /// A bus for `devices`, which must all be RTU devices on the same line.
    pub fn new(line: SerialLine, devices: Vec<Device>) -> Self {
        let now = Instant::now();
        let slaves = devices
            .into_iter()
            .filter(|d| matches!(&d.transport, Transport::Rtu(l) if *l == line))
            .map(|device| {
                let groups: Vec<_> = device
                    .polls
                    .iter()
                    .map(|g| PlannedGroup::new(g, device.merge_reads))
                    .collect();
                BusSlave {
                    due: vec![now; groups.len()],
                    memory: PollMemory::new(groups.len()),
                    health: DeviceHealth::new(&device.id)
                        .settle(MODBUS_SETTLE_POLLS, MODBUS_SETTLE_FOR),
                    groups,
                    device,
                    breaker: Breaker::default(),
                }
            })
            .collect();
        Self {
            line,
            slaves,
            counters: Arc::default(),
        }
    }

    pub fn counters(&self) -> Arc<BusCounters> {
        Arc::clone(&self.counters)
    }

    /// The counters of each slave, by device id.
    pub fn device_counters(&self) -> Vec<(String, Arc<DeviceCounters>)> {
        self.slaves
            .iter()
            .map(|s| (s.device.id.clone(), Arc::clone(&s.health.counters)))
            .collect()
    }

    /// Serves the bus until `shutdown` is cancelled or `out` is closed.
    pub async fn run(mut self, out: mpsc::Sender<Event>, shutdown: CancellationToken) {
        let span = info_span!("rtu_bus", port = %self.line.path.display(), baud = self.line.baud);
        async move {
            let started = Instant::now();
            let silence = inter_frame_silence(&self.line);
            let mut opener = PortOpener::new(self.line.clone());
            let mut reopen = Backoff::seeded(
                Duration::from_millis(200),
                Duration::from_secs(30),
                &self.line.path.display().to_string(),
            );
            let mut ctx: Option<Context> = None;
            loop {
                self.counters
                    .elapsed_us
                    .store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
                let Some((slave, group, when)) = self.next_request() else {
                    return;
                };
                if !wait_until(when, &shutdown).await {
                    return;
                }
                let context = match ctx.as_mut() {
                    Some(c) => c,
                    None => match tokio::select! {
                        _ = shutdown.cancelled() => return,
                        opened = opener.open() => opened,
                    } {
                        Ok(port) => {
                            let unit = Slave(self.slaves[slave].device.unit);
                            let c = tokio_modbus::client::rtu::attach_slave(port, unit);
                            self.counters.reopens.fetch_add(1, Ordering::Relaxed);
                            reopen.reset();
                            ctx.insert(c)
                        }
                        Err(failure) => {
                            for slave in &mut self.slaves {
                                let event =
                                    slave.health.unreachable(&failure.to_string(), now_ms());
                                if !send_all(&out, event, &slave.health.counters).await {
                                    return;
                                }
                            }
                            tokio::select! {
                                _ = shutdown.cancelled() => return,
                                _ = tokio::time::sleep(reopen.next_delay()) => continue,
                            }
                        }
                    },
                };
                let began = Instant::now();
                let link_broke = match self.transact(context, slave, group, when, &out).await {
                    Some(link_broke) => link_broke,
                    None => return,
                };
                if link_broke {
                    ctx = None;
                }
                tokio::time::sleep(silence).await;
                self.counters
                    .busy_us
                    .fetch_add(began.elapsed().as_micros() as u64, Ordering::Relaxed);
                self.counters.transactions.fetch_add(1, Ordering::Relaxed);
            }
        }
        .instrument(span)
        .await;
    }

    /// The earliest due (slave, group) and when it may go: its due time, or the end of its
    /// slave's pause if the breaker is open.
    fn next_request(&self) -> Option<(usize, usize, Instant)> {
        let now = Instant::now();
        self.slaves
            .iter()
            .enumerate()
            .flat_map(|(s, slave)| {
                slave.due.iter().enumerate().map(move |(g, &due)| {
                    let allowed = slave.breaker.allows(now).err().unwrap_or(due);
                    (s, g, due.max(allowed))
                })
            })
            .min_by_key(|&(_, _, when)| when)
    }

    /// Polls one group of one slave; `Some(link_broke)`, or `None` when nobody listens.
    async fn transact(
        &mut self,
        ctx: &mut Context,
        s: usize,
        g: usize,
        when: Instant,
        out: &mpsc::Sender<Event>,
    ) -> Option<bool> {
        let slave = &mut self.slaves[s];
        ctx.set_slave(Slave(slave.device.unit));
        let group = &slave.groups[g];
        let outcome = poll_group(ctx, group, slave.device.timeout).await;
        if !outcome.values.is_empty() {
            slave.breaker.succeeded();
        }
        let (id, health) = (&slave.device.id, &mut slave.health);
        let events = slave
            .memory
            .events(id, g, group, &outcome, health, now_ms());
        let link_broke = outcome.link_broken();
        if link_broke {
            let was_open = slave.breaker.is_open();
            slave.breaker.failed(Instant::now());
            if slave.breaker.is_open() && !was_open {
                warn!(device = %slave.device.id, unit = slave.device.unit, "slave stopped answering: paused so the rest of the bus keeps its rates");
            }
        }
        slave.due[g] = next_due(when, group.interval, &slave.health.counters.overruns);
        send_all(out, events, &slave.health.counters)
            .await
            .then_some(link_broke)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Parity;

    fn line(baud: u32, parity: Parity) -> SerialLine {
        SerialLine {
            path: "/dev/null".into(),
            baud,
            parity,
            data_bits: 8,
            stop_bits: 1,
        }
    }

    #[test]
    fn the_inter_frame_silence_is_three_and_a_half_characters_or_fixed_at_high_speed() {
        // 9600 baud 8E1: 11 bits a character, 3.5 characters = 4.01 ms.
        let silence = inter_frame_silence(&line(9600, Parity::Even));
        assert!(
            (silence.as_secs_f64() - 0.004_010).abs() < 1e-5,
            "{silence:?}"
        );
        assert_eq!(
            inter_frame_silence(&line(115_200, Parity::None)),
            Duration::from_micros(1750)
        );
    }
}
