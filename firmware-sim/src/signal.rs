//! What a register, a text line or a stream can carry: the [`Signal`]s of a machine, and the
//! [`Sensor`] each one is measured by (sensor faults such as `stuck` act on a sensor, and so
//! on every signal it feeds).

use serde::{Deserialize, Serialize};

/// A physical sensor on a machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sensor {
    /// The bearing-housing or winding temperature probe.
    Temperature,
    /// The vibration transducer (accelerometer) and everything derived from it.
    Vibration,
}

impl Sensor {
    /// The name used in scenarios and in the ground truth.
    pub fn name(self) -> &'static str {
        match self {
            Sensor::Temperature => "temperature",
            Sensor::Vibration => "vibration",
        }
    }
}

/// A value the simulated devices can report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// Temperature, °C.
    Temperature,
    /// Vibration velocity RMS, 10–1000 Hz, radial horizontal axis, mm/s (the ISO 10816 measure).
    VelocityRms,
    /// Acceleration peak over the last second, g.
    AccelPeak,
    /// Acceleration RMS over the last second, g.
    AccelRms,
    /// ISO 10816 zone of the velocity RMS: 1 = A, 2 = B, 3 = C, 4 = D.
    IsoZone,
    /// Shaft speed, rpm.
    SpeedRpm,
    /// Load, percent of rated.
    LoadPct,
    /// Run-hour counter, hours.
    RunHours,
    /// Status word; see [`crate::plant::status`] for the bits.
    Status,
    /// 1 while the machine runs.
    Running,
    /// 1 while the velocity RMS is in zone C or D.
    Warning,
    /// 1 while the velocity RMS is in zone D.
    Alarm,
    /// 1 while the temperature is at or above the machine's `alarm_c`.
    Overtemp,
    /// 1 while a sensor of the machine has dropped out.
    SensorFault,
    /// The register's fixed `value`.
    Constant,
    /// A writable value (holding registers and coils only), starting at the register's `value`.
    Setpoint,
}

impl Signal {
    /// The sensor this signal is measured by, if any: sensor faults on that sensor apply.
    pub fn sensor(self) -> Option<Sensor> {
        match self {
            Signal::Temperature => Some(Sensor::Temperature),
            Signal::VelocityRms | Signal::AccelPeak | Signal::AccelRms | Signal::IsoZone => {
                Some(Sensor::Vibration)
            }
            _ => None,
        }
    }
}
