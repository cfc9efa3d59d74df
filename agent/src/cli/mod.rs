//! Subcommands of `edge-agent`.

mod allocator;
mod check;
#[cfg(feature = "demo")]
mod demo;
mod notify;
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
    /// Log format on stderr: `human` (colours only on a terminal) or `json` (one object per
    /// line, for journald and log shippers).
    #[arg(long, value_enum, default_value_t = LogFormat::Human, global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate rule files and agent configs (or folders of them); errors as FILE:LINE:COL: message.
    Check(check::CheckArgs),
    /// Run recorded data (CSV) through the rules and print each alert transition as JSON.
    Replay(replay::ReplayArgs),
    /// Poll the configured sources and print what they read as JSON lines: once (--once), or
    /// continuously until Ctrl-C, with no rules, spool or sink.
    Poll(poll::PollArgs),
    /// Run the agent: sources, rules, spool and sink, until Ctrl-C or SIGTERM.
    Run(run::RunArgs),
    /// The main job in one command: a simulated plant, an embedded MQTT broker and the agent
    /// with the shipped rules and its status page; alerts are summarised in the terminal.
    #[cfg(feature = "demo")]
    Demo(demo::DemoArgs),
    /// Look into the store-and-forward spool.
    #[command(subcommand)]
    Spool(spool::SpoolCommand),
}

pub use allocator::tune_malloc;

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Replay(args) => replay::run(&args),
        Command::Poll(args) => poll::run(&args),
        Command::Run(args) => run::run(&args),
        #[cfg(feature = "demo")]
        Command::Demo(args) => demo::run(&args),
        Command::Spool(command) => spool::run(&command),
    }
}

/// The runtime of the long-running commands. Two workers: a gateway has few cores, and sled
/// and serial I/O run on blocking threads.
pub(crate) fn agent_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

/// A notification on every SIGHUP, which then never kills the process. Call it inside the
/// runtime, first thing: until it is installed, SIGHUP's default action is to terminate.
pub(crate) fn notify_on_hangup() -> std::io::Result<std::sync::Arc<tokio::sync::Notify>> {
    use tokio::signal::unix::{signal, SignalKind};
    let notify = std::sync::Arc::new(tokio::sync::Notify::new());
    let mut hangup = signal(SignalKind::hangup())?;
    let on_signal = std::sync::Arc::clone(&notify);
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the config and rules");
            on_signal.notify_one();
        }
    });
    Ok(notify)
}

/// A token that is cancelled on Ctrl-C or SIGTERM. Call it inside the runtime.
pub(crate) fn cancel_on_signal() -> std::io::Result<tokio_util::sync::CancellationToken> {
    use tokio::signal::unix::{signal, SignalKind};
    let token = tokio_util::sync::CancellationToken::new();
    let mut terminate = signal(SignalKind::terminate())?;
    let on_signal = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => tracing::info!("interrupted"),
            _ = terminate.recv() => tracing::info!("terminated"),
        }
        on_signal.cancel();
    });
    Ok(token)
}

impl Cli {
    /// The demo keeps its terminal for its own summary: warnings only, unless -v.
    pub fn quiet_logs(&self) -> bool {
        #[cfg(feature = "demo")]
        if matches!(self.command, Command::Demo(_)) {
            return true;
        }
        false
    }
}

/// See [`Cli::log_format`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

pub fn init_tracing(verbose: u8, format: LogFormat, quiet: bool) {
    let default = match verbose {
        // rumqttd logs an error for every client that leaves: noise in a demo.
        0 if quiet => "warn,rumqttd=off",
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        // Colours only on a terminal: a file or journald would keep the escape codes.
        LogFormat::Human => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => builder.json().with_ansi(false).init(),
    }
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
