//! `edge-agent poll --config FILE --once`: read every configured device once and print each
//! decoded value as one JSON line; exit non-zero, with the reasons, if a device could not be
//! read.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use edge_agent::event::wire::format_ts;
use edge_agent::sources::modbus::once::{poll_once, Decoded};

#[derive(Debug, clap::Args)]
pub struct PollArgs {
    /// The agent configuration file.
    #[arg(long)]
    config: PathBuf,
    /// Poll every device once and exit (the only mode: the agent's `run` polls continuously).
    #[arg(long, required = true)]
    once: bool,
}

pub fn run(args: &PollArgs) -> anyhow::Result<ExitCode> {
    let config = match super::load_config(&args.config) {
        Ok(config) => config,
        Err(code) => return Ok(code),
    };
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
