//! `edge-agent check PATH...`: validate rule files and agent configuration files like a
//! compiler. A file with an `[agent]` table is a configuration, checked with the rule files
//! it names (see `edge_agent::check`); any other is a rule file.

use std::path::PathBuf;
use std::process::ExitCode;

use edge_agent::{check, config, rule_files};

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Rule files and agent configuration files, or folders searched for `*.toml` files
    /// (Cargo.toml excepted).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Treat warnings (a rule file's sensor that the configuration does not read) as errors.
    #[arg(long)]
    strict: bool,
}

pub fn run(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let mut checked = 0;
    let mut problems = 0;
    let mut warnings = 0;
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
            let is_config =
                std::fs::read_to_string(&file).is_ok_and(|t| config::looks_like_agent_config(&t));
            let result = if is_config {
                check::config_with_rules(&file, args.strict).map(|checked| checked.warnings)
            } else {
                rule_files::read_rule_file(&file).map(|_| Vec::new())
            };
            match result {
                Ok(found) => {
                    for warning in &found {
                        eprintln!("{warning}");
                    }
                    warnings += found.len();
                }
                Err(diagnostics) => {
                    for diagnostic in &diagnostics {
                        eprintln!("{diagnostic}");
                    }
                    problems += diagnostics.len();
                }
            }
        }
    }
    if problems == 0 {
        eprintln!("checked {checked} file(s): all valid, {warnings} warning(s)");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("checked {checked} file(s): {problems} error(s)");
        Ok(ExitCode::FAILURE)
    }
}
