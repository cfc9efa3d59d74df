//! `edge-agent`: the command line. Each subcommand lives in `cli/`; this file only parses and
//! dispatches.

use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    cli::tune_malloc();
    let args = cli::Cli::parse();
    let quiet = args.quiet_logs();
    cli::init_tracing(args.verbose, args.log_format, quiet);
    match cli::run(args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("edge-agent: {error:#}");
            ExitCode::from(2)
        }
    }
}
