//! `[[machines]]`: what runs in the plant, and how it behaves when healthy.
//!
//! Every field has a default that describes a healthy 4-pole motor of about 30 kW, so a
//! scenario only states what differs. Fault effects live in `[[faults]]`, not here.

use serde::Deserialize;

use super::Duration;
use crate::physics::iso10816::IsoClass;

/// One machine: a motor, pump or fan whose condition the sensors observe.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MachineConfig {
    /// Unique id, used by devices and faults (`machine = "motor-1"`).
    pub id: String,
    /// What it is; informational only. Default `"motor"`.
    #[serde(default = "default_kind")]
    pub kind: String,
    /// Shaft speed in revolutions per minute. Default 1480.
    #[serde(default = "default_rpm")]
    pub rpm: f64,
    /// ISO 10816 machine class for zone boundaries: `"I"`, `"II"`, `"III"`, `"IV"`. Default `"II"`.
    #[serde(default)]
    pub iso_class: IsoClass,
    /// Run-hour counter at plant time 0. Default 0.
    #[serde(default)]
    pub run_hours: f64,
    /// Operating load.
    #[serde(default)]
    pub load: LoadConfig,
    /// Temperature model.
    #[serde(default)]
    pub thermal: ThermalConfig,
    /// Healthy vibration and bearing geometry.
    #[serde(default)]
    pub vibration: VibrationConfig,
}

/// Load as a fraction of rated load: `base + swing * sin(2 pi t / period)`, clamped to 0..=1.2.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadConfig {
    /// Mean load fraction. Default 0.75.
    #[serde(default = "default_load")]
    pub base: f64,
    /// Amplitude of the slow load cycle. Default 0.1.
    #[serde(default = "default_swing")]
    pub swing: f64,
    /// Period of the load cycle (plant time). Default `"20m"`.
    #[serde(default = "default_load_period")]
    pub period: Duration,
}

/// First-order thermal model: the temperature lags toward
/// `ambient_c + rise_at_full_load_c * load^2 + fault heat` with time constant `tau`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThermalConfig {
    /// Ambient temperature, °C. Default 25.
    #[serde(default = "default_ambient")]
    pub ambient_c: f64,
    /// Steady-state rise over ambient at full load, °C. Default 40.
    #[serde(default = "default_rise")]
    pub rise_at_full_load_c: f64,
    /// Thermal time constant (plant time). Default `"15m"`.
    #[serde(default = "default_tau")]
    pub tau: Duration,
    /// Temperature at which the status word's over-temperature bit sets, °C. Default 90.
    #[serde(default = "default_alarm")]
    pub alarm_c: f64,
}

/// Healthy vibration (radial, horizontal axis) and the geometry that places the bearing
/// defect frequency.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VibrationConfig {
    /// Velocity amplitude (peak) at 1x running speed, mm/s. Default 1.0.
    #[serde(default = "default_one_x")]
    pub one_x_mm_s: f64,
    /// Velocity amplitude (peak) at 2x running speed, mm/s. Default 0.35.
    #[serde(default = "default_two_x")]
    pub two_x_mm_s: f64,
    /// Broadband acceleration noise, g RMS, as seen at 3200 samples/s (white: the noise
    /// density is kept when another sample rate is used). Default 0.02.
    #[serde(default = "default_noise")]
    pub noise_g: f64,
    /// Outer-race defect frequency as a multiple of shaft speed (BPFO order). Default 3.58.
    #[serde(default = "default_bpfo")]
    pub bpfo_order: f64,
    /// Structural resonance that bearing impacts excite, Hz. Default 1250.
    #[serde(default = "default_resonance")]
    pub resonance_hz: f64,
    /// Width (standard deviation of the Gaussian envelope) of each impact's burst at the
    /// resonance, milliseconds. Default 0.5.
    #[serde(default = "default_burst_ms")]
    pub burst_ms: f64,
}

fn default_kind() -> String {
    "motor".to_owned()
}
fn default_rpm() -> f64 {
    1480.0
}
fn default_load() -> f64 {
    0.75
}
fn default_swing() -> f64 {
    0.1
}
fn default_load_period() -> Duration {
    Duration::from_secs(1200.0).expect("constant is a valid duration")
}
fn default_ambient() -> f64 {
    25.0
}
fn default_rise() -> f64 {
    40.0
}
fn default_tau() -> Duration {
    Duration::from_secs(900.0).expect("constant is a valid duration")
}
fn default_alarm() -> f64 {
    90.0
}
fn default_one_x() -> f64 {
    1.0
}
fn default_two_x() -> f64 {
    0.35
}
fn default_noise() -> f64 {
    0.02
}
fn default_bpfo() -> f64 {
    3.58
}
fn default_resonance() -> f64 {
    1250.0
}
fn default_burst_ms() -> f64 {
    0.5
}

impl Default for LoadConfig {
    fn default() -> Self {
        Self {
            base: default_load(),
            swing: default_swing(),
            period: default_load_period(),
        }
    }
}

impl Default for ThermalConfig {
    fn default() -> Self {
        Self {
            ambient_c: default_ambient(),
            rise_at_full_load_c: default_rise(),
            tau: default_tau(),
            alarm_c: default_alarm(),
        }
    }
}

impl Default for VibrationConfig {
    fn default() -> Self {
        Self {
            one_x_mm_s: default_one_x(),
            two_x_mm_s: default_two_x(),
            noise_g: default_noise(),
            bpfo_order: default_bpfo(),
            resonance_hz: default_resonance(),
            burst_ms: default_burst_ms(),
        }
    }
}
