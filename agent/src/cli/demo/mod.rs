//! `edge-agent demo`: the main job in one command, with nothing else installed.
//!
//! In one process: firmware-sim's demo plant (a motor, a pump and a fan behind a Modbus TCP
//! gateway, an RTU bus on a pseudo-terminal, a serial accelerometer and a text-line probe), an
//! embedded MQTT broker (rumqttd, on a thread of its own; `--mqtt URL` uses a real one
//! instead), and the agent itself with the shipped rules, its status page and metrics. The
//! terminal gets a short human summary (see [`summary`]); the logs stay at warnings.
//!
//! Everything listens on 127.0.0.1. The demo's data (spool, config, rules) lives in a fresh
//! directory under the system's temp dir, printed at start and kept at the end.

mod broker;
mod plant_clock;
#[cfg(test)]
mod story;
mod summary;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use std::sync::Arc;

use edge_agent::observe::Observer;
use edge_agent::stats::AgentStats;
use firmware_sim::{Address, Plant, Scenario, SimClock, Simulator, StartOptions};
use plant_clock::PlantClock;

const SCENARIO: &str = include_str!("../../../../firmware-sim/scenarios/demo.toml");
const CONFIG_TEMPLATE: &str = include_str!("../../../../deploy/demo/agent.toml.in");
/// The shipped rule files (the default rules are built into the agent).
const RULE_FILES: [(&str, &str); 2] = [
    ("motor.toml", include_str!("../../../../rules/motor.toml")),
    ("pump.toml", include_str!("../../../../rules/pump.toml")),
];

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Stop after this many seconds [default: run until Ctrl-C].
    #[arg(long)]
    seconds: Option<u64>,
    /// Send to this MQTT broker (`mqtt://HOST[:PORT]`) instead of the embedded one.
    #[arg(long, value_name = "URL")]
    mqtt: Option<String>,
    /// Where the status page listens; a free port is taken if this one is busy.
    #[arg(long, default_value = edge_agent::http::DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// The demo's data directory [default: a new one under the temp dir].
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

pub fn run(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let runtime = super::agent_runtime()?;
    runtime.block_on(demo(args))?;
    Ok(ExitCode::SUCCESS)
}

/// Where the simulator's devices came up.
struct PlantAddresses {
    tcp: SocketAddr,
    rtu: PathBuf,
    accel: PathBuf,
    probe: PathBuf,
}

async fn start_plant() -> anyhow::Result<(Simulator, PlantAddresses)> {
    let scenario = Scenario::from_toml_str(SCENARIO).context("the demo scenario")?;
    let speed = scenario.scenario.speed;
    let mut sim = Simulator::new(
        Plant::from_scenario(scenario, None),
        SimClock::scaled(speed),
    );
    let endpoints = sim.start_all(&StartOptions::default()).await?.to_vec();
    let find = |device: &str| {
        endpoints
            .iter()
            .find(|e| e.device == device)
            .map(|e| e.address.clone())
            .with_context(|| format!("the demo plant has no device {device}"))
    };
    let pty = |device: &str| match find(device)? {
        Address::Pty { path, .. } => Ok(path),
        Address::Tcp(_) => bail!("{device} is not a serial device"),
    };
    let Address::Tcp(tcp) = find("gateway")? else {
        bail!("the demo's gateway is not a TCP device");
    };
    let addresses = PlantAddresses {
        tcp,
        rtu: pty("rtu-bus")?,
        accel: pty("accel-motor")?,
        probe: pty("temp-pump")?,
    };
    Ok((sim, addresses))
}

/// `listen` if it is free, else a free port on the same address.
fn free_listen(listen: SocketAddr) -> anyhow::Result<SocketAddr> {
    match TcpListener::bind(listen) {
        Ok(probe) => Ok(probe.local_addr()?),
        Err(_) => Ok(TcpListener::bind(SocketAddr::new(listen.ip(), 0))?.local_addr()?),
    }
}

/// `mqtt://HOST[:PORT]` (or `HOST[:PORT]`) as (host, port).
fn parse_mqtt_url(url: &str) -> anyhow::Result<(String, u16)> {
    let rest = url.strip_prefix("mqtt://").unwrap_or(url);
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.contains('/') {
        bail!("--mqtt {url}: expected mqtt://HOST[:PORT]");
    }
    match rest.rsplit_once(':') {
        Some((host, port)) if !host.contains(']') || host.ends_with(']') => {
            let port = port
                .parse()
                .with_context(|| format!("--mqtt {url}: bad port"))?;
            Ok((host.trim_matches(['[', ']']).to_owned(), port))
        }
        _ => Ok((rest.to_owned(), 1883)),
    }
}

fn config_text(
    plant: &PlantAddresses,
    data: &Path,
    rules: &Path,
    listen: SocketAddr,
    (host, port): (&str, u16),
) -> String {
    let mut text = CONFIG_TEMPLATE
        .replace("@TCP@", &plant.tcp.to_string())
        .replace("@RTU@", &plant.rtu.display().to_string())
        .replace("@DATA@", &data.display().to_string())
        .replace("@ACCEL@", &plant.accel.display().to_string())
        .replace("@PROBE@", &plant.probe.display().to_string())
        .replace("@RULES@", &rules.display().to_string());
    text.push_str(&format!(
        "\n[http]\nlisten = \"{listen}\"\n\n[mqtt]\nhost = \"{host}\"\nport = {port}\nclient_id = \"edge-agent-demo\"\nreconnect_max = \"2s\"\n"
    ));
    text
}

/// The shipped rule files, into `dir` (made if missing).
fn write_rules(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    for (name, text) in RULE_FILES {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
    }
    Ok(())
}

async fn demo(args: &DemoArgs) -> anyhow::Result<()> {
    let work = match &args.data_dir {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!(
            "edge-agent-demo-{}-{}",
            std::process::id(),
            edge_agent::sources::now_ms()
        )),
    };
    let rules = work.join("rules");
    write_rules(&rules)?;

    let (sim, plant) = start_plant().await?;
    let plant_clock = PlantClock::of(sim.clock());
    let speed = sim.clock().speed().unwrap_or(1.0);
    let (broker_note, mqtt) = match &args.mqtt {
        Some(url) => {
            let (host, port) = parse_mqtt_url(url)?;
            (format!("the broker at {host}:{port}"), (host, port))
        }
        None => {
            let addr = broker::start().context("the embedded MQTT broker")?;
            (
                format!("an embedded MQTT broker on {addr}"),
                (addr.ip().to_string(), addr.port()),
            )
        }
    };
    let listen = free_listen(args.listen)?;
    let text = config_text(
        &plant,
        &work.join("data"),
        &rules,
        listen,
        (&mqtt.0, mqtt.1),
    );
    std::fs::write(work.join("agent.toml"), &text)?;
    let config = edge_agent::config::parse("the demo's agent.toml", &text).map_err(|found| {
        let lines: Vec<String> = found.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("the demo config is invalid:\n{}", lines.join("\n"))
    })?;
    let config = super::allocator::settle(config);

    println!("edge-agent demo: firmware-sim's plant (motor1, pump1, fan1) -> the agent with the shipped rules -> {broker_note}");
    println!("  status page  http://{listen}/");
    println!("  metrics      http://{listen}/metrics");
    println!("  data         {}", work.display());
    println!("The motor's bearing starts to fail 10 s in (plant time 0:05; the plant runs {speed}x): the agent flags");
    println!("the change in its vibration, then raises ISO 10816 zone C, then zone D, within about two minutes.");
    println!(
        "Each line: the time, seconds since the start (t+) and the plant's time (hours:minutes)."
    );
    match args.seconds {
        Some(s) => println!("Stopping after {s} s (Ctrl-C stops earlier).\n"),
        None => println!("Ctrl-C stops.\n"),
    }

    let shutdown = super::cancel_on_signal()?;
    if let Some(seconds) = args.seconds {
        let stop = shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(seconds)).await;
            stop.cancel();
        });
    }
    let stats = Arc::new(AgentStats::default());
    let observer = Observer::new(&config.gateway, Arc::clone(&stats));
    let terminal = tokio::spawn(summary::run(observer, plant_clock, shutdown.clone()));
    let result = super::run::run_observed(config, shutdown, stats, None).await;
    let raised = terminal.await.unwrap_or(0);
    if let Err(e) = sim.shutdown().await {
        tracing::warn!(error = %e, "the demo plant did not stop cleanly");
    }
    result?;
    println!(
        "\nedge-agent demo: {raised} alert(s) raised. The spool and config are kept in {}",
        work.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mqtt_urls_give_host_and_port() {
        assert_eq!(
            parse_mqtt_url("mqtt://127.0.0.1:1884").expect("valid"),
            ("127.0.0.1".to_owned(), 1884)
        );
        assert_eq!(
            parse_mqtt_url("broker.local").expect("valid"),
            ("broker.local".to_owned(), 1883)
        );
        assert!(parse_mqtt_url("mqtt://host:port").is_err());
        assert!(parse_mqtt_url("mqtt://host/topic").is_err());
    }

    #[tokio::test]
    async fn the_demo_config_is_valid_with_the_shipped_rules() {
        let plant = PlantAddresses {
            tcp: "127.0.0.1:5020".parse().expect("addr"),
            rtu: "/dev/pts/90".into(),
            accel: "/dev/pts/91".into(),
            probe: "/dev/pts/92".into(),
        };
        let dir = std::env::temp_dir();
        let listen = "127.0.0.1:0".parse().expect("addr");
        let text = config_text(&plant, &dir, &dir, listen, ("127.0.0.1", 1883));
        let config = edge_agent::config::parse("demo", &text).expect("valid");
        assert_eq!(config.http.listen, listen);
        for (name, text) in RULE_FILES {
            edge_rules::lang::parse_rule_file(name, text).expect("shipped rules are valid");
        }
    }
}
