//! Prints a machine's true condition and readings over plant time as CSV, without starting
//! any device: a quick way to see what a scenario does.
//!
//! ```text
//! cargo run -p firmware-sim --example signals -- scenarios/demo.toml motor-1 60 [until_s]
//! ```

use std::io::Write;

use anyhow::{Context, Result};
use firmware_sim::{Plant, Scenario, Signal};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let file = args
        .first()
        .context("usage: signals SCENARIO MACHINE [STEP_S] [UNTIL_S]")?;
    let machine = args
        .get(1)
        .context("usage: signals SCENARIO MACHINE [STEP_S] [UNTIL_S]")?;
    let step: f64 = args
        .get(2)
        .map_or(Ok(60.0), |s| s.parse())
        .context("STEP_S")?;
    let scenario = Scenario::load(file)?;
    let until: f64 = match args.get(3) {
        Some(s) => s.parse().context("UNTIL_S")?,
        None => scenario.scenario.duration.map_or(7200.0, |d| d.secs()),
    };
    let plant = Plant::from_scenario(scenario, None);
    let mut out = std::io::stdout().lock();
    writeln!(out, "plant_s,load,temperature_c,velocity_rms_mm_s,zone,accel_peak_g,accel_rms_g,status,temperature_reading")?;
    let mut t = 0.0;
    while t <= until {
        let c = plant.condition(machine, t).context("no such machine")?;
        let status = plant
            .reading(machine, Signal::Status, t)
            .and_then(Result::ok)
            .unwrap_or(f64::NAN);
        let reading = match plant.reading(machine, Signal::Temperature, t) {
            Some(Ok(v)) => format!("{v:.2}"),
            _ => "dropout".to_owned(),
        };
        // A closed pipe (`| head`) ends the listing quietly.
        if writeln!(
            out,
            "{t},{:.3},{:.2},{:.3},{:?},{:.3},{:.4},{status},{reading}",
            c.load, c.temperature_c, c.velocity_rms_mm_s, c.zone, c.accel_peak_g, c.accel_rms_g
        )
        .is_err()
        {
            return Ok(());
        }
        t += step;
    }
    Ok(())
}
