//! `edge-agent run --config FILE`: the agent itself, until Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use edge_agent::pipeline;
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;
use tracing::info;

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
    // Two workers: a gateway has few cores, and sled and serial I/O run on blocking threads.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let shutdown = CancellationToken::new();
        let mut terminate = signal(SignalKind::terminate())?;
        let on_signal = shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => info!("interrupted"),
                _ = terminate.recv() => info!("terminated"),
            }
            on_signal.cancel();
        });
        pipeline::run(config, shutdown).await
    })?;
    Ok(ExitCode::SUCCESS)
}
