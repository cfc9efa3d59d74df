//! Which rules apply to which sensor, and a runner that owns one sensor's engine.
//!
//! A sensor declared in a rule file gets the rules of that file that name it or select its
//! kind. A sensor with no rule of its own (declared without rules, or not declared at all, as
//! a column of a recorded file) gets the default rule file's rules for its kind.

use std::fmt;
use std::sync::Arc;

use super::model::{RuleFile, SensorKind, Target, DEFAULT_WINDOW};
use crate::detect::{BaselineSpec, DetectorKind, DetectorSpec};
use crate::engine::{
    CapacityError, Counters, Rejection, RuleSpec, SensorEngine, SensorSpec, Transition,
    MAX_RULES_PER_SENSOR,
};
use crate::features::{self, Feature};
use crate::states::Boxed;

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
    /// Parallel to `specs`: transition `rule` indices point into both.
    pub rules: Vec<AppliedRule>,
    pub specs: Arc<[RuleSpec]>,
}

/// Validated rule files plus the default rules.
#[derive(Debug, Clone)]
pub struct RuleSet {
    files: Vec<RuleFile>,
    default: RuleFile,
}

impl RuleSet {
    /// `files` in order of precedence: a sensor declared twice takes the first declaration.
    pub fn new(files: Vec<RuleFile>, default: RuleFile) -> Self {
        Self { files, default }
    }

    pub fn files(&self) -> impl Iterator<Item = &RuleFile> {
        self.files.iter().chain([&self.default])
    }

    /// The plan of `sensor`; `kind_hint` is used when no rule file declares the sensor.
    pub fn plan(
        &self,
        sensor: &str,
        kind_hint: Option<SensorKind>,
    ) -> Result<SensorPlan, PlanError> {
        let declared = self
            .files
            .iter()
            .chain([&self.default])
            .find_map(|f| f.sensors.iter().find(|s| s.id == sensor).map(|s| (f, s)));
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
            .map(|(file, _)| matching(file, sensor, kind))
            .unwrap_or_default();
        let chosen = if own.is_empty() {
            matching(&self.default, sensor, kind)
        } else {
            own
        };
        if chosen.len() > MAX_RULES_PER_SENSOR {
            return Err(PlanError {
                sensor: sensor.to_string(),
                rules: chosen.len(),
            });
        }
        let (rules, specs): (Vec<_>, Vec<_>) = chosen
            .into_iter()
            .map(|(file, rule)| {
                let applied = AppliedRule {
                    name: rule.name.clone(),
                    file: file.label.clone(),
                    file_hash: file.hash.clone(),
                };
                (applied, resolve_for_window(&rule.spec, spec.window))
            })
            .unzip();
        Ok(SensorPlan {
            sensor: sensor.to_string(),
            kind,
            unit,
            spec,
            rules,
            specs: specs.into(),
        })
    }
}

/// The rules of `file` that apply to `sensor` of `kind`.
fn matching<'f>(
    file: &'f RuleFile,
    sensor: &str,
    kind: SensorKind,
) -> Vec<(&'f RuleFile, &'f super::model::Rule)> {
    file.rules
        .iter()
        .filter(|rule| match &rule.target {
            Target::Sensors(ids) => ids.iter().any(|id| id == sensor),
            Target::Kind(selector) => selector.is_none_or(|k| k == kind),
        })
        .map(|rule| (file, rule))
        .collect()
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
            DetectorSpec::Level { .. } => {}
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
    /// Memory is fixed here: the smallest window class that holds the plan's window.
    pub fn new(plan: &SensorPlan) -> Result<Self, CapacityError> {
        let specs = Arc::clone(&plan.specs);
        let inner: Box<dyn Run> = match plan.spec.window {
            0..=64 => Box::new(Sized::<64>::new(plan.spec, specs)?),
            65..=256 => Box::new(Sized::<256>::new(plan.spec, specs)?),
            257..=1024 => Box::new(Sized::<1024>::new(plan.spec, specs)?),
            _ => Box::new(Sized::<4096>::new(plan.spec, specs)?),
        };
        Ok(Self { inner })
    }

    pub fn process(
        &mut self,
        time_ms: i64,
        value: f64,
        emit: &mut dyn FnMut(Transition),
    ) -> Result<(), Rejection> {
        self.inner.process(time_ms, value, emit)
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
        emit: &mut dyn FnMut(Transition),
    ) -> Result<(), Rejection>;
    fn counters(&self) -> Counters;
    fn feature(&self, feature: Feature) -> Option<f64>;
}

/// The rules' state is boxed to the exact counts of the plan: see [`crate::states`].
struct Sized<const N: usize> {
    engine: SensorEngine<N, Boxed>,
    specs: Arc<[RuleSpec]>,
}

impl<const N: usize> Sized<N> {
    fn new(spec: SensorSpec, specs: Arc<[RuleSpec]>) -> Result<Self, CapacityError> {
        Ok(Self {
            engine: SensorEngine::new(spec, &specs)?,
            specs,
        })
    }
}

impl<const N: usize> Run for Sized<N> {
    fn process(
        &mut self,
        time_ms: i64,
        value: f64,
        emit: &mut dyn FnMut(Transition),
    ) -> Result<(), Rejection> {
        self.engine.process(&self.specs, time_ms, value, emit)
    }

    fn counters(&self) -> Counters {
        self.engine.counters()
    }

    fn feature(&self, feature: Feature) -> Option<f64> {
        let (_, latest) = self.engine.window().iter().last()?;
        features::read(feature, self.engine.window(), self.engine.ewma(), latest)
    }
}
