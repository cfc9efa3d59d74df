//! The physics of one machine: load, temperature and vibration as functions of plant time
//! and of the machine faults active at that time.
//!
//! Invariant: nothing here reads a clock or keeps random state. Given the scenario, the seed
//! and a plant time, every quantity is determined (the thermal cache only memoises).

pub mod iso10816;
pub mod noise;
pub mod thermal;
pub mod vibration;

use std::f64::consts::TAU;

use crate::scenario::MachineConfig;
use vibration::VibrationParams;

/// The summed effect of the machine faults active at one moment (zero when healthy).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MachineEffects {
    /// Extra 1x velocity, mm/s peak.
    pub one_x_mm_s: f64,
    /// Velocity at the bearing defect frequency, mm/s peak.
    pub bpfo_mm_s: f64,
    /// Bearing impact strength, g.
    pub impulse_g: f64,
    /// Extra broadband noise, as a multiple of the healthy noise.
    pub noise_gain: f64,
    /// Heat added to the temperature target, °C.
    pub heat_c: f64,
}

/// Load fraction at plant time `t`.
pub fn load(machine: &MachineConfig, t: f64) -> f64 {
    let cfg = &machine.load;
    let period = cfg.period.secs();
    let cycle = if period > 0.0 {
        cfg.swing * (TAU * t / period).sin()
    } else {
        0.0
    };
    (cfg.base + cycle).clamp(0.0, 1.2)
}

/// Steady-state temperature the machine tends to at plant time `t`, °C.
pub fn temperature_target(machine: &MachineConfig, t: f64, effects: &MachineEffects) -> f64 {
    let th = &machine.thermal;
    let l = load(machine, t);
    th.ambient_c + th.rise_at_full_load_c * l * l + effects.heat_c
}

/// Shaft frequency, Hz.
pub fn shaft_hz(machine: &MachineConfig) -> f64 {
    machine.rpm / 60.0
}

/// Vibration components at plant time `t`. The 1x amplitude grows a little with load.
pub fn vibration(machine: &MachineConfig, t: f64, effects: &MachineEffects) -> VibrationParams {
    let v = &machine.vibration;
    let shaft = shaft_hz(machine);
    VibrationParams {
        shaft_hz: shaft,
        one_x_mm_s: v.one_x_mm_s * (0.9 + 0.15 * load(machine, t)) + effects.one_x_mm_s,
        two_x_mm_s: v.two_x_mm_s,
        bpfo_hz: v.bpfo_order * shaft,
        bpfo_mm_s: effects.bpfo_mm_s,
        impulse_g: effects.impulse_g,
        resonance_hz: v.resonance_hz,
        burst_s: v.burst_ms / 1000.0,
        noise_g: v.noise_g * (1.0 + effects.noise_gain),
    }
}
