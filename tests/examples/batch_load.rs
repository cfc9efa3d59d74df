//! Messages and bytes a second at the MQTT broker, with the agent's readings batched and not
//! (issue 10, "fewer, fuller messages"): a documented harness, not a test.
//!
//! ```sh
//! cargo run -p e2e-tests --example batch_load                       # 20 devices × 100 registers @ 10 Hz
//! cargo run -p e2e-tests --example batch_load -- --devices 20 --registers 100 --interval-ms 100 --seconds 30
//! ```
//!
//! firmware-sim serves `--devices` Modbus TCP units of `--registers` input registers each (the
//! plant's temperature, velocity, load, speed and run hours in turn, 16 bits each), in this
//! process. The release `edge-agent run` (built with `cargo build --release -p edge-agent
//! --features bridge`, in `CARGO_TARGET_DIR` when set) polls every unit's registers in one
//! request every `--interval-ms` and publishes to a local Mosquitto (`sys_interval 1`), first
//! with `[mqtt.batch] readings = false` (a message per reading, as before batching), then with
//! the default (a message per poll cycle of a device). Each phase runs `--warm-up` seconds, then
//! `--seconds` measured: Mosquitto's own counters `$SYS/broker/publish/messages/received` and
//! `$SYS/broker/bytes/received` (every packet's bytes, headers included) over the window, the
//! agent's CPU and RSS from /proc, then for two seconds a subscriber counts the events per
//! message, and last the spool's backlog left when the agent stopped (a backlog means it did
//! not keep up). Everything talks to 127.0.0.1.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use e2e_tests::bench::{cpu_and_rss, numeric_flags, release_edge_agent};
use e2e_tests::mosquitto::{running_as_root, Mosquitto};
use e2e_tests::mqtt_subscriber::Subscriber;
use e2e_tests::service::Service;
use firmware_sim::{Plant, Scenario, SimClock, Simulator};

/// The plant's signals, one per register in turn: (signal, register type, scale).
const SIGNALS: [(&str, &str, f64); 5] = [
    ("temperature", "i16", 0.01),
    ("velocity_rms", "u16", 0.001),
    ("load_pct", "u16", 0.01),
    ("speed_rpm", "u16", 0.1),
    ("run_hours", "u16", 0.001),
];

fn scenario(devices: u64, registers: u64) -> String {
    let mut s = String::from("[scenario]\nname = \"batch-load\"\nseed = 3\nspeed = 1.0\n");
    for m in 0..devices {
        s += &format!(
            "[[machines]]\nid = \"m{m}\"\nload = {{ base = 0.7, swing = 0.2, period = \"{}s\" }}\n",
            40 + m
        );
    }
    s += "[[devices]]\nid = \"gateway\"\nkind = \"modbus_tcp\"\n";
    for unit in 1..=devices {
        s += &format!(
            "[[devices.units]]\nunit_id = {unit}\nmachine = \"m{}\"\nregisters = [\n",
            unit - 1
        );
        for address in 0..registers {
            let (signal, kind, scale) = SIGNALS[address as usize % SIGNALS.len()];
            s += &format!("  {{ table = \"input\", address = {address}, signal = \"{signal}\", type = \"{kind}\", scale = {scale} }},\n");
        }
        s += "]\n";
    }
    s
}

fn agent_config(
    modbus: &str,
    mqtt_port: u16,
    data_dir: &Path,
    flags: &BTreeMap<&str, u64>,
    batch: bool,
) -> String {
    let mut s = format!(
        "[agent]\ngateway = \"bench\"\ndata_dir = \"{}\"\nforward_readings = true\n\n\
         [mqtt]\nhost = \"127.0.0.1\"\nport = {mqtt_port}\nclient_id = \"bench-agent\"\n\
         [mqtt.batch]\nreadings = {batch}\n",
        data_dir.display()
    );
    for unit in 1..=flags["devices"] {
        s += &format!(
            "\n[[device]]\nid = \"d{unit:02}\"\ntransport = \"tcp\"\naddress = \"{modbus}\"\nunit = {unit}\n\
             [[device.poll]]\ninterval = \"{}ms\"\n",
            flags["interval-ms"]
        );
        for address in 0..flags["registers"] {
            let (signal, kind, scale) = SIGNALS[address as usize % SIGNALS.len()];
            s += &format!(
                "[[device.poll.register]]\nsensor = \"m{unit:02}.{signal}.{address}\"\ntable = \"input\"\n\
                 address = {address}\ntype = \"{kind}\"\nscale = {scale}\n"
            );
        }
    }
    s
}

/// The last value Mosquitto published on a `$SYS` counter topic.
fn counter(sys: &Subscriber, topic: &str) -> Option<u64> {
    sys.received()
        .iter()
        .rev()
        .find(|m| m.topic == topic)
        .and_then(|m| std::str::from_utf8(&m.payload).ok()?.trim().parse().ok())
}

/// Waits for the next update of both counters (published every second) and returns them
/// with the instant they were seen.
async fn sample(sys: &Subscriber) -> Result<(Instant, u64, u64)> {
    const MESSAGES: &str = "$SYS/broker/publish/messages/received";
    const BYTES: &str = "$SYS/broker/bytes/received";
    let before = counter(sys, BYTES);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let (Some(bytes), Some(messages)) = (counter(sys, BYTES), counter(sys, MESSAGES)) {
            if Some(bytes) != before {
                return Ok((Instant::now(), messages, bytes));
            }
        }
        if Instant::now() > deadline {
            bail!("Mosquitto published no $SYS counters");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

struct Phase {
    messages_per_s: f64,
    bytes_per_s: f64,
    cpu_pct: f64,
    rss_kib: u64,
    backlog: u64,
    per_message: f64,
    largest: usize,
    agent_messages_per_s: f64,
    agent_records_per_s: f64,
}

/// The agent's own count of MQTT messages and of the records in them, from its metrics
/// (the HTTP listener's default address).
fn agent_counters() -> (f64, f64) {
    use std::io::{Read, Write};
    let mut text = String::new();
    if let Ok(mut stream) = std::net::TcpStream::connect("127.0.0.1:9180") {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
        let _ = stream.read_to_string(&mut text);
    }
    let value = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (
        value("edge_agent_mqtt_messages_total"),
        value("edge_agent_mqtt_published_total"),
    )
}

async fn phase(
    binary: &Path,
    dir: &Path,
    modbus: &str,
    mosquitto: &Mosquitto,
    sys: &Subscriber,
    flags: &BTreeMap<&str, u64>,
    batch: bool,
) -> Result<Phase> {
    let name = if batch { "batched" } else { "single" };
    let data_dir = dir.join(name);
    std::fs::create_dir_all(&data_dir)?;
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        agent_config(modbus, mosquitto.port(), &data_dir, flags, batch),
    )?;
    let log = dir.join(format!("{name}.log"));
    let agent = Service::start(
        binary,
        ["run".as_ref(), "--config".as_ref(), config.as_os_str()],
        &log,
    )?;
    eprintln!("batch_load: {name}: warming up {} s", flags["warm-up"]);
    tokio::time::sleep(Duration::from_secs(flags["warm-up"])).await;
    let (t0, m0, b0) = sample(sys).await?;
    let (cpu0, _) = cpu_and_rss(agent.pid());
    let sent0 = agent_counters();
    eprintln!("batch_load: {name}: measuring {} s", flags["seconds"]);
    tokio::time::sleep(Duration::from_secs(flags["seconds"])).await;
    let (t1, m1, b1) = sample(sys).await?;
    let (cpu1, rss_kib) = cpu_and_rss(agent.pid());
    let sent1 = agent_counters();
    let window = t1.duration_since(t0).as_secs_f64();
    // What the messages carry: a subscriber to the readings, for two seconds.
    let watch = Subscriber::connect(mosquitto.port(), "batch-load-watch", "edge/+/#", true).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let seen = watch.received();
    let events: usize = seen.iter().map(|m| m.seqs().len()).sum();
    let per_message = events as f64 / seen.len().max(1) as f64;
    let largest = seen.iter().map(|m| m.seqs().len()).max().unwrap_or(0);
    let mut kinds: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for m in &seen {
        let kind = m.topic.split('/').nth(2).unwrap_or("?").to_owned();
        let entry = kinds.entry(kind).or_default();
        entry.0 += 1;
        entry.1 += m.seqs().len();
    }
    eprintln!("batch_load: {name}: messages (and events) by topic kind in 2 s: {kinds:?}");
    agent.terminate()?;
    let report = edge_agent::spool::inspect(&edge_agent::spool::dir_in(&data_dir))
        .with_context(|| format!("inspecting the spool of the {name} run"))?;
    Ok(Phase {
        messages_per_s: (m1 - m0) as f64 / window,
        bytes_per_s: (b1 - b0) as f64 / window,
        cpu_pct: (cpu1 - cpu0) / window * 100.0,
        rss_kib,
        backlog: report.stats.pending.total(),
        per_message,
        largest,
        agent_messages_per_s: (sent1.0 - sent0.0) / window,
        agent_records_per_s: (sent1.1 - sent0.1) / window,
    })
}

fn main() -> Result<()> {
    let flags = numeric_flags(&[
        ("devices", 20),
        ("registers", 100),
        ("interval-ms", 100),
        ("seconds", 30),
        ("warm-up", 10),
    ])?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(run(flags))
}

async fn run(flags: BTreeMap<&'static str, u64>) -> Result<()> {
    anyhow::ensure!(
        flags["registers"] <= 125,
        "--registers: one Modbus request reads at most 125"
    );
    let binary = release_edge_agent("bridge")?;
    let dir = tempfile::tempdir()?;
    let scenario = Scenario::from_toml_str(&scenario(flags["devices"], flags["registers"]))
        .context("the load scenario")?;
    let mut sim = Simulator::new(Plant::from_scenario(scenario, None), SimClock::scaled(1.0));
    let modbus = sim
        .start_modbus_tcp("gateway", "127.0.0.1:0".parse()?)
        .await?
        .to_string();
    let mosquitto = Mosquitto::start_custom(false, |dir, port, _| {
        Ok(format!(
            "per_listener_settings false\nallow_anonymous true\nsys_interval 1\n\
             log_dest file {}\n{}listener {port} 127.0.0.1\n",
            dir.join("mosquitto.log").display(),
            if running_as_root() { "user root\n" } else { "" },
        ))
    })
    .await?;
    let sys =
        Subscriber::connect(mosquitto.port(), "batch-load-sys", "$SYS/broker/#", true).await?;
    let readings = flags["devices"] * flags["registers"] * 1000 / flags["interval-ms"];
    println!(
        "load: {} devices × {} registers every {} ms = {readings} readings/s",
        flags["devices"], flags["registers"], flags["interval-ms"]
    );
    for batch in [false, true] {
        let p = phase(
            &binary,
            dir.path(),
            &modbus,
            &mosquitto,
            &sys,
            &flags,
            batch,
        )
        .await?;
        println!(
            "{}: {:.0} messages/s, {:.0} bytes/s ({:.2} MB/s) at the broker; the agent's count: {:.0} messages/s carrying {:.0} events/s; {:.1} events a message in a 2 s sample (at most {}); agent CPU {:.0} % of a core, RSS {} KiB; backlog left in the spool {}",
            if batch { "batched (default)" } else { "one message per reading" },
            p.messages_per_s,
            p.bytes_per_s,
            p.bytes_per_s / 1e6,
            p.agent_messages_per_s,
            p.agent_records_per_s,
            p.per_message,
            p.largest,
            p.cpu_pct,
            p.rss_kib,
            p.backlog
        );
    }
    sim.shutdown().await?;
    Ok(())
}
