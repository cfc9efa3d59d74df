//! `edge-agent check PATH...`: validate rule files like a compiler.

use std::path::PathBuf;
use std::process::ExitCode;

use edge_agent::rule_files;

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Rule files, or folders searched for `*.toml` files (Cargo.toml excepted).
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
            if let Err(diagnostics) = rule_files::read_rule_file(&file) {
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
