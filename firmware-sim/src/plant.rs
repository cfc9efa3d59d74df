//! The plant: machines, their physics and the fault timeline, as pure functions of plant
//! time.
//!
//! [`Plant`] answers "what does this sensor read at plant time `t`?" It keeps no clock and no
//! random state: with the same scenario and seed every answer is the same, whatever order
//! the questions come in (caches only memoise). Devices ask it; tests ask it directly.
//!
//! Sensor faults are applied here, between the true value and the reading:
//! `dropout` makes the reading an error, `stuck` evaluates the true value at the time the
//! fault began, `spikes` multiplies the readings of isolated plant seconds by `factor`.

use std::{collections::HashMap, sync::Mutex};

use crate::{
    physics::{
        self,
        iso10816::Zone,
        noise,
        thermal::ThermalCache,
        vibration,
        vibration::{AccelFeatures, VibrationParams},
        MachineEffects,
    },
    scenario::{MachineConfig, Scenario},
    signal::{Sensor, Signal},
    timeline::{Effect, FaultInterval, Timeline},
};

/// Bits of the `status` register.
pub mod status {
    /// The machine runs.
    pub const RUNNING: u16 = 1 << 0;
    /// Velocity RMS in ISO zone C or D.
    pub const WARNING: u16 = 1 << 1;
    /// Velocity RMS in ISO zone D.
    pub const ALARM: u16 = 1 << 2;
    /// Temperature at or above the machine's `alarm_c`.
    pub const OVERTEMP: u16 = 1 << 3;
    /// A sensor of the machine has dropped out.
    pub const SENSOR_FAULT: u16 = 1 << 4;
}

/// Sample rate of the window that acceleration peak and RMS are measured on.
const FEATURE_RATE_HZ: f64 = 3200.0;

/// A reading that could not be taken because the sensor has dropped out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{} sensor has dropped out", .0.name())]
pub struct SensorDropout(pub Sensor);

/// The true state of a machine at one moment (before sensor faults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Condition {
    /// Load fraction.
    pub load: f64,
    /// Temperature, °C.
    pub temperature_c: f64,
    /// Velocity RMS 10–1000 Hz, mm/s.
    pub velocity_rms_mm_s: f64,
    /// ISO 10816 zone of the velocity RMS.
    pub zone: Zone,
    /// Acceleration peak over the plant second containing `t`, g.
    pub accel_peak_g: f64,
    /// Acceleration RMS over the plant second containing `t`, g.
    pub accel_rms_g: f64,
    /// The vibration components.
    pub vibration: VibrationParams,
    /// The machine faults' summed effects.
    pub effects: MachineEffects,
}

#[derive(Debug)]
struct MachineState {
    key: u64,
    thermal: Mutex<ThermalCache>,
    features: Mutex<Option<(i64, AccelFeatures)>>,
}

/// The simulated plant. Share it as `Arc<Plant>`; every method takes `&self`.
#[derive(Debug)]
pub struct Plant {
    scenario: Scenario,
    seed: u64,
    timeline: Timeline,
    index: HashMap<String, usize>,
    machines: Vec<MachineState>,
}

impl Plant {
    /// A plant from a validated scenario; `seed` overrides the scenario's seed.
    pub fn from_scenario(scenario: Scenario, seed: Option<u64>) -> Self {
        let seed = seed.unwrap_or(scenario.scenario.seed);
        let timeline = Timeline::new(&scenario);
        let index = scenario
            .machines
            .iter()
            .enumerate()
            .map(|(i, m)| (m.id.clone(), i))
            .collect();
        let machines = scenario
            .machines
            .iter()
            .map(|m| MachineState {
                key: noise::key(seed, &["machine", &m.id]),
                thermal: Mutex::new(ThermalCache::default()),
                features: Mutex::new(None),
            })
            .collect();
        Self {
            scenario,
            seed,
            timeline,
            index,
            machines,
        }
    }

    /// The seed in use.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The scenario.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// Every scheduled fault interval, in scenario order.
    pub fn fault_intervals(&self) -> Vec<FaultInterval> {
        self.timeline.intervals().cloned().collect()
    }

    pub(crate) fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    pub(crate) fn machine_index(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    fn config(&self, m: usize) -> &MachineConfig {
        &self.scenario.machines[m]
    }

    /// The true condition of `machine` at plant time `t`; `None` for an unknown machine.
    pub fn condition(&self, machine: &str, t: f64) -> Option<Condition> {
        let m = self.machine_index(machine)?;
        let effects = self.timeline.machine_effects(machine, t);
        let vibration = physics::vibration(self.config(m), t, &effects);
        let velocity = vibration.velocity_rms_mm_s();
        let features = self.features(m, t);
        Some(Condition {
            load: physics::load(self.config(m), t),
            temperature_c: self.temperature(m, t),
            velocity_rms_mm_s: velocity,
            zone: self.config(m).iso_class.zone(velocity),
            accel_peak_g: features.peak_g,
            accel_rms_g: features.rms_g,
            vibration,
            effects,
        })
    }

    /// What `signal` of `machine` reads at plant time `t`, sensor faults included; `None`
    /// for an unknown machine.
    pub fn reading(
        &self,
        machine: &str,
        signal: Signal,
        t: f64,
    ) -> Option<Result<f64, SensorDropout>> {
        let m = self.machine_index(machine)?;
        Some(self.reading_at(m, signal, t))
    }

    pub(crate) fn reading_at(
        &self,
        m: usize,
        signal: Signal,
        t: f64,
    ) -> Result<f64, SensorDropout> {
        let machine = self.config(m).id.as_str();
        let flag = |on: bool| if on { 1.0 } else { 0.0 };
        match signal {
            Signal::IsoZone => {
                let v = self.reading_at(m, Signal::VelocityRms, t)?;
                Ok(f64::from(self.config(m).iso_class.zone(v).number()))
            }
            Signal::Status => Ok(f64::from(self.status(m, t))),
            Signal::Warning => Ok(flag(self.status(m, t) & status::WARNING != 0)),
            Signal::Alarm => Ok(flag(self.status(m, t) & status::ALARM != 0)),
            Signal::Overtemp => Ok(flag(self.status(m, t) & status::OVERTEMP != 0)),
            Signal::SensorFault => Ok(flag(self.status(m, t) & status::SENSOR_FAULT != 0)),
            _ => {
                let Some(sensor) = signal.sensor() else {
                    return Ok(self.true_value(m, signal, t));
                };
                let mut at = t;
                let mut spikes = Vec::new();
                for f in self.timeline.sensor_faults(machine, sensor, t) {
                    match f.effect {
                        Effect::Dropout => return Err(SensorDropout(sensor)),
                        Effect::Stuck => at = at.min(f.interval.start_s),
                        Effect::Spikes {
                            rate_per_min,
                            factor,
                        } => {
                            spikes.push((f.interval.id, rate_per_min, factor));
                        }
                        _ => {}
                    }
                }
                // A stuck sensor repeats its last reading, scatter and all.
                let truth = self.true_value(m, signal, at);
                let mut value = truth + self.measurement_scatter(machine, signal, truth, at);
                if at == t {
                    let second = t.max(0.0).floor() as u64;
                    for (id, rate, factor) in spikes {
                        let k = noise::key(self.seed, &["spikes", &id.to_string()]);
                        if noise::uniform(k, second) < rate / 60.0 {
                            value *= factor;
                        }
                    }
                }
                Ok(value)
            }
        }
    }

    /// What a real transmitter adds to the physical value: a little Gaussian scatter (0.05 °C
    /// on temperatures, 1 % on velocities), drawn afresh ten times a plant second from the
    /// seed, so that a healthy signal is never perfectly flat, while a stuck sensor (whose
    /// reading is frozen before this is added) still is.
    fn measurement_scatter(&self, machine: &str, signal: Signal, value: f64, t: f64) -> f64 {
        let sigma = match signal {
            Signal::Temperature => 0.05,
            Signal::VelocityRms => 0.01 * value.abs(),
            _ => return 0.0,
        };
        let name = if signal == Signal::Temperature {
            "temperature"
        } else {
            "velocity_rms"
        };
        let key = noise::key(self.seed, &["measurement", machine, name]);
        let sample = (t.max(0.0) * 10.0).floor() as u64;
        sigma * noise::gaussian(key, sample)
    }

    fn status(&self, m: usize, t: f64) -> u16 {
        let cfg = self.config(m);
        let mut word = status::RUNNING;
        match self.reading_at(m, Signal::VelocityRms, t) {
            Ok(v) => {
                let zone = cfg.iso_class.zone(v);
                if zone >= Zone::C {
                    word |= status::WARNING;
                }
                if zone == Zone::D {
                    word |= status::ALARM;
                }
            }
            Err(_) => word |= status::SENSOR_FAULT,
        }
        match self.reading_at(m, Signal::Temperature, t) {
            Ok(temp) if temp >= cfg.thermal.alarm_c => word |= status::OVERTEMP,
            Ok(_) => {}
            Err(_) => word |= status::SENSOR_FAULT,
        }
        word
    }

    fn true_value(&self, m: usize, signal: Signal, t: f64) -> f64 {
        let cfg = self.config(m);
        match signal {
            Signal::Temperature => self.temperature(m, t),
            Signal::VelocityRms => {
                let effects = self.timeline.machine_effects(&cfg.id, t);
                physics::vibration(cfg, t, &effects).velocity_rms_mm_s()
            }
            Signal::AccelPeak => self.features(m, t).peak_g,
            Signal::AccelRms => self.features(m, t).rms_g,
            Signal::SpeedRpm => cfg.rpm,
            Signal::LoadPct => 100.0 * physics::load(cfg, t),
            Signal::RunHours => cfg.run_hours + t.max(0.0) / 3600.0,
            Signal::Running => 1.0,
            // Derived flags and register-held values are not physics; reading_at and the
            // register map handle them.
            _ => 0.0,
        }
    }

    fn temperature(&self, m: usize, t: f64) -> f64 {
        let cfg = self.config(m);
        let target = |s: f64| {
            let effects = self.timeline.machine_effects(&cfg.id, s);
            physics::temperature_target(cfg, s, &effects)
        };
        let mut cache = self.machines[m]
            .thermal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.temperature(t, cfg.thermal.tau.secs(), target)
    }

    /// Acceleration features of the plant second containing `t` (memoised per second).
    fn features(&self, m: usize, t: f64) -> AccelFeatures {
        let second = t.max(0.0).floor() as i64;
        let state = &self.machines[m];
        let mut cache = state
            .features
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((s, f)) = *cache {
            if s == second {
                return f;
            }
        }
        let cfg = self.config(m);
        let effects = self.timeline.machine_effects(&cfg.id, second as f64);
        let params = physics::vibration(cfg, second as f64, &effects);
        let first = second as u64 * FEATURE_RATE_HZ as u64;
        let f = vibration::features(&params, state.key, first, FEATURE_RATE_HZ);
        *cache = Some((second, f));
        f
    }

    /// Three-axis acceleration samples (g, gravity on Y) for a stream at `fs` samples/s:
    /// samples `first..first + count`, taken at plant time `t`, where one sample lasts
    /// `plant_per_sample` plant seconds (for the spike rate).
    pub(crate) fn accel_samples(
        &self,
        m: usize,
        fs: f64,
        first: u64,
        count: usize,
        t: f64,
        plant_per_sample: f64,
    ) -> Result<Vec<[f64; 3]>, SensorDropout> {
        let cfg = self.config(m);
        let key = self.machines[m].key;
        let mut stuck_at = None;
        let mut spikes = Vec::new();
        for f in self.timeline.sensor_faults(&cfg.id, Sensor::Vibration, t) {
            match f.effect {
                Effect::Dropout => return Err(SensorDropout(Sensor::Vibration)),
                Effect::Stuck => stuck_at = Some(f.interval.start_s),
                Effect::Spikes {
                    rate_per_min,
                    factor,
                } => {
                    let k = noise::key(self.seed, &["spikes", &f.interval.id.to_string()]);
                    spikes.push((k, rate_per_min / 60.0 * plant_per_sample, factor));
                }
                _ => {}
            }
        }
        let params_at = |s: f64| {
            let effects = self.timeline.machine_effects(&cfg.id, s);
            physics::vibration(cfg, s, &effects)
        };
        let axes = |p: &VibrationParams, n: u64| {
            [
                p.sample(key, 0, n, fs),
                1.0 + p.sample(key, 1, n, fs),
                p.sample(key, 2, n, fs),
            ]
        };
        if let Some(t0) = stuck_at {
            let frozen = axes(&params_at(t0), (t0.max(0.0) * fs) as u64);
            return Ok(vec![frozen; count]);
        }
        let params = params_at(t);
        Ok((first..first + count as u64)
            .map(|n| {
                let mut s = axes(&params, n);
                for &(k, p, factor) in &spikes {
                    if noise::uniform(k, n) < p {
                        let sign = if noise::uniform(k, !n) < 0.5 {
                            -1.0
                        } else {
                            1.0
                        };
                        s.iter_mut().for_each(|x| *x += sign * factor);
                    }
                }
                s
            })
            .collect())
    }
}
