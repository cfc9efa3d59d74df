//! `modbus_load throughput ADDR CONNECTIONS SECONDS bare|agent|path`: Modbus TCP transactions
//! per second over CONNECTIONS connections, each asking one constant unit of the server for
//! [`REGISTERS`] input registers, one request after the other.
//!
//! - `bare`: tokio-modbus's client in a tight loop (`read_input_registers`, no timeout).
//! - `agent`: the agent's own device task ([`TcpDevice::run`]) with one poll group whose
//!   interval is zero, so it polls as fast as its scheduler lets it: planning, the timeout
//!   around each request, decoding, a reading event per register onto a bounded channel,
//!   health bookkeeping, and a timer wait before each poll. A task drains the channel and
//!   counts good readings; a transaction is [`REGISTERS`] readings.
//! - `path`: the same poll path without the scheduler: the agent's connect, then
//!   [`poll_group`], [`readings::events`], [`DeviceHealth::succeeded`] and the channel in a
//!   loop, as `TcpDevice` does between two timer waits. It tells the cost of the path from the
//!   cost of the timer.
//!
//! Both run on the agent's runtime (two worker threads). After a one-second warm-up the child
//! prints `start`, runs SECONDS, prints `end TRANSACTIONS SECONDS`, and stops; the parent
//! reads this process's and the server's CPU in between.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use edge_agent::event::{EventBody, Quality};
use edge_agent::sources::health::DeviceHealth;
use edge_agent::sources::modbus::poller::{poll_group, PlannedGroup};
use edge_agent::sources::modbus::tcp::TcpDevice;
use edge_agent::sources::modbus::{connect, readings};
use edge_agent::sources::now_ms;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_modbus::client::{tcp, Reader};
use tokio_modbus::Slave;
use tokio_util::sync::CancellationToken;

use crate::server::{REGISTERS, THROUGHPUT_UNITS, THROUGHPUT_UNIT_BASE};

const WARM_UP: Duration = Duration::from_secs(1);
/// The agent's channel between sources and rules has this capacity too.
const CHANNEL: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Bare,
    Agent,
    Path,
}

pub fn run(args: &[String]) -> Result<()> {
    let [addr, connections, seconds, mode] = args else {
        bail!("usage: modbus_load throughput ADDR CONNECTIONS SECONDS bare|agent|path");
    };
    let addr: SocketAddr = addr.parse().context("ADDR")?;
    let connections: u8 = connections.parse().context("CONNECTIONS")?;
    if connections == 0 || connections > THROUGHPUT_UNITS {
        bail!("CONNECTIONS must be 1 to {THROUGHPUT_UNITS}");
    }
    let seconds = Duration::from_secs_f64(seconds.parse().context("SECONDS")?);
    let mode = match mode.as_str() {
        "bare" => Mode::Bare,
        "agent" => Mode::Agent,
        "path" => Mode::Path,
        other => bail!("mode must be bare, agent or path, not {other}"),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let counter = Arc::new(AtomicU64::new(0));
        let stop = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let units = (0..connections).map(|c| THROUGHPUT_UNIT_BASE + c);
        if mode == Mode::Bare {
            for unit in units {
                tasks.spawn(bare_loop(addr, unit, Arc::clone(&counter), stop.clone()));
            }
        } else {
            let (tx, rx) = mpsc::channel(CHANNEL);
            for unit in units {
                let device = device(addr, unit)?;
                let (tx, stop) = (tx.clone(), stop.clone());
                if mode == Mode::Agent {
                    let task = TcpDevice::new(device).context("a TCP device")?;
                    tasks.spawn(async move {
                        task.run(tx, stop).await;
                        Ok(())
                    });
                } else {
                    tasks.spawn(path_loop(device, tx, stop));
                }
            }
            tasks.spawn(count_readings(rx, Arc::clone(&counter)));
        }
        tokio::time::sleep(WARM_UP).await;
        let (start, first) = (Instant::now(), counter.load(Ordering::Relaxed));
        say("start")?;
        tokio::time::sleep(seconds).await;
        let (elapsed, last) = (start.elapsed(), counter.load(Ordering::Relaxed));
        let per_transaction = if mode == Mode::Bare {
            1
        } else {
            u64::from(REGISTERS)
        };
        say(&format!(
            "end {} {}",
            (last - first) / per_transaction,
            elapsed.as_secs_f64()
        ))?;
        stop.cancel();
        while let Some(joined) = tasks.join_next().await {
            joined??;
        }
        Ok(())
    })
}

fn say(line: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

/// One device of [`REGISTERS`] u16 input registers at `unit`, polled with no pause.
fn device(addr: SocketAddr, unit: u8) -> Result<edge_agent::config::Device> {
    let mut text = format!(
        "[agent]\ngateway = \"bench\"\n[[device]]\nid = \"u{unit}\"\ntransport = \"tcp\"\n\
         address = \"{addr}\"\nunit = {unit}\n[[device.poll]]\ninterval = \"1ms\"\n"
    );
    for address in 0..REGISTERS {
        text += &format!(
            "[[device.poll.register]]\nsensor = \"u{unit}.r{address}\"\ntable = \"input\"\naddress = {address}\n"
        );
    }
    let config = edge_agent::config::parse("throughput device", &text).map_err(|d| {
        anyhow!(d
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"))
    })?;
    let mut device = config
        .devices
        .into_iter()
        .next()
        .context("one device was configured")?;
    // Zero: every poll is due at once. The loop still goes through its timer (a deadline in
    // the past completes at once) and counts each poll as an overrun.
    device.polls[0].interval = Duration::ZERO;
    Ok(device)
}

async fn count_readings(
    mut rx: mpsc::Receiver<edge_agent::event::Event>,
    counter: Arc<AtomicU64>,
) -> Result<()> {
    let mut bad = 0u64;
    while let Some(event) = rx.recv().await {
        match event.body {
            EventBody::Reading(r) if r.quality == Quality::Good => {
                counter.fetch_add(1, Ordering::Relaxed);
            }
            EventBody::Reading(_) => bad += 1,
            _ => {}
        }
    }
    if bad > 0 {
        bail!("{bad} readings failed");
    }
    Ok(())
}

async fn bare_loop(
    addr: SocketAddr,
    unit: u8,
    counter: Arc<AtomicU64>,
    stop: CancellationToken,
) -> Result<()> {
    let mut ctx = tcp::connect_slave(addr, Slave(unit)).await?;
    while !stop.is_cancelled() {
        let words = ctx
            .read_input_registers(0, REGISTERS)
            .await?
            .map_err(|e| anyhow!("unit {unit}: exception {e}"))?;
        if words.len() != usize::from(REGISTERS) {
            bail!(
                "unit {unit}: {} registers instead of {REGISTERS}",
                words.len()
            );
        }
        counter.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

async fn path_loop(
    device: edge_agent::config::Device,
    out: mpsc::Sender<edge_agent::event::Event>,
    stop: CancellationToken,
) -> Result<()> {
    let edge_agent::config::Transport::Tcp { address } = &device.transport else {
        bail!("a TCP device");
    };
    let mut ctx = connect::tcp(address, device.unit, device.timeout)
        .await
        .map_err(|e| anyhow!("connecting to {address}: {e}"))?;
    let group = PlannedGroup::new(&device.polls[0], device.merge_reads);
    let mut health = DeviceHealth::new(&device.id);
    while !stop.is_cancelled() {
        let outcome = poll_group(&mut ctx, &group, device.timeout).await;
        let now = now_ms();
        let mut events = readings::events(&group, &outcome, now, true);
        if !outcome.values.is_empty() {
            events.extend(health.succeeded(0, now));
        }
        for event in events {
            if out.send(event).await.is_err() {
                return Ok(());
            }
        }
        if !outcome.failures.is_empty() {
            bail!("{}: {} failed reads", device.id, outcome.failures.len());
        }
    }
    Ok(())
}
