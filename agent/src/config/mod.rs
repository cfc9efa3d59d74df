//! The agent's configuration file (TOML), documented key by key in
//! `deploy/agent.example.toml`. Parsed once into validated types; every mistake is reported
//! as `FILE:LINE:COL: message`, like the rule files.

mod model;
mod schema;
mod validate;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use edge_rules::lang::{Diagnostic, Reporter};

pub use model::*;

/// Where state lives when the file does not say.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/edge-agent";

/// Reads and validates the configuration file at `path`.
pub fn load(path: &Path) -> Result<AgentConfig, Vec<Diagnostic>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![crate::rule_files::io_diagnostic(path, &e)])?;
    parse(&path.display().to_string(), &text)
}

/// Whether `text` looks like an agent configuration rather than a rule file: it has an
/// `[agent]` table. Used by `check` to pick the validator.
pub fn looks_like_agent_config(text: &str) -> bool {
    text.parse::<toml::Table>()
        .is_ok_and(|t| t.contains_key("agent"))
}

/// Parses and validates a configuration; `label` names it in diagnostics.
pub fn parse(label: &str, text: &str) -> Result<AgentConfig, Vec<Diagnostic>> {
    let mut report = Reporter::new(label, text);
    let def: schema::FileDef = match toml::from_str(text) {
        Ok(def) => def,
        Err(error) => {
            report.error(error.span().unwrap_or(0..0), error.message().trim_end());
            return Err(report.finish().expect_err("an error was just reported").0);
        }
    };
    let gateway = &def.agent.gateway;
    if gateway.get_ref().is_empty() || gateway.get_ref().contains(['/', '+', '#']) {
        report.error(gateway.span(), "gateway must be a non-empty id without `/`, `+` or `#` (it becomes part of MQTT topics)");
    }
    if let Err(error) = def.spool.validate() {
        report.error(0..0, format!("[spool]: {error}"));
    }
    if let Err(error) = def.http.validate() {
        report.error(0..0, error.to_string());
    }
    if let Some(mqtt) = &def.mqtt {
        if let Err(error) = mqtt.get_ref().validate() {
            report.error(mqtt.span(), error.to_string());
        }
    }
    let mut sensors = validate::SensorIds::default();
    let mut device_ids = HashSet::new();
    let mut devices = Vec::new();
    for d in &def.devices {
        if !device_ids.insert(d.get_ref().id.get_ref().clone()) {
            report.error(
                d.get_ref().id.span(),
                format!("device `{}` is declared twice", d.get_ref().id.get_ref()),
            );
        }
        if let Some(device) = validate::device(d, &mut sensors, &mut report) {
            devices.push((d.span(), device));
        }
    }
    let mut streams = Vec::new();
    for s in &def.streams {
        if !device_ids.insert(s.get_ref().id.get_ref().clone()) {
            report.error(
                s.get_ref().id.span(),
                format!(
                    "`{}` is already the id of a device or stream",
                    s.get_ref().id.get_ref()
                ),
            );
        }
        if let Some(stream) = validate::stream(s, &mut sensors, &mut report) {
            streams.push((s.span(), stream));
        }
    }
    validate::check_buses(&devices, &streams, &mut report);
    report.finish().map_err(|d| d.0)?;
    Ok(AgentConfig {
        gateway: gateway.get_ref().clone(),
        data_dir: PathBuf::from(def.agent.data_dir.as_deref().unwrap_or(DEFAULT_DATA_DIR)),
        rules: def.agent.rules.iter().map(PathBuf::from).collect(),
        forward_readings: def.agent.forward_readings.unwrap_or(true),
        devices: devices.into_iter().map(|(_, d)| d).collect(),
        streams: streams.into_iter().map(|(_, s)| s).collect(),
        spool: def.spool,
        http: def.http,
        mqtt: def.mqtt.map(|m| m.into_inner()),
    })
}
