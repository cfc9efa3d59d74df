//! `firmware-sim`: runs a scenario's devices until Ctrl-C, SIGTERM or the scenario's end.

use std::{collections::HashMap, net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::{bail, Context, Result};
use clap::Parser;
use firmware_sim::{scenario::DeviceConfig, Plant, Scenario, SimClock, Simulator, StartOptions};
use tracing_subscriber::EnvFilter;

/// Simulated vibration and temperature devices speaking Modbus TCP, Modbus RTU and serial
/// framing, with scripted faults and ground truth.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Scenario file (TOML).
    #[arg(long)]
    scenario: PathBuf,
    /// Seed of every random quantity [default: the scenario's].
    #[arg(long)]
    seed: Option<u64>,
    /// Plant seconds per wall second [default: the scenario's].
    #[arg(long)]
    speed: Option<f64>,
    /// Listen address of a Modbus TCP device: `ADDR`, or `DEVICE=ADDR` when there are several.
    #[arg(long = "modbus-tcp", value_name = "[DEVICE=]ADDR")]
    modbus_tcp: Vec<String>,
    /// Symlink to the RTU bus's pseudo-terminal: `PATH`, or `DEVICE=PATH`.
    #[arg(long = "rtu-link", value_name = "[DEVICE=]PATH")]
    rtu_link: Vec<String>,
    /// Symlink to a serial sensor's pseudo-terminal: `PATH`, or `DEVICE=PATH`.
    #[arg(long = "serial-link", value_name = "[DEVICE=]PATH")]
    serial_link: Vec<String>,
    /// Ground-truth file: fault intervals as JSON lines.
    #[arg(long)]
    truth: Option<PathBuf>,
    /// Stop after this much plant time (e.g. `2h`) [default: the scenario's, or never].
    #[arg(long)]
    duration: Option<String>,
}

/// Splits `DEVICE=VALUE`, or gives `VALUE` to the only device of the accepted kinds.
fn assign(arg: &str, scenario: &Scenario, flag: &str, kinds: &[&str]) -> Result<(String, String)> {
    let candidates: Vec<&str> = scenario
        .devices
        .iter()
        .filter(|d| kinds.contains(&d.kind_name()))
        .map(DeviceConfig::id)
        .collect();
    if let Some((device, value)) = arg.split_once('=') {
        if !candidates.contains(&device) {
            bail!(
                "{flag} {arg}: no {} device {device:?} in the scenario",
                kinds.join(" or ")
            );
        }
        return Ok((device.to_owned(), value.to_owned()));
    }
    match candidates.as_slice() {
        [only] => Ok(((*only).to_owned(), arg.to_owned())),
        [] => bail!("{flag}: the scenario has no {} device", kinds.join(" or ")),
        several => bail!(
            "{flag}: several devices could be meant ({}); write DEVICE={arg}",
            several.join(", ")
        ),
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let scenario = Scenario::load(&cli.scenario)?;
    let speed = cli.speed.unwrap_or(scenario.scenario.speed);
    if !(speed.is_finite() && speed > 0.0) {
        bail!("--speed must be a positive number");
    }
    let duration = match &cli.duration {
        Some(text) => {
            Some(firmware_sim::scenario::Duration::parse(text).map_err(anyhow::Error::msg)?)
        }
        None => scenario.scenario.duration,
    };
    let mut options = StartOptions::default();
    for arg in &cli.modbus_tcp {
        let (device, addr) = assign(arg, &scenario, "--modbus-tcp", &["modbus_tcp"])?;
        let addr: SocketAddr = addr
            .parse()
            .with_context(|| format!("--modbus-tcp {arg}: not an address"))?;
        options.tcp.insert(device, addr);
    }
    let mut links = HashMap::new();
    for arg in &cli.rtu_link {
        links.insert(assign(arg, &scenario, "--rtu-link", &["modbus_rtu"])?, ());
    }
    for arg in &cli.serial_link {
        links.insert(
            assign(
                arg,
                &scenario,
                "--serial-link",
                &["accel_stream", "text_line"],
            )?,
            (),
        );
    }
    options.links = links
        .into_keys()
        .map(|(d, p)| (d, PathBuf::from(p)))
        .collect();

    let name = scenario.scenario.name.clone();
    let plant = Plant::from_scenario(scenario, cli.seed);
    println!(
        "firmware-sim: scenario {name}, seed {}, speed {speed}x",
        plant.seed()
    );
    let mut sim = Simulator::new(plant, SimClock::scaled(speed));
    if let Some(path) = &cli.truth {
        sim.write_truth(path)?;
    }
    for endpoint in sim.start_all(&options).await? {
        println!("{endpoint}");
    }
    println!("ready");

    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot watch SIGTERM")?;
    let end = async {
        match duration {
            Some(d) => tokio::time::sleep(Duration::from_secs_f64(d.secs() / speed)).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("cannot watch Ctrl-C")?,
        _ = sigterm.recv() => {}
        () = end => {}
    }
    tracing::info!("stopping");
    sim.shutdown().await?;
    println!("stopped");
    Ok(())
}
