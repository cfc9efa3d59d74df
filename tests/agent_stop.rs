//! How the `edge-agent` binary stops: SIGTERM drains every channel into the spool, a stage
//! that fails stops the process with a non-zero exit, and a full spool with
//! `full_policy = "reject"` and no broker cannot hold the stop past its deadlines.
//!
//! The agent reads a firmware-sim gateway (in this process, on port 0) as fast as it can, so
//! that the channels between its stages hold a backlog when the signal comes; its sink
//! points at a closed port, so that everything spooled stays in the spool to be counted.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use e2e_tests::paths;
use edge_agent::event::{payload, Event, EventBody};
use edge_agent::spool::{self, Spool, SpoolConfig};
use firmware_sim::{Plant, Scenario, SimClock, Simulator};

/// Registers per device: 40 f32 constants, read in one merged request.
const CONSTANTS: u16 = 40;

/// The simulator, serving its gateway on three ports (one per agent device).
async fn start_simulator() -> Result<(Simulator, Vec<String>)> {
    let registers: Vec<String> = (0..CONSTANTS)
        .map(|i| format!("{{ table = \"holding\", address = {}, signal = \"constant\", type = \"f32\", value = {i}.5 }}", i * 2))
        .collect();
    let scenario = format!(
        r#"[scenario]
name = "stop"
seed = 5
speed = 1.0

[[machines]]
id = "m"
kind = "motor"
rpm = 1480.0
iso_class = "II"
load = {{ base = 0.8, swing = 0.1, period = "20m" }}
thermal = {{ ambient_c = 25.0, rise_at_full_load_c = 40.0, tau = "15m", alarm_c = 90.0 }}

[[devices]]
id = "gw"
kind = "modbus_tcp"
[[devices.units]]
unit_id = 1
machine = "m"
registers = [
  {}
]
"#,
        registers.join(",\n  ")
    );
    let plant = Plant::from_scenario(Scenario::from_toml_str(&scenario)?, None);
    let mut sim = Simulator::new(plant, SimClock::manual(0.0));
    let mut addresses = Vec::new();
    for _ in 0..3 {
        let address = sim.start_modbus_tcp("gw", "127.0.0.1:0".parse()?).await?;
        addresses.push(address.to_string());
    }
    Ok((sim, addresses))
}

/// Three devices polling the simulator every millisecond; MQTT (unless `stdout`) to a port
/// nobody listens on.
fn config(modbus: &[String], data_dir: &Path, spool: &str, stdout: bool) -> String {
    let mut text = format!(
        "[agent]\ngateway = \"stop\"\ndata_dir = \"{}\"\nforward_readings = true\n\n{spool}\n",
        data_dir.display()
    );
    if !stdout {
        text.push_str(&format!(
            "[mqtt]\nhost = \"127.0.0.1\"\nport = {}\nreconnect_min = \"100ms\"\nreconnect_max = \"1s\"\n\n",
            paths::free_port()
        ));
    }
    for (device, modbus) in modbus.iter().enumerate() {
        text.push_str(&format!(
            "[[device]]\nid = \"d{device}\"\ntransport = \"tcp\"\naddress = \"{modbus}\"\nunit = 1\ntimeout = \"500ms\"\n  [[device.poll]]\n  interval = \"1ms\"\n"
        ));
        for i in 0..CONSTANTS {
            text.push_str(&format!(
                "    [[device.poll.register]]\n    sensor = \"d{device}.c{i}\"\n    table = \"holding\"\n    address = {}\n    type = \"f32\"\n",
                i * 2
            ));
        }
    }
    text
}

fn start_agent(config: &Path, stdout: Stdio) -> Result<Child> {
    Command::new(paths::edge_agent_binary())
        .args(["run", "--config"])
        .arg(config)
        .env("RUST_LOG", "info")
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .context("start edge-agent")
}

fn sigterm(child: &Child) -> Result<()> {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()?;
    anyhow::ensure!(status.success(), "kill -TERM failed");
    Ok(())
}

/// Waits for `child` to exit, up to `limit`; kills it and fails past that.
fn wait_at_most(child: &mut Child, limit: Duration) -> Result<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if start.elapsed() > limit {
            child.kill()?;
            child.wait()?;
            anyhow::bail!("the agent did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Reads stderr on a thread until the process closes it.
fn collect_stderr(child: &mut Child) -> std::thread::JoinHandle<String> {
    let mut stderr = child.stderr.take().expect("stderr is piped");
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    })
}

/// The value of `key=N` in the first log line containing `message`.
fn logged_count(log: &str, message: &str, key: &str) -> Result<u64> {
    let line = log
        .lines()
        .find(|l| l.contains(message))
        .with_context(|| format!("no `{message}` line in:\n{log}"))?;
    let field = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .with_context(|| format!("no {key}= in `{line}`"))?;
    Ok(field.trim_matches(|c: char| !c.is_ascii_digit()).parse()?)
}

/// Every record in the spool of `data_dir`: (seq, event).
fn spooled(data_dir: &Path) -> Result<Vec<(u64, Event)>> {
    let (spool, _) = Spool::open(&spool::dir_in(data_dir), SpoolConfig::default())?;
    let records = spool.peek(usize::MAX)?;
    records
        .into_iter()
        .map(|r| Ok((r.seq, payload::decode(&r.payload)?)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_backlog_spools_every_reading_read_before_the_stop() -> Result<()> {
    let (_sim, modbus) = start_simulator().await?;
    let dir = tempfile::tempdir()?;
    let data_dir = dir.path().join("data");
    let config_path = dir.path().join("agent.toml");
    std::fs::write(&config_path, config(&modbus, &data_dir, "", false))?;
    let mut agent = start_agent(&config_path, Stdio::null())?;
    let stderr = collect_stderr(&mut agent);
    // Let readings flow, then stop it while they do.
    tokio::time::sleep(Duration::from_secs(3)).await;
    sigterm(&agent)?;
    let status = wait_at_most(&mut agent, Duration::from_secs(60))?;
    let log = stderr.join().expect("stderr reader");
    assert!(status.success(), "exit {status} after SIGTERM:\n{log}");

    let read_at_stop = logged_count(&log, "stopping:", "readings")?;
    let spooled_at_stop = logged_count(&log, "stopping:", "spooled")?;
    let read = logged_count(&log, " stopped ", "readings")?;
    let spooled_total = logged_count(&log, " stopped ", "spooled")?;
    assert_eq!(logged_count(&log, " stopped ", "not_spooled")?, 0);
    // Each reading is spooled (forward_readings), so fewer events spooled than readings read
    // means readings were still in the channels when the signal came.
    assert!(
        spooled_at_stop < read_at_stop,
        "no backlog at the signal: {read_at_stop} read, {spooled_at_stop} spooled"
    );
    assert!(read >= read_at_stop);

    let records = spooled(&data_dir)?;
    let mut seqs: Vec<u64> = records.iter().map(|(seq, _)| *seq).collect();
    seqs.sort_unstable();
    let expected: Vec<u64> = (1..=spooled_total).collect();
    assert!(
        seqs == expected,
        "seqs are not 1..={spooled_total} without gaps ({} records)",
        seqs.len()
    );
    let readings = records
        .iter()
        .filter(|(_, e)| matches!(e.body, EventBody::Reading(_)))
        .count() as u64;
    assert_eq!(
        readings, read,
        "readings in the spool vs the sources' own counters"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_stage_stops_the_agent_with_a_non_zero_exit_naming_it() -> Result<()> {
    let (_sim, modbus) = start_simulator().await?;
    let dir = tempfile::tempdir()?;
    let data_dir = dir.path().join("data");
    let config_path = dir.path().join("agent.toml");
    std::fs::write(&config_path, config(&modbus, &data_dir, "", true))?;
    let mut agent = start_agent(&config_path, Stdio::piped())?;
    let stderr = collect_stderr(&mut agent);
    // The stdout sink works, then its reader goes away: its next write fails (EPIPE).
    let mut stdout = BufReader::new(agent.stdout.take().expect("stdout is piped"));
    let mut line = String::new();
    stdout.read_line(&mut line)?;
    assert!(line.contains("\"gateway\":\"stop\""), "{line}");
    drop(stdout);
    let status = wait_at_most(&mut agent, Duration::from_secs(60))?;
    let log = stderr.join().expect("stderr reader");
    assert!(!status.success(), "the agent exited successfully:\n{log}");
    let named = log.lines().any(|l| {
        l.contains("stopped on its own") && l.contains("sink:stdout") && l.contains("stdout")
    });
    assert!(named, "no line names the stage and the cause:\n{log}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spool_that_rejects_with_no_broker_cannot_hold_the_stop() -> Result<()> {
    let (_sim, modbus) = start_simulator().await?;
    let dir = tempfile::tempdir()?;
    let data_dir = dir.path().join("data");
    let config_path = dir.path().join("agent.toml");
    let spool = "[spool]\nmax_bytes = 65536\nfull_policy = \"reject\"\n";
    std::fs::write(&config_path, config(&modbus, &data_dir, spool, false))?;
    let mut agent = start_agent(&config_path, Stdio::null())?;
    let stderr = collect_stderr(&mut agent);
    // 64 KiB fill in well under a second at this rate; the writer is then refused.
    tokio::time::sleep(Duration::from_secs(3)).await;
    sigterm(&agent)?;
    // Sources (5 s) + drain (10 s) + give-up (2 s) + sink margin, with room to spare.
    let status = wait_at_most(&mut agent, Duration::from_secs(45))?;
    let log = stderr.join().expect("stderr reader");
    assert!(status.success(), "exit {status} after SIGTERM:\n{log}");
    assert!(log.contains("did not drain in time"), "{log}");
    let lost = logged_count(&log, " stopped ", "not_spooled")?;
    assert!(lost > 0, "{log}");
    Ok(())
}

#[test]
fn logs_are_plain_text_off_a_terminal_and_json_on_request() -> Result<()> {
    let dir = tempfile::tempdir()?;
    for json in [false, true] {
        // A data dir each, so that the wait below sees this run's spool.
        let config_path = dir.path().join(format!("agent-{json}.toml"));
        let data_dir = dir.path().join(format!("data-{json}"));
        std::fs::write(
            &config_path,
            format!(
                "[agent]\ngateway = \"logs\"\ndata_dir = \"{}\"\n",
                data_dir.display()
            ),
        )?;
        let mut command = Command::new(paths::edge_agent_binary());
        if json {
            command.args(["--log-format", "json"]);
        }
        let mut agent = command
            .args(["run", "--config"])
            .arg(&config_path)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = collect_stderr(&mut agent);
        let spool = data_dir.join("spool/sled");
        let start = Instant::now();
        while !spool.exists() && start.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(50));
        }
        sigterm(&agent)?;
        let status = wait_at_most(&mut agent, Duration::from_secs(30))?;
        let log = stderr.join().expect("stderr reader");
        assert!(status.success(), "exit {status}:\n{log}");
        assert!(!log.contains('\u{1b}'), "colour codes in a pipe:\n{log}");
        assert!(log.contains("agent starting"), "{log}");
        for line in log.lines() {
            let parsed = serde_json::from_str::<serde_json::Value>(line);
            if json {
                let value = parsed.with_context(|| format!("not JSON: {line}"))?;
                assert!(
                    value["level"].is_string() && value["fields"].is_object(),
                    "{line}"
                );
            } else {
                assert!(parsed.is_err(), "JSON without --log-format json: {line}");
            }
        }
    }
    Ok(())
}
