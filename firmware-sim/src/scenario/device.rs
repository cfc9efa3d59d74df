//! `[[devices]]`: the protocol endpoints, and for Modbus devices their units and register maps.

use std::net::SocketAddr;

use serde::Deserialize;

use super::Duration;
use crate::{
    registers::{Table, ValueType, WordOrder},
    signal::Signal,
};

/// One device, tagged by `kind`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DeviceConfig {
    /// A Modbus TCP server (a gateway with one or more unit ids behind one address).
    ModbusTcp(ModbusTcpConfig),
    /// Modbus RTU slaves sharing one serial bus, served on a pseudo-terminal.
    ModbusRtu(ModbusRtuConfig),
    /// A streaming three-axis accelerometer on a serial line (postcard + COBS frames).
    AccelStream(AccelStreamConfig),
    /// A cheap sensor printing text lines such as `T=41.25C`.
    TextLine(TextLineConfig),
}

impl DeviceConfig {
    /// The device id.
    pub fn id(&self) -> &str {
        match self {
            DeviceConfig::ModbusTcp(c) => &c.id,
            DeviceConfig::ModbusRtu(c) => &c.id,
            DeviceConfig::AccelStream(c) => &c.id,
            DeviceConfig::TextLine(c) => &c.id,
        }
    }

    /// The kind, as written in the scenario.
    pub fn kind_name(&self) -> &'static str {
        match self {
            DeviceConfig::ModbusTcp(_) => "modbus_tcp",
            DeviceConfig::ModbusRtu(_) => "modbus_rtu",
            DeviceConfig::AccelStream(_) => "accel_stream",
            DeviceConfig::TextLine(_) => "text_line",
        }
    }

    /// The Modbus units of the device (empty for serial sensors).
    pub fn units(&self) -> &[UnitConfig] {
        match self {
            DeviceConfig::ModbusTcp(c) => &c.units,
            DeviceConfig::ModbusRtu(c) => &c.units,
            _ => &[],
        }
    }

    /// The machines this device observes.
    pub fn machines(&self) -> Vec<&str> {
        match self {
            DeviceConfig::AccelStream(c) => vec![c.machine.as_str()],
            DeviceConfig::TextLine(c) => vec![c.machine.as_str()],
            _ => self.units().iter().map(|u| u.machine.as_str()).collect(),
        }
    }
}

/// `kind = "modbus_tcp"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModbusTcpConfig {
    /// Device id.
    pub id: String,
    /// Address to listen on. Default `127.0.0.1:0` (any free port); the CLI's `--modbus-tcp`
    /// overrides it.
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// The unit ids behind this address.
    pub units: Vec<UnitConfig>,
}

/// `kind = "modbus_rtu"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModbusRtuConfig {
    /// Device (bus) id.
    pub id: String,
    /// Bus speed, baud. Default 9600.
    #[serde(default = "default_baud")]
    pub baud: u32,
    /// Bits per character on the wire (start + 8 data + parity/stop). Default 11, as the
    /// Modbus serial-line specification requires.
    #[serde(default = "default_bits_per_char")]
    pub bits_per_char: u32,
    /// When true, each reply is held back for the time the request and the reply would take
    /// on a real bus of this speed, plus the 3.5-character silences. Default true.
    #[serde(default = "default_true")]
    pub pace: bool,
    /// The slaves on this bus.
    pub units: Vec<UnitConfig>,
}

/// `kind = "accel_stream"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccelStreamConfig {
    /// Device id.
    pub id: String,
    /// The machine it is mounted on.
    pub machine: String,
    /// Samples per second per axis. Default 3200.
    #[serde(default = "default_sample_rate")]
    pub sample_rate_hz: u32,
    /// Samples (of three axes each) per frame. Default 32.
    #[serde(default = "default_samples_per_frame")]
    pub samples_per_frame: u16,
    /// Scale: micro-g per least significant bit. Default 1000 (1 mg/LSB, ±32.7 g range).
    #[serde(default = "default_lsb_ug")]
    pub lsb_ug: u32,
}

/// `kind = "text_line"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextLineConfig {
    /// Device id.
    pub id: String,
    /// The machine it is mounted on.
    pub machine: String,
    /// What it prints. Default `"temperature"`.
    #[serde(default = "default_signal")]
    pub signal: Signal,
    /// Time between lines (wall time). Default `"1s"`.
    #[serde(default = "default_interval")]
    pub interval: Duration,
    /// Text before the value. Default `"T="`.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Text after the value. Default `"C"`.
    #[serde(default = "default_suffix")]
    pub suffix: String,
    /// Digits after the decimal point. Default 2.
    #[serde(default = "default_decimals")]
    pub decimals: u8,
    /// Append `*HH`, the XOR of the line's bytes in hex, as NMEA sentences do. Default false.
    #[serde(default)]
    pub checksum: bool,
}

/// One Modbus unit (slave id) and the machine its registers describe.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitConfig {
    /// Unit id, 1..=247.
    pub unit_id: u8,
    /// The machine this unit's transmitter observes.
    pub machine: String,
    /// The register map.
    pub registers: Vec<RegisterConfig>,
}

/// One entry of a register map: a value at an address of one of the four Modbus tables.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterConfig {
    /// A label for documentation; not sent on the wire.
    #[serde(default)]
    pub name: Option<String>,
    /// `"holding"`, `"input"`, `"coil"` or `"discrete"`.
    pub table: Table,
    /// First address (0-based, as on the wire).
    pub address: u16,
    /// What the entry reports.
    pub signal: Signal,
    /// Encoding in registers: `"u16"`, `"i16"`, `"u32"`, `"i32"`, `"f32"`, `"f64"`. Default
    /// `"u16"`; ignored for coils and discrete inputs.
    #[serde(rename = "type", default)]
    pub value_type: ValueType,
    /// Byte and word order: `"ABCD"` (big-endian), `"CDAB"`, `"BADC"`, `"DCBA"`. Default `"ABCD"`.
    #[serde(default)]
    pub order: WordOrder,
    /// A master computes `value = raw * scale + offset`. Default 1.
    #[serde(default = "default_scale")]
    pub scale: f64,
    /// See `scale`. Default 0.
    #[serde(default)]
    pub offset: f64,
    /// The value of a `constant`, or the initial value of a `setpoint`. Default 0.
    #[serde(default)]
    pub value: f64,
}

fn default_baud() -> u32 {
    9600
}
fn default_bits_per_char() -> u32 {
    11
}
fn default_true() -> bool {
    true
}
fn default_sample_rate() -> u32 {
    3200
}
fn default_samples_per_frame() -> u16 {
    32
}
fn default_lsb_ug() -> u32 {
    1000
}
fn default_signal() -> Signal {
    Signal::Temperature
}
fn default_interval() -> Duration {
    Duration::from_secs(1.0).expect("constant is a valid duration")
}
fn default_prefix() -> String {
    "T=".to_owned()
}
fn default_suffix() -> String {
    "C".to_owned()
}
fn default_decimals() -> u8 {
    2
}
fn default_scale() -> f64 {
    1.0
}
