//! The configuration file as written: serde structs mirroring the TOML, with spans kept so
//! that validation can point at the offending key. `validate` turns them into `model` types.

use serde::Deserialize;
use toml::Spanned;

use crate::spool::SpoolConfig;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileDef {
    pub agent: AgentDef,
    #[serde(default)]
    pub spool: SpoolConfig,
    #[serde(default)]
    pub http: crate::http::HttpConfig,
    /// The MQTT sink's own config type, parsed here once (serde errors point at the key);
    /// `MqttConfig::validate` checks the rest.
    #[serde(default)]
    pub mqtt: Option<Spanned<crate::mqtt::MqttConfig>>,
    #[serde(default, rename = "device")]
    pub devices: Vec<Spanned<DeviceDef>>,
    #[serde(default, rename = "stream")]
    pub streams: Vec<Spanned<StreamDef>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AgentDef {
    pub gateway: Spanned<String>,
    #[serde(default)]
    pub data_dir: Option<String>,
    #[serde(default)]
    pub rules: Vec<String>,
    #[serde(default)]
    pub forward_readings: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DeviceDef {
    pub id: Spanned<String>,
    /// `tcp` or `rtu`.
    pub transport: Spanned<String>,
    // tcp
    pub address: Option<Spanned<String>>,
    // rtu (serial fields are repeated in StreamDef: serde's flatten would lose the spans)
    pub port: Option<Spanned<String>>,
    pub baud: Option<Spanned<i64>>,
    pub parity: Option<Spanned<String>>,
    pub data_bits: Option<Spanned<i64>>,
    pub stop_bits: Option<Spanned<i64>>,
    pub unit: Option<Spanned<i64>>,
    pub timeout: Option<Spanned<String>>,
    pub merge_reads: Option<bool>,
    #[serde(default)]
    pub poll: Vec<Spanned<PollDef>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PollDef {
    pub interval: Spanned<String>,
    #[serde(default)]
    pub register: Vec<Spanned<RegisterDef>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RegisterDef {
    pub sensor: Spanned<String>,
    pub table: Spanned<String>,
    pub address: Spanned<i64>,
    #[serde(rename = "type")]
    pub value_type: Option<Spanned<String>>,
    pub order: Option<Spanned<String>>,
    pub scale: Option<Spanned<f64>>,
    pub offset: Option<Spanned<f64>>,
    pub unit: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StreamDef {
    pub id: Spanned<String>,
    pub port: Option<Spanned<String>>,
    pub baud: Option<Spanned<i64>>,
    pub parity: Option<Spanned<String>>,
    pub data_bits: Option<Spanned<i64>>,
    pub stop_bits: Option<Spanned<i64>>,
    /// `accel_frames` or `text_lines`.
    pub format: Spanned<String>,
    pub window: Option<Spanned<i64>>,
    pub pattern: Option<Spanned<String>>,
    pub sensor: Option<Spanned<String>>,
    pub unit: Option<String>,
}
