//! `edge-agent spool inspect --data-dir DIR`: what is waiting in the spool, how old, how big,
//! and what was dropped. Safe while the agent runs: it reads a copy.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use edge_agent::spool;

#[derive(Debug, Subcommand)]
pub enum SpoolCommand {
    /// Show what is waiting, its oldest age, its size and the drop counters.
    Inspect {
        /// The agent's data directory (`data_dir` in its configuration); the spool is in
        /// its `spool` folder.
        #[arg(long)]
        data_dir: PathBuf,
    },
}

pub fn run(command: &SpoolCommand) -> anyhow::Result<ExitCode> {
    match command {
        SpoolCommand::Inspect { data_dir } => {
            let report = spool::inspect(&spool::dir_in(data_dir))?;
            println!("{report}");
            Ok(ExitCode::SUCCESS)
        }
    }
}
