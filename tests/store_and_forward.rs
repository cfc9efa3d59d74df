//! The promise of the agent, tested as a user would break it: firmware-sim feeds the real
//! `edge-agent` binary, which forwards to a real Mosquitto. The broker is stopped and
//! started, the agent is `kill -9`ed and restarted, several times. A consumer with a
//! persistent session must receive every `seq` from the first to the last, with duplicates
//! only as re-sends of the same event.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use e2e_tests::mosquitto::Mosquitto;
use e2e_tests::mqtt_fixture::SeqReport;
use e2e_tests::mqtt_subscriber::Subscriber;
use e2e_tests::paths;
use edge_agent::spool;
use firmware_sim::{Plant, Scenario, SimClock, Simulator};
use tokio::time::{sleep, Instant};

const SCENARIO: &str = r#"
[scenario]
name = "store-and-forward"
seed = 11
speed = 60.0

[[machines]]
id = "m"
kind = "motor"
rpm = 1480.0
iso_class = "II"
load = { base = 0.8, swing = 0.2, period = "5m" }
thermal = { ambient_c = 25.0, rise_at_full_load_c = 40.0, tau = "15m", alarm_c = 90.0 }

[[devices]]
id = "gw"
kind = "modbus_tcp"
[[devices.units]]
unit_id = 1
machine = "m"
registers = [
  { table = "input", address = 0, signal = "velocity_rms", type = "f32" },
  { table = "input", address = 2, signal = "temperature", type = "f32" },
  { table = "input", address = 4, signal = "accel_rms", type = "f32" },
  { table = "input", address = 6, signal = "load_pct", type = "f32" },
]
"#;

fn agent_config(modbus: &str, broker_port: u16, data_dir: &Path) -> String {
    agent_config_with(modbus, broker_port, data_dir, "")
}

fn agent_config_with(modbus: &str, broker_port: u16, data_dir: &Path, spool: &str) -> String {
    let mut registers = String::new();
    for (i, sensor) in ["velocity", "temperature", "accel", "load"]
        .iter()
        .enumerate()
    {
        registers.push_str(&format!(
            "    [[device.poll.register]]\n    sensor = \"m.{sensor}\"\n    table = \"input\"\n    address = {}\n    type = \"f32\"\n",
            i * 2
        ));
    }
    format!(
        r#"[agent]
gateway = "sf"
data_dir = "{data}"
forward_readings = true
{spool}
[mqtt]
host = "127.0.0.1"
port = {broker_port}
client_id = "agent-sf"
reconnect_min = "100ms"
reconnect_max = "1s"

[[device]]
id = "gw"
transport = "tcp"
address = "{modbus}"
timeout = "300ms"
  [[device.poll]]
  interval = "50ms"
{registers}"#,
        data = data_dir.display()
    )
}

/// The agent process; killed with SIGKILL when dropped.
struct Agent(Child);

impl Agent {
    fn start(config: &Path, log: &Path) -> Result<Self> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let child = Command::new(paths::edge_agent_binary())
            .args(["run", "--config"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("start edge-agent")?;
        Ok(Self(child))
    }

    fn kill_9(mut self) -> Result<()> {
        self.0.kill()?; // SIGKILL
        self.0.wait()?;
        Ok(())
    }

    fn terminate(mut self) -> Result<()> {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status()?;
        anyhow::ensure!(status.success(), "kill -TERM failed");
        let status = self.0.wait()?;
        anyhow::ensure!(
            status.success(),
            "the agent exited with {status} after SIGTERM"
        );
        Ok(())
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_event_is_lost_across_broker_outages_and_kill_9_of_the_agent() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut broker = Mosquitto::start().await?;
    let consumer = Subscriber::connect(broker.port(), "dashboard", "edge/#", false).await?;

    let plant = Plant::from_scenario(Scenario::from_toml_str(SCENARIO)?, None);
    let mut sim = Simulator::new(plant, SimClock::scaled(60.0));
    let modbus = sim.start_modbus_tcp("gw", "127.0.0.1:0".parse()?).await?;

    let data_dir = dir.path().join("data");
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        agent_config(&modbus.to_string(), broker.port(), &data_dir),
    )?;
    let log = dir.path().join("agent.log");
    let mut agent = Agent::start(&config, &log)?;

    for round in 0..3 {
        // Forwarding normally, then a broker outage while the agent keeps reading.
        sleep(Duration::from_millis(1500)).await;
        broker.stop().await?;
        sleep(Duration::from_millis(1000)).await;
        broker.restart().await?;
        sleep(Duration::from_millis(700)).await;
        // A crash in the middle of catching up.
        agent.kill_9()?;
        eprintln!("round {round}: broker restarted, agent killed with SIGKILL");
        agent = Agent::start(&config, &log)?;
    }
    sleep(Duration::from_millis(1500)).await;

    // Quiesce: the plant goes away (the agent reports the device offline, then has nothing
    // more to say), and the agent drains what it has.
    sim.shutdown().await?;
    let spool_dir = spool::dir_in(&data_dir);
    let deadline = Instant::now() + Duration::from_secs(60);
    let last_seq = loop {
        sleep(Duration::from_millis(500)).await;
        let report = spool::inspect(&spool_dir)?;
        let pending = report.stats.pending.total();
        let last = report.stats.last_seq.unwrap_or(0);
        let received_last = consumer
            .received()
            .iter()
            .flat_map(|m| m.seqs())
            .max()
            .unwrap_or(0);
        if pending == 0 && last > 0 && received_last >= last {
            break last;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "not drained: {pending} pending, last seq {last}, consumer has up to {received_last}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    };
    agent.terminate()?;

    let expected: Vec<u64> = (1..=last_seq).collect();
    let report = SeqReport::of(&consumer.received(), &expected);
    eprintln!(
        "store and forward: {} events (seq 1..={last_seq}) through 3 broker restarts and 3 SIGKILLs; {} duplicates (re-sends of the same seq)",
        report.distinct, report.duplicates
    );
    report.assert_complete();
    assert!(
        last_seq > 200,
        "too few events to mean anything: {last_seq}"
    );
    let kinds: std::collections::BTreeSet<String> =
        consumer.received().iter().flat_map(|m| m.kinds()).collect();
    assert!(
        kinds.contains("reading") && kinds.contains("health"),
        "{kinds:?}"
    );
    consumer.disconnect().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spool_keeps_the_agent_running_drops_the_oldest_telemetry_and_says_so() -> Result<()>
{
    let dir = tempfile::tempdir()?;
    let mut broker = Mosquitto::start().await?;
    let consumer = Subscriber::connect(broker.port(), "dashboard", "edge/#", false).await?;
    broker.stop().await?; // the link is down from the start

    let plant = Plant::from_scenario(Scenario::from_toml_str(SCENARIO)?, None);
    let mut sim = Simulator::new(plant, SimClock::scaled(60.0));
    let modbus = sim.start_modbus_tcp("gw", "127.0.0.1:0".parse()?).await?;
    let data_dir = dir.path().join("data");
    let config = dir.path().join("agent.toml");
    // Room for a few hundred events: the readings of a few seconds.
    let small = "[spool]\nmax_bytes = 65536\nfull_policy = \"drop_oldest_telemetry\"\n";
    std::fs::write(
        &config,
        agent_config_with(&modbus.to_string(), broker.port(), &data_dir, small),
    )?;
    let log = dir.path().join("agent.log");
    let mut agent = Agent::start(&config, &log)?;

    let spool_dir = spool::dir_in(&data_dir);
    let deadline = Instant::now() + Duration::from_secs(30);
    let dropped = loop {
        sleep(Duration::from_millis(500)).await;
        let stats = spool::inspect(&spool_dir)?.stats;
        let dropped = stats.drops.full.total();
        if dropped > 0 && stats.pending_bytes.total() <= 65536 {
            break dropped;
        }
        anyhow::ensure!(Instant::now() < deadline, "nothing dropped: {stats:?}");
    };
    // Still running, still reading: the spool keeps turning over.
    sleep(Duration::from_millis(2500)).await;
    assert!(
        agent.0.try_wait()?.is_none(),
        "the agent stopped with a full spool"
    );
    let later = spool::inspect(&spool_dir)?.stats;
    assert!(
        later.drops.full.total() > dropped,
        "the agent stopped reading: {later:?}"
    );

    broker.restart().await?;
    consumer
        .wait_until(
            "the spool's health event",
            Duration::from_secs(30),
            |received| {
                received.iter().filter_map(|m| m.json()).any(|e| {
                    e["kind"] == "health"
                        && e["component"] == "spool"
                        && e["detail"].as_str().is_some_and(|d| d.contains("dropped"))
                })
            },
        )
        .await?;
    sim.shutdown().await?;
    agent.terminate()?;
    agent = Agent::start(&config, &log)?; // the counters survive a restart
    let counted = spool::inspect(&spool_dir)?.stats.drops.full.total();
    assert!(
        counted >= later.drops.full.total(),
        "{counted} < {}",
        later.drops.full.total()
    );
    drop(agent);
    consumer.disconnect().await;
    Ok(())
}
