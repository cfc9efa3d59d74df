//! The per-sensor engine: one sample in, alert transitions out, in constant memory.
//!
//! A [`SensorEngine`] holds the window, the EWMA and the state of every detector and alert of
//! one sensor; the rules themselves ([`RuleSpec`]) are shared by all sensors that use them and
//! passed in on every call, so that a gateway with thousands of sensors keeps one copy. The
//! state is sized to the rules the sensor runs, in a store chosen by a type parameter (fixed
//! capacity by default, exact boxed slices with `std`): see [`crate::states`].
//!
//! Order of work for one sample, which is what makes "the window before the sample" exact:
//! 1. reject non-finite and out-of-range values (counted, never in the window);
//! 2. take the window's statistics *before* the sample (the baseline detectors' reference);
//! 3. push the sample into the window and the EWMA;
//! 4. let every detector judge, combine per rule (any / all) and step each alert's lifecycle.

use heapless::Vec;

use crate::alert::{AlertState, Severity, Timing};
use crate::detect::{DetectorKind, DetectorSpec, Judgement, Sample, Score};
use crate::features::{Ewma, Feature};
use crate::states::{Inline, RuleStates, StoreFull};
use crate::window::{InvalidLength, SlotIndex, Window};

/// Conditions one rule may combine.
pub const MAX_CONDITIONS: usize = 4;
/// Rules that may apply to one sensor.
pub const MAX_RULES_PER_SENSOR: usize = 8;

/// How a rule combines its conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    /// The rule holds when any condition holds.
    Any,
    /// The rule holds when every condition holds.
    All,
}

/// One compiled rule: conditions, how to combine them, timing and severity.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSpec {
    pub conditions: Vec<DetectorSpec, MAX_CONDITIONS>,
    pub combine: Combine,
    pub timing: Timing,
    pub severity: Severity,
}

/// Per-sensor settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SensorSpec {
    /// Samples in the rolling window.
    pub window: usize,
    /// Smoothing factor of the `ewma` feature.
    pub ewma_alpha: f64,
    /// Values outside `[min, max]` are rejected as implausible (a broken transmitter).
    pub valid_range: Option<(f64, f64)>,
}

/// One alert of one sensor changing state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transition {
    /// Index of the rule in the slice given to [`SensorEngine::process`].
    pub rule: usize,
    pub state: AlertState,
    /// Raises held back by the rule's spacing: see [`crate::alert::Step::held_back`].
    pub held_back: u32,
    pub time_ms: i64,
    pub severity: Severity,
    /// The sample that caused the transition.
    pub value: f64,
    pub detector: DetectorKind,
    pub feature: Feature,
    pub feature_value: f64,
    /// How unusual, 0–1 (see [`crate::detect::Judgement::score`]); NaN without a judgement.
    pub score: f64,
    /// The deciding detector's own statistic (z, CUSUM sum, adaptive raw score, …).
    pub statistic: f64,
    /// The normal the sample was judged against, for detectors that keep one.
    pub evidence: Option<crate::adaptive::Evidence>,
    /// The view that held, for the `unusual` detector.
    pub view: Option<crate::unusual::View>,
}

/// Why a sample was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    NotFinite,
    OutOfRange,
}

/// What the engine has counted; never reset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub accepted: u64,
    pub rejected_not_finite: u64,
    pub rejected_out_of_range: u64,
    /// Samples whose timestamp was not later than the previous one (processed anyway).
    pub out_of_order: u64,
}

/// Too many rules or conditions for the state store, or a bad window length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapacityError {
    Window(InvalidLength),
    Store(StoreFull),
}

/// The engine of one sensor, with a window of at most `N` samples (slots numbered with `I`)
/// and the state of its rules in `S`; see the module docs.
#[derive(Debug, Clone)]
pub struct SensorEngine<const N: usize, S = Inline, I: SlotIndex = u16> {
    /// `spec.valid_range`, or the whole line when there is none: every finite value is in it.
    /// (A pair of bounds takes 16 bytes, an `Option` of one 24.)
    accepted_range: (f64, f64),
    window: Window<N, I>,
    ewma: Ewma,
    states: S,
    /// The largest timestamp so far, and the latest; both meaningless until a sample has been
    /// accepted (`counters.accepted > 0`), which is why they need no `Option` of their own.
    clock_ms: i64,
    last_time_ms: i64,
    counters: Counters,
}

impl<const N: usize, S: RuleStates, I: SlotIndex> SensorEngine<N, S, I> {
    /// An engine for `rules`; every later call to `process` must pass the same rules.
    pub fn new(spec: SensorSpec, rules: &[RuleSpec]) -> Result<Self, CapacityError> {
        let window = Window::new(spec.window).map_err(CapacityError::Window)?;
        let conditions = rules.iter().map(|r| r.conditions.len()).sum();
        let unusual = rules
            .iter()
            .flat_map(|r| &r.conditions)
            .filter(|c| matches!(c, DetectorSpec::Unusual { .. }))
            .count();
        let states = S::at_rest(rules.len(), conditions, unusual).map_err(CapacityError::Store)?;
        Ok(Self {
            accepted_range: spec
                .valid_range
                .unwrap_or((f64::NEG_INFINITY, f64::INFINITY)),
            window,
            ewma: Ewma::new(spec.ewma_alpha),
            states,
            clock_ms: 0,
            last_time_ms: 0,
            counters: Counters::default(),
        })
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    pub fn window(&self) -> &Window<N, I> {
        &self.window
    }

    pub fn ewma(&self) -> &Ewma {
        &self.ewma
    }

    /// Whether rule `index` is currently raised.
    pub fn is_raised(&self, index: usize) -> bool {
        self.states
            .lifecycles()
            .get(index)
            .is_some_and(|l| l.is_raised())
    }

    /// Processes one sample; `emit` receives each alert transition it causes.
    pub fn process(
        &mut self,
        rules: &[RuleSpec],
        time_ms: i64,
        value: f64,
        emit: impl FnMut(Transition),
    ) -> Result<(), Rejection> {
        self.process_in_group(rules, time_ms, value, None, emit)
    }

    /// [`Self::process`] for a sensor of a group: `reference` is the median of the latest
    /// samples of its siblings (see [`crate::siblings`]), `None` until they have reported.
    pub fn process_in_group(
        &mut self,
        rules: &[RuleSpec],
        time_ms: i64,
        value: f64,
        reference: Option<f64>,
        mut emit: impl FnMut(Transition),
    ) -> Result<(), Rejection> {
        debug_assert_eq!(
            rules.len(),
            self.states.lifecycles().len(),
            "rules differ from `new`"
        );
        debug_assert_eq!(
            rules.iter().map(|r| r.conditions.len()).sum::<usize>(),
            self.states.split_mut().1.len(),
            "conditions differ from `new`"
        );
        if !value.is_finite() {
            self.counters.rejected_not_finite += 1;
            return Err(Rejection::NotFinite);
        }
        let (min, max) = self.accepted_range;
        if !(min..=max).contains(&value) {
            self.counters.rejected_out_of_range += 1;
            return Err(Rejection::OutOfRange);
        }
        let first = self.counters.accepted == 0;
        self.counters.accepted += 1;
        if !first && time_ms <= self.last_time_ms {
            self.counters.out_of_order += 1;
        }
        self.last_time_ms = time_ms;
        let now = if first {
            time_ms
        } else {
            self.clock_ms.max(time_ms)
        };
        self.clock_ms = now;

        let before = self.window.moments();
        self.window.push(time_ms, value);
        self.ewma.update(value);
        let sample = Sample {
            time_ms: now,
            value,
            before,
            window: &self.window,
            ewma: &self.ewma,
            reference,
        };

        let (lifecycles, mut detectors, mut unusual) = self.states.split_mut();
        for (index, (rule, lifecycle)) in rules.iter().zip(lifecycles).enumerate() {
            // This rule's detector states are the next `conditions.len()` of the flat run.
            let Some((own, rest)) =
                core::mem::take(&mut detectors).split_at_mut_checked(rule.conditions.len())
            else {
                break; // fewer states than conditions: not the rules of `new`
            };
            detectors = rest;
            let mut judgements: Vec<Option<Judgement>, MAX_CONDITIONS> = Vec::new();
            for (spec, detector) in rule.conditions.iter().zip(own) {
                // An `unusual` condition takes the next state of the run of them.
                let wide = match spec {
                    DetectorSpec::Unusual { .. } => {
                        match core::mem::take(&mut unusual).split_first_mut() {
                            Some((next, rest)) => {
                                unusual = rest;
                                Some(next)
                            }
                            None => None, // not the rules of `new`
                        }
                    }
                    _ => None,
                };
                // Cannot fail: a rule has at most MAX_CONDITIONS conditions.
                let _ = judgements.push(detector.judge(spec, &sample, wide));
            }
            let holds = match rule.combine {
                Combine::Any => judgements.iter().flatten().any(|j| j.active),
                Combine::All => judgements.iter().all(|j| j.is_some_and(|j| j.active)),
            };
            let Some(step) = lifecycle.step(holds, now, &rule.timing) else {
                continue;
            };
            let new_state = step.state;
            // Report the condition that decided: the first that holds on a raise (or a raise
            // held back), the first that has a judgement at all on a clear.
            let decisive = judgements
                .iter()
                .enumerate()
                .filter_map(|(i, j)| j.map(|j| (i, j)))
                .find(|(_, j)| j.active == (new_state != AlertState::Cleared))
                .or_else(|| {
                    judgements
                        .iter()
                        .enumerate()
                        .find_map(|(i, j)| j.map(|j| (i, j)))
                });
            let (detector, judgement) = match decisive {
                Some((i, j)) => (rule.conditions[i].kind(), j),
                None => (
                    rule.conditions[0].kind(),
                    Judgement {
                        active: false,
                        feature: Feature::Value,
                        value,
                        statistic: f64::NAN,
                        score: Score::Value(f64::NAN),
                        evidence: None,
                        view: None,
                    },
                ),
            };
            emit(Transition {
                rule: index,
                state: new_state,
                held_back: step.held_back,
                time_ms: now,
                severity: rule.severity,
                value,
                detector,
                feature: judgement.feature,
                feature_value: judgement.value,
                score: judgement.score.value(),
                statistic: judgement.statistic,
                evidence: judgement.evidence,
                view: judgement.view,
            });
        }
        Ok(())
    }
}
