//! `edge-agent alerts --config FILE`: the alert service, until Ctrl-C or SIGTERM.
//! Built only with the cargo feature `alerts`.

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct AlertsArgs {
    /// The service's configuration (see deploy/alerts.example.toml).
    #[arg(long)]
    config: PathBuf,
}

pub fn run(args: &AlertsArgs) -> anyhow::Result<ExitCode> {
    let config = match super::or_diagnostics(edge_agent::alerts::config::load(&args.config)) {
        Ok(config) => config,
        Err(code) => return Ok(code),
    };
    let runtime = super::agent_runtime()?;
    runtime.block_on(async {
        let shutdown = super::cancel_on_signal()?;
        edge_agent::alerts::run(config, shutdown).await?;
        Ok(ExitCode::SUCCESS)
    })
}
