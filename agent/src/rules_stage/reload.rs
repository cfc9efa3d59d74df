//! Replacing the rules of a running stage without losing what the engines learned.
//!
//! A sensor whose engine would be built the same from the new rules (same kind, window,
//! range and rule specs, rules of the same names in the same order) keeps its engine:
//! windows, baselines and alert states survive, and only the plan is swapped, so that its
//! next alerts carry the new file's hash. Any other sensor gets a fresh engine: its rules
//! changed, so what its old engine learned does not apply. A sensor that no rules can run
//! for any more is kept as "no rules" (logged by `build`).

use edge_rules::lang::{RuleSet, SensorPlan};

use super::RulesStage;

/// What a reload did to the sensors already known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReloadSummary {
    /// Sensors whose engine (windows, alert states) was kept.
    pub kept: usize,
    /// Sensors that got a fresh engine.
    pub rebuilt: usize,
}

/// Whether an engine built for `old` is the one `new` would build.
fn same_engine(old: &SensorPlan, new: &SensorPlan) -> bool {
    old.kind == new.kind
        && old.spec == new.spec
        && *old.specs == *new.specs
        && old.rules.len() == new.rules.len()
        && old
            .rules
            .iter()
            .zip(new.rules.iter())
            .all(|(a, b)| a.name == b.name)
}

impl RulesStage {
    /// Runs `rules` from now on; see the module docs for what survives.
    pub fn replace_rules(&mut self, rules: RuleSet, forward_readings: bool) -> ReloadSummary {
        self.siblings = super::siblings_of(&rules, &self.inferred);
        self.rules = rules;
        self.forward_readings = forward_readings;
        let mut summary = ReloadSummary::default();
        let ids: Vec<String> = self.sensors.keys().cloned().collect();
        for id in ids {
            let grouped = self.siblings.is_grouped(&id);
            let plan = self.rules.plan_in_group(&id, None, grouped).ok();
            if let (Some(Some(sensor)), Some(plan)) = (self.sensors.get_mut(&id), plan) {
                if same_engine(&sensor.plan, &plan) {
                    sensor.plan = plan;
                    sensor.grouped = grouped;
                    summary.kept += 1;
                    continue;
                }
            }
            let built = self.build(&id);
            self.sensors.insert(id, built);
            summary.rebuilt += 1;
        }
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{AlertState, Event, EventBody};
    use edge_rules::lang::parse_rule_file;

    fn rules(threshold: f64) -> RuleSet {
        let text = format!(
            r#"version = 1
[[sensor]]
id = "a"
kind = "temperature"
window = 10

[[sensor]]
id = "b"
kind = "temperature"
window = 10

[[rule]]
name = "a-hot"
sensor = "a"
severity = "warning"
  [[rule.when]]
  detector = "threshold"
  feature = "value"
  above = 50.0

[[rule]]
name = "b-hot"
sensor = "b"
severity = "warning"
  [[rule.when]]
  detector = "threshold"
  feature = "value"
  above = {threshold:?}
"#
        );
        let file = parse_rule_file("test.toml", &text).expect("valid rules");
        RuleSet::new(vec![file], crate::rule_files::default_rules())
    }

    fn reading(sensor: &str, ts_ms: i64, value: f64) -> Event {
        Event::good_reading(sensor, ts_ms, value)
    }

    /// Alert transitions of `sensor` among `events`.
    fn transitions(events: &[Event], sensor: &str) -> Vec<(String, AlertState)> {
        events
            .iter()
            .filter_map(|e| match &e.body {
                EventBody::Alert(a) if a.sensor == sensor => Some((a.rule.clone(), a.state)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn an_unchanged_sensor_keeps_its_alert_state_and_a_changed_one_starts_afresh() {
        let mut stage = RulesStage::new(rules(50.0), false);
        let mut out = Vec::new();
        for i in 0..20 {
            stage.process(reading("a", i * 1000, 80.0), &mut out);
            stage.process(reading("b", i * 1000, 80.0), &mut out);
        }
        assert_eq!(
            transitions(&out, "a"),
            [("a-hot".to_owned(), AlertState::Raised)]
        );
        assert_eq!(
            transitions(&out, "b"),
            [("b-hot".to_owned(), AlertState::Raised)]
        );

        // `b`'s rule changes; `a`'s does not.
        let summary = stage.replace_rules(rules(90.0), false);
        assert_eq!(
            summary,
            ReloadSummary {
                kept: 1,
                rebuilt: 1
            }
        );

        out.clear();
        for i in 20..40 {
            stage.process(reading("a", i * 1000, 20.0), &mut out);
            stage.process(reading("b", i * 1000, 95.0), &mut out);
        }
        // `a` remembered it was raised, so it clears; it is not raised again.
        assert_eq!(
            transitions(&out, "a"),
            [("a-hot".to_owned(), AlertState::Cleared)]
        );
        // `b` starts from nothing and raises on the new threshold.
        assert_eq!(
            transitions(&out, "b"),
            [("b-hot".to_owned(), AlertState::Raised)]
        );
    }
}
