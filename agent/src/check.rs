//! What `edge-agent check` verifies about an agent configuration, and what a reload must
//! pass before it replaces the running rules: the file itself, the rule files it names
//! (loaded exactly as `run` loads them), and that every sensor a rule file declares is read
//! by a device or stream of the configuration. A declared sensor nobody reads is a rule that
//! can never fire: a warning (`FILE:LINE:COL`, at the sensor's `id`), an error when strict.

use std::collections::HashSet;
use std::path::Path;

use edge_rules::lang::{Diagnostic, Reporter, RuleSet};
use serde::Deserialize;
use toml::Spanned;

use crate::config::{self, AgentConfig, StreamFormat};
use crate::rule_files;

/// A configuration that passed, with its rules and the warnings found.
#[derive(Debug)]
pub struct Checked {
    pub config: AgentConfig,
    pub rules: RuleSet,
    pub warnings: Vec<Diagnostic>,
}

/// Loads and checks the configuration at `path` and its rules; `strict` turns warnings into
/// errors. Every problem is a `FILE:LINE:COL: message` diagnostic.
pub fn config_with_rules(path: &Path, strict: bool) -> Result<Checked, Vec<Diagnostic>> {
    let config = config::load(path)?;
    let rules = rule_files::load(&config.rules)?;
    let mut warnings = unread_sensors(&config, &path.display().to_string());
    if strict && !warnings.is_empty() {
        for warning in &mut warnings {
            if let Some(rest) = warning.message.strip_prefix(WARNING) {
                warning.message = format!("error (--strict): {rest}");
            }
        }
        return Err(warnings);
    }
    Ok(Checked {
        config,
        rules,
        warnings,
    })
}

/// How a warning's message starts.
const WARNING: &str = "warning: ";

/// Only the sensor ids of a rule file, with their place (the rest is the rules crate's).
#[derive(Deserialize)]
struct Declared {
    #[serde(default)]
    sensor: Vec<DeclaredSensor>,
}

#[derive(Deserialize)]
struct DeclaredSensor {
    id: Spanned<String>,
}

/// A warning for each sensor declared in `config`'s rule files that no device or stream of
/// `config` (named `config_label`) reads.
fn unread_sensors(config: &AgentConfig, config_label: &str) -> Vec<Diagnostic> {
    let read: HashSet<&str> = config
        .devices
        .iter()
        .flat_map(|d| &d.polls)
        .flat_map(|g| &g.registers)
        .map(|r| r.sensor.as_str())
        .chain(config.streams.iter().filter_map(|s| match &s.format {
            StreamFormat::TextLines { sensor, .. } => Some(sensor.as_str()),
            StreamFormat::AccelFrames { .. } => None,
        }))
        .collect();
    // An accelerometer stream makes sensors `<id>.<axis>.<feature>`.
    let prefixes: Vec<String> = config
        .streams
        .iter()
        .filter(|s| matches!(s.format, StreamFormat::AccelFrames { .. }))
        .map(|s| format!("{}.", s.id))
        .collect();
    let is_read = |id: &str| read.contains(id) || prefixes.iter().any(|p| id.starts_with(p));
    let mut warnings = Vec::new();
    let files = config
        .rules
        .iter()
        .flat_map(|p| rule_files::toml_files(p).unwrap_or_default());
    for file in files {
        // The rules loaded above, so the file reads and parses; a race with an edit is
        // caught by the next check.
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let Ok(declared) = toml::from_str::<Declared>(&text) else {
            continue;
        };
        let label = file.display().to_string();
        let mut report = Reporter::new(&label, &text);
        for sensor in &declared.sensor {
            if !is_read(sensor.id.get_ref()) {
                report.error(
                    sensor.id.span(),
                    format!(
                        "{WARNING}sensor `{}` is read by no device or stream of {config_label}: its rules never run",
                        sensor.id.get_ref()
                    ),
                );
            }
        }
        if let Err(found) = report.finish() {
            warnings.extend(found.0);
        }
    }
    warnings
}
