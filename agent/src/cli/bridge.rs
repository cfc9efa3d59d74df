//! `edge-agent bridge --config FILE`: the MQTT → Kafka bridge, until Ctrl-C or SIGTERM.
//! Built only with the cargo feature `bridge`.

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct BridgeArgs {
    /// The bridge configuration (see deploy/bridge.example.toml).
    #[arg(long)]
    config: PathBuf,
}

pub fn run(args: &BridgeArgs) -> anyhow::Result<ExitCode> {
    let config = match super::or_diagnostics(edge_agent::bridge::config::load(&args.config)) {
        Ok(config) => config,
        Err(code) => return Ok(code),
    };
    let runtime = super::agent_runtime()?;
    runtime.block_on(async {
        let shutdown = super::cancel_on_signal()?;
        edge_agent::bridge::run(config, shutdown).await?;
        Ok(ExitCode::SUCCESS)
    })
}
