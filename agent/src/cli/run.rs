//! `edge-agent run --config FILE`: the agent itself, until Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use edge_agent::config::AgentConfig;
use edge_agent::observe::Observer;
use edge_agent::pipeline;
use tokio_util::sync::CancellationToken;
use tracing::{error, warn};

/// How long the HTTP listener gets to close its connections at shutdown.
const HTTP_STOP_DEADLINE: Duration = Duration::from_secs(2);

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
    runtime.block_on(async {
        let shutdown = super::cancel_on_signal()?;
        run_observed(config, shutdown, Observer::new).await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Runs the agent with its HTTP listener and systemd notifications until `shutdown`;
/// `observer` makes the [`Observer`] from the gateway id.
pub(crate) async fn run_observed(
    config: AgentConfig,
    shutdown: CancellationToken,
    observer: impl FnOnce(&str) -> Observer,
) -> anyhow::Result<()> {
    let observer = observer(&config.gateway);
    let side = CancellationToken::new();
    let http = match edge_agent::http::bind(&config.http).await {
        Ok(Some(bound)) => Some(tokio::spawn(bound.serve(observer.clone(), side.clone()))),
        Ok(None) => None,
        // The data path matters more than its window: run without the listener, loudly.
        Err(e) => {
            error!(error = %e, "THE STATUS PAGE AND METRICS ARE OFF: the HTTP listener did not start");
            None
        }
    };
    let notify = tokio::spawn(super::notify::run(observer.clone(), side.clone()));
    let result = pipeline::run(config, shutdown, observer).await;
    side.cancel();
    let _ = notify.await;
    if let Some(http) = http {
        if tokio::time::timeout(HTTP_STOP_DEADLINE, http)
            .await
            .is_err()
        {
            warn!("the HTTP listener did not stop in time");
        }
    }
    result
}
