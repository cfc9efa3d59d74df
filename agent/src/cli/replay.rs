//! `edge-agent replay`: recorded data through the rules, raised alerts as JSON lines.

use std::fs::File;
use std::io::{BufReader, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use edge_agent::{replay, rule_files};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The recorded data: `timestamp,value`, `timestamp,sensor,value`, or a timestamp column
    /// and one column per sensor; comma- or semicolon-separated.
    #[arg(long)]
    input: PathBuf,
    /// Rule files or folders; without it, the embedded default rules.
    #[arg(long)]
    rules: Vec<PathBuf>,
    /// A rule file to use in place of the embedded default rules, for the sensors with no
    /// rule of their own: to try other generic rules on recorded data.
    #[arg(long, value_name = "FILE")]
    defaults: Option<PathBuf>,
    /// Sensor columns to replay (repeat, or separate with commas); without it, every column.
    #[arg(long, value_delimiter = ',')]
    sensor: Vec<String>,
    /// Columns never to replay, such as label columns (repeat, or separate with commas).
    #[arg(long, value_delimiter = ',')]
    exclude: Vec<String>,
    /// After each alert's JSON line, a line of text that says why it fired: its score, the
    /// feature, and the normal it was judged against (level, spread, horizon).
    #[arg(long)]
    explain: bool,
    /// Print each alert's clearing too, not only its raise (the whole lifecycle).
    #[arg(long)]
    clears: bool,
    /// Judge every column on its own. Without it, columns whose names differ only in their
    /// digits (`Bearing 1` ... `Bearing 4`) are a group, each judged against its siblings.
    #[arg(long)]
    ungrouped: bool,
    /// The gateway id written into each event.
    #[arg(long, default_value = "replay")]
    gateway: String,
}

pub fn run(args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    let rules = match rule_files::load_with_defaults(&args.rules, args.defaults.as_deref()) {
        Ok(rules) => rules,
        Err(diagnostics) => {
            for diagnostic in &diagnostics {
                eprintln!("{diagnostic}");
            }
            return Ok(ExitCode::from(2));
        }
    };
    let file =
        File::open(&args.input).with_context(|| format!("cannot open {}", args.input.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let progress = if std::io::stderr().is_terminal() {
        ProgressBar::new(size)
    } else {
        ProgressBar::hidden()
    };
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let input = BufReader::new(progress.wrap_read(file));
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let options = replay::ReplayOptions {
        sensors: args.sensor.clone(),
        exclude: args.exclude.clone(),
        explain: args.explain,
        clears: args.clears,
        ungrouped: args.ungrouped,
    };
    let summary = replay::replay(input, &options, &rules, &args.gateway, &mut out)
        .with_context(|| format!("replay of {}", args.input.display()))?;
    progress.finish_and_clear();
    eprintln!("{summary}");
    Ok(ExitCode::SUCCESS)
}
