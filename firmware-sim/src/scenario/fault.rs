//! `[[faults]]`: the timeline of what goes wrong, tagged by `kind`.
//!
//! Times are plant time from the start of the run. A fault without `end` lasts until the run
//! stops. Machine faults (`bearing_wear`, `imbalance`, `overheating`) grow from nothing at
//! `start` to `severity` over `ramp`; the effect fields give the effect at severity 1.

use serde::Deserialize;

use super::Duration;
use crate::signal::Sensor;

/// One scheduled fault.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultConfig {
    /// Outer-race bearing defect that grows: impacts at the defect frequency, then velocity
    /// at the defect frequency, broadband noise and heat.
    BearingWear(BearingWearConfig),
    /// Rotor imbalance: more 1x velocity.
    Imbalance(ImbalanceConfig),
    /// Cooling failure: the temperature target rises.
    Overheating(OverheatingConfig),
    /// The sensor's readings freeze at the value they had when the fault began.
    Stuck(SensorFaultConfig),
    /// The sensor stops answering: Modbus exception 4, no text lines, no stream frames.
    Dropout(SensorFaultConfig),
    /// Isolated readings multiplied by `factor` (scalars) or samples offset by `factor` g.
    Spikes(SpikesConfig),
    /// Modbus requests answered with an exception `code` (with `probability`).
    ModbusException(ModbusExceptionConfig),
    /// Modbus requests not answered at all (with `probability`).
    ModbusTimeout(ModbusTimeoutConfig),
    /// Serial frames sent with a wrong CRC or checksum (with `probability`).
    CrcError(LineFaultConfig),
    /// Serial frames mangled: bytes flipped, dropped or the frame cut short (with `probability`).
    Garbled(LineFaultConfig),
}

impl FaultConfig {
    /// The kind, as written in the scenario and in the ground truth.
    pub fn kind_name(&self) -> &'static str {
        match self {
            FaultConfig::BearingWear(_) => "bearing_wear",
            FaultConfig::Imbalance(_) => "imbalance",
            FaultConfig::Overheating(_) => "overheating",
            FaultConfig::Stuck(_) => "stuck",
            FaultConfig::Dropout(_) => "dropout",
            FaultConfig::Spikes(_) => "spikes",
            FaultConfig::ModbusException(_) => "modbus_exception",
            FaultConfig::ModbusTimeout(_) => "modbus_timeout",
            FaultConfig::CrcError(_) => "crc_error",
            FaultConfig::Garbled(_) => "garbled",
        }
    }

    /// When the fault begins and (if ever) ends, plant time.
    pub fn window(&self) -> (Duration, Option<Duration>) {
        match self {
            FaultConfig::BearingWear(c) => (c.start, c.end),
            FaultConfig::Imbalance(c) => (c.start, c.end),
            FaultConfig::Overheating(c) => (c.start, c.end),
            FaultConfig::Stuck(c) | FaultConfig::Dropout(c) => (c.start, c.end),
            FaultConfig::Spikes(c) => (c.start, c.end),
            FaultConfig::ModbusException(c) => (c.start, c.end),
            FaultConfig::ModbusTimeout(c) => (c.start, c.end),
            FaultConfig::CrcError(c) | FaultConfig::Garbled(c) => (c.start, c.end),
        }
    }
}

/// How a growing fault's severity rises over its ramp.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RampShape {
    /// Straight line from 0 to `severity`.
    Linear,
    /// Slow at first and accelerating, as wear does: `(e^(4x) - 1) / (e^4 - 1)`.
    #[default]
    Exponential,
}

/// `kind = "bearing_wear"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BearingWearConfig {
    /// Machine id.
    pub machine: String,
    /// When the defect begins.
    pub start: Duration,
    /// When it ends (a repair); default never.
    #[serde(default)]
    pub end: Option<Duration>,
    /// Time to reach full severity. Default `"30m"`.
    #[serde(default = "default_ramp_long")]
    pub ramp: Duration,
    /// Severity at the end of the ramp, 0..=1. Default 1.
    #[serde(default = "default_one")]
    pub severity: f64,
    /// Ramp shape. Default `"exponential"`.
    #[serde(default)]
    pub shape: RampShape,
    /// Peak acceleration of each impact at severity 1, g. Default 6.
    #[serde(default = "default_impulse_g")]
    pub impulse_g: f64,
    /// Velocity amplitude at the defect frequency at severity 1, mm/s peak (grows with
    /// severity squared: late-stage wear shows in velocity). Default 11.
    #[serde(default = "default_bpfo_mm_s")]
    pub bpfo_mm_s: f64,
    /// Extra broadband noise at severity 1, as a multiple of the healthy noise. Default 2.
    #[serde(default = "default_noise_gain")]
    pub noise_gain: f64,
    /// Friction heat at severity 1, °C added to the temperature target. Default 12.
    #[serde(default = "default_heat_c")]
    pub heat_c: f64,
}

/// `kind = "imbalance"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImbalanceConfig {
    /// Machine id.
    pub machine: String,
    /// When it begins.
    pub start: Duration,
    /// When it ends; default never.
    #[serde(default)]
    pub end: Option<Duration>,
    /// Time to reach full severity. Default `"0s"` (a thrown blade is sudden).
    #[serde(default)]
    pub ramp: Duration,
    /// Severity, 0..=1. Default 1.
    #[serde(default = "default_one")]
    pub severity: f64,
    /// Ramp shape. Default exponential.
    #[serde(default)]
    pub shape: RampShape,
    /// Extra 1x velocity amplitude at severity 1, mm/s peak. Default 6.
    #[serde(default = "default_one_x_mm_s")]
    pub one_x_mm_s: f64,
}

/// `kind = "overheating"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverheatingConfig {
    /// Machine id.
    pub machine: String,
    /// When it begins.
    pub start: Duration,
    /// When it ends; default never.
    #[serde(default)]
    pub end: Option<Duration>,
    /// Time to reach full severity. Default `"10m"`.
    #[serde(default = "default_ramp_short")]
    pub ramp: Duration,
    /// Severity, 0..=1. Default 1.
    #[serde(default = "default_one")]
    pub severity: f64,
    /// Ramp shape. Default exponential.
    #[serde(default)]
    pub shape: RampShape,
    /// Rise of the temperature target at severity 1, °C. Default 35.
    #[serde(default = "default_rise_c")]
    pub rise_c: f64,
}

/// `kind = "stuck"` and `kind = "dropout"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensorFaultConfig {
    /// Machine id.
    pub machine: String,
    /// `"temperature"` or `"vibration"`.
    pub sensor: Sensor,
    /// When it begins.
    pub start: Duration,
    /// When it ends; default never.
    #[serde(default)]
    pub end: Option<Duration>,
}

/// `kind = "spikes"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpikesConfig {
    /// Machine id.
    pub machine: String,
    /// `"temperature"` or `"vibration"`.
    pub sensor: Sensor,
    /// When it begins.
    pub start: Duration,
    /// When it ends; default never.
    #[serde(default)]
    pub end: Option<Duration>,
    /// Mean spikes per minute of plant time. Default 6.
    #[serde(default = "default_spike_rate")]
    pub rate_per_min: f64,
    /// Scalar readings are multiplied by this; stream samples get this many g added. Default 4.
    #[serde(default = "default_spike_factor")]
    pub factor: f64,
}

/// `kind = "modbus_exception"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModbusExceptionConfig {
    /// Device id (a `modbus_tcp` or `modbus_rtu` device).
    pub device: String,
    /// Only this unit; default every unit of the device.
    #[serde(default)]
    pub unit: Option<u8>,
    /// When it begins.
    pub start: Duration,
    /// When it ends; default never.
    #[serde(default)]
    pub end: Option<Duration>,
    /// Exception code. Default 4 (server device failure); 6 is "busy".
    #[serde(default = "default_exception_code")]
    pub code: u8,
    /// Share of requests affected, 0..=1. Default 1.
    #[serde(default = "default_one")]
    pub probability: f64,
}

/// `kind = "modbus_timeout"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModbusTimeoutConfig {
    /// Device id (a `modbus_tcp` or `modbus_rtu` device).
    pub device: String,
    /// Only this unit; default every unit of the device.
    #[serde(default)]
    pub unit: Option<u8>,
    /// When it begins.
    pub start: Duration,
    /// When it ends; default never.
    #[serde(default)]
    pub end: Option<Duration>,
    /// Share of requests left unanswered, 0..=1. Default 1.
    #[serde(default = "default_one")]
    pub probability: f64,
}

/// `kind = "crc_error"` and `kind = "garbled"`: faults of a serial line.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineFaultConfig {
    /// Device id (a `modbus_rtu`, `accel_stream` or `text_line` device).
    pub device: String,
    /// When it begins.
    pub start: Duration,
    /// When it ends; default never.
    #[serde(default)]
    pub end: Option<Duration>,
    /// Share of frames (replies, stream frames, lines) affected, 0..=1. Default 0.5.
    #[serde(default = "default_half")]
    pub probability: f64,
}

fn default_one() -> f64 {
    1.0
}
fn default_half() -> f64 {
    0.5
}
fn default_ramp_long() -> Duration {
    Duration::from_secs(1800.0).expect("constant is a valid duration")
}
fn default_ramp_short() -> Duration {
    Duration::from_secs(600.0).expect("constant is a valid duration")
}
fn default_impulse_g() -> f64 {
    6.0
}
fn default_bpfo_mm_s() -> f64 {
    11.0
}
fn default_noise_gain() -> f64 {
    2.0
}
fn default_heat_c() -> f64 {
    12.0
}
fn default_one_x_mm_s() -> f64 {
    6.0
}
fn default_rise_c() -> f64 {
    35.0
}
fn default_spike_rate() -> f64 {
    6.0
}
fn default_spike_factor() -> f64 {
    4.0
}
fn default_exception_code() -> u8 {
    4
}
