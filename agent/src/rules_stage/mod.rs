//! The rules stage: readings in, readings, features and alert transitions out, one engine per
//! sensor, created the first time the sensor is seen. [`RulesStage`] is the synchronous
//! logic; [`run`] (in `task.rs`) is the task that feeds it from the sources' channel.
//!
//! Only good-quality readings reach an engine; bad ones are forwarded as they are (they mark
//! a gap). A sample the engine rejects (NaN, out of its range) is counted per sensor and
//! logged once. Features of a sensor are emitted once per window of samples: often enough to
//! trend, rarely enough not to multiply the telemetry.
//!
//! Memory: a gateway may poll thousands of registers, each a sensor here. The map holds a
//! pointer per sensor rather than the sensor itself, because a hash table keeps many of its
//! slots empty (4,096 slots for 2,000 sensors) and an empty slot costs as much as a full one.
//! The sensor's plan shares its rules with every sensor of the same kind ([`RuleSet::plan`])
//! and its runner is sized to them ([`SensorRunner::new`]).

mod reload;
mod task;

use std::collections::HashMap;

use edge_rules::lang::{RuleSet, SensorPlan, SensorRunner};
use edge_rules::siblings::Siblings;
use edge_rules::Feature;
use tracing::warn;

use crate::event::{Alert, Event, EventBody, FeatureSet, Quality};

pub use reload::ReloadSummary;
pub use task::{run, Reload, RulesLinks, RulesTaskError};

/// The groups of `rules`, then the inferred ones, each sensor judged against its siblings.
fn siblings_of(rules: &RuleSet, inferred: &[Vec<String>]) -> Siblings {
    Siblings::new(
        rules
            .groups()
            .map(|g| g.sensors.clone())
            .chain(inferred.iter().cloned()),
    )
}

/// Groups inferred from the configured devices: on one device, registers of the same unit
/// whose sensor names differ only in their digits, three or more of them
/// ([`edge_rules::siblings::infer_groups`]): `pump1.bearing1.velocity` ... `bearing3`, or the
/// three phase currents `motor1.current_l1` ... `_l3`.
///
/// Why within one device only: the same register of three pumps is three machines, and one of
/// them stopped is not a fault. Why the same unit: a name alike with another unit is another
/// quantity. A rule file's `[[group]]` comes first and may name any sensors.
pub fn device_groups<'a, D, R>(devices: D) -> Vec<Vec<String>>
where
    D: IntoIterator<Item = R>,
    R: IntoIterator<Item = (&'a str, Option<&'a str>)>,
{
    let mut groups = Vec::new();
    for registers in devices {
        let mut by_unit: Vec<(Option<&str>, Vec<&str>)> = Vec::new();
        for (sensor, unit) in registers {
            match by_unit.iter_mut().find(|(u, _)| *u == unit) {
                Some((_, sensors)) => sensors.push(sensor),
                None => by_unit.push((unit, vec![sensor])),
            }
        }
        for (_, sensors) in by_unit {
            groups.extend(edge_rules::siblings::infer_groups(sensors));
        }
    }
    groups
}

/// Whether a feature goes into a `features` event: every window feature. `value` is the
/// reading itself, and `ewma` is not a window feature.
fn is_sent(feature: Feature) -> bool {
    !matches!(feature, Feature::Value | Feature::Ewma | Feature::Departure)
}

struct Sensor {
    plan: SensorPlan,
    runner: SensorRunner,
    /// Whether the sensor is in a `[[group]]`: judged against its siblings' latest samples.
    grouped: bool,
    samples_since_features: usize,
    rejection_logged: bool,
}

/// See the module docs.
pub struct RulesStage {
    rules: RuleSet,
    /// `None` for a sensor no rules can run for (already logged).
    sensors: HashMap<String, Option<Box<Sensor>>>,
    /// The rule files' groups and the inferred ones, with their members' latest samples.
    siblings: Siblings,
    /// Groups inferred from the configuration ([`device_groups`]), kept across reloads.
    inferred: Vec<Vec<String>>,
    forward_readings: bool,
    /// Raises held back by their rule's hold-off or minimum interval, by severity (info,
    /// warning, critical): counted, never spooled.
    held_back: [u64; 3],
}

impl std::fmt::Debug for RulesStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RulesStage")
            .field("sensors", &self.sensors.len())
            .finish()
    }
}

impl RulesStage {
    pub fn new(rules: RuleSet, forward_readings: bool) -> Self {
        Self {
            siblings: siblings_of(&rules, &[]),
            inferred: Vec::new(),
            rules,
            sensors: HashMap::new(),
            forward_readings,
            held_back: [0; 3],
        }
    }

    /// Judges the sensors of `groups` (inferred from the configuration: [`device_groups`])
    /// against their siblings too, besides the rule files' groups. Call before
    /// [`RulesStage::prepare`].
    pub fn with_inferred_groups(mut self, groups: Vec<Vec<String>>) -> Self {
        self.siblings = siblings_of(&self.rules, &groups);
        self.inferred = groups;
        self
    }

    /// Whether `sensor` is judged against its siblings.
    pub fn is_grouped(&self, sensor: &str) -> bool {
        self.siblings.is_grouped(sensor)
    }

    /// Raises held back so far, by severity (info, warning, critical).
    pub fn held_back(&self) -> [u64; 3] {
        self.held_back
    }

    /// Builds the engines of `sensor_ids` now rather than at their first reading, so that the
    /// rules' memory is taken at startup, and a sensor no rules can run for is reported at
    /// startup. Sensors that appear later (serial stream features) are built when first seen.
    pub fn prepare<'a>(&mut self, sensor_ids: impl IntoIterator<Item = &'a str>) {
        for sensor_id in sensor_ids {
            if !self.sensors.contains_key(sensor_id) {
                let built = self.build(sensor_id);
                self.sensors.insert(sensor_id.to_owned(), built);
            }
        }
    }

    /// Processes one event from a source, pushing what should be spooled onto `out`: the
    /// reading itself (when readings are forwarded), then what the rules made of it.
    pub fn process(&mut self, event: Event, out: &mut Vec<Event>) {
        let EventBody::Reading(reading) = &event.body else {
            out.push(event);
            return;
        };
        if reading.quality != Quality::Good {
            out.push(event);
            return;
        }
        let (value, ts_ms) = (reading.value, event.ts_ms);
        // The sensor id is borrowed from the event, which may be forwarded: note where the
        // rules' events start, run the rules, and put the reading in front of them.
        let derived_from = out.len();
        self.run_rules(&reading.sensor, ts_ms, value, out);
        if self.forward_readings {
            out.insert(derived_from, event);
        }
    }

    /// Runs `sensor`'s rules on one good sample, pushing alert transitions and, once per
    /// window, its features. Allocates nothing for a sample that changes nothing.
    fn run_rules(&mut self, sensor_id: &str, ts_ms: i64, value: f64, out: &mut Vec<Event>) {
        self.prepare([sensor_id]);
        let Some(Some(sensor)) = self.sensors.get_mut(sensor_id) else {
            return;
        };
        let plan = &sensor.plan;
        let reference = if sensor.grouped {
            self.siblings.observe(sensor_id, ts_ms, value)
        } else {
            None
        };
        let held_back = &mut self.held_back;
        let processed =
            sensor
                .runner
                .process_in_group(ts_ms, value, reference, &mut |transition| {
                    let Some(alert) = Alert::from_transition(plan, &transition, None) else {
                        held_back[transition.severity as usize] += 1;
                        return;
                    };
                    out.push(Event {
                        ts_ms: transition.time_ms,
                        body: EventBody::Alert(alert),
                    });
                });
        if let Err(rejection) = processed {
            if !sensor.rejection_logged {
                sensor.rejection_logged = true;
                warn!(sensor = %sensor_id, ?rejection, value, "sample rejected by the rules (further rejections are counted, not logged)");
            }
            return;
        }
        sensor.samples_since_features += 1;
        if sensor.samples_since_features >= sensor.plan.spec.window {
            sensor.samples_since_features = 0;
            let values = Feature::ALL
                .into_iter()
                .filter(|&f| is_sent(f))
                .filter_map(|f| sensor.runner.feature(f).map(|v| (f.name().to_string(), v)))
                .collect();
            let features = FeatureSet {
                sensor: sensor_id.to_owned(),
                window: sensor.plan.spec.window as u32,
                values,
            };
            out.push(Event {
                ts_ms,
                body: EventBody::Features(features),
            });
        }
    }

    /// The engine of a sensor seen for the first time; `None` (logged) if no rules can run.
    fn build(&self, sensor_id: &str) -> Option<Box<Sensor>> {
        let grouped = self.siblings.is_grouped(sensor_id);
        let built = self
            .rules
            .plan_in_group(sensor_id, None, grouped)
            .map_err(|e| e.to_string())
            .and_then(|plan| {
                let runner = SensorRunner::new(&plan).map_err(|e| format!("{e:?}"))?;
                Ok(Box::new(Sensor {
                    grouped,
                    plan,
                    runner,
                    samples_since_features: 0,
                    rejection_logged: false,
                }))
            });
        built
            .inspect_err(|error| warn!(sensor = %sensor_id, %error, "no rules run for this sensor"))
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(sensor: &str, ts_ms: i64, value: f64) -> Event {
        Event::good_reading(sensor, ts_ms, value)
    }

    /// A flat signal with a little noise, then a large step: the default rules raise on it.
    /// One sample every 2 s, so that the step comes after the default rules' settling time.
    fn step_signal(stage: &mut RulesStage) -> Vec<Event> {
        let mut out = Vec::new();
        for i in 0..400i64 {
            let noise = [0.0, 0.1, -0.1, 0.05, -0.05][(i % 5) as usize];
            let value = if i < 300 { 20.0 + noise } else { 80.0 + noise };
            stage.process(reading("pump.temp", i * 2000, value), &mut out);
        }
        out
    }

    fn default_rules() -> RuleSet {
        crate::rule_files::load(&[]).expect("the embedded default rules load")
    }

    #[test]
    fn like_registers_of_one_device_with_one_unit_are_a_group_and_nothing_else_is() {
        let pump = [
            ("pump1.bearing1.velocity", Some("mm/s")),
            ("pump1.bearing2.velocity", Some("mm/s")),
            ("pump1.bearing3.velocity", Some("mm/s")),
            // Named alike, another quantity.
            ("pump1.bearing4.velocity", Some("°C")),
            ("pump1.flow", Some("m³/h")),
        ];
        // The same register on three machines is not a group.
        let fans = [
            [("fan1.temperature1", Some("°C"))],
            [("fan2.temperature1", Some("°C"))],
            [("fan3.temperature1", Some("°C"))],
        ];
        let devices: Vec<Vec<(&str, Option<&str>)>> = std::iter::once(pump.to_vec())
            .chain(fans.iter().map(|f| f.to_vec()))
            .collect();
        let groups = device_groups(devices);
        assert_eq!(
            groups,
            [[
                "pump1.bearing1.velocity",
                "pump1.bearing2.velocity",
                "pump1.bearing3.velocity"
            ]]
        );

        let stage = RulesStage::new(default_rules(), true).with_inferred_groups(groups);
        assert!(stage.is_grouped("pump1.bearing2.velocity"));
        assert!(!stage.is_grouped("pump1.bearing4.velocity"));
        assert!(!stage.is_grouped("fan1.temperature1"));
    }

    #[test]
    fn a_grouped_sensor_is_judged_against_its_siblings_and_keeps_its_group_across_a_reload() {
        let group = vec![
            "m.phase1".to_string(),
            "m.phase2".to_string(),
            "m.phase3".to_string(),
        ];
        let mut stage = RulesStage::new(default_rules(), true).with_inferred_groups(vec![group]);
        stage.prepare(["m.phase1", "other"]);
        let rules_of = |stage: &RulesStage, id: &str| -> Vec<String> {
            let sensor = stage.sensors[id].as_ref().expect("rules run");
            sensor.plan.rules.iter().map(|r| r.name.clone()).collect()
        };
        assert!(rules_of(&stage, "m.phase1").contains(&"departs-from-siblings".to_string()));
        assert!(rules_of(&stage, "other").contains(&"unusual-behaviour".to_string()));
        stage.replace_rules(default_rules(), true);
        assert!(stage.is_grouped("m.phase1"));
        assert!(rules_of(&stage, "m.phase1").contains(&"departs-from-siblings".to_string()));
    }

    #[test]
    fn each_reading_comes_before_what_the_rules_made_of_it() {
        let mut stage = RulesStage::new(default_rules(), true);
        let out = step_signal(&mut stage);
        let kinds: Vec<&str> = out.iter().map(|e| e.body.kind()).collect();
        assert_eq!(kinds.iter().filter(|k| **k == "reading").count(), 400);
        assert!(kinds.contains(&"alert"), "the step raises an alert");
        // One features event per window of 60 samples.
        assert_eq!(kinds.iter().filter(|k| **k == "features").count(), 400 / 60);
        assert_eq!(kinds[0], "reading");
        let mut last_reading_ts = i64::MIN;
        for event in &out {
            match &event.body {
                EventBody::Reading(_) => last_reading_ts = event.ts_ms,
                // Derived events follow the reading they came from, never an earlier one.
                _ => assert_eq!(event.ts_ms, last_reading_ts, "{event:?}"),
            }
        }
    }

    #[test]
    fn without_forwarding_only_the_rules_events_leave() {
        let mut forwarding = RulesStage::new(default_rules(), true);
        let mut quiet = RulesStage::new(default_rules(), false);
        let derived: Vec<Event> = step_signal(&mut forwarding)
            .into_iter()
            .filter(|e| e.body.kind() != "reading")
            .collect();
        let out = step_signal(&mut quiet);
        assert!(!out.is_empty());
        assert_eq!(format!("{out:?}"), format!("{derived:?}"));
    }
}
