//! `edge-agent check PATH...`: validate rule files and agent configuration files like a
//! compiler. A file with an `[agent]` table is an agent configuration, one with a `[kafka]`
//! table a bridge configuration; any other is a rule file.

use std::path::PathBuf;
use std::process::ExitCode;

use edge_agent::{bridge, config, rule_files};

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Rule files and agent configuration files, or folders searched for `*.toml` files
    /// (Cargo.toml excepted).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

pub fn run(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let mut checked = 0;
    let mut problems = 0;
    for path in &args.paths {
        let files = match rule_files::toml_files(path) {
            Ok(files) => files,
            Err(error) => {
                eprintln!("{}", rule_files::io_diagnostic(path, &error));
                problems += 1;
                continue;
            }
        };
        for file in files {
            checked += 1;
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            let result = if config::looks_like_agent_config(&text) {
                config::load(&file).map(|_| ())
            } else if bridge::config::looks_like_bridge_config(&text) {
                bridge::config::load(&file).map(|_| ())
            } else {
                rule_files::read_rule_file(&file).map(|_| ())
            };
            if let Err(diagnostics) = result {
                for diagnostic in &diagnostics {
                    eprintln!("{diagnostic}");
                }
                problems += diagnostics.len();
            }
        }
    }
    if problems == 0 {
        eprintln!("checked {checked} file(s): all valid");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("checked {checked} file(s): {problems} error(s)");
        Ok(ExitCode::FAILURE)
    }
}
