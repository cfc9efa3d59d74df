//! The fault timeline: which faults are active at a plant time, how severe they are, and the
//! ground-truth intervals they make.
//!
//! Built once from the validated scenario. Fault ids are the positions in `[[faults]]`, so
//! they are stable for a given file. An interval is half-open: active for `start <= t < end`.

use serde::Serialize;

use crate::{
    physics::MachineEffects,
    scenario::{Duration, FaultConfig, RampShape, Scenario},
    signal::Sensor,
};

/// One fault as the ground truth reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultInterval {
    /// Position of the fault in the scenario's `[[faults]]`.
    pub id: usize,
    /// `bearing_wear`, `imbalance`, `overheating`, `stuck`, `dropout`, `spikes`,
    /// `modbus_exception`, `modbus_timeout`, `crc_error` or `garbled`.
    pub fault: &'static str,
    /// The machine affected (for device faults: the unit's machine, or the serial sensor's).
    pub machine: Option<String>,
    /// The sensor affected; `None` for machine faults (all sensors see them) and device faults.
    pub sensor: Option<Sensor>,
    /// The device affected, for communication faults.
    pub device: Option<String>,
    /// The Modbus unit affected, when the fault names one.
    pub unit: Option<u8>,
    /// Start, plant seconds.
    pub start_s: f64,
    /// End, plant seconds; `None` while open-ended.
    pub end_s: Option<f64>,
}

/// What a fault does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Effect {
    Bearing {
        growth: Growth,
        impulse_g: f64,
        bpfo_mm_s: f64,
        noise_gain: f64,
        heat_c: f64,
    },
    Imbalance {
        growth: Growth,
        one_x_mm_s: f64,
    },
    Overheating {
        growth: Growth,
        rise_c: f64,
    },
    Stuck,
    Dropout,
    Spikes {
        rate_per_min: f64,
        factor: f64,
    },
    ModbusException {
        code: u8,
        probability: f64,
    },
    ModbusTimeout {
        probability: f64,
    },
    CrcError {
        probability: f64,
    },
    Garbled {
        probability: f64,
    },
}

/// How a fault's severity grows from its start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Growth {
    ramp_s: f64,
    severity: f64,
    shape: RampShape,
}

impl Growth {
    fn at(self, since_start: f64) -> f64 {
        let x = if self.ramp_s <= 0.0 {
            1.0
        } else {
            (since_start / self.ramp_s).clamp(0.0, 1.0)
        };
        let shaped = match self.shape {
            RampShape::Linear => x,
            RampShape::Exponential => ((4.0 * x).exp() - 1.0) / (4.0f64.exp() - 1.0),
        };
        self.severity * shaped
    }
}

/// A fault of the timeline.
#[derive(Debug, Clone)]
pub(crate) struct Fault {
    pub interval: FaultInterval,
    pub effect: Effect,
}

impl Fault {
    pub fn active_at(&self, t: f64) -> bool {
        t >= self.interval.start_s && self.interval.end_s.is_none_or(|end| t < end)
    }
}

/// All faults of a scenario.
#[derive(Debug, Clone, Default)]
pub(crate) struct Timeline {
    faults: Vec<Fault>,
}

impl Timeline {
    /// Builds the timeline; `scenario` must have been validated.
    pub fn new(scenario: &Scenario) -> Self {
        let faults = scenario
            .faults
            .iter()
            .enumerate()
            .map(|(id, cfg)| build(id, cfg, scenario))
            .collect();
        Self { faults }
    }

    pub fn intervals(&self) -> impl Iterator<Item = &FaultInterval> {
        self.faults.iter().map(|f| &f.interval)
    }

    pub fn active(&self, t: f64) -> impl Iterator<Item = &Fault> {
        self.faults.iter().filter(move |f| f.active_at(t))
    }

    /// Summed machine-fault effects on `machine` at `t`.
    pub fn machine_effects(&self, machine: &str, t: f64) -> MachineEffects {
        let mut e = MachineEffects::default();
        for f in self.active(t) {
            if f.interval.machine.as_deref() != Some(machine) {
                continue;
            }
            let since = t - f.interval.start_s;
            match f.effect {
                Effect::Bearing {
                    growth,
                    impulse_g,
                    bpfo_mm_s,
                    noise_gain,
                    heat_c,
                } => {
                    let s = growth.at(since);
                    e.impulse_g += impulse_g * s;
                    // Velocity at the defect frequency appears late: it grows with s².
                    e.bpfo_mm_s += bpfo_mm_s * s * s;
                    e.noise_gain += noise_gain * s;
                    e.heat_c += heat_c * s;
                }
                Effect::Imbalance { growth, one_x_mm_s } => {
                    e.one_x_mm_s += one_x_mm_s * growth.at(since)
                }
                Effect::Overheating { growth, rise_c } => e.heat_c += rise_c * growth.at(since),
                _ => {}
            }
        }
        e
    }

    /// Active faults on one sensor of one machine.
    pub fn sensor_faults<'a>(
        &'a self,
        machine: &'a str,
        sensor: Sensor,
        t: f64,
    ) -> impl Iterator<Item = &'a Fault> + 'a {
        self.active(t).filter(move |f| {
            f.interval.machine.as_deref() == Some(machine) && f.interval.sensor == Some(sensor)
        })
    }

    /// Active communication faults on a device (and unit, when given).
    pub fn device_faults<'a>(
        &'a self,
        device: &'a str,
        unit: Option<u8>,
        t: f64,
    ) -> impl Iterator<Item = &'a Fault> + 'a {
        self.active(t).filter(move |f| {
            f.interval.device.as_deref() == Some(device)
                && (f.interval.unit.is_none() || unit.is_none() || f.interval.unit == unit)
        })
    }
}

fn build(id: usize, cfg: &FaultConfig, scenario: &Scenario) -> Fault {
    // The machine a device fault concerns: the unit's, or the device's only machine.
    let device_machine = |device: &str, unit: Option<u8>| -> Option<String> {
        let dev = scenario.device(device)?;
        if let Some(unit) = unit {
            let unit = dev.units().iter().find(|u| u.unit_id == unit)?;
            return Some(unit.machine.clone());
        }
        let mut machines = dev.machines();
        machines.dedup();
        (machines.len() == 1).then(|| machines[0].to_owned())
    };
    let growth = |ramp: Duration, severity, shape| Growth {
        ramp_s: ramp.secs(),
        severity,
        shape,
    };
    let machine_fault =
        |machine: &str, effect| (Some(machine.to_owned()), None, None, None, effect);
    let (machine, sensor, device, unit, effect) = match cfg {
        FaultConfig::BearingWear(c) => machine_fault(
            &c.machine,
            Effect::Bearing {
                growth: growth(c.ramp, c.severity, c.shape),
                impulse_g: c.impulse_g,
                bpfo_mm_s: c.bpfo_mm_s,
                noise_gain: c.noise_gain,
                heat_c: c.heat_c,
            },
        ),
        FaultConfig::Imbalance(c) => machine_fault(
            &c.machine,
            Effect::Imbalance {
                growth: growth(c.ramp, c.severity, c.shape),
                one_x_mm_s: c.one_x_mm_s,
            },
        ),
        FaultConfig::Overheating(c) => machine_fault(
            &c.machine,
            Effect::Overheating {
                growth: growth(c.ramp, c.severity, c.shape),
                rise_c: c.rise_c,
            },
        ),
        FaultConfig::Stuck(c) | FaultConfig::Dropout(c) => {
            let effect = if matches!(cfg, FaultConfig::Stuck(_)) {
                Effect::Stuck
            } else {
                Effect::Dropout
            };
            (Some(c.machine.clone()), Some(c.sensor), None, None, effect)
        }
        FaultConfig::Spikes(c) => (
            Some(c.machine.clone()),
            Some(c.sensor),
            None,
            None,
            Effect::Spikes {
                rate_per_min: c.rate_per_min,
                factor: c.factor,
            },
        ),
        FaultConfig::ModbusException(c) => (
            device_machine(&c.device, c.unit),
            None,
            Some(c.device.clone()),
            c.unit,
            Effect::ModbusException {
                code: c.code,
                probability: c.probability,
            },
        ),
        FaultConfig::ModbusTimeout(c) => (
            device_machine(&c.device, c.unit),
            None,
            Some(c.device.clone()),
            c.unit,
            Effect::ModbusTimeout {
                probability: c.probability,
            },
        ),
        FaultConfig::CrcError(c) | FaultConfig::Garbled(c) => {
            let effect = if matches!(cfg, FaultConfig::CrcError(_)) {
                Effect::CrcError {
                    probability: c.probability,
                }
            } else {
                Effect::Garbled {
                    probability: c.probability,
                }
            };
            (
                device_machine(&c.device, None),
                None,
                Some(c.device.clone()),
                None,
                effect,
            )
        }
    };
    let (start, end) = cfg.window();
    Fault {
        interval: FaultInterval {
            id,
            fault: cfg.kind_name(),
            machine,
            sensor,
            device,
            unit,
            start_s: start.secs(),
            end_s: end.map(Duration::secs),
        },
        effect,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_growth_is_slow_then_fast_and_reaches_the_severity() {
        let g = Growth {
            ramp_s: 100.0,
            severity: 0.8,
            shape: RampShape::Exponential,
        };
        assert_eq!(g.at(0.0), 0.0);
        assert!(g.at(50.0) < 0.8 * 0.2);
        assert!((g.at(100.0) - 0.8).abs() < 1e-12);
        assert!((g.at(1e6) - 0.8).abs() < 1e-12);
    }

    #[test]
    fn a_sudden_fault_is_at_full_severity_at_once() {
        let g = Growth {
            ramp_s: 0.0,
            severity: 1.0,
            shape: RampShape::Linear,
        };
        assert_eq!(g.at(0.0), 1.0);
    }
}
