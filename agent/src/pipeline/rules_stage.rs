//! The rules stage: readings in, readings, features and alert transitions out, one engine per
//! sensor, created the first time the sensor is seen.
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

use std::collections::HashMap;

use edge_rules::lang::{RuleSet, SensorPlan, SensorRunner};
use edge_rules::Feature;
use tracing::warn;

use crate::event::{Alert, Event, EventBody, FeatureSet, Quality};

/// Whether a feature goes into a `features` event: every window feature. `value` is the
/// reading itself, and `ewma` is not a window feature.
fn is_sent(feature: Feature) -> bool {
    !matches!(feature, Feature::Value | Feature::Ewma)
}

struct Sensor {
    plan: SensorPlan,
    runner: SensorRunner,
    samples_since_features: usize,
    rejection_logged: bool,
}

/// See the module docs.
pub struct RulesStage {
    rules: RuleSet,
    /// `None` for a sensor no rules can run for (already logged).
    sensors: HashMap<String, Option<Box<Sensor>>>,
    forward_readings: bool,
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
            rules,
            sensors: HashMap::new(),
            forward_readings,
        }
    }

    /// Processes one event from a source, pushing what should be spooled onto `out`.
    pub fn process(&mut self, event: Event, out: &mut Vec<Event>) {
        let EventBody::Reading(reading) = &event.body else {
            out.push(event);
            return;
        };
        if reading.quality != Quality::Good {
            out.push(event);
            return;
        }
        let (sensor_id, value, ts_ms) = (reading.sensor.clone(), reading.value, event.ts_ms);
        if self.forward_readings {
            out.push(event);
        }
        let rules = &self.rules;
        let entry = self.sensors.entry(sensor_id.clone()).or_insert_with(|| {
            let built = rules
                .plan(&sensor_id, None)
                .map_err(|e| e.to_string())
                .and_then(|plan| {
                    let runner = SensorRunner::new(&plan).map_err(|e| format!("{e:?}"))?;
                    Ok(Box::new(Sensor {
                        plan,
                        runner,
                        samples_since_features: 0,
                        rejection_logged: false,
                    }))
                });
            built
                .inspect_err(
                    |error| warn!(sensor = %sensor_id, %error, "no rules run for this sensor"),
                )
                .ok()
        });
        let Some(sensor) = entry else { return };
        let mut transitions = Vec::new();
        if let Err(rejection) = sensor
            .runner
            .process(ts_ms, value, &mut |t| transitions.push(t))
        {
            if !sensor.rejection_logged {
                sensor.rejection_logged = true;
                warn!(sensor = %sensor_id, ?rejection, value, "sample rejected by the rules (further rejections are counted, not logged)");
            }
            return;
        }
        for transition in &transitions {
            let alert = Alert::from_transition(&sensor.plan, transition, None);
            out.push(Event {
                ts_ms: transition.time_ms,
                body: EventBody::Alert(alert),
            });
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
                sensor: sensor_id,
                window: sensor.plan.spec.window as u32,
                values,
            };
            out.push(Event {
                ts_ms,
                body: EventBody::Features(features),
            });
        }
    }
}
