//! The MQTT → Kafka bridge against real brokers: firmware-sim feeds two real `edge-agent run`
//! gateways, which publish to a real Mosquitto; `edge-agent bridge` forwards to a real
//! Kafka-compatible broker (nisshi); confluent-kafka reads back what arrived. For each
//! gateway, every `seq` from 1 to the last must be there, each asset's events in order, and
//! duplicates only identical re-sends — through `kill -9`s of the bridge, a Kafka outage,
//! and with two bridge instances sharing the stream. The gateways batch their readings (the
//! default, wire version 2) and the bridge splits the batches into one record per reading.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use e2e_tests::kafka_reader::{read_all, DeliveryReport};
use e2e_tests::mosquitto::{free_port, Mosquitto};
use e2e_tests::mqtt_subscriber::Subscriber;
use e2e_tests::nisshi::Nisshi;
use e2e_tests::paths;
use e2e_tests::service::Service;
use edge_agent::spool;
use firmware_sim::{Plant, Scenario, SimClock, Simulator};
use tokio::time::{sleep, Instant};

const TELEMETRY: &str = "edge.telemetry";
const ALERTS: &str = "edge.alerts";
const HEALTH: &str = "edge.health";
const STATUS: &str = "edge.status";
const DEAD_LETTER: &str = "edge.dead-letter";
const EVENT_TOPICS: [&str; 3] = [TELEMETRY, ALERTS, HEALTH];

const SCENARIO: &str = r#"
[scenario]
name = "bridge"
seed = 5
speed = 60.0

[[machines]]
id = "m1"
kind = "motor"
rpm = 1480.0
iso_class = "II"
load = { base = 0.8, swing = 0.2, period = "5m" }
thermal = { ambient_c = 25.0, rise_at_full_load_c = 40.0, tau = "15m", alarm_c = 90.0 }

[[machines]]
id = "m2"
kind = "motor"
rpm = 2960.0
iso_class = "II"
load = { base = 0.6, swing = 0.3, period = "3m" }
thermal = { ambient_c = 25.0, rise_at_full_load_c = 35.0, tau = "10m", alarm_c = 90.0 }

[[devices]]
id = "plc"
kind = "modbus_tcp"
[[devices.units]]
unit_id = 1
machine = "m1"
registers = [
  { table = "input", address = 0, signal = "velocity_rms", type = "f32" },
  { table = "input", address = 2, signal = "temperature", type = "f32" },
]
[[devices.units]]
unit_id = 2
machine = "m2"
registers = [
  { table = "input", address = 0, signal = "velocity_rms", type = "f32" },
  { table = "input", address = 2, signal = "temperature", type = "f32" },
]
"#;

/// A gateway polling both machines every 100 ms: sensors `m1.velocity`, `m1.temperature`,
/// `m2.velocity`, `m2.temperature` (assets `m1` and `m2`).
fn agent_config(gateway: &str, modbus: &str, mqtt_port: u16, data_dir: &Path) -> String {
    let mut devices = String::new();
    for unit in [1, 2] {
        devices.push_str(&format!(
            r#"
[[device]]
id = "d{unit}"
transport = "tcp"
address = "{modbus}"
unit = {unit}
timeout = "300ms"
  [[device.poll]]
  interval = "100ms"
    [[device.poll.register]]
    sensor = "m{unit}.velocity"
    table = "input"
    address = 0
    type = "f32"
    [[device.poll.register]]
    sensor = "m{unit}.temperature"
    table = "input"
    address = 2
    type = "f32"
"#
        ));
    }
    format!(
        r#"[agent]
gateway = "{gateway}"
data_dir = "{data}"
forward_readings = true

[mqtt]
host = "127.0.0.1"
port = {mqtt_port}
client_id = "agent-{gateway}"
reconnect_min = "100ms"
reconnect_max = "1s"
{devices}"#,
        data = data_dir.display()
    )
}

fn bridge_config(
    client_id: &str,
    mqtt_port: u16,
    bootstrap: &str,
    metrics_port: u16,
    instance: u32,
    instances: u32,
) -> String {
    format!(
        r#"[bridge]
instance = {instance}
instances = {instances}
metrics_listen = "127.0.0.1:{metrics_port}"

[mqtt]
host = "127.0.0.1"
port = {mqtt_port}
client_id = "{client_id}"
keep_alive = "5s"
reconnect_min = "100ms"
reconnect_max = "1s"
shutdown_grace = "5s"

[kafka]
bootstrap_servers = "{bootstrap}"
linger = "5ms"
retry_max = "1s"
properties = {{ "reconnect.backoff.max.ms" = "500" }}
"#
    )
}

/// The asset of an event, as the bridge derives it with `asset_levels = 1`.
fn asset_of(event: &serde_json::Value) -> String {
    match event["kind"].as_str() {
        Some("health") => event["component"].as_str().unwrap_or_default().to_owned(),
        _ => {
            let sensor = event["sensor"].as_str().unwrap_or_default();
            sensor.split('.').next().unwrap_or_default().to_owned()
        }
    }
}

/// The brokers, with the bridge's topics created.
async fn brokers() -> Result<(Nisshi, Mosquitto)> {
    let kafka = Nisshi::start().await?;
    for topic in EVENT_TOPICS {
        kafka.create_topic(topic, 3, false).await?;
    }
    kafka.create_topic(STATUS, 1, true).await?;
    kafka.create_topic(DEAD_LETTER, 1, false).await?;
    let mosquitto = Mosquitto::start().await?;
    Ok((kafka, mosquitto))
}

/// One bridge instance: its config file, log and metrics port.
struct Bridge {
    config: std::path::PathBuf,
    log: std::path::PathBuf,
    metrics_port: u16,
}

impl Bridge {
    fn new(
        dir: &Path,
        name: &str,
        mqtt_port: u16,
        bootstrap: &str,
        instance: u32,
        instances: u32,
    ) -> Result<Self> {
        let metrics_port = free_port()?;
        let config = dir.join(format!("{name}.toml"));
        std::fs::write(
            &config,
            bridge_config(
                name,
                mqtt_port,
                bootstrap,
                metrics_port,
                instance,
                instances,
            ),
        )?;
        Ok(Bridge {
            config,
            log: dir.join(format!("{name}.log")),
            metrics_port,
        })
    }

    fn start(&self) -> Result<Service> {
        let args = [
            "bridge".as_ref(),
            "--config".as_ref(),
            self.config.as_os_str(),
        ];
        Service::start(&paths::edge_agent_bridge_binary(), args, &self.log)
    }

    /// The text of `GET /metrics`, if the bridge answers.
    fn scrape(&self) -> Option<String> {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.metrics_port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let (head, body) = response.split_once("\r\n\r\n")?;
        head.starts_with("HTTP/1.0 200")
            .then(|| body.to_owned())
            .or_else(|| head.starts_with("HTTP/1.1 200").then(|| body.to_owned()))
    }

    /// The sum of a metric's samples (all label values).
    fn metric(&self, name: &str) -> f64 {
        let text = self.scrape().unwrap_or_default();
        text.lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Waits until the bridge has received something: its subscription is in place, and the
    /// broker keeps its session from now on.
    async fn wait_subscribed(&self, mqtt_port: u16) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.metric("edge_bridge_consumed_total") < 1.0 {
            publish(mqtt_port, "edge/probe/status", b"online").await?;
            if Instant::now() > deadline {
                bail!(
                    "the bridge never subscribed:\n{}",
                    std::fs::read_to_string(&self.log)?
                );
            }
            sleep(Duration::from_millis(300)).await;
        }
        Ok(())
    }
}

/// Publishes one QoS 1 message and waits for its PUBACK.
async fn publish(port: u16, topic: &str, payload: &[u8]) -> Result<()> {
    use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};
    let id = format!("pub-{}", free_port()?);
    let (client, mut eventloop) = AsyncClient::new(MqttOptions::new(id, "127.0.0.1", port), 10);
    client
        .publish(topic, QoS::AtLeastOnce, false, payload.to_vec())
        .await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let event = tokio::time::timeout_at(deadline, eventloop.poll())
            .await
            .context("no PUBACK")??;
        if let Event::Incoming(Packet::PubAck(_)) = event {
            break;
        }
        if let Event::Outgoing(Outgoing::Disconnect) = event {
            bail!("disconnected");
        }
    }
    client.disconnect().await.ok();
    Ok(())
}

/// The plant and two gateways publishing to `mqtt_port`.
struct Plantside {
    sim: Simulator,
    agents: Vec<(String, Service, std::path::PathBuf)>,
}

impl Plantside {
    async fn start(dir: &Path, mqtt_port: u16) -> Result<Self> {
        let plant = Plant::from_scenario(Scenario::from_toml_str(SCENARIO)?, None);
        let mut sim = Simulator::new(plant, SimClock::scaled(60.0));
        let modbus = sim.start_modbus_tcp("plc", "127.0.0.1:0".parse()?).await?;
        let mut agents = Vec::new();
        for gateway in ["ga", "gb"] {
            let data_dir = dir.join(gateway);
            let config = dir.join(format!("{gateway}.toml"));
            std::fs::write(
                &config,
                agent_config(gateway, &modbus.to_string(), mqtt_port, &data_dir),
            )?;
            let args = ["run".as_ref(), "--config".as_ref(), config.as_os_str()];
            let agent = Service::start(
                &paths::edge_agent_bridge_binary(),
                args,
                &dir.join(format!("{gateway}.log")),
            )?;
            agents.push((gateway.to_owned(), agent, data_dir));
        }
        Ok(Plantside { sim, agents })
    }

    /// Stops the plant, waits until each gateway has handed everything to Mosquitto, stops
    /// the gateways and returns each one's last seq.
    async fn finish(self) -> Result<BTreeMap<String, u64>> {
        self.sim.shutdown().await?;
        let mut last = BTreeMap::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        for (gateway, agent, data_dir) in self.agents {
            let spool_dir = spool::dir_in(&data_dir);
            loop {
                sleep(Duration::from_millis(500)).await;
                let stats = spool::inspect(&spool_dir)?.stats;
                if stats.pending.total() == 0 && stats.last_seq.unwrap_or(0) > 0 {
                    // The device is offline by now: nothing more to say.
                    sleep(Duration::from_millis(500)).await;
                    let stats = spool::inspect(&spool_dir)?.stats;
                    if stats.pending.total() == 0 {
                        last.insert(gateway.clone(), stats.last_seq.unwrap_or(0));
                        break;
                    }
                }
                if Instant::now() > deadline {
                    bail!("{gateway} did not drain: {stats:?}\n{}", agent.log());
                }
            }
            agent.terminate()?;
        }
        Ok(last)
    }
}

/// Reads Kafka until every expected seq is there (or a minute has passed) and checks it.
async fn read_back(kafka: &Nisshi, last: &BTreeMap<String, u64>) -> Result<DeliveryReport> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let bootstrap = kafka.bootstrap();
        let records =
            tokio::task::spawn_blocking(move || read_all(&bootstrap, &EVENT_TOPICS)).await??;
        let report = DeliveryReport::of(&records, last, asset_of);
        if report.complete() || Instant::now() > deadline {
            return Ok(report);
        }
        sleep(Duration::from_secs(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_reaches_kafka_in_order_through_kill_9_of_the_bridge_and_a_kafka_restart(
) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (mut kafka, mosquitto) = brokers().await?;
    let bridge = Bridge::new(
        dir.path(),
        "bridge",
        mosquitto.port(),
        &kafka.bootstrap(),
        0,
        1,
    )?;
    let mut running = bridge.start()?;
    bridge.wait_subscribed(mosquitto.port()).await?;
    // Watches the batches the gateways send (the default): the bridge must split them.
    let watcher =
        Subscriber::connect(mosquitto.port(), "batch-watcher", "edge/+/readings", true).await?;
    let plant = Plantside::start(dir.path(), mosquitto.port()).await?;

    for round in 0..3 {
        sleep(Duration::from_millis(1500)).await;
        if round == 1 {
            // Kafka goes away for a while; the bridge acknowledges nothing meanwhile.
            kafka.stop().await?;
            sleep(Duration::from_millis(2000)).await;
            assert!(
                running.is_running(),
                "the bridge died with Kafka down:\n{}",
                running.log()
            );
            kafka.restart().await?;
            sleep(Duration::from_millis(1000)).await;
        }
        running.kill_9()?;
        eprintln!("round {round}: bridge killed with SIGKILL");
        sleep(Duration::from_millis(300)).await;
        running = bridge.start()?;
    }
    sleep(Duration::from_millis(1500)).await;
    let last = plant.finish().await?;
    let report = read_back(&kafka, &last).await?;
    eprintln!(
        "bridge: {} events ({last:?}) in {} keys through 3 SIGKILLs and a Kafka restart; {} duplicates, all identical re-sends",
        report.distinct, report.keys, report.duplicates
    );
    report.assert_sound();
    assert!(
        report.distinct > 300,
        "too few events to mean anything: {}",
        report.distinct
    );
    let batches = watcher.received();
    let batched: usize = batches.iter().map(|m| m.seqs().len()).sum();
    eprintln!(
        "batches at the broker: {} messages carrying {batched} readings",
        batches.len()
    );
    assert!(
        !batches.is_empty() && batches.iter().all(|m| m.seqs().len() >= 2),
        "the gateways sent no batches of readings: {batches:?}"
    );
    assert!(
        report.keys >= 4,
        "expected the assets of two gateways: {}",
        report.keys
    );
    running.terminate()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_bridge_instances_split_the_stream_with_no_gap_and_order_per_asset_and_the_status_topic_ends_offline(
) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (kafka, mosquitto) = brokers().await?;
    let bridges = [
        Bridge::new(
            dir.path(),
            "bridge-0",
            mosquitto.port(),
            &kafka.bootstrap(),
            0,
            2,
        )?,
        Bridge::new(
            dir.path(),
            "bridge-1",
            mosquitto.port(),
            &kafka.bootstrap(),
            1,
            2,
        )?,
    ];
    let mut running = Vec::new();
    for bridge in &bridges {
        running.push(bridge.start()?);
        bridge.wait_subscribed(mosquitto.port()).await?;
    }
    let plant = Plantside::start(dir.path(), mosquitto.port()).await?;
    sleep(Duration::from_secs(4)).await;
    let last = plant.finish().await?;
    let report = read_back(&kafka, &last).await?;
    let produced: Vec<f64> = bridges
        .iter()
        .map(|b| b.metric("edge_bridge_produced_total"))
        .collect();
    eprintln!(
        "two bridges: {} events ({last:?}), {} keys, produced per instance {produced:?}, {} duplicates",
        report.distinct, report.keys, report.duplicates
    );
    report.assert_sound();
    assert!(
        produced.iter().all(|&n| n > 0.0),
        "an instance forwarded nothing: {produced:?}"
    );
    // The fleet's liveness, read from the compacted status topic: each gateway's records say
    // `online` (its birth) and end with `offline` (its clean shutdown in `finish`).
    let deadline = Instant::now() + Duration::from_secs(30);
    let statuses = loop {
        let bootstrap = kafka.bootstrap();
        let records =
            tokio::task::spawn_blocking(move || read_all(&bootstrap, &[STATUS])).await??;
        let mut by_gateway: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for record in records {
            assert_eq!(
                record.headers.get("kind").map(String::as_str),
                Some("status")
            );
            let gateway = record.key.clone().unwrap_or_default();
            assert_eq!(record.headers.get("gateway"), Some(&gateway));
            by_gateway.entry(gateway).or_default().push(record.value);
        }
        let done = last.keys().all(|g| {
            by_gateway.get(g).and_then(|v| v.last()).map(String::as_str) == Some("offline")
        });
        if done || Instant::now() > deadline {
            break by_gateway;
        }
        sleep(Duration::from_millis(500)).await;
    };
    eprintln!("status topic: {statuses:?}");
    for gateway in last.keys() {
        let values = statuses.get(gateway).cloned().unwrap_or_default();
        assert!(
            values.iter().any(|v| v == "online"),
            "{gateway}: {values:?}"
        );
        assert_eq!(
            values.last().map(String::as_str),
            Some("offline"),
            "{gateway}: {values:?}"
        );
    }
    for bridge in running {
        bridge.terminate()?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_payload_lands_in_the_dead_letter_topic_with_its_reason_and_the_bridge_goes_on(
) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (kafka, mosquitto) = brokers().await?;
    let bridge = Bridge::new(
        dir.path(),
        "bridge",
        mosquitto.port(),
        &kafka.bootstrap(),
        0,
        1,
    )?;
    let mut running = bridge.start()?;
    bridge.wait_subscribed(mosquitto.port()).await?;
    let port = mosquitto.port();
    let valid = |gateway: &str, seq: u64| {
        format!(
            r#"{{"v":1,"gateway":"{gateway}","seq":{seq},"kind":"reading","ts":"2026-01-01T00:00:00.000Z","sensor":"m1.velocity","value":1.5,"unit":null,"quality":"good"}}"#
        )
    };
    publish(port, "edge/gx/reading/m1.velocity", b"not json at all").await?;
    publish(
        port,
        "edge/gx/reading/m1.velocity",
        valid("gy", 1).as_bytes(),
    )
    .await?;
    publish(
        port,
        "edge/gx/reading/m1.velocity",
        valid("gx", 1).replace("\"v\":1", "\"v\":7").as_bytes(),
    )
    .await?;
    publish(
        port,
        "edge/gx/reading/m1.velocity",
        valid("gx", 1).as_bytes(),
    )
    .await?;
    // A batch of three readings whose second entry has no seq: it is split, the bad entry
    // dead-lettered alone, the other two produced as their single events.
    let batch = r#"{"v":2,"gateway":"gx","kind":"readings","ts":"2026-01-01T00:00:00.000Z","readings":[{"seq":2,"sensor":"m1.velocity","value":1.5,"unit":null,"quality":"good"},{"sensor":"m1.velocity","value":9.0,"unit":null,"quality":"good"},{"seq":4,"sensor":"m2.velocity","value":1.5,"unit":null,"quality":"good"}]}"#;
    publish(port, "edge/gx/readings", batch.as_bytes()).await?;

    let deadline = Instant::now() + Duration::from_secs(60);
    let (dead, events) = loop {
        let bootstrap = kafka.bootstrap();
        let records =
            tokio::task::spawn_blocking(move || read_all(&bootstrap, &[DEAD_LETTER, TELEMETRY]))
                .await??;
        let (dead, events): (Vec<_>, Vec<_>) =
            records.into_iter().partition(|r| r.topic == DEAD_LETTER);
        if (dead.len() >= 4 && events.len() >= 3) || Instant::now() > deadline {
            break (dead, events);
        }
        sleep(Duration::from_millis(500)).await;
    };
    let reasons: Vec<&str> = dead
        .iter()
        .map(|r| r.headers.get("reason").map_or("", String::as_str))
        .collect();
    eprintln!("dead letters: {reasons:?}");
    assert_eq!(dead.len(), 4, "{dead:?}");
    assert!(reasons[0].contains("not a JSON event"), "{reasons:?}");
    assert!(
        reasons[1].contains("gateway `gy` in the payload"),
        "{reasons:?}"
    );
    assert!(
        reasons[2].contains("unknown schema version v = 7"),
        "{reasons:?}"
    );
    for record in &dead[..3] {
        assert_eq!(
            record.headers.get("source_topic").map(String::as_str),
            Some("edge/gx/reading/m1.velocity")
        );
    }
    assert!(reasons[3].contains("readings[1]"), "{reasons:?}");
    assert_eq!(
        dead[3].headers.get("batch_index").map(String::as_str),
        Some("1")
    );
    assert_eq!(
        dead[3].headers.get("source_topic").map(String::as_str),
        Some("edge/gx/readings")
    );
    let bad_entry: serde_json::Value = serde_json::from_str(&dead[3].value)?;
    assert_eq!(bad_entry["value"], 9.0, "the bad entry is kept");
    assert_eq!(
        dead[0].value, "not json at all",
        "the payload is kept as sent"
    );
    assert_eq!(events.len(), 3, "{events:?}");
    let mut events: Vec<_> = events.iter().collect();
    events.sort_by_key(|r| r.headers.get("seq").cloned());
    assert_eq!(events[0].key.as_deref(), Some("gx/m1"));
    let split = &events[1..];
    assert_eq!(
        split[0].value,
        valid("gx", 2),
        "a split reading is its single event"
    );
    assert_eq!(split[0].key.as_deref(), Some("gx/m1"));
    assert_eq!(
        split[1].value,
        valid("gx", 4).replace("m1.velocity", "m2.velocity")
    );
    assert_eq!(split[1].key.as_deref(), Some("gx/m2"));
    assert!(
        running.is_running(),
        "the bridge stopped:\n{}",
        running.log()
    );
    assert_eq!(bridge.metric("edge_bridge_dead_lettered_total"), 4.0);

    // The metrics pass Prometheus's own checker.
    let text = bridge.scrape().context("no metrics")?;
    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("promtool (Debian package prometheus; scripts/setup-test-deps.sh installs it)")?;
    promtool
        .stdin
        .take()
        .context("stdin")?
        .write_all(text.as_bytes())?;
    let checked = promtool.wait_with_output()?;
    assert!(
        checked.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    for name in [
        "edge_bridge_consumed_total",
        "edge_bridge_in_flight",
        "edge_bridge_retries_total",
        "edge_bridge_kafka_up",
        "edge_bridge_mqtt_up",
        "edge_bridge_oldest_unacked_age_seconds",
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} ")),
            "{name} missing:\n{text}"
        );
    }
    running.terminate()?;
    Ok(())
}
