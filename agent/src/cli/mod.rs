//! Subcommands of `edge-agent`.

mod check;
mod poll;
mod replay;
mod run;
mod spool;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "edge-agent",
    version,
    about = "Edge agent for predictive maintenance"
)]
pub struct Cli {
    /// More log output on stderr (-v: debug, -vv: trace). RUST_LOG overrides it.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate rule files and agent configs (or folders of them); errors as FILE:LINE:COL: message.
    Check(check::CheckArgs),
    /// Run recorded data (CSV) through the rules and print each alert transition as JSON.
    Replay(replay::ReplayArgs),
    /// Read every configured Modbus device once and print each decoded value as JSON.
    Poll(poll::PollArgs),
    /// Run the agent: sources, rules, spool and sink, until Ctrl-C or SIGTERM.
    Run(run::RunArgs),
    /// Look into the store-and-forward spool.
    #[command(subcommand)]
    Spool(spool::SpoolCommand),
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Replay(args) => replay::run(&args),
        Command::Poll(args) => poll::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Spool(command) => spool::run(&command),
    }
}

pub fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Loads the agent configuration, or prints its diagnostics (`FILE:LINE:COL: message`) and
/// gives the exit code to leave with.
pub(crate) fn load_config(
    path: &std::path::Path,
) -> Result<edge_agent::config::AgentConfig, ExitCode> {
    edge_agent::config::load(path).map_err(|diagnostics| {
        for diagnostic in &diagnostics {
            eprintln!("{diagnostic}");
        }
        ExitCode::from(2)
    })
}
