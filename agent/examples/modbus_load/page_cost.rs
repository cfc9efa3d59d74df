//! What the status page costs the agent, measured in pairs inside one agent process
//! (`--only page-cost`): the page closed for a window, then open for one (or the other way
//! round, alternating, so that a drift over the run cancels out). Separate agent runs differ
//! by several points of a core from one start to the next, more than the page costs; windows
//! of one process under the same load do not carry that difference.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Result;

use crate::{procfs, Options, RunningAgent, Variant};

/// One window's CPU (% of a core), RSS at its end (KiB) and what the rest of the machine used.
struct Sample {
    cpu_pct: f64,
    rss_kib: u64,
    rest_pct: f64,
}

pub fn table(o: &Options, addr: &str, server: u32, dir: &Path) -> Result<()> {
    println!(
        "## What the status page costs: one `edge-agent run` with the listener on, {} pairs of {} s windows (page closed / open, in alternating order), after {} s of warm-up\n",
        o.pairs, o.seconds, o.warm_up
    );
    let agent = RunningAgent::start(o, addr, dir, Variant::Http { page: false })?;
    std::thread::sleep(Duration::from_secs(o.warm_up));
    let readings = || agent.counts.readings.load(Ordering::Relaxed);
    let window = |open: bool| -> Result<Sample> {
        let page = if open {
            Some(agent.open_page(dir)?)
        } else {
            None
        };
        let w = procfs::observe(
            agent.child.pid(),
            server,
            Duration::from_secs(o.seconds),
            &readings,
        )?;
        drop(page);
        Ok(Sample {
            cpu_pct: w.cpu_pct,
            rss_kib: w.end.rss,
            rest_pct: w.rest_cpu_pct,
        })
    };
    println!("| pair | page closed: CPU, RSS | page open: CPU, RSS | open − closed: CPU, RSS | rest of the machine |");
    println!("|---|---|---|---|---|");
    let (mut cpu_diffs, mut rss_diffs) = (Vec::new(), Vec::new());
    for pair in 1..=o.pairs {
        let (closed, open) = if pair % 2 == 1 {
            let closed = window(false)?;
            (closed, window(true)?)
        } else {
            let open = window(true)?;
            (window(false)?, open)
        };
        let cpu = open.cpu_pct - closed.cpu_pct;
        let rss = (open.rss_kib as f64 - closed.rss_kib as f64) / 1024.0;
        println!(
            "| {pair} | {:.1} %, {:.1} MiB | {:.1} %, {:.1} MiB | {cpu:+.1} points, {rss:+.2} MiB | {:.0} % / {:.0} % |",
            closed.cpu_pct,
            closed.rss_kib as f64 / 1024.0,
            open.cpu_pct,
            open.rss_kib as f64 / 1024.0,
            closed.rest_pct,
            open.rest_pct,
        );
        cpu_diffs.push(cpu);
        rss_diffs.push(rss);
    }
    let stopped = agent.stop();
    let (cpu_mean, cpu_error) = mean_and_standard_error(&cpu_diffs);
    let (rss_mean, rss_error) = mean_and_standard_error(&rss_diffs);
    println!(
        "\nThe page open costs {cpu_mean:+.2} ± {cpu_error:.2} points of a core and {rss_mean:+.2} ± {rss_error:.2} MiB of RSS \
         (mean over {} pairs ± its standard error). Agent stop: {}.",
        o.pairs,
        if stopped.clean { "clean" } else { "NOT clean" }
    );
    Ok(())
}

/// The mean of `values` and the standard error of that mean (0 for fewer than two values).
fn mean_and_standard_error(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (variance / n).sqrt())
}
