//! `edge-agent run --config FILE`: the agent itself, until Ctrl-C or SIGTERM; SIGHUP (and a
//! change of the files on disk) reloads its rules.

use std::path::PathBuf;
use std::process::ExitCode;

use std::sync::Arc;
use std::time::Duration;

use edge_agent::config::AgentConfig;
use edge_agent::observe::Observer;
use edge_agent::pipeline::{self, reload::ReloadOptions};
use edge_agent::stats::AgentStats;
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
    // SIGHUP's default action ends the process: take it over before anything else.
    let runtime = super::agent_runtime()?;
    let hangup = {
        let _inside = runtime.enter();
        super::notify_on_hangup()?
    };
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
    let result = runtime.block_on(async {
        let shutdown = super::cancel_on_signal()?;
        let reload = ReloadOptions::new(args.config.clone(), hangup);
        let stats = Arc::new(AgentStats::default());
        run_observed(config, shutdown, stats, Some(reload)).await
    });
    // The pipeline's stop is bounded by its deadlines; a blocking call still stuck past
    // them (a hung disk) must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    result?;
    Ok(ExitCode::SUCCESS)
}

/// Runs the agent with its HTTP listener (metrics, health, status page) and systemd
/// notifications until `shutdown`, filling `stats`; with `reload`, the rules are reloaded.
pub(crate) async fn run_observed(
    config: AgentConfig,
    shutdown: CancellationToken,
    stats: Arc<AgentStats>,
    reload: Option<ReloadOptions>,
) -> anyhow::Result<()> {
    let observer = Observer::new(&config.gateway, Arc::clone(&stats));
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
    let notify = tokio::spawn(super::notify::run(observer, side.clone()));
    let result = match reload {
        Some(reload) => pipeline::run_reloading(config, shutdown, stats, reload).await,
        None => pipeline::run_with(config, shutdown, stats).await,
    };
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
