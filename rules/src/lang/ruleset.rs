//! Which rules apply to which sensor, and a runner that owns one sensor's engine.
//!
//! A sensor declared in a rule file gets the rules of that file that name it or select its
//! kind. A sensor with no rule of its own (declared without rules, or not declared at all, as
//! a column of a recorded file) gets the default rule file's rules for its kind.
//!
//! Sensors that get the same rules on the same window get the same lineage and specs: the
//! [`RuleSet`] builds them once and hands every such plan an `Arc` of them. On a gateway of
//! thousands of registers without rules of their own there are a handful of distinct plans
//! (one per kind), not one copy per sensor.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use super::model::{Group, Rule, RuleFile, SensorKind, Target, DEFAULT_WINDOW};
use crate::detect::{BaselineSpec, DetectorKind, DetectorSpec};
use crate::engine::{
    CapacityError, Counters, Rejection, RuleSpec, SensorEngine, SensorSpec, Transition,
    MAX_RULES_PER_SENSOR,
};
use crate::features::{self, Feature};
use crate::states::Boxed;
use crate::window::SlotIndex;

/// A rule as applied to one sensor, with its lineage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedRule {
    pub name: String,
    /// The rule file's label and content hash.
    pub file: String,
    pub file_hash: String,
}

/// Everything needed to run one sensor.
#[derive(Debug, Clone)]
pub struct SensorPlan {
    pub sensor: String,
    pub kind: SensorKind,
    pub unit: Option<String>,
    pub spec: SensorSpec,
    /// Parallel to `specs`: transition `rule` indices point into both. Shared by every plan
    /// with the same rules and window.
    pub rules: Arc<[AppliedRule]>,
    pub specs: Arc<[RuleSpec]>,
}

/// Validated rule files plus the default rules.
#[derive(Debug, Clone)]
pub struct RuleSet {
    files: Vec<RuleFile>,
    default: RuleFile,
    interned: Interned,
}

/// A rule by its place: the index of its file in [`RuleSet::files`] order, and its own index
/// in that file.
type RuleRef = (usize, usize);

/// The rules chosen for a sensor and its window: what decides its lineage and specs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Choice {
    rules: Vec<RuleRef>,
    window: usize,
}

/// What the plans of one [`Choice`] share.
#[derive(Debug, Clone)]
struct Shared {
    rules: Arc<[AppliedRule]>,
    specs: Arc<[RuleSpec]>,
}

/// The [`Shared`] parts built so far. A cache: a clone starts empty and fills again.
#[derive(Default)]
struct Interned(Mutex<HashMap<Choice, Shared>>);

impl Clone for Interned {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl fmt::Debug for Interned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let distinct = self.0.lock().unwrap_or_else(PoisonError::into_inner).len();
        write!(f, "Interned({distinct} distinct plans)")
    }
}

impl RuleSet {
    /// `files` in order of precedence: a sensor declared twice takes the first declaration.
    pub fn new(files: Vec<RuleFile>, default: RuleFile) -> Self {
        Self {
            files,
            default,
            interned: Interned::default(),
        }
    }

    pub fn files(&self) -> impl Iterator<Item = &RuleFile> {
        self.files.iter().chain([&self.default])
    }

    /// The group `sensor` belongs to in the rule files, if any (the first file that puts it
    /// in one decides).
    pub fn group_of(&self, sensor: &str) -> Option<&Group> {
        self.files()
            .flat_map(|f| &f.groups)
            .find(|g| g.sensors.iter().any(|s| s == sensor))
    }

    /// Every group of the rule files, in order of precedence.
    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.files().flat_map(|f| &f.groups)
    }

    /// The plan of `sensor`; `kind_hint` is used when no rule file declares the sensor. It
    /// is of a group when the rule files put it in one.
    pub fn plan(
        &self,
        sensor: &str,
        kind_hint: Option<SensorKind>,
    ) -> Result<SensorPlan, PlanError> {
        self.plan_in_group(sensor, kind_hint, self.group_of(sensor).is_some())
    }

    /// The plan of `sensor`, of a group or not as `grouped` says (a caller that infers groups
    /// the rule files do not name, such as `replay` from a file's columns).
    pub fn plan_in_group(
        &self,
        sensor: &str,
        kind_hint: Option<SensorKind>,
        grouped: bool,
    ) -> Result<SensorPlan, PlanError> {
        let declared = self.files().enumerate().find_map(|(index, f)| {
            f.sensors
                .iter()
                .find(|s| s.id == sensor)
                .map(|s| (index, s))
        });
        let (kind, unit, spec) = match declared {
            Some((_, decl)) => (decl.kind, decl.unit.clone(), decl.spec),
            None => {
                let window = DEFAULT_WINDOW;
                let spec = SensorSpec {
                    window,
                    ewma_alpha: 2.0 / (window as f64 + 1.0),
                    valid_range: None,
                };
                (kind_hint.unwrap_or(SensorKind::Generic), None, spec)
            }
        };
        let own = declared
            .map(|(file, _)| self.matching(file, sensor, kind, grouped))
            .unwrap_or_default();
        let chosen = if own.is_empty() {
            self.matching(self.files.len(), sensor, kind, grouped)
        } else {
            own
        };
        if chosen.len() > MAX_RULES_PER_SENSOR {
            return Err(PlanError {
                sensor: sensor.to_string(),
                rules: chosen.len(),
            });
        }
        let shared = self.shared(Choice {
            rules: chosen,
            window: spec.window,
        });
        Ok(SensorPlan {
            sensor: sensor.to_string(),
            kind,
            unit,
            spec,
            rules: shared.rules,
            specs: shared.specs,
        })
    }

    /// The lineage and specs of `choice`, built the first time it is asked for.
    fn shared(&self, choice: Choice) -> Shared {
        // The map is only ever inserted into whole entries, so a panic elsewhere while it was
        // locked cannot have left it half-updated: a poisoned lock is still good to use.
        let mut interned = self
            .interned
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let window = choice.window;
        interned
            .entry(choice)
            .or_insert_with_key(|choice| {
                let (rules, specs): (Vec<_>, Vec<_>) = choice
                    .rules
                    .iter()
                    .map(|&place| {
                        let (file, rule) = self.rule(place);
                        let applied = AppliedRule {
                            name: rule.name.clone(),
                            file: file.label.clone(),
                            file_hash: file.hash.clone(),
                        };
                        (applied, resolve_for_window(&rule.spec, window))
                    })
                    .unzip();
                Shared {
                    rules: rules.into(),
                    specs: specs.into(),
                }
            })
            .clone()
    }

    /// The file at `index` in [`RuleSet::files`] order (the default file last).
    fn file(&self, index: usize) -> &RuleFile {
        self.files.get(index).unwrap_or(&self.default)
    }

    fn rule(&self, (file, rule): RuleRef) -> (&RuleFile, &Rule) {
        let file = self.file(file);
        (file, &file.rules[rule])
    }

    /// The rules of the file at `index` that apply to `sensor` of `kind`, of a group or not.
    fn matching(
        &self,
        index: usize,
        sensor: &str,
        kind: SensorKind,
        grouped: bool,
    ) -> Vec<RuleRef> {
        self.file(index)
            .rules
            .iter()
            .enumerate()
            .filter(|(_, rule)| rule.siblings.admits(grouped))
            .filter(|(_, rule)| match &rule.target {
                Target::Sensors(ids) => ids.iter().any(|id| id == sensor),
                Target::Kind(selector) => selector.is_none_or(|k| k == kind),
            })
            .map(|(position, _)| (index, position))
            .collect()
    }
}

/// Settings that depend on the sensor's window: a warm-up of 0 (not given) means the whole
/// window, a re-learn of 0 means ten windows, a warm-up may not exceed the window, and a
/// flatline judges only a full window.
fn resolve_for_window(spec: &RuleSpec, window: usize) -> RuleSpec {
    let mut spec = spec.clone();
    let fix = |b: &mut BaselineSpec| {
        b.warmup = if b.warmup == 0 {
            window
        } else {
            b.warmup.min(window)
        };
        if b.relearn_after == 0 {
            b.relearn_after = 10 * window;
        }
    };
    for condition in spec.conditions.iter_mut() {
        match condition {
            DetectorSpec::ZScore { baseline, .. }
            | DetectorSpec::EwmaChart { baseline, .. }
            | DetectorSpec::Cusum { baseline, .. } => fix(baseline),
            DetectorSpec::Level {
                kind: DetectorKind::Flatline,
                min_count,
                ..
            } => *min_count = window,
            DetectorSpec::Level { .. }
            | DetectorSpec::Adaptive { .. }
            | DetectorSpec::Unusual { .. } => {}
        }
    }
    spec
}

/// More rules apply to one sensor than its engine can hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{rules} rules apply to sensor `{sensor}`, more than the {MAX_RULES_PER_SENSOR} one sensor can run: split them or narrow their `kind`")]
pub struct PlanError {
    pub sensor: String,
    pub rules: usize,
}

/// One sensor's engine with its rules, sized to the sensor's window.
pub struct SensorRunner {
    inner: Box<dyn Run>,
}

impl fmt::Debug for SensorRunner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SensorRunner")
            .field("counters", &self.inner.counters())
            .finish()
    }
}

impl SensorRunner {
    /// Memory is fixed here: the smallest window class that holds the plan's window, with
    /// one-byte slot numbers up to 256 samples. The default window has a class of its own,
    /// exactly its size: it is the window of every sensor without rules of its own, most
    /// sensors of a large gateway.
    pub fn new(plan: &SensorPlan) -> Result<Self, CapacityError> {
        let specs = Arc::clone(&plan.specs);
        let inner: Box<dyn Run> = match plan.spec.window {
            DEFAULT_WINDOW => Box::new(Sized::<DEFAULT_WINDOW, u8>::new(plan.spec, specs)?),
            0..=64 => Box::new(Sized::<64, u8>::new(plan.spec, specs)?),
            65..=256 => Box::new(Sized::<256, u8>::new(plan.spec, specs)?),
            257..=1024 => Box::new(Sized::<1024, u16>::new(plan.spec, specs)?),
            _ => Box::new(Sized::<4096, u16>::new(plan.spec, specs)?),
        };
        Ok(Self { inner })
    }

    pub fn process(
        &mut self,
        time_ms: i64,
        value: f64,
        emit: &mut dyn FnMut(Transition),
    ) -> Result<(), Rejection> {
        self.inner.process(time_ms, value, None, emit)
    }

    /// [`Self::process`] for a sensor of a group, with the median of its siblings' latest
    /// samples (see [`crate::siblings::Siblings`]).
    pub fn process_in_group(
        &mut self,
        time_ms: i64,
        value: f64,
        reference: Option<f64>,
        emit: &mut dyn FnMut(Transition),
    ) -> Result<(), Rejection> {
        self.inner.process(time_ms, value, reference, emit)
    }

    pub fn counters(&self) -> Counters {
        self.inner.counters()
    }

    /// The current value of `feature` over the sensor's window; `None` while undefined.
    pub fn feature(&self, feature: Feature) -> Option<f64> {
        self.inner.feature(feature)
    }
}

trait Run: Send {
    fn process(
        &mut self,
        time_ms: i64,
        value: f64,
        reference: Option<f64>,
        emit: &mut dyn FnMut(Transition),
    ) -> Result<(), Rejection>;
    fn counters(&self) -> Counters;
    fn feature(&self, feature: Feature) -> Option<f64>;
}

/// The rules' state is boxed to the exact counts of the plan: see [`crate::states`].
struct Sized<const N: usize, I: SlotIndex> {
    engine: SensorEngine<N, Boxed, I>,
    specs: Arc<[RuleSpec]>,
}

impl<const N: usize, I: SlotIndex> Sized<N, I> {
    fn new(spec: SensorSpec, specs: Arc<[RuleSpec]>) -> Result<Self, CapacityError> {
        Ok(Self {
            engine: SensorEngine::new(spec, &specs)?,
            specs,
        })
    }
}

impl<const N: usize, I: SlotIndex + Send> Run for Sized<N, I> {
    fn process(
        &mut self,
        time_ms: i64,
        value: f64,
        reference: Option<f64>,
        emit: &mut dyn FnMut(Transition),
    ) -> Result<(), Rejection> {
        self.engine
            .process_in_group(&self.specs, time_ms, value, reference, emit)
    }

    fn counters(&self) -> Counters {
        self.engine.counters()
    }

    fn feature(&self, feature: Feature) -> Option<f64> {
        let (_, latest) = self.engine.window().iter().last()?;
        features::read(feature, self.engine.window(), self.engine.ewma(), latest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::{parse_rule_file, DEFAULT_RULES, DEFAULT_RULES_LABEL};

    const DECLARED: &str = r#"
version = 1
[[sensor]]
id = "tank.level"
kind = "generic"
window = 30
[[sensor]]
id = "tank.quiet"
kind = "generic"
"#;

    fn rules() -> RuleSet {
        let declared = parse_rule_file("declared.toml", DECLARED).expect("valid fixture");
        let default = parse_rule_file(DEFAULT_RULES_LABEL, DEFAULT_RULES).expect("valid defaults");
        RuleSet::new(vec![declared], default)
    }

    fn plan(rules: &RuleSet, sensor: &str, kind: Option<SensorKind>) -> SensorPlan {
        rules.plan(sensor, kind).expect("the default rules fit")
    }

    #[test]
    fn sensors_with_the_same_rules_and_window_share_one_copy_of_them() {
        let rules = rules();
        let a = plan(&rules, "register.1", None);
        let b = plan(&rules, "register.2", None);
        // Declared, but without rules of its own, on the default window: the same choice.
        let c = plan(&rules, "tank.quiet", None);
        for other in [&b, &c] {
            assert!(Arc::ptr_eq(&a.rules, &other.rules));
            assert!(Arc::ptr_eq(&a.specs, &other.specs));
        }
        assert_eq!(
            (a.sensor.as_str(), b.sensor.as_str()),
            ("register.1", "register.2")
        );
    }

    #[test]
    fn another_kind_or_window_gets_its_own_rules() {
        let rules = rules();
        let generic = plan(&rules, "register.1", None);
        let vibration = plan(&rules, "register.2", Some(SensorKind::VibrationVelocity));
        let narrow = plan(&rules, "tank.level", None);
        // Kurtosis and crest-factor trends are for vibration only.
        assert_eq!(vibration.rules.len(), generic.rules.len() + 2);
        assert_eq!(narrow.rules, generic.rules);
        assert!(!Arc::ptr_eq(&narrow.specs, &generic.specs));
        // The window decides the flatline's count and the baselines' warm-up.
        assert_ne!(narrow.specs, generic.specs);
    }
}
