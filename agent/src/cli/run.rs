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
    let config = match super::load_config(&args.config) {
        Ok(config) => config,
        Err(code) => return Ok(code),
    };
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
