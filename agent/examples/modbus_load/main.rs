//! Modbus TCP load benchmark (issue 4): what the agent's poll loop achieves next to a bare
//! tokio-modbus client, and what the agent costs for 100 devices × 20 registers at 10 Hz.
//! The figures and what they mean are in docs/benchmarks.md ("Modbus load").
//!
//! ```text
//! scripts/bench-modbus.sh                   # builds in release, runs everything (~5 min)
//! target/release/examples/modbus_load --agent target/release/edge-agent \
//!     [--seconds 60] [--warm-up 10] [--tx-seconds 10] [--only throughput|load|http|page-cost]
//!     [--pairs 6] [--keep]
//! ```
//!
//! Every process runs on this machine and talks to 127.0.0.1 only:
//!
//! - **The server** is firmware-sim's Modbus TCP gateway (tokio-modbus's server), in a child
//!   process of its own (`modbus_load serve`), so its CPU is measured apart; see `server.rs`.
//! - **Throughput**: `modbus_load throughput` children (`throughput.rs`), one per row: the bare
//!   client loop, the agent's poll path without its scheduler, and the agent's `TcpDevice`,
//!   over 1 and 8 connections, 20 registers per request, sequential requests on each
//!   connection. CPU comes from `/proc/PID/stat` of the client child and of the server over
//!   the measured window; `/proc/stat` gives what the rest of the machine used meanwhile.
//! - **Load**: 100 devices × 20 registers at 100 ms. First `edge-agent run` with no device (the
//!   floor), then `edge-agent poll` (the same source tasks, every event printed, no rules,
//!   spool or sink), then `edge-agent run` with `forward_readings = true` and no `[mqtt]`, at
//!   the spool's default durability and at `{ interval_ms = 500 }`, all with the HTTP listener
//!   off; then at the default durability with the listener on (metrics and status page), with
//!   the page closed and with it open (`viewer.rs`: the event stream read, the trend fetched
//!   every 3 s, `/metrics` scraped every 15 s). `--only http` runs the last three rows alone.
//!   `--only page-cost [--pairs 6]` measures the page instead inside one agent process, in
//!   pairs of `--seconds` windows with the page closed and open (`page_cost.rs`): separate
//!   runs differ by more from one start to the next than the page costs.
//!   Every row runs the real
//!   `edge-agent` binary. Its stdout (one JSON line per event) goes into a pipe
//!   that this process reads, counts and discards, which is how readings/s delivered end to
//!   end are known. After the warm-up, the window measures the agent's CPU (utime + stime, %
//!   of one core), VmRSS once a second, VmHWM (the peak since the process started, warm-up
//!   included), and the spool's size on disk at its end.
//!
//! On a small machine the server and the client share the cores: transactions per second
//! say what the pair achieves together, CPU µs per transaction what the client spends.
//! No figure is asserted: this is a measurement, not a test.

mod child;
mod load;
mod page_cost;
mod procfs;
mod server;
mod throughput;
mod viewer;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use child::Spawned;
use load::Counts;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => server::serve(),
        Some("throughput") => throughput::run(&args[1..]),
        _ => orchestrate(&Options::parse(&args)?),
    }
}

#[derive(Debug)]
struct Options {
    agent: PathBuf,
    seconds: u64,
    warm_up: u64,
    tx_seconds: u64,
    throughput: bool,
    load: bool,
    /// Only the rows that show what the HTTP listener and the status page cost.
    http_only: bool,
    /// Instead of the load table: the page's cost in pairs of windows of one agent.
    page_cost: bool,
    /// Pairs of windows for `page_cost`.
    pairs: u32,
    /// Keep the work directory (configs, agent logs, spools) instead of deleting it.
    keep: bool,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self> {
        let exe = std::env::current_exe()?;
        // target/release/examples/modbus_load → target/release/edge-agent
        let beside = exe
            .parent()
            .and_then(Path::parent)
            .map(|d| d.join("edge-agent"));
        let mut o = Options {
            agent: beside.unwrap_or_else(|| PathBuf::from("edge-agent")),
            seconds: 60,
            warm_up: 10,
            tx_seconds: 10,
            throughput: true,
            load: true,
            http_only: false,
            page_cost: false,
            pairs: 6,
            keep: false,
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "--agent" => o.agent = PathBuf::from(value()?),
                "--seconds" => o.seconds = value()?.parse().context("--seconds")?,
                "--warm-up" => o.warm_up = value()?.parse().context("--warm-up")?,
                "--tx-seconds" => o.tx_seconds = value()?.parse().context("--tx-seconds")?,
                "--pairs" => o.pairs = value()?.parse().context("--pairs")?,
                "--keep" => o.keep = true,
                "--only" => match value()?.as_str() {
                    "throughput" => o.load = false,
                    "load" => o.throughput = false,
                    "http" => {
                        o.throughput = false;
                        o.http_only = true;
                    }
                    "page-cost" => {
                        o.throughput = false;
                        o.page_cost = true;
                    }
                    other => bail!("--only throughput, load, http or page-cost, not {other}"),
                },
                other => bail!("unknown argument {other} (see the doc at the top of main.rs)"),
            }
        }
        Ok(o)
    }
}

fn orchestrate(o: &Options) -> Result<()> {
    let me = std::env::current_exe()?;
    if o.load && !o.agent.exists() {
        bail!(
            "no agent binary at {} (build it: cargo build --release -p edge-agent, or pass --agent)",
            o.agent.display()
        );
    }
    let work = tempfile::Builder::new().prefix("modbus_load").tempdir()?;
    println!(
        "modbus_load: {} cores, load average {} at start, work dir {}",
        std::thread::available_parallelism().map_or(0, usize::from),
        procfs::load_average(),
        work.path().display()
    );
    let mut server = Spawned::start(
        "server",
        Command::new(&me)
            .arg("serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
    )?;
    let mut lines = BufReader::new(server.stdout()?).lines();
    let first = lines.next().context("the server printed nothing")??;
    let addr = first
        .strip_prefix("listening ")
        .with_context(|| format!("the server said {first:?}"))?
        .to_owned();
    println!(
        "server: firmware-sim gateway at {addr} (pid {})\n",
        server.pid()
    );
    if o.throughput {
        throughput_table(&me, &addr, server.pid(), o.tx_seconds)?;
    }
    if o.page_cost {
        page_cost::table(o, &addr, server.pid(), &work.path().join("page-cost"))?;
    } else if o.load {
        load_table(o, &addr, server.pid(), work.path())?;
    }
    if o.keep {
        println!("\nkept {}", work.keep().display());
    }
    Ok(())
}

fn throughput_table(me: &Path, addr: &str, server: u32, seconds: u64) -> Result<()> {
    println!(
        "## Throughput: {} registers per request, {seconds} s per row",
        server::REGISTERS
    );
    println!();
    println!("| client | connections | transactions/s | client CPU (% of a core) | client CPU per transaction | server CPU (% of a core) | rest of the machine (% of a core) |");
    println!("|---|---|---|---|---|---|---|");
    for connections in [1u8, 8] {
        let mut bare_rate = 0.0;
        for mode in ["bare", "path", "agent"] {
            let row = throughput_row(me, addr, server, connections, seconds, mode)?;
            let label = match mode {
                "bare" => {
                    bare_rate = row.rate;
                    "bare tokio-modbus loop".to_owned()
                }
                "path" => format!(
                    "agent poll path, no scheduler ({:.0} % of bare)",
                    row.rate / bare_rate * 100.0
                ),
                _ => format!(
                    "agent `TcpDevice`, interval 0 ({:.0} % of bare)",
                    row.rate / bare_rate * 100.0
                ),
            };
            println!(
                "| {label} | {connections} | {:.0} | {:.0} | {:.1} µs | {:.0} | {:.0} |",
                row.rate,
                row.cpu,
                row.cpu / 100.0 / row.rate * 1e6,
                row.server_cpu,
                row.rest_cpu,
            );
        }
    }
    println!();
    Ok(())
}

/// One throughput row; CPU figures in % of one core.
#[derive(Debug)]
struct ThroughputRow {
    rate: f64,
    cpu: f64,
    server_cpu: f64,
    /// Everything else on the machine, this process excluded.
    rest_cpu: f64,
}

fn throughput_row(
    me: &Path,
    addr: &str,
    server: u32,
    connections: u8,
    seconds: u64,
    mode: &str,
) -> Result<ThroughputRow> {
    let mut child = Spawned::start(
        mode,
        Command::new(me)
            .args([
                "throughput",
                addr,
                &connections.to_string(),
                &seconds.to_string(),
                mode,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
    )?;
    let pid = child.pid();
    let mut lines = BufReader::new(child.stdout()?).lines();
    let mut next = || -> Result<String> { Ok(lines.next().context("the client stopped early")??) };
    if next()? != "start" {
        bail!("the {mode} client did not start");
    }
    let ticks = || -> Result<[u64; 4]> {
        Ok([
            procfs::cpu_ticks(pid)?,
            procfs::cpu_ticks(server)?,
            procfs::cpu_ticks(std::process::id())?,
            procfs::machine_busy_ticks()?,
        ])
    };
    let (before, start) = (ticks()?, Instant::now());
    let end = next()?;
    let (after, elapsed) = (ticks()?, start.elapsed());
    let mut fields = end.split_whitespace().skip(1);
    let transactions: f64 = fields.next().context("end line")?.parse()?;
    let child_seconds: f64 = fields.next().context("end line")?.parse()?;
    if !child.stop(Duration::from_secs(10)).clean {
        bail!("the {mode} client failed");
    }
    let tick = procfs::clock_ticks_per_second();
    let d: Vec<u64> = after.iter().zip(before).map(|(a, b)| a - b).collect();
    let share = |ticks: u64| ticks as f64 / tick / elapsed.as_secs_f64() * 100.0;
    Ok(ThroughputRow {
        rate: transactions / child_seconds,
        cpu: share(d[0]),
        server_cpu: share(d[1]),
        rest_cpu: share(d[3].saturating_sub(d[0] + d[1] + d[2])),
    })
}

/// How long an agent gets to stop after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(30);
/// Warm-up and window of the idle agent.
const IDLE_SECONDS: u64 = 3;

#[derive(Debug, Clone, Copy)]
enum Variant {
    /// `edge-agent run` with no device: the floor (runtime, sled, rules loaded, binary).
    Idle,
    /// `edge-agent poll` (no `--once`): the sources alone, every event printed.
    Poll,
    /// `edge-agent run` (HTTP listener off), with the spool's durability.
    Agent(Option<u64>),
    /// `edge-agent run`, default durability, HTTP listener on; `page`: the status page open.
    Http { page: bool },
}

impl Variant {
    fn label(self) -> String {
        match self {
            Variant::Idle => "`edge-agent run`, no device (the floor)".into(),
            Variant::Poll => {
                "`edge-agent poll`: the sources alone (no rules, spool or sink)".into()
            }
            Variant::Agent(None) => "`edge-agent run`, durability `every_event` (default)".into(),
            Variant::Agent(Some(ms)) => {
                format!("`edge-agent run`, durability `{{ interval_ms = {ms} }}`")
            }
            Variant::Http { page: false } => {
                "`edge-agent run`, default, HTTP listener on, status page closed".into()
            }
            Variant::Http { page: true } => {
                "`edge-agent run`, default, HTTP listener on, status page open".into()
            }
        }
    }
}

fn load_table(o: &Options, addr: &str, server: u32, work: &Path) -> Result<()> {
    println!(
        "## Load: {} devices × {} registers every {} ms (target {:.0} readings/s); {} s warm-up, {} s measured",
        server::LOAD_UNITS,
        server::REGISTERS,
        load::INTERVAL_MS,
        load::target_rate(),
        o.warm_up,
        o.seconds
    );
    println!();
    println!("| run | readings/s | CPU (% of a core) | RSS start → end (max) | VmHWM | RssAnon / RssFile at end | spool on disk | server CPU | rest of the machine | features/s, alerts | max lag | stop |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let variants = if o.http_only {
        vec![
            Variant::Agent(None),
            Variant::Http { page: false },
            Variant::Http { page: true },
        ]
    } else {
        vec![
            Variant::Idle,
            Variant::Poll,
            Variant::Agent(None),
            Variant::Agent(Some(500)),
            Variant::Http { page: false },
            Variant::Http { page: true },
        ]
    };
    for (i, variant) in variants.into_iter().enumerate() {
        load_row(o, addr, server, &work.join(format!("run{i}")), variant)?;
    }
    println!();
    println!(
        "MiB = 1024 × 1024 bytes. RSS start → end: when the measured window opens and closes. \
         Spool on disk: the data directory's files when the window closes. Rest of the \
         machine: every other process's CPU in the window (other work disturbing the figures). \
         Max lag: print time − reading time of sampled readings (the delay through rules, \
         spool and sink). Stop: from SIGTERM (or end of stdin) to exit; an agent still running \
         after {} s is killed.",
        STOP_GRACE.as_secs()
    );
    Ok(())
}

/// An `edge-agent` child on the load, its stdout counted by a reader thread.
struct RunningAgent {
    child: Spawned,
    counts: Arc<Counts>,
    reader: std::thread::JoinHandle<()>,
}

impl RunningAgent {
    /// Writes the variant's config into `dir` and starts the agent on it; its log goes to
    /// `dir/stderr.log`.
    fn start(o: &Options, addr: &str, dir: &Path, variant: Variant) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let config = dir.join("agent.toml");
        let (durability, devices, http) = match variant {
            Variant::Agent(ms) => (ms, true, false),
            Variant::Http { .. } => (None, true, true),
            Variant::Poll => (None, true, false),
            Variant::Idle => (None, false, false),
        };
        let text = load::agent_config(addr, &dir.join("data"), durability, devices, http);
        std::fs::write(&config, text)?;
        let stderr = std::fs::File::create(dir.join("stderr.log"))?;
        let mut command = Command::new(&o.agent);
        let subcommand = match variant {
            Variant::Poll => "poll",
            Variant::Agent(_) | Variant::Http { .. } | Variant::Idle => "run",
        };
        command
            .arg(subcommand)
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        let mut child = Spawned::start(&variant.label(), &mut command)?;
        let stdout = child.stdout()?;
        let counts = Arc::new(Counts::default());
        let reader = {
            let counts = Arc::clone(&counts);
            std::thread::spawn(move || load::count_agent_lines(stdout, &counts))
        };
        Ok(Self {
            child,
            counts,
            reader,
        })
    }

    /// The page of this agent, opened (its listener's address read from the log).
    fn open_page(&self, dir: &Path) -> Result<viewer::Viewer> {
        let listener = viewer::listener_in_log(&dir.join("stderr.log"), Duration::from_secs(30))?;
        let sensor = format!("d001.{}.0", server::load_register(0).signal);
        viewer::Viewer::open(listener, &sensor)
    }

    /// SIGTERM, then waits for the exit (killed after [`STOP_GRACE`]).
    fn stop(mut self) -> child::Stopped {
        self.child.terminate();
        let stopped = self.child.stop(STOP_GRACE);
        self.reader.join().ok();
        stopped
    }
}

fn load_row(o: &Options, addr: &str, server: u32, dir: &Path, variant: Variant) -> Result<()> {
    let agent = RunningAgent::start(o, addr, dir, variant)?;
    let counts = Arc::clone(&agent.counts);
    // The floor needs no long window: nothing happens in it.
    let (warm_up, seconds) = match variant {
        Variant::Idle => (IDLE_SECONDS, IDLE_SECONDS),
        _ => (o.warm_up, o.seconds),
    };
    let viewer = match variant {
        Variant::Http { page: true } => Some(agent.open_page(dir)?),
        _ => None,
    };
    std::thread::sleep(Duration::from_secs(warm_up));
    counts.max_lag_ms.store(0, Ordering::Relaxed);
    let before = (
        counts.features.load(Ordering::Relaxed),
        counts.alerts.load(Ordering::Relaxed),
    );
    let readings = || counts.readings.load(Ordering::Relaxed);
    let w = procfs::observe(
        agent.child.pid(),
        server,
        Duration::from_secs(seconds),
        &readings,
    )?;
    let features = counts.features.load(Ordering::Relaxed) - before.0;
    let alerts = counts.alerts.load(Ordering::Relaxed) - before.1;
    let disk = procfs::dir_bytes(&dir.join("data")) as f64 / (1024.0 * 1024.0);
    if let Some(viewer) = viewer {
        let received = viewer.event_bytes.load(Ordering::Relaxed);
        drop(viewer);
        eprintln!(
            "  note: the open page received {:.0} KiB/s of events",
            received as f64 / 1024.0 / (seconds + warm_up) as f64
        );
    }
    let stopped = agent.stop();
    let mib = |kib: u64| kib as f64 / 1024.0;
    let lag = match variant {
        Variant::Agent(_) | Variant::Http { .. } | Variant::Poll => {
            format!("{} ms", counts.max_lag_ms.load(Ordering::Relaxed))
        }
        Variant::Idle => "–".to_owned(),
    };
    let stop = if stopped.killed {
        format!("> {} s, killed", STOP_GRACE.as_secs())
    } else {
        format!("{:.1} s", stopped.took.as_secs_f64())
    };
    println!(
        "| {} | {:.0} | {:.1} | {:.1} → {:.1} ({:.1}) MiB | {:.1} MiB | {:.1} / {:.1} MiB | {disk:.1} MiB | {:.0} % | {:.0} % | {:.1}, {} | {lag} | {stop} |",
        variant.label(),
        w.rate,
        w.cpu_pct,
        mib(w.rss_start),
        mib(w.end.rss),
        mib(w.rss_max),
        mib(w.end.hwm),
        mib(w.end.anon),
        mib(w.end.file),
        w.other_cpu_pct,
        w.rest_cpu_pct,
        features as f64 / w.seconds,
        alerts,
    );
    let log = std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default();
    let complaints: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .collect();
    let bad = counts.bad_readings.load(Ordering::Relaxed);
    if !stopped.clean || !complaints.is_empty() || bad > 0 {
        eprintln!(
            "  note: {}: exit {}, {bad} bad readings, {} warnings/errors in {}; first: {:?}",
            variant.label(),
            if stopped.clean { "clean" } else { "NOT clean" },
            complaints.len(),
            dir.join("stderr.log").display(),
            complaints.first()
        );
    }
    Ok(())
}
