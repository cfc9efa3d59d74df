//! firmware-sim's fault scenarios through the default rules, offline: each machine's
//! temperature, velocity RMS and acceleration peak are read off the simulated plant once a
//! (plant) second, as the agent would poll them, and run through the default rules with the
//! sensor kinds the agent would give them. The first alert at or after a fault's start, on the
//! faulted machine, is its detection; its delay is measured against the simulator's ground
//! truth (the fault's start). A sample the sensor does not deliver (a dropout) is not sent.

use std::path::Path;

use edge_rules::lang::{RuleSet, SensorKind, SensorRunner};
use edge_rules::AlertState;
use firmware_sim::{Plant, Scenario, Signal};

/// The scenarios with a fault the rules are meant to see.
pub const SCENARIOS: [&str; 6] = [
    "bearing_wear.toml",
    "imbalance.toml",
    "overheating.toml",
    "sensor_dropout.toml",
    "stuck_sensor.toml",
    "spikes.toml",
];

/// The signals read of each machine, with the kind the rules see them as.
const SIGNALS: [(Signal, &str, SensorKind); 3] = [
    (Signal::Temperature, "temperature", SensorKind::Temperature),
    (
        Signal::VelocityRms,
        "velocity_rms",
        SensorKind::VibrationVelocity,
    ),
    (Signal::AccelPeak, "accel_peak", SensorKind::Acceleration),
];

/// The first detection of one scenario's first fault.
#[derive(Debug, Clone)]
pub struct Detection {
    pub scenario: String,
    pub fault: String,
    pub machine: String,
    /// Plant seconds from the fault's start to the first alert on its machine.
    pub delay_s: Option<f64>,
    /// Which sensor and rule raised first.
    pub first: Option<(String, String)>,
    /// Alerts raised on any machine before the fault started (false alarms).
    pub raised_before: usize,
}

/// Runs `file` (in firmware-sim's scenarios folder `dir`) through `rules`.
pub fn detect(dir: &Path, file: &str, rules: &RuleSet) -> anyhow::Result<Detection> {
    let scenario = Scenario::load(dir.join(file))?;
    let duration = scenario
        .scenario
        .duration
        .map(|d| d.secs())
        .unwrap_or(7200.0);
    let machines: Vec<String> = scenario.machines.iter().map(|m| m.id.clone()).collect();
    let plant = Plant::from_scenario(scenario, None);
    let interval = plant
        .fault_intervals()
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("{file} has no fault"))?;
    let faulted = interval.machine.clone().unwrap_or_default();
    let mut detection = Detection {
        scenario: file.trim_end_matches(".toml").to_string(),
        fault: interval.fault.to_string(),
        machine: faulted.clone(),
        delay_s: None,
        first: None,
        raised_before: 0,
    };
    for machine in &machines {
        for (signal, name, kind) in SIGNALS {
            let sensor = format!("{machine}.{name}");
            let plan = rules.plan(&sensor, Some(kind))?;
            let mut runner = SensorRunner::new(&plan).map_err(|e| anyhow::anyhow!("{e:?}"))?;
            let mut t = 0.0;
            while t < duration {
                let Some(Ok(value)) = plant.reading(machine, signal, t) else {
                    t += 1.0;
                    continue; // a dropout: nothing arrives
                };
                let mut raised = Vec::new();
                let _ = runner.process((t * 1000.0) as i64, value, &mut |tr| {
                    if tr.state == AlertState::Raised {
                        raised.push(plan.rules[tr.rule].name.clone());
                    }
                });
                for rule in raised {
                    if t < interval.start_s {
                        detection.raised_before += 1;
                    } else if *machine == faulted {
                        let delay = t - interval.start_s;
                        if detection.delay_s.is_none_or(|d| delay < d) {
                            detection.delay_s = Some(delay);
                            detection.first = Some((sensor.clone(), rule));
                        }
                    }
                }
                t += 1.0;
            }
        }
    }
    Ok(detection)
}

/// firmware-sim's scenarios folder beside this crate.
pub fn scenarios_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware-sim/scenarios")
}
