//! What a process costs, read from Linux's `/proc`: CPU time (`stat`: utime + stime, in
//! clock ticks) and memory (`status`: VmRSS, VmHWM, RssAnon, RssFile).

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// Clock ticks per second (`getconf CLK_TCK`; 100 on every Linux we run on).
pub fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// User + system CPU time of `pid` so far, in clock ticks (every thread, not children).
pub fn cpu_ticks(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis,
    // where field 3 (state) is the first; utime and stime are fields 14 and 15.
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| -> Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .with_context(|| format!("{path}: field {} is missing", i + 3))
    };
    Ok(field(11)? + field(12)?)
}

/// Memory figures of a process, in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    /// Resident now.
    pub rss: u64,
    /// Highest resident since the process started.
    pub hwm: u64,
    /// Resident anonymous memory: the heap, stacks.
    pub anon: u64,
    /// Resident file-backed memory: mostly the executable's own pages.
    pub file: u64,
}

pub fn memory(pid: u32) -> Result<Memory> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let kib = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    Ok(Memory {
        rss: kib("VmRSS:"),
        hwm: kib("VmHWM:"),
        anon: kib("RssAnon:"),
        file: kib("RssFile:"),
    })
}

/// Busy CPU time of the whole machine so far (every core, in clock ticks): `/proc/stat`'s
/// first line minus idle and iowait.
pub fn machine_busy_ticks() -> Result<u64> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let line = stat.lines().next().context("/proc/stat is empty")?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    let total: u64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
    Ok(total - idle)
}

/// Total size of the files under `dir` (their apparent size, as `du --apparent-size`).
pub fn dir_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// The one-minute load average.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// A process observed over a window: CPU as a share of one core, memory sampled once a second,
/// and a counter's rate.
#[derive(Debug, Clone, Default)]
pub struct Window {
    pub seconds: f64,
    /// CPU of the observed process, % of one core.
    pub cpu_pct: f64,
    /// CPU of a second process (the server), % of one core.
    pub other_cpu_pct: f64,
    /// CPU of everything else on the machine (not the two processes, not this one), % of one
    /// core: how much other work disturbed the measurement.
    pub rest_cpu_pct: f64,
    /// RSS when the window opened (KiB).
    pub rss_start: u64,
    /// Largest RSS seen in the window (KiB).
    pub rss_max: u64,
    /// Memory at the end of the window (HWM covers the process's whole life).
    pub end: Memory,
    /// The counter's increase per second.
    pub rate: f64,
}

/// Watches `pid` (and `other`, for its CPU only) for `length`, sampling memory once a second;
/// `counter` is read at the start and the end.
pub fn observe(
    pid: u32,
    other: u32,
    length: Duration,
    counter: &dyn Fn() -> u64,
) -> Result<Window> {
    let tick = clock_ticks_per_second();
    let start = Instant::now();
    let me = std::process::id();
    let (cpu0, other0, count0) = (cpu_ticks(pid)?, cpu_ticks(other)?, counter());
    let (machine0, me0) = (machine_busy_ticks()?, cpu_ticks(me)?);
    let rss_start = memory(pid)?.rss;
    let mut rss_max = rss_start;
    while start.elapsed() < length {
        let left = length.saturating_sub(start.elapsed());
        std::thread::sleep(left.min(Duration::from_secs(1)));
        rss_max = rss_max.max(memory(pid)?.rss);
    }
    let (cpu1, other1, count1) = (cpu_ticks(pid)?, cpu_ticks(other)?, counter());
    let (machine1, me1) = (machine_busy_ticks()?, cpu_ticks(me)?);
    let seconds = start.elapsed().as_secs_f64();
    let end = memory(pid)?;
    let share = |ticks: u64| ticks as f64 / tick / seconds * 100.0;
    Ok(Window {
        seconds,
        cpu_pct: share(cpu1 - cpu0),
        other_cpu_pct: share(other1 - other0),
        rest_cpu_pct: share(
            (machine1 - machine0).saturating_sub((cpu1 - cpu0) + (other1 - other0) + (me1 - me0)),
        ),
        rss_start,
        rss_max: rss_max.max(end.rss),
        end,
        rate: (count1 - count0) as f64 / seconds,
    })
}
