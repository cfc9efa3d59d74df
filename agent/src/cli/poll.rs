//! `edge-agent poll --config FILE`: the sources alone, for an integrator checking a register
//! map.
//!
//! - `--once`: read every configured Modbus device once and print each decoded value as one
//!   JSON line, with the registers it came from; exit non-zero, with the reasons, if a device
//!   could not be read.
//! - Without `--once`: run every source (TCP devices, RTU buses, serial streams) at its
//!   configured rates, exactly as `run` does, and print each reading and health change as the
//!   wire-shape JSON line that `run` would send, until Ctrl-C or SIGTERM. No rules, no spool,
//!   nothing leaves the gateway.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use edge_agent::config::AgentConfig;
use edge_agent::event::wire::{self, format_ts};
use edge_agent::pipeline;
use edge_agent::sources::modbus::once::{poll_once, Decoded};
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;
use tracing::warn;

/// Events printed per write to stdout.
const PRINT_BATCH: usize = 256;

#[derive(Debug, clap::Args)]
pub struct PollArgs {
    /// The agent configuration file.
    #[arg(long)]
    config: PathBuf,
    /// Poll every Modbus device once and exit; without it, poll continuously until Ctrl-C.
    #[arg(long)]
    once: bool,
}

pub fn run(args: &PollArgs) -> anyhow::Result<ExitCode> {
    let config = match super::load_config(&args.config) {
        Ok(config) => config,
        Err(code) => return Ok(code),
    };
    if args.once {
        once(&config)
    } else {
        let config = super::allocator::settle(config);
        watch(&config)
    }
}

fn once(config: &AgentConfig) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let reports = runtime.block_on(poll_once(&config.devices));
    let mut out = std::io::stdout().lock();
    let mut failed = false;
    for report in &reports {
        for decoded in &report.decoded {
            writeln!(out, "{}", line(decoded))?;
        }
        for (failure, sensors) in &report.failures {
            failed = true;
            eprintln!(
                "device {}: {failure} (unread: {})",
                report.device,
                sensors.join(", ")
            );
        }
    }
    out.flush()?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn line(d: &Decoded) -> String {
    let r = &d.register;
    serde_json::json!({
        "device": d.device,
        "sensor": r.sensor,
        "ts": format_ts(d.ts_ms),
        "value": d.value.value,
        "unit": r.unit,
        "quality": "good",
        "table": r.table.name(),
        "address": r.address,
        "type": r.value_type.name(),
        "order": r.order.name(),
        "registers": d.value.words,
    })
    .to_string()
}

/// The continuous mode: the agent's own source tasks, their events printed in order.
fn watch(config: &AgentConfig) -> anyhow::Result<ExitCode> {
    let runtime = super::agent_runtime()?;
    runtime.block_on(async {
        let stop = super::cancel_on_signal()?;
        let (tx, mut rx) = mpsc::channel(pipeline::CHANNEL);
        let sources = TaskTracker::new();
        pipeline::start_sources(config, &sources, &tx, &stop);
        sources.close();
        drop(tx);
        let mut seq = 0u64;
        let mut events = Vec::with_capacity(PRINT_BATCH);
        let mut text = String::new();
        // Ends when every source has stopped (on the signal) and dropped its sender.
        while rx.recv_many(&mut events, PRINT_BATCH).await > 0 {
            text.clear();
            for event in events.drain(..) {
                seq += 1;
                text.push_str(&wire::to_json(&config.gateway, seq, &event));
                text.push('\n');
            }
            // The stdout lock must not live across an await: write in one go.
            let mut out = std::io::stdout().lock();
            if out
                .write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .is_err()
            {
                warn!("stdout is closed: stopping");
                stop.cancel();
                break;
            }
        }
        drop(rx); // a source blocked on a full channel sees it closed and stops
        sources.wait().await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
