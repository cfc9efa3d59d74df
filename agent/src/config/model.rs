//! The agent's configuration after validation: what the sources, the spool and the sinks are
//! built from. Field meanings and defaults are documented in `deploy/agent.example.toml`.

use std::path::PathBuf;
use std::time::Duration;

use crate::spool::SpoolConfig;

/// The whole configuration file.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The agent's id: `gateway` in every event.
    pub gateway: String,
    /// Where the spool and other state live.
    pub data_dir: PathBuf,
    /// Rule files or folders, on top of the embedded default rules.
    pub rules: Vec<PathBuf>,
    /// Whether every reading is sent, or only features, alerts and health.
    pub forward_readings: bool,
    pub devices: Vec<Device>,
    pub streams: Vec<Stream>,
    pub spool: SpoolConfig,
    /// The local listener of metrics, health and the status page.
    pub http: crate::http::HttpConfig,
    /// The `[mqtt]` section, validated; without it, events go to stdout.
    pub mqtt: Option<crate::mqtt::MqttConfig>,
}

/// One Modbus device: one unit id behind one transport.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    pub id: String,
    pub transport: Transport,
    pub unit: u8,
    /// Every request is abandoned after this long.
    pub timeout: Duration,
    /// Whether adjacent registers of a poll group may be read in one request.
    pub merge_reads: bool,
    pub polls: Vec<PollGroup>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Transport {
    Tcp { address: String },
    Rtu(SerialLine),
}

/// A serial line: several RTU devices with the same `path` share one bus.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SerialLine {
    pub path: PathBuf,
    pub baud: u32,
    pub parity: Parity,
    pub data_bits: u8,
    pub stop_bits: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Parity {
    None,
    Even,
    Odd,
}

/// Registers read together at one interval.
#[derive(Debug, Clone, PartialEq)]
pub struct PollGroup {
    pub interval: Duration,
    pub registers: Vec<Register>,
}

/// The four Modbus tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Coils,
    DiscreteInputs,
    HoldingRegisters,
    InputRegisters,
}

impl Table {
    pub const fn name(self) -> &'static str {
        match self {
            Table::Coils => "coil",
            Table::DiscreteInputs => "discrete",
            Table::HoldingRegisters => "holding",
            Table::InputRegisters => "input",
        }
    }

    /// Whether the table holds single bits rather than 16-bit registers.
    pub const fn is_bits(self) -> bool {
        matches!(self, Table::Coils | Table::DiscreteInputs)
    }
}

/// How a value is stored in registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    Bool,
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    F32,
    F64,
}

impl ValueType {
    pub const ALL: [ValueType; 9] = [
        ValueType::Bool,
        ValueType::U16,
        ValueType::I16,
        ValueType::U32,
        ValueType::I32,
        ValueType::U64,
        ValueType::I64,
        ValueType::F32,
        ValueType::F64,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            ValueType::Bool => "bool",
            ValueType::U16 => "u16",
            ValueType::I16 => "i16",
            ValueType::U32 => "u32",
            ValueType::I32 => "i32",
            ValueType::U64 => "u64",
            ValueType::I64 => "i64",
            ValueType::F32 => "f32",
            ValueType::F64 => "f64",
        }
    }

    /// Registers (or bits, for `Bool` in a bit table) the value occupies.
    pub const fn width(self) -> u16 {
        match self {
            ValueType::Bool | ValueType::U16 | ValueType::I16 => 1,
            ValueType::U32 | ValueType::I32 | ValueType::F32 => 2,
            ValueType::U64 | ValueType::I64 | ValueType::F64 => 4,
        }
    }
}

/// The order of a multi-register value's bytes on the wire, naming the value's big-endian
/// bytes A (most significant) to D: `ABCD` is Modbus's own big-endian order, `CDAB` swaps the
/// 16-bit words, `BADC` swaps the bytes within each word, `DCBA` is little-endian. For 64-bit
/// values the same rule extends to four words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WordOrder {
    #[default]
    Abcd,
    Cdab,
    Badc,
    Dcba,
}

impl WordOrder {
    pub const fn name(self) -> &'static str {
        match self {
            WordOrder::Abcd => "ABCD",
            WordOrder::Cdab => "CDAB",
            WordOrder::Badc => "BADC",
            WordOrder::Dcba => "DCBA",
        }
    }

    pub const fn swaps_words(self) -> bool {
        matches!(self, WordOrder::Cdab | WordOrder::Dcba)
    }

    pub const fn swaps_bytes(self) -> bool {
        matches!(self, WordOrder::Badc | WordOrder::Dcba)
    }
}

/// One value of a device, feeding one sensor: `sensor = raw * scale + offset`.
#[derive(Debug, Clone, PartialEq)]
pub struct Register {
    pub sensor: String,
    pub table: Table,
    pub address: u16,
    pub value_type: ValueType,
    pub order: WordOrder,
    pub scale: f64,
    pub offset: f64,
    pub unit: Option<String>,
}

/// A serial sensor that streams on its own.
#[derive(Debug, Clone, PartialEq)]
pub struct Stream {
    pub id: String,
    pub line: SerialLine,
    pub format: StreamFormat,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StreamFormat {
    /// postcard + COBS accelerometer frames (`firmware-sim/PROTOCOL.md`); raw samples become
    /// features over windows of `window` samples per axis, sensors `<id>.<axis>.<feature>`.
    AccelFrames { window: usize },
    /// One reading per line: `pattern` is a regular-expression-free template with one `{value}`
    /// (for example `T={value}C`); the sensor is `sensor`.
    TextLines {
        pattern: String,
        sensor: String,
        unit: Option<String>,
    },
}
