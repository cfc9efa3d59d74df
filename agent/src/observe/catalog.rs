//! What the status page knows of each sensor before any reading arrives: its asset, device,
//! unit, the levels its rules raise at (drawn on its trend), and the ISO 10816 scale when a
//! rule judges it by ISO zones.
//!
//! Built once from the configuration and the rule set, and again when the rules change.

use std::collections::HashMap;

use edge_rules::detect::Level;
use edge_rules::iso10816::{self, Foundation, MachineGroup};
use edge_rules::lang::RuleSet;
use edge_rules::{DetectorKind, DetectorSpec, Feature};
use serde::Serialize;

use crate::config::{AgentConfig, StreamFormat};

/// A level one rule raises at, on a feature in the sensor's own unit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Threshold {
    pub rule: String,
    pub severity: &'static str,
    /// The feature the level is on (`value`, `mean`, `rms`, …).
    pub feature: &'static str,
    /// `above` or `below`.
    pub side: &'static str,
    pub value: f64,
}

/// The ISO 10816-3 scale a sensor is judged on: group and foundation, and the zone
/// boundaries A/B, B/C, C/D in mm/s.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct IsoScale {
    pub boundaries: [f64; 3],
    #[serde(skip)]
    group: MachineGroup,
    #[serde(skip)]
    foundation: Foundation,
}

impl IsoScale {
    /// The zone letter of `velocity` (mm/s RMS); a value on a boundary is in the worse zone.
    pub fn zone(&self, velocity: f64) -> char {
        iso10816::zone_of(self.group, self.foundation, velocity).letter()
    }
}

/// One sensor as the page shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SensorInfo {
    pub id: String,
    /// The machine: the sensor id up to its first `.`.
    pub asset: String,
    /// The device or stream that reads it, if configured.
    pub device: Option<String>,
    pub unit: Option<String>,
    pub thresholds: Vec<Threshold>,
    pub iso: Option<IsoScale>,
}

/// Every configured sensor, in configuration order.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub sensors: Vec<SensorInfo>,
    index: HashMap<String, usize>,
}

impl Catalog {
    /// The sensors that `config` reads, described with what `rules` say of them.
    pub fn new(config: &AgentConfig, rules: &RuleSet) -> Self {
        let mut catalog = Catalog::default();
        for device in &config.devices {
            for register in device.polls.iter().flat_map(|g| &g.registers) {
                let unit = register.unit.clone();
                catalog.add(&register.sensor, Some(&device.id), unit, Some(rules));
            }
        }
        for stream in &config.streams {
            if let StreamFormat::TextLines { sensor, unit, .. } = &stream.format {
                catalog.add(sensor, Some(&stream.id), unit.clone(), Some(rules));
            }
        }
        catalog
    }

    /// Adds `sensor` if it is not there yet, with the levels of `rules`; returns its index.
    pub fn add(
        &mut self,
        sensor: &str,
        device: Option<&str>,
        unit: Option<String>,
        rules: Option<&RuleSet>,
    ) -> usize {
        if let Some(&index) = self.index.get(sensor) {
            return index;
        }
        let (thresholds, iso) = rules.map(|r| levels(sensor, r)).unwrap_or_default();
        let info = SensorInfo {
            id: sensor.to_owned(),
            asset: sensor.split('.').next().unwrap_or(sensor).to_owned(),
            device: device.map(str::to_owned),
            unit,
            thresholds,
            iso,
        };
        self.index.insert(sensor.to_owned(), self.sensors.len());
        self.sensors.push(info);
        self.sensors.len() - 1
    }

    pub fn index_of(&self, sensor: &str) -> Option<usize> {
        self.index.get(sensor).copied()
    }
}

/// Features whose levels are in the sensor's own unit, so that they can be drawn on its trend.
fn drawable(feature: Feature) -> bool {
    matches!(
        feature,
        Feature::Value
            | Feature::Mean
            | Feature::Min
            | Feature::Max
            | Feature::Rms
            | Feature::Peak
            | Feature::Ewma
    )
}

fn levels(sensor: &str, rules: &RuleSet) -> (Vec<Threshold>, Option<IsoScale>) {
    let Ok(plan) = rules.plan(sensor, None) else {
        return (Vec::new(), None);
    };
    let mut thresholds = Vec::new();
    let mut iso = None;
    for (rule, spec) in plan.rules.iter().zip(plan.specs.iter()) {
        for condition in &spec.conditions {
            let DetectorSpec::Level {
                kind,
                feature,
                above,
                below,
                ..
            } = *condition
            else {
                continue;
            };
            if kind == DetectorKind::Iso10816 {
                iso = iso.or_else(|| above.and_then(|level| iso_scale(level.raise)));
            }
            if !drawable(feature) {
                continue;
            }
            let sides: [(&'static str, Option<Level>); 2] = [("above", above), ("below", below)];
            for (side, level) in sides {
                if let Some(level) = level {
                    thresholds.push(Threshold {
                        rule: rule.name.clone(),
                        severity: severity_name(spec.severity),
                        feature: feature.name(),
                        side,
                        value: level.raise,
                    });
                }
            }
        }
    }
    (thresholds, iso)
}

/// The ISO scale one of whose boundaries is `raise` (a zone rule raises where its zone starts).
fn iso_scale(raise: f64) -> Option<IsoScale> {
    let groups = [
        MachineGroup::Large,
        MachineGroup::Medium,
        MachineGroup::PumpSeparateDriver,
        MachineGroup::PumpIntegratedDriver,
    ];
    groups
        .into_iter()
        .flat_map(|g| [(g, Foundation::Rigid), (g, Foundation::Flexible)])
        .map(|(group, foundation)| IsoScale {
            boundaries: iso10816::boundaries(group, foundation),
            group,
            foundation,
        })
        .find(|scale| {
            scale.boundaries[1..]
                .iter()
                .any(|&x| (x - raise).abs() < 1e-9)
        })
}

pub(crate) fn severity_name(severity: edge_rules::Severity) -> &'static str {
    match severity {
        edge_rules::Severity::Info => "info",
        edge_rules::Severity::Warning => "warning",
        edge_rules::Severity::Critical => "critical",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_motor_rules_give_iso_zones_and_drawn_levels() {
        let rules_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../rules");
        let rules = crate::rule_files::load(&[rules_dir.into()]).expect("shipped rules load");
        let mut catalog = Catalog::default();
        let i = catalog.add("motor1.de.velocity", Some("motor1"), None, Some(&rules));
        let sensor = &catalog.sensors[i];
        assert_eq!(sensor.asset, "motor1");
        let iso = sensor.iso.expect("judged by ISO zones");
        assert_eq!(iso.boundaries, [1.4, 2.8, 4.5]);
        assert_eq!(iso.zone(1.0), 'A');
        assert_eq!(iso.zone(2.8), 'C');
        assert_eq!(iso.zone(9.0), 'D');
        assert!(sensor
            .thresholds
            .iter()
            .any(|t| t.value == 4.5 && t.side == "above" && t.severity == "critical"));
        assert_eq!(catalog.add("motor1.de.velocity", None, None, None), i);
    }
}
