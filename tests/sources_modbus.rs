//! The agent's Modbus sources against real peers: firmware-sim over TCP and over a
//! pseudo-terminal, and pymodbus (a Modbus implementation not written here) through
//! `edge-agent poll --once`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use e2e_tests::paths;
use edge_agent::config::{self, Device};
use edge_agent::event::{Event, EventBody, HealthState, Quality};
use edge_agent::sources::modbus::once::poll_once;
use edge_agent::sources::modbus::rtu::RtuBus;
use edge_agent::sources::modbus::tcp::TcpDevice;
use firmware_sim::{Plant, Scenario, Signal, SimClock, Simulator};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const TYPES: [(&str, f64); 6] = [
    ("u16", 54321.0),
    ("i16", -12345.0),
    ("u32", 3_000_000_000.0),
    ("i32", -2_000_000_000.0),
    ("f32", -123.456),
    ("f64", 98_765.432_1),
];
const ORDERS: [&str; 4] = ["ABCD", "CDAB", "BADC", "DCBA"];

fn width(value_type: &str) -> u16 {
    match value_type {
        "u16" | "i16" => 1,
        "u32" | "i32" | "f32" => 2,
        _ => 4,
    }
}

const MACHINE: &str = r#"
[scenario]
name = "sources"
seed = 3
speed = 1.0

[[machines]]
id = "m"
kind = "motor"
rpm = 1480.0
iso_class = "II"
load = { base = 0.8, swing = 0.1, period = "20m" }
thermal = { ambient_c = 25.0, rise_at_full_load_c = 40.0, tau = "15m", alarm_c = 90.0 }
"#;

/// One constant of the simulator's register map, and the sensor the agent reads it as.
struct Constant {
    sensor: String,
    value_type: &'static str,
    order: &'static str,
    address: u16,
    value: f64,
}

/// A scenario whose TCP gateway (unit 5) holds a constant of every type in every order, one
/// after the other in holding registers, and the live temperature as an f32 in CDAB.
fn every_type_scenario() -> (String, Vec<Constant>) {
    let mut registers = Vec::new();
    let mut layout = Vec::new();
    let mut address = 0;
    for (value_type, value) in TYPES {
        for order in ORDERS {
            registers.push(format!(
                "{{ table = \"holding\", address = {address}, signal = \"constant\", type = \"{value_type}\", order = \"{order}\", value = {value:?} }}"
            ));
            let sensor = format!("c.{value_type}.{order}");
            layout.push(Constant {
                sensor,
                value_type,
                order,
                address,
                value,
            });
            address += width(value_type);
        }
    }
    registers.push("{ table = \"input\", address = 12, signal = \"temperature\", type = \"f32\", order = \"CDAB\" }".into());
    let scenario = format!(
        "{MACHINE}\n[[devices]]\nid = \"gw\"\nkind = \"modbus_tcp\"\n[[devices.units]]\nunit_id = 5\nmachine = \"m\"\nregisters = [\n  {}\n]\n",
        registers.join(",\n  ")
    );
    (scenario, layout)
}

fn agent_config(devices: &str) -> Vec<Device> {
    let text = format!("[agent]\ngateway = \"test\"\n{devices}");
    match config::parse("test.toml", &text) {
        Ok(config) => config.devices,
        Err(diagnostics) => panic!("{diagnostics:?}\n{text}"),
    }
}

#[tokio::test]
async fn every_type_and_word_order_decodes_to_the_simulated_value() {
    let (scenario, layout) = every_type_scenario();
    let clock = SimClock::manual(1800.0);
    let (sim, address) = start_tcp_gateway(&scenario, "gw", clock.clone()).await;

    let mut registers = String::new();
    for c in &layout {
        registers.push_str(&format!(
            "    [[device.poll.register]]\n    sensor = \"{}\"\n    table = \"holding\"\n    address = {}\n    type = \"{}\"\n    order = \"{}\"\n",
            c.sensor, c.address, c.value_type, c.order
        ));
    }
    registers.push_str("    [[device.poll.register]]\n    sensor = \"temperature\"\n    table = \"input\"\n    address = 12\n    type = \"f32\"\n    order = \"CDAB\"\n");
    let devices = agent_config(&format!(
        "[[device]]\nid = \"gw\"\ntransport = \"tcp\"\naddress = \"{address}\"\nunit = 5\n  [[device.poll]]\n  interval = \"1s\"\n{registers}"
    ));
    let reports = poll_once(&devices).await;
    assert!(reports[0].failures.is_empty(), "{:?}", reports[0].failures);
    let read: HashMap<&str, f64> = reports[0]
        .decoded
        .iter()
        .map(|d| (d.register.sensor.as_str(), d.value.value))
        .collect();
    for c in &layout {
        let got = read[c.sensor.as_str()];
        let expected = if c.value_type == "f32" {
            f64::from(c.value as f32)
        } else {
            c.value
        };
        assert_eq!(got, expected, "{}", c.sensor);
    }
    let truth = match sim.plant().reading("m", Signal::Temperature, clock.now()) {
        Some(Ok(t)) => t,
        other => panic!("the plant has a temperature: {other:?}"),
    };
    assert_eq!(read["temperature"], f64::from(truth as f32));
    sim.shutdown().await.expect("shutdown");
}

/// firmware-sim with the scenario `text` on `clock`, its Modbus TCP gateway `id` listening
/// on a free loopback port.
async fn start_tcp_gateway(
    text: &str,
    id: &str,
    clock: SimClock,
) -> (Simulator, std::net::SocketAddr) {
    let plant = Plant::from_scenario(Scenario::from_toml_str(text).expect("scenario"), None);
    let mut sim = Simulator::new(plant, clock);
    let address = sim
        .start_modbus_tcp(id, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("start");
    (sim, address)
}

/// firmware-sim with a shipped scenario (`firmware-sim/scenarios/FILE`), its gateway `gateway`
/// listening on a free loopback port, on a clock set by hand to `plant_s`.
async fn shipped_scenario_gateway(
    file: &str,
    plant_s: f64,
) -> (Simulator, std::net::SocketAddr, SimClock) {
    let path = e2e_tests::scenarios::scenarios_dir().join(file);
    let text = std::fs::read_to_string(&path).expect("the scenario file");
    let clock = SimClock::manual(plant_s);
    let (sim, address) = start_tcp_gateway(&text, "gateway", clock.clone()).await;
    (sim, address, clock)
}

/// Runs the TCP device `device` in a task: its events, the token that stops it, the task.
fn run_tcp_device(
    device: &Device,
) -> (
    mpsc::Receiver<Event>,
    CancellationToken,
    tokio::task::JoinHandle<()>,
) {
    let device = TcpDevice::new(device.clone()).expect("tcp device");
    let (tx, rx) = mpsc::channel(10_000);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(device.run(tx, shutdown.clone()));
    (rx, shutdown, task)
}

/// Collects events until `done` says so or `limit` passes; returns them all.
async fn collect_until(
    rx: &mut mpsc::Receiver<Event>,
    limit: Duration,
    mut done: impl FnMut(&[Event]) -> bool,
) -> Vec<Event> {
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    while !done(&events) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(event)) => events.push(event),
            _ => break,
        }
    }
    events
}

fn good_readings_of(events: &[Event], sensor: &str) -> usize {
    events
        .iter()
        .filter(|e| matches!(&e.body, EventBody::Reading(r) if r.sensor == sensor && r.quality == Quality::Good))
        .count()
}

fn bad_readings_of(events: &[Event], sensor: &str) -> usize {
    events
        .iter()
        .filter(|e| matches!(&e.body, EventBody::Reading(r) if r.sensor == sensor && r.quality == Quality::Bad))
        .count()
}

fn health_of(events: &[Event], device: &str) -> Vec<HealthState> {
    let component = format!("device:{device}");
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Health(h) if h.component == component => Some(h.state),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn an_rtu_bus_with_a_dead_slave_keeps_the_live_ones_at_their_rates() {
    let register =
        "{ table = \"input\", address = 0, signal = \"temperature\", type = \"i16\", scale = 0.1 }";
    let scenario = format!(
        "{MACHINE}\n[[devices]]\nid = \"bus\"\nkind = \"modbus_rtu\"\nbaud = 19200\npace = true\n\
         [[devices.units]]\nunit_id = 1\nmachine = \"m\"\nregisters = [{register}]\n\
         [[devices.units]]\nunit_id = 2\nmachine = \"m\"\nregisters = [{register}]\n"
    );
    let plant = Plant::from_scenario(Scenario::from_toml_str(&scenario).expect("scenario"), None);
    let mut sim = Simulator::new(plant, SimClock::scaled(1.0));
    let pty = sim.start_rtu_pty("bus", None).await.expect("pty");

    // Units 1 and 2 answer; unit 3 is not on the bus. Each is polled every 100 ms and a request
    // times out after 150 ms: without a breaker the dead slave alone would take the whole bus.
    let device = |unit: u8| {
        format!(
            "[[device]]\nid = \"slave{unit}\"\ntransport = \"rtu\"\nport = \"{}\"\nbaud = 19200\nunit = {unit}\ntimeout = \"150ms\"\n  [[device.poll]]\n  interval = \"100ms\"\n    [[device.poll.register]]\n    sensor = \"t{unit}\"\n    table = \"input\"\n    address = 0\n    type = \"i16\"\n    scale = 0.1\n",
            pty.display()
        )
    };
    let devices = agent_config(&format!("{}{}{}", device(1), device(2), device(3)));
    let config::Transport::Rtu(line) = devices[0].transport.clone() else {
        panic!("rtu")
    };
    let bus = RtuBus::new(line, devices);
    let counters = bus.counters();
    let (tx, mut rx) = mpsc::channel(10_000);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(bus.run(tx, shutdown.clone()));

    let run_for = Duration::from_secs(4);
    let events = collect_until(&mut rx, run_for, |_| false).await;
    shutdown.cancel();
    task.await.expect("bus task");

    // 4 s at 10 Hz is 40 polls each; the dead slave costs at most a few timeouts.
    let (t1, t2) = (
        good_readings_of(&events, "t1"),
        good_readings_of(&events, "t2"),
    );
    assert!(
        t1 >= 30 && t2 >= 30,
        "live slaves fell behind: {t1} and {t2} readings in 4 s"
    );
    assert_eq!(good_readings_of(&events, "t3"), 0);
    assert_eq!(
        health_of(&events, "slave3").last(),
        Some(&HealthState::Offline)
    );
    assert_eq!(health_of(&events, "slave1"), vec![HealthState::Online]);
    let utilisation = counters.utilisation();
    assert!(
        utilisation > 0.0 && utilisation < 1.0,
        "utilisation {utilisation}"
    );
    sim.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_device_that_restarts_is_picked_up_again() {
    let register =
        "{ table = \"input\", address = 0, signal = \"temperature\", type = \"i16\", scale = 0.1 }";
    let scenario = format!("{MACHINE}\n[[devices]]\nid = \"gw\"\nkind = \"modbus_tcp\"\n[[devices.units]]\nunit_id = 1\nmachine = \"m\"\nregisters = [{register}]\n");
    let start = |address: std::net::SocketAddr| {
        let scenario = scenario.clone();
        async move {
            let plant =
                Plant::from_scenario(Scenario::from_toml_str(&scenario).expect("scenario"), None);
            let mut sim = Simulator::new(plant, SimClock::scaled(1.0));
            let bound = sim.start_modbus_tcp("gw", address).await.expect("start");
            (sim, bound)
        }
    };
    let (sim, address) = start("127.0.0.1:0".parse().expect("addr")).await;
    let devices = agent_config(&format!(
        "[[device]]\nid = \"gw\"\ntransport = \"tcp\"\naddress = \"{address}\"\ntimeout = \"200ms\"\n  [[device.poll]]\n  interval = \"100ms\"\n    [[device.poll.register]]\n    sensor = \"t\"\n    table = \"input\"\n    address = 0\n    type = \"i16\"\n    scale = 0.1\n"
    ));
    let (mut rx, shutdown, task) = run_tcp_device(&devices[0]);

    let first = collect_until(&mut rx, Duration::from_secs(5), |e| {
        good_readings_of(e, "t") >= 3
    })
    .await;
    assert!(
        good_readings_of(&first, "t") >= 3,
        "no readings before the restart"
    );

    sim.shutdown().await.expect("shutdown");
    let down = collect_until(&mut rx, Duration::from_secs(5), |e| {
        health_of(e, "gw").contains(&HealthState::Offline)
    })
    .await;
    assert_eq!(
        health_of(&down, "gw").last(),
        Some(&HealthState::Offline),
        "{down:?}"
    );

    let (sim, _) = start(address).await;
    // Degraded at the first answer, online after good polls for 5 s.
    let back = collect_until(&mut rx, Duration::from_secs(20), |e| {
        good_readings_of(e, "t") >= 3 && health_of(e, "gw").contains(&HealthState::Online)
    })
    .await;
    assert!(
        good_readings_of(&back, "t") >= 3,
        "not picked up again: {back:?}"
    );
    assert_eq!(
        health_of(&back, "gw"),
        [HealthState::Degraded, HealthState::Online]
    );
    shutdown.cancel();
    task.await.expect("device task");
    sim.shutdown().await.expect("shutdown");
}

/// A pymodbus server, killed when dropped.
struct PyModbus(Child);

impl PyModbus {
    fn start(port: u16, specs: &[String]) -> Self {
        let script = paths::workspace().join("tests/peers/pymodbus_server.py");
        let mut child = Command::new(paths::python())
            .arg(script)
            .arg(port.to_string())
            .args(specs)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start pymodbus");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read");
        assert_eq!(line.trim(), "ready", "pymodbus did not start");
        Self(child)
    }
}

impl Drop for PyModbus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn poll_once_decodes_what_a_pymodbus_server_holds_in_every_type_and_order() {
    let mut types: Vec<(&str, f64)> = TYPES.to_vec();
    types.extend([("u64", 1_234_567_890_123.0), ("i64", -9_876_543_210_987.0)]);
    let mut specs = Vec::new();
    let mut registers = String::new();
    let mut expected = HashMap::new();
    let mut address = 0;
    for (value_type, value) in &types {
        for order in ORDERS {
            specs.push(format!("{value_type}:{order}:{value}"));
            let sensor = format!("p.{value_type}.{order}");
            registers.push_str(&format!(
                "    [[device.poll.register]]\n    sensor = \"{sensor}\"\n    table = \"holding\"\n    address = {address}\n    type = \"{value_type}\"\n    order = \"{order}\"\n"
            ));
            let value = if *value_type == "f32" {
                f64::from(*value as f32)
            } else {
                *value
            };
            expected.insert(sensor, value);
            address += width(value_type);
        }
    }
    let port = paths::free_port();
    let _server = PyModbus::start(port, &specs);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("agent.toml");
    let config_text = format!(
        "[agent]\ngateway = \"test\"\n[[device]]\nid = \"py\"\ntransport = \"tcp\"\naddress = \"127.0.0.1:{port}\"\n  [[device.poll]]\n  interval = \"1s\"\n{registers}"
    );
    std::fs::write(&config, config_text).expect("write config");
    let out = Command::new(paths::edge_agent_binary())
        .args(["poll", "--config", &config.display().to_string(), "--once"])
        .output()
        .expect("run poll");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), expected.len());
    for line in &lines {
        let sensor = line["sensor"].as_str().expect("sensor");
        assert_eq!(line["value"].as_f64(), Some(expected[sensor]), "{line}");
        assert_eq!(line["quality"], "good");
    }

    // A device that cannot be reached: non-zero exit, and the reason.
    let closed = paths::free_port();
    let unreachable = format!(
        "[agent]\ngateway = \"test\"\n[[device]]\nid = \"gone\"\ntransport = \"tcp\"\naddress = \"127.0.0.1:{closed}\"\ntimeout = \"500ms\"\n  [[device.poll]]\n  interval = \"1s\"\n    [[device.poll.register]]\n    sensor = \"x\"\n    table = \"input\"\n    address = 0\n"
    );
    std::fs::write(&config, unreachable).expect("write config");
    let out = Command::new(paths::edge_agent_binary())
        .args(["poll", "--config", &config.display().to_string(), "--once"])
        .output()
        .expect("run poll");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("device gone") && stderr.contains("unread: x"),
        "{stderr}"
    );
}

/// `poll` without `--once` runs the agent's own source tasks at the configured rate and
/// prints wire-shape JSON lines, numbered without a gap, until SIGTERM; then it exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_without_once_streams_readings_at_the_configured_rate_until_terminated() {
    let (scenario, layout) = every_type_scenario();
    let (sim, address) = start_tcp_gateway(&scenario, "gw", SimClock::manual(1800.0)).await;
    let c = &layout[0];
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "[agent]\ngateway = \"watch\"\n[[device]]\nid = \"gw\"\ntransport = \"tcp\"\naddress = \"{address}\"\nunit = 5\n  [[device.poll]]\n  interval = \"100ms\"\n    [[device.poll.register]]\n    sensor = \"{}\"\n    table = \"holding\"\n    address = {}\n    type = \"{}\"\n    order = \"{}\"\n",
            c.sensor, c.address, c.value_type, c.order
        ),
    )
    .expect("write config");
    let mut child = Command::new(paths::edge_agent_binary())
        .args(["poll", "--config", &config.display().to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start poll");
    let stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(&l.expect("line")).expect("JSON"))
            .collect::<Vec<_>>()
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status();
    assert!(killed.expect("kill").success());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(status.success(), "poll exits 0 on SIGTERM: {status}");
    let lines = reader.join().expect("reader");
    sim.shutdown().await.expect("shutdown");

    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["gateway"], "watch", "{line}");
        assert_eq!(line["seq"].as_u64(), Some(i as u64 + 1), "{line}");
    }
    let readings: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["kind"] == "reading").collect();
    // 10 Hz for about 2 s, minus the connect: well over ten, at most about twenty.
    assert!(
        (10..=22).contains(&readings.len()),
        "{} readings in 2 s at 10 Hz",
        readings.len()
    );
    for reading in &readings {
        assert_eq!(reading["sensor"], c.sensor.as_str());
        assert_eq!(reading["value"].as_f64(), Some(c.value), "{reading}");
    }
}

/// A TCP server that accepts every connection, reads the request, answers half a frame and
/// closes; it counts the connections.
async fn start_breaking_server() -> (String, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use std::sync::atomic::{AtomicU64, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    let accepted = std::sync::Arc::new(AtomicU64::new(0));
    let counter = std::sync::Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let mut request = [0u8; 260];
                if socket.read(&mut request).await.is_ok() {
                    // The transaction id and half the protocol id of an MBAP header.
                    let _ = socket.write_all(&request[..3]).await;
                }
            });
        }
    });
    (address, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_that_breaks_every_answer_is_backed_off_and_marked_once_and_spares_its_neighbour()
{
    use std::sync::atomic::Ordering;
    let (broken, accepted) = start_breaking_server().await;
    let (scenario, _) = every_type_scenario();
    let plant = Plant::from_scenario(Scenario::from_toml_str(&scenario).expect("scenario"), None);
    let mut sim = Simulator::new(plant, SimClock::manual(0.0));
    let healthy = sim
        .start_modbus_tcp("gw", "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("start");
    let register = |sensor: &str, address: u16| {
        format!("    [[device.poll.register]]\n    sensor = \"{sensor}\"\n    table = \"holding\"\n    address = {address}\n    type = \"u16\"\n")
    };
    let devices = agent_config(&format!(
        "[[device]]\nid = \"broken\"\ntransport = \"tcp\"\naddress = \"{broken}\"\ntimeout = \"500ms\"\n  [[device.poll]]\n  interval = \"50ms\"\n{}{}\n[[device]]\nid = \"healthy\"\ntransport = \"tcp\"\naddress = \"{healthy}\"\nunit = 5\ntimeout = \"500ms\"\n  [[device.poll]]\n  interval = \"200ms\"\n{}",
        register("b.one", 0),
        register("b.two", 1),
        register("h.one", 0),
    ));
    let broken = TcpDevice::new(devices[0].clone()).expect("tcp device");
    let healthy = TcpDevice::new(devices[1].clone()).expect("tcp device");
    let (broken_counters, healthy_counters) = (broken.counters(), healthy.counters());
    let (tx, mut rx) = mpsc::channel(100_000);
    let shutdown = CancellationToken::new();
    let tasks = [
        tokio::spawn(broken.run(tx.clone(), shutdown.clone())),
        tokio::spawn(healthy.run(tx, shutdown.clone())),
    ];
    // Long enough for several backoff steps (0.1-0.2 s, 0.2-0.4 s, 0.4-0.8 s, 0.8-1.6 s).
    tokio::time::sleep(Duration::from_secs(3)).await;
    shutdown.cancel();
    for task in tasks {
        task.await.expect("task ends");
    }
    let mut events = Vec::new();
    while let Ok(event) = rx.try_recv() {
        events.push(event);
    }

    // Backed off: each connection is followed by a pause that doubles, so at most about six
    // fit in 3 s whatever the machine's speed (the agent made ~2,000 a second before).
    let connections = accepted.load(Ordering::Relaxed);
    assert!((2..=8).contains(&connections), "{connections} connections");
    assert_eq!(
        broken_counters.connects.load(Ordering::Relaxed),
        connections
    );
    // One bad reading per register for the whole streak, across every connection.
    let bad: Vec<&str> = events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Reading(r) if r.quality == Quality::Bad => Some(r.sensor.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(bad, ["b.one", "b.two"], "{bad:?}");
    assert_eq!(good_readings_of(&events, "b.one"), 0);
    // The neighbour kept its schedule: every poll on time, none lost to the broken one.
    assert_eq!(healthy_counters.overruns.load(Ordering::Relaxed), 0);
    assert_eq!(
        healthy_counters.transport_errors.load(Ordering::Relaxed)
            + healthy_counters.timeouts.load(Ordering::Relaxed),
        0
    );
    let healthy_reads = healthy_counters.reads_ok.load(Ordering::Relaxed);
    assert_eq!(good_readings_of(&events, "h.one") as u64, healthy_reads);
    assert!(healthy_reads >= 2, "{healthy_reads}");
}

#[tokio::test]
async fn a_merged_read_refused_with_exception_2_is_split_to_name_the_register_at_fault() {
    let (scenario, _) = every_type_scenario();
    let (_sim, address) = start_tcp_gateway(&scenario, "gw", SimClock::manual(1800.0)).await;
    // Input 12-13 hold the temperature; input 14 is not mapped. Adjacent: one merged read.
    let devices = agent_config(&format!(
        "[[device]]\nid = \"gw\"\ntransport = \"tcp\"\naddress = \"{address}\"\nunit = 5\ntimeout = \"500ms\"\n  [[device.poll]]\n  interval = \"100ms\"\n    [[device.poll.register]]\n    sensor = \"temperature\"\n    table = \"input\"\n    address = 12\n    type = \"f32\"\n    order = \"CDAB\"\n    [[device.poll.register]]\n    sensor = \"ghost\"\n    table = \"input\"\n    address = 14\n    type = \"u16\"\n"
    ));
    let (mut rx, shutdown, task) = run_tcp_device(&devices[0]);
    let events = collect_until(&mut rx, Duration::from_secs(10), |e| {
        good_readings_of(e, "temperature") >= 3
    })
    .await;
    shutdown.cancel();
    task.await.expect("task ends");

    assert!(
        good_readings_of(&events, "temperature") >= 3,
        "the good register still reads"
    );
    let named: Vec<&str> = events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Health(h) if h.detail.contains("ILLEGAL DATA ADDRESS") => {
                Some(h.detail.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(named.len(), 1, "named once: {named:?}");
    assert!(
        named[0].starts_with("input register 14 (ghost)"),
        "{}",
        named[0]
    );
    let bad: Vec<&str> = events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Reading(r) if r.quality == Quality::Bad => Some(r.sensor.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(bad, ["ghost"], "only the culprit is marked bad");
}

/// firmware-sim's `sensor_dropout` scenario through the agent's Modbus source: the motor's
/// vibration sensor drops out from 20 to 25 plant minutes, and its registers answer exception 4
/// meanwhile. The rules see nothing (no sample arrives), so the source is what detects it: the
/// first poll after the dropout's start gives a bad-quality reading and a health event that names
/// the exception, and the temperature, polled apart, keeps reading. After the dropout the
/// vibration reads good again. The plant clock is set by hand, so "first poll after" is exact.
#[tokio::test]
async fn a_sensor_dropout_is_reported_by_the_source_at_the_first_poll_and_recovers() {
    let (sim, address, clock) = shipped_scenario_gateway("sensor_dropout.toml", 19.0 * 60.0).await;
    // Two polls, so that a refused vibration read does not take the temperature with it.
    let devices = agent_config(&format!(
        "[[device]]\nid = \"gateway\"\ntransport = \"tcp\"\naddress = \"{address}\"\nunit = 1\ntimeout = \"500ms\"\n  [[device.poll]]\n  interval = \"100ms\"\n    [[device.poll.register]]\n    sensor = \"velocity\"\n    table = \"input\"\n    address = 10\n    type = \"f32\"\n  [[device.poll]]\n  interval = \"100ms\"\n    [[device.poll.register]]\n    sensor = \"temperature\"\n    table = \"input\"\n    address = 12\n    type = \"f32\"\n"
    ));
    let (mut rx, shutdown, task) = run_tcp_device(&devices[0]);

    let before = collect_until(&mut rx, Duration::from_secs(10), |e| {
        good_readings_of(e, "velocity") >= 3
    })
    .await;
    assert!(
        good_readings_of(&before, "velocity") >= 3,
        "reads before the dropout"
    );
    assert_eq!(bad_readings_of(&before, "velocity"), 0);

    clock.set(20.0 * 60.0 + 1.0);
    let during = collect_until(&mut rx, Duration::from_secs(10), |e| {
        bad_readings_of(e, "velocity") >= 1 && good_readings_of(e, "temperature") >= 20
    })
    .await;
    let first_bad = during
        .iter()
        .position(|e| matches!(&e.body, EventBody::Reading(r) if r.sensor == "velocity"));
    assert!(
        first_bad.is_some_and(
            |i| matches!(&during[i].body, EventBody::Reading(r) if r.quality == Quality::Bad)
        ),
        "the first velocity poll after the dropout's start is already bad: {during:?}"
    );
    let said: Vec<&str> = during
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Health(h) if h.component == "device:gateway" => Some(h.detail.as_str()),
            _ => None,
        })
        .collect();
    // One event for the whole dropout: the temperature's good polls between the refused ones
    // do not turn the device online and degraded again on every cycle.
    assert_eq!(
        said,
        ["Modbus exception: Server device failure (reading velocity)"],
        "one health event, naming the exception and the register"
    );
    assert!(
        good_readings_of(&during, "temperature") >= 20,
        "the temperature keeps reading"
    );

    clock.set(25.0 * 60.0 + 1.0);
    let after = collect_until(&mut rx, Duration::from_secs(10), |e| {
        good_readings_of(e, "velocity") >= 3
    })
    .await;
    shutdown.cancel();
    task.await.expect("task ends");
    assert!(
        good_readings_of(&after, "velocity") >= 3,
        "reads again after the dropout"
    );
    sim.shutdown().await.expect("shutdown");
}

/// firmware-sim's `modbus_timeout` scenario: from 10 to 20 plant minutes, half the gateway's
/// requests go unanswered, at random. The device keeps reading what it can, and its health says
/// `degraded` once for the whole fault instead of changing state with every lost answer; after
/// the fault it is online again.
#[tokio::test]
async fn a_device_that_loses_half_its_answers_is_degraded_once_not_flapping() {
    let (sim, address, clock) = shipped_scenario_gateway("modbus_timeout.toml", 9.0 * 60.0).await;
    let devices = agent_config(&format!(
        "[[device]]\nid = \"gateway\"\ntransport = \"tcp\"\naddress = \"{address}\"\nunit = 1\ntimeout = \"100ms\"\n  [[device.poll]]\n  interval = \"100ms\"\n    [[device.poll.register]]\n    sensor = \"temperature\"\n    table = \"input\"\n    address = 12\n    type = \"f32\"\n"
    ));
    let (mut rx, shutdown, task) = run_tcp_device(&devices[0]);
    let before = collect_until(&mut rx, Duration::from_secs(10), |e| {
        health_of(e, "gateway").contains(&HealthState::Online)
    })
    .await;
    assert_eq!(health_of(&before, "gateway"), [HealthState::Online]);

    clock.set(10.0 * 60.0 + 1.0);
    // 6 s of the fault: at 10 Hz, dozens of lost answers and as many runs of good polls.
    let during = collect_until(&mut rx, Duration::from_secs(6), |_| false).await;
    let good = good_readings_of(&during, "temperature");
    assert!(good >= 5, "keeps reading what it can: {good} good readings");
    assert_eq!(
        health_of(&during, "gateway"),
        [HealthState::Degraded],
        "one change of state for the whole fault"
    );

    clock.set(20.0 * 60.0 + 1.0);
    let after = collect_until(&mut rx, Duration::from_secs(20), |e| {
        health_of(e, "gateway").contains(&HealthState::Online)
    })
    .await;
    shutdown.cancel();
    task.await.expect("task ends");
    assert_eq!(
        health_of(&after, "gateway").last(),
        Some(&HealthState::Online)
    );
    sim.shutdown().await.expect("shutdown");
}
