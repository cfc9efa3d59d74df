//! `edge-agent run --config FILE`: the agent itself, until Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use edge_agent::pipeline;

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
        let shutdown = super::cancel_on_signal()?;
        pipeline::run(config, shutdown).await
    });
    // The pipeline's stop is bounded by its deadlines; a blocking call still stuck past
    // them (a hung disk) must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    result?;
    Ok(ExitCode::SUCCESS)
}
