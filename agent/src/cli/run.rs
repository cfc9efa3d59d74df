//! `edge-agent run --config FILE`: the agent itself, until Ctrl-C or SIGTERM; SIGHUP (and a
//! change of the files on disk) reloads its rules.

use std::path::PathBuf;
use std::process::ExitCode;

use std::sync::Arc;

use edge_agent::pipeline::{self, reload::ReloadOptions};
use edge_agent::stats::AgentStats;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The agent configuration file (see deploy/agent.example.toml).
    #[arg(long)]
    config: PathBuf,
}

pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    // What `check` accepts, `run` accepts: the config, its rules, the MQTT host.
    let checked = match edge_agent::check::config_with_rules(&args.config, false) {
        Ok(checked) => checked,
        Err(diagnostics) => {
            for diagnostic in &diagnostics {
                eprintln!("{diagnostic}");
            }
            return Ok(ExitCode::from(2));
        }
    };
    for warning in &checked.warnings {
        tracing::warn!(%warning, "rules for a sensor that is not read");
    }
    let config = checked.config;
    let config = super::allocator::settle(config);
    let runtime = super::agent_runtime()?;
    let result = runtime.block_on(async {
        let hangup = super::notify_on_hangup()?;
        let shutdown = super::cancel_on_signal()?;
        let reload = ReloadOptions::new(args.config.clone(), hangup);
        pipeline::run_reloading(config, shutdown, Arc::new(AgentStats::default()), reload).await
    });
    // The pipeline's stop is bounded by its deadlines; a blocking call still stuck past
    // them (a hung disk) must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    result?;
    Ok(ExitCode::SUCCESS)
}
