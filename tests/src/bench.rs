//! What the benchmark harnesses (`tests/examples/*_bench.rs`) share: numeric flags, the
//! release `edge-agent` with the features under test.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};

use crate::paths;

/// `--name N` flags of the command line over `defaults`; any other argument is an error.
pub fn numeric_flags(defaults: &[(&'static str, u64)]) -> Result<BTreeMap<&'static str, u64>> {
    let mut values: BTreeMap<&'static str, u64> = defaults.iter().copied().collect();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let Some(name) = arg
            .strip_prefix("--")
            .and_then(|n| defaults.iter().find(|(d, _)| *d == n))
            .map(|(d, _)| *d)
        else {
            let known: Vec<String> = defaults.iter().map(|(n, _)| format!("--{n} N")).collect();
            bail!("unknown argument {arg}; use {}", known.join(", "));
        };
        let value = args
            .next()
            .with_context(|| format!("--{name} needs a number"))?;
        values.insert(
            name,
            value.parse().with_context(|| format!("--{name} {value}"))?,
        );
    }
    Ok(values)
}

/// Builds the release `edge-agent` with `features` (progress on stderr) and returns its path
/// in `CARGO_TARGET_DIR` (or the workspace's `target/`). With `EDGE_BENCH_AGENT` set, that
/// binary is used as it is, unbuilt (a build made earlier, kept aside while the sources move on).
pub fn release_edge_agent(features: &str) -> Result<PathBuf> {
    if let Some(binary) = std::env::var_os("EDGE_BENCH_AGENT") {
        eprintln!("bench: using EDGE_BENCH_AGENT={}", binary.to_string_lossy());
        return Ok(PathBuf::from(binary));
    }
    eprintln!("bench: building the release edge-agent (cargo build --release -p edge-agent --features {features})");
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "-p",
            "edge-agent",
            "--features",
            features,
            "--bin",
            "edge-agent",
        ])
        .current_dir(paths::workspace())
        .status()?;
    ensure!(status.success(), "build failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| paths::workspace().join("target"), PathBuf::from);
    Ok(target.join("release/edge-agent"))
}

/// CPU seconds (user + system) and RSS (KiB) of `pid`.
pub fn cpu_and_rss(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields after the command: state is 0, utime 11, stime 12 (man 5 proc, minus 3).
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0);
    (cpu, rss)
}
