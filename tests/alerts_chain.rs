//! The whole path, end to end: firmware-sim's motor with a bearing fault that is later
//! repaired → a real `edge-agent run` gateway → a real Mosquitto → `edge-agent bridge` → a
//! real Kafka-compatible broker (nisshi) → `edge-agent alerts` → a real PostgreSQL and
//! Alertmanager. The fault is one firing alert in Alertmanager, one open episode in the store
//! and on the maintenance board in headless Chromium (a screenshot is kept in
//! `test-artefacts/alerts-board-chain.png`); the alert service and the bridge are killed with
//! SIGKILL and restarted while it
//! lasts; it is still one episode, and resolves in both when the fault is repaired.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use e2e_tests::alertmanager::Alertmanager;
use e2e_tests::chromium;
use e2e_tests::mosquitto::Mosquitto;
use e2e_tests::nisshi::Nisshi;
use e2e_tests::paths;
use e2e_tests::postgres::Postgres;
use e2e_tests::service::{wait_for, Service};
use edge_agent::alerts::{Store, EPISODE_ALERTNAME};
use firmware_sim::{Plant, Scenario, SimClock, Simulator};
use tokio::time::sleep;

/// One motor at 60x: plant minute 1 (a wall second) its outer race starts to fail, the
/// defect grows for two plant minutes, and plant minute 12 it is repaired.
const SCENARIO: &str = r#"
[scenario]
name = "chain"
seed = 3
speed = 60.0

[[machines]]
id = "m1"
kind = "motor"
rpm = 1480.0
iso_class = "II"
load = { base = 0.8, swing = 0.0, period = "5m" }
thermal = { ambient_c = 25.0, rise_at_full_load_c = 40.0, tau = "15m", alarm_c = 90.0 }

[[devices]]
id = "plc"
kind = "modbus_tcp"
[[devices.units]]
unit_id = 1
machine = "m1"
registers = [
  { table = "input", address = 0, signal = "velocity_rms", type = "f32" },
]

[[faults]]
kind = "bearing_wear"
machine = "m1"
start = "1m"
end = "12m"
ramp = "2m"
shape = "linear"
"#;

/// ISO 10816 zone D on the motor's velocity, quick to raise and to clear.
const RULES: &str = r#"
version = 1

[[sensor]]
id = "m1.velocity"
kind = "vibration_velocity"
unit = "mm/s"
window = 5
range = [0.0, 50.0]

[[rule]]
name = "bearing-zone-d"
sensors = ["m1.velocity"]
severity = "critical"
for = "1s"
clear_for = "2s"
  [[rule.when]]
  detector = "iso10816"
  group = 2
  foundation = "rigid"
  zone = "D"
"#;

fn agent_config(modbus: &str, mqtt_port: u16, dir: &Path) -> String {
    format!(
        r#"[agent]
gateway = "gw1"
data_dir = "{data}"
rules = ["{rules}"]
forward_readings = true

[mqtt]
host = "127.0.0.1"
port = {mqtt_port}
client_id = "agent-gw1"
reconnect_min = "100ms"
reconnect_max = "1s"

[[device]]
id = "d1"
transport = "tcp"
address = "{modbus}"
unit = 1
timeout = "300ms"
  [[device.poll]]
  interval = "100ms"
    [[device.poll.register]]
    sensor = "m1.velocity"
    table = "input"
    address = 0
    type = "f32"
"#,
        data = dir.join("gw1").display(),
        rules = dir.join("rules.toml").display(),
    )
}

/// The bridge, without a metrics listener: it must still end on SIGTERM.
fn bridge_config(mqtt_port: u16, bootstrap: &str) -> String {
    format!(
        r#"[bridge]

[mqtt]
host = "127.0.0.1"
port = {mqtt_port}
client_id = "bridge-chain"
reconnect_min = "100ms"
reconnect_max = "1s"

[kafka]
bootstrap_servers = "{bootstrap}"
linger = "5ms"
"#
    )
}

fn alerts_config(bootstrap: &str, store: &str, alertmanager: &str, board_port: u16) -> String {
    format!(
        r#"[alerts]

[board]
listen = "127.0.0.1:{board_port}"
token = "chain-board-token-0123456789"

[kafka]
bootstrap_servers = "{bootstrap}"
group_id = "alerts-chain"
[kafka.properties]
"session.timeout.ms" = "6000"
"log_level" = "3"

[store]
url = "{store}"

[alertmanager]
url = "{alertmanager}"
resend_interval = "1s"
timeout = "2s"
"#
    )
}

/// Starts `binary` with `args`, its config written to `dir/{name}.toml`.
fn start(binary: &Path, dir: &Path, name: &str, subcommand: &str, text: &str) -> Result<Service> {
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(&config, text)?;
    let args = [subcommand.as_ref(), "--config".as_ref(), config.as_os_str()];
    Service::start(binary, args, &dir.join(format!("{name}.log")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bearing_fault_on_the_plant_floor_is_one_alert_in_alertmanager_and_resolves_after_the_repair(
) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let dir = dir.path();
    let kafka = Nisshi::start().await?;
    for topic in ["edge.telemetry", "edge.alerts", "edge.health"] {
        kafka.create_topic(topic, 3, false).await?;
    }
    kafka.create_topic("edge.status", 1, true).await?;
    kafka.create_topic("edge.dead-letter", 1, false).await?;
    let mosquitto = Mosquitto::start().await?;
    let postgres = Postgres::start().await?;
    let am = Alertmanager::start().await?;

    // The data centre first: the bridge's persistent session must exist before the gateway
    // publishes.
    let bridge_binary = paths::edge_agent_bridge_binary();
    let start_bridge = || {
        let text = bridge_config(mosquitto.port(), &kafka.bootstrap());
        start(&bridge_binary, dir, "bridge", "bridge", &text)
    };
    let mut bridge = start_bridge()?;
    wait_for(
        "the bridge's MQTT session",
        Duration::from_secs(60),
        || async { Ok(bridge.log().contains("connected to MQTT").then_some(())) },
    )
    .await?;
    sleep(Duration::from_secs(1)).await;
    let board_port = paths::free_port();
    let alerts_text = alerts_config(&kafka.bootstrap(), &postgres.url(), &am.url(), board_port);
    let alerts_binary = paths::edge_agent_alerts_binary();
    let mut alerts = start(&alerts_binary, dir, "alerts", "alerts", &alerts_text)?;

    // The plant floor.
    std::fs::write(dir.join("rules.toml"), RULES)?;
    let plant = Plant::from_scenario(Scenario::from_toml_str(SCENARIO)?, None);
    let mut sim = Simulator::new(plant, SimClock::scaled(60.0));
    let modbus = sim.start_modbus_tcp("plc", "127.0.0.1:0".parse()?).await?;
    let agent = start(
        &bridge_binary,
        dir,
        "agent",
        "run",
        &agent_config(&modbus.to_string(), mosquitto.port(), dir),
    )?;

    let store = Store::connect(&postgres.url(), 1, None).await?;
    let logs = || {
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        format!(
            "agent:\n{}\nbridge:\n{}\nalerts:\n{}",
            read("agent.log"),
            read("bridge.log"),
            read("alerts.log")
        )
    };
    let firing = || async {
        Ok::<_, anyhow::Error>(
            am.alerts()
                .await?
                .into_iter()
                .filter(|a| {
                    a["labels"]["alertname"] == EPISODE_ALERTNAME
                        && a["labels"]["rule"] == "bearing-zone-d"
                })
                .collect::<Vec<_>>(),
        )
    };
    let raised = wait_for(
        "the fault firing in Alertmanager",
        Duration::from_secs(60),
        || async {
            let found = firing().await?;
            Ok((!found.is_empty()).then_some(found))
        },
    )
    .await
    .with_context(logs)?;
    assert_eq!(raised.len(), 1, "{raised:?}");
    let labels = &raised[0]["labels"];
    assert_eq!(labels["gateway"], "gw1");
    assert_eq!(labels["asset"], "m1");
    assert_eq!(labels["sensor"], "m1.velocity");
    assert_eq!(labels["severity"], "critical");
    let open = store.open_episodes().await?;
    let zone_d: Vec<_> = open.iter().filter(|e| e.rule == "bearing-zone-d").collect();
    assert_eq!(zone_d.len(), 1, "{open:?}");

    // The maintenance board, as a planner's phone shows it: the open episode, on its asset.
    let board_url = format!("http://127.0.0.1:{board_port}/");
    let episode = format!("data-episode=\"{}\"", zone_d[0].id);
    let profile = dir.join("chromium");
    let page = || {
        let (url, profile) = (board_url.clone(), profile.clone());
        // Chromium takes seconds: off the runtime that serves the simulated plant.
        tokio::task::spawn_blocking(move || chromium::dom(&url, &profile))
    };
    let dom = wait_for(
        "the episode on the board",
        Duration::from_secs(30),
        || async {
            let dom = page().await??;
            Ok(dom.contains(&episode).then_some(dom))
        },
    )
    .await
    .with_context(logs)?;
    assert!(
        dom.contains("bearing-zone-d") && dom.contains("m1"),
        "{dom}"
    );
    let (url, shot_profile) = (board_url.clone(), profile.clone());
    tokio::task::spawn_blocking(move || {
        chromium::screenshot(&url, &shot_profile, "alerts-board-chain.png")
    })
    .await??;

    // kill -9 of the alert service and of the bridge while the fault lasts: the bridge's
    // unacknowledged messages come again from Mosquitto's session, the consumer's
    // uncommitted records from Kafka.
    alerts.kill_9()?;
    bridge.kill_9()?;
    sleep(Duration::from_millis(500)).await;
    bridge = start_bridge()?;
    alerts = start(&alerts_binary, dir, "alerts", "alerts", &alerts_text)?;

    // The repair: the episode closes and Alertmanager hears the resolve.
    wait_for(
        "the fault resolved in Alertmanager",
        Duration::from_secs(60),
        || async { Ok(firing().await?.is_empty().then_some(())) },
    )
    .await
    .with_context(logs)?;
    let history = store.asset_history("m1", 10).await?;
    let episodes: Vec<_> = history
        .iter()
        .filter(|e| e.rule == "bearing-zone-d")
        .collect();
    assert_eq!(episodes.len(), 1, "one episode for one fault: {history:?}");
    assert!(episodes[0].cleared_ms.is_some(), "{history:?}");

    agent.terminate()?;
    sim.shutdown().await?;
    bridge.terminate()?;
    alerts.terminate()?;
    Ok(())
}
