//! Scenario files: a small plant, its devices and a timeline of faults, in TOML.
//!
//! Parsed with serde (`deny_unknown_fields` everywhere, so a misspelt key is an error, not a
//! silent default) and then validated once by [`Scenario::validate`]: after loading, every
//! reference (machine, device, unit) resolves, register entries do not overlap, and every
//! number is in range. The rest of the crate relies on that and does not re-check.
//!
//! ```
//! let scenario = firmware_sim::Scenario::from_toml_str(r#"
//!     [scenario]
//!     name = "one motor"
//!
//!     [[machines]]
//!     id = "motor-1"
//!
//!     [[devices]]
//!     id = "gateway"
//!     kind = "modbus_tcp"
//!     [[devices.units]]
//!     unit_id = 1
//!     machine = "motor-1"
//!     registers = [
//!         { table = "input", address = 0, signal = "temperature", type = "i16", scale = 0.1 },
//!     ]
//!
//!     [[faults]]
//!     kind = "bearing_wear"
//!     machine = "motor-1"
//!     start = "10m"
//!     ramp = "1h"
//! "#).expect("valid scenario");
//! assert_eq!(scenario.machines[0].rpm, 1480.0);
//! ```

mod device;
mod duration;
mod fault;
mod machine;
mod validate;

use std::path::Path;

use serde::Deserialize;

pub use device::{
    AccelStreamConfig, DeviceConfig, ModbusRtuConfig, ModbusTcpConfig, RegisterConfig,
    TextLineConfig, UnitConfig,
};
pub use duration::Duration;
pub use fault::{
    BearingWearConfig, FaultConfig, ImbalanceConfig, LineFaultConfig, ModbusExceptionConfig,
    ModbusTimeoutConfig, OverheatingConfig, RampShape, SensorFaultConfig, SpikesConfig,
};
pub use machine::{LoadConfig, MachineConfig, ThermalConfig, VibrationConfig};

use crate::error::ScenarioError;

/// A whole scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// `[scenario]`: name, seed, speed.
    pub scenario: ScenarioMeta,
    /// `[[machines]]`.
    #[serde(default)]
    pub machines: Vec<MachineConfig>,
    /// `[[devices]]`.
    #[serde(default)]
    pub devices: Vec<DeviceConfig>,
    /// `[[faults]]`.
    #[serde(default)]
    pub faults: Vec<FaultConfig>,
}

/// `[scenario]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioMeta {
    /// Name, printed at start.
    pub name: String,
    /// What the scenario shows.
    #[serde(default)]
    pub description: String,
    /// Seed of every random quantity; `--seed` overrides it. Default 1.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Plant seconds per wall second; `--speed` overrides it. Default 1.
    #[serde(default = "default_speed")]
    pub speed: f64,
    /// Plant time after which the command-line simulator stops by itself; default never.
    #[serde(default)]
    pub duration: Option<Duration>,
}

fn default_seed() -> u64 {
    1
}
fn default_speed() -> f64 {
    1.0
}

impl Scenario {
    /// Reads, parses and validates a scenario file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ScenarioError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and validates scenario text.
    pub fn from_toml_str(text: &str) -> Result<Self, ScenarioError> {
        Self::parse(text, "<string>")
    }

    fn parse(text: &str, origin: &str) -> Result<Self, ScenarioError> {
        let scenario: Scenario = toml::from_str(text).map_err(|source| ScenarioError::Parse {
            origin: origin.to_owned(),
            source: Box::new(source),
        })?;
        scenario
            .validate()
            .map_err(|message| ScenarioError::Invalid {
                origin: origin.to_owned(),
                message,
            })?;
        Ok(scenario)
    }

    /// The machine with this id.
    pub fn machine(&self, id: &str) -> Option<&MachineConfig> {
        self.machines.iter().find(|m| m.id == id)
    }

    /// The device with this id.
    pub fn device(&self, id: &str) -> Option<&DeviceConfig> {
        self.devices.iter().find(|d| d.id() == id)
    }
}
