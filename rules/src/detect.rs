//! Detectors: each turns one sample (and the window around it) into "the condition holds" or
//! not, with hysteresis, so that a signal hovering at a threshold does not flap.
//!
//! Two families:
//! - **Level detectors** compare a feature of the window with fixed levels: static thresholds,
//!   rate of rise, ISO 10816 zones and the stuck-sensor (flatline) check.
//! - **Baseline detectors** compare the new sample with the statistics of the window *before*
//!   it: rolling z-score, EWMA control chart and CUSUM. Their baseline freezes while the
//!   condition holds, so an anomaly that lasts longer than the window is not learned as the
//!   new normal (the alert would clear while the machine is still broken, then raise again when
//!   it is repaired). Once the condition has stopped holding for a whole window of samples,
//!   the window again holds only post-anomaly data and the live baseline takes over.

use crate::adaptive::{normal_cdf, AdaptiveSpec, AdaptiveState, Evidence};
use crate::features::{self, Ewma, Feature};
use crate::unusual::UnusualState;
use crate::window::{Moments, SlotIndex, Window};

/// How far (in standard deviations) a sample must stray from the CUSUM's reference to freeze
/// it. One sigma: in stationary noise the freeze lasts only while samples stray (and the
/// frozen reference then equals the live one), while a drift keeps it frozen.
pub const EXCURSION_SIGMA: f64 = 1.0;

/// Which detector decided; reported with every alert transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectorKind {
    Threshold,
    ZScore,
    EwmaChart,
    RateOfRise,
    Iso10816,
    Cusum,
    Flatline,
    Adaptive,
    Unusual,
}

impl DetectorKind {
    pub const fn name(self) -> &'static str {
        match self {
            DetectorKind::Threshold => "threshold",
            DetectorKind::ZScore => "zscore",
            DetectorKind::EwmaChart => "ewma_chart",
            DetectorKind::RateOfRise => "rate_of_rise",
            DetectorKind::Iso10816 => "iso10816",
            DetectorKind::Cusum => "cusum",
            DetectorKind::Flatline => "flatline",
            DetectorKind::Adaptive => "adaptive",
            DetectorKind::Unusual => "unusual",
        }
    }
}

/// A level that raises at `raise` and clears only once the feature is back past `clear`.
/// For an upper bound `clear <= raise`; for a lower bound `clear >= raise`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Level {
    pub raise: f64,
    pub clear: f64,
}

/// Which deviations a baseline detector reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Up,
    Down,
    Both,
}

impl Direction {
    fn score(self, signed: f64) -> f64 {
        match self {
            Direction::Up => signed,
            Direction::Down => -signed,
            Direction::Both => signed.abs(),
        }
    }
}

/// The baseline that z-score, EWMA chart and CUSUM measure deviations against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BaselineSpec {
    /// Samples the window must hold before the detector judges anything.
    pub warmup: usize,
    /// Floors on the standard deviation, absolute and relative to |mean|, so that a very quiet
    /// or quantised signal does not turn a one-count change into an infinite z-score.
    pub min_std: f64,
    pub min_rel_std: f64,
    pub direction: Direction,
    /// Samples after which a frozen baseline is given up and the new level learned as the new
    /// normal, so that a permanent change (a repair, a new operating point) cannot hold an
    /// alert raised forever.
    pub relearn_after: usize,
}

/// One detector, fully specified. The rule language builds these; they are plain data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DetectorSpec {
    /// `feature` compared with an upper and/or a lower level. Threshold, rate of rise (on
    /// `RatePerMin`), ISO 10816 (on a velocity RMS) and flatline (`PeakToPeak` at most an
    /// epsilon) are all level detectors; `kind` says which for the report.
    Level {
        kind: DetectorKind,
        feature: Feature,
        above: Option<Level>,
        below: Option<Level>,
        /// Samples the window must hold before the level is judged.
        min_count: usize,
        /// Flatline only: hold only while the signal has been still for longer than usual
        /// (see [`USUAL_STILLNESS_MS`]).
        longer_than_usual: bool,
    },
    /// `|x − mean| / std ≥ k`, clearing below `clear_k`.
    ZScore {
        baseline: BaselineSpec,
        k: f64,
        clear_k: f64,
    },
    /// EWMA control chart: `e ← λx + (1 − λ)e`, out of control when
    /// `|e − mean| ≥ L · std · sqrt(λ / (2 − λ))`, back in control below `clear_l`.
    EwmaChart {
        baseline: BaselineSpec,
        lambda: f64,
        l: f64,
        clear_l: f64,
    },
    /// Tabular CUSUM on standardised samples with slack `k`: raises when a cumulative sum
    /// reaches `h`, clears below `clear_h`. The sums are capped at `2h` so that clearing after a
    /// long excursion takes a bounded number of samples.
    Cusum {
        baseline: BaselineSpec,
        k: f64,
        h: f64,
        clear_h: f64,
    },
    /// `feature`'s short-term behaviour against its long-run normal, scored against its own
    /// history of scores: see [`crate::adaptive`].
    Adaptive {
        feature: Feature,
        spec: AdaptiveSpec,
    },
    /// `feature` judged by the default rules' three views, each behind its tail gate: see
    /// [`crate::unusual`]. Its state is an [`UnusualState`] beside the detector state.
    Unusual { feature: Feature },
}

impl DetectorSpec {
    pub fn kind(&self) -> DetectorKind {
        match self {
            DetectorSpec::Level { kind, .. } => *kind,
            DetectorSpec::ZScore { .. } => DetectorKind::ZScore,
            DetectorSpec::EwmaChart { .. } => DetectorKind::EwmaChart,
            DetectorSpec::Cusum { .. } => DetectorKind::Cusum,
            DetectorSpec::Adaptive { .. } => DetectorKind::Adaptive,
            DetectorSpec::Unusual { .. } => DetectorKind::Unusual,
        }
    }
}

/// What a detector saw on one sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judgement {
    pub active: bool,
    pub feature: Feature,
    /// The feature's value on this sample.
    pub value: f64,
    /// The detector's own statistic (z, EWMA deviation in sigmas, CUSUM sum, the adaptive
    /// raw score); for level detectors the feature value again.
    pub statistic: f64,
    /// How unusual, 0–1: the adaptive detector's likelihood, `Φ` of a z-score or an EWMA
    /// deviation, a CUSUM sum over `h` (at most 1); 1 or 0 for a level detector, which knows
    /// only whether it holds.
    pub score: Score,
    /// The normal the sample was judged against (adaptive detector only).
    pub evidence: Option<Evidence>,
    /// The view that holds (`unusual` detector only).
    pub view: Option<crate::unusual::View>,
}

/// How unusual a sample is, 0–1, worked out only when asked: `Φ` costs more than the rest of
/// a judgement, and only an alert's change of state reads the score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Score {
    /// The score itself.
    Value(f64),
    /// `Φ(z)`, the standard normal probability of a deviation below `z`.
    Normal(f64),
}

impl Score {
    pub fn value(self) -> f64 {
        match self {
            Score::Value(v) => v,
            Score::Normal(z) => normal_cdf(z),
        }
    }
}

/// Everything a detector may look at for one sample.
#[derive(Debug)]
pub struct Sample<'a, const N: usize, I: SlotIndex> {
    /// The engine's clock (the largest timestamp so far).
    pub time_ms: i64,
    pub value: f64,
    /// The window's statistics before this sample entered it.
    pub before: Option<Moments>,
    /// The window with this sample in it.
    pub window: &'a Window<N, I>,
    pub ewma: &'a Ewma,
    /// The median of the latest samples of the sensor's siblings, when it has a group.
    pub reference: Option<f64>,
}

impl<const N: usize, I: SlotIndex> Sample<'_, N, I> {
    /// `feature` of this sample: off the window, or against the siblings.
    fn feature(&self, feature: Feature) -> Option<f64> {
        match feature {
            Feature::Departure => features::departure(self.value, self.reference),
            _ => features::read(feature, self.window, self.ewma, self.value),
        }
    }
}

/// The mutable state of one detector of one sensor.
///
/// Laid out for size (144 bytes, one per condition of every sensor: 48 for the rolling
/// detectors, 96 for the adaptive one): the frozen baseline is a
/// pair and a flag rather than an `Option<(f64, f64)>`, whose tag would take a word of its own,
/// and `calm` never exceeds the window length (at most 4096), so it is a `u32` next to the flags.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DetectorState {
    active: bool,
    /// Whether `frozen_baseline` holds; see [`DetectorState::frozen`].
    is_frozen: bool,
    started: bool,
    /// Whether the condition held since the baseline froze (thawing then waits a window).
    alarmed: bool,
    /// Consecutive samples without the condition since it last held (while frozen).
    calm: u32,
    /// Baseline (mean, std) captured when the condition started to hold.
    frozen_baseline: (f64, f64),
    /// EWMA chart statistic, or the CUSUM upper sum.
    acc_a: f64,
    /// CUSUM lower sum.
    acc_b: f64,
    /// Samples since the baseline froze.
    frozen_for: usize,
    /// The adaptive detector's state (at rest for every other detector).
    adaptive: AdaptiveState,
}

impl DetectorState {
    /// Judges one sample; `None` while the detector cannot judge yet (warm-up, undefined
    /// feature), which counts as "not holding" but leaves the hysteresis state alone. An
    /// `unusual` condition judges with `wide`, its own state; without one it judges nothing.
    pub fn judge<const N: usize, I: SlotIndex>(
        &mut self,
        spec: &DetectorSpec,
        sample: &Sample<'_, N, I>,
        wide: Option<&mut UnusualState>,
    ) -> Option<Judgement> {
        match *spec {
            DetectorSpec::Level {
                feature,
                above,
                below,
                min_count,
                longer_than_usual,
                ..
            } => {
                if sample.window.count() < min_count {
                    return None;
                }
                let value = sample.feature(feature)?;
                self.active = level_holds(self.active, value, above, below);
                if longer_than_usual {
                    self.active = self.still_longer_than_usual(self.active, sample.time_ms);
                }
                Some(Judgement {
                    active: self.active,
                    feature,
                    value,
                    statistic: value,
                    score: Score::Value(if self.active { 1.0 } else { 0.0 }),
                    evidence: None,
                    view: None,
                })
            }
            DetectorSpec::ZScore {
                baseline,
                k,
                clear_k,
            } => {
                let (mean, std) = self.baseline(&baseline, sample)?;
                let z = baseline.direction.score((sample.value - mean) / std);
                self.active = if self.active { z >= clear_k } else { z >= k };
                self.after_judging(sample, &baseline, self.active);
                Some(Judgement {
                    active: self.active,
                    feature: Feature::Value,
                    value: sample.value,
                    statistic: z,
                    score: Score::Normal(z),
                    evidence: None,
                    view: None,
                })
            }
            DetectorSpec::EwmaChart {
                baseline,
                lambda,
                l,
                clear_l,
            } => {
                let (mean, std) = self.baseline(&baseline, sample)?;
                if !self.started {
                    self.started = true;
                    self.acc_a = mean;
                }
                self.acc_a += lambda * (sample.value - self.acc_a);
                let sigma = std * libm::sqrt(lambda / (2.0 - lambda));
                let deviation = baseline.direction.score((self.acc_a - mean) / sigma);
                self.active = if self.active {
                    deviation >= clear_l
                } else {
                    deviation >= l
                };
                self.after_judging(sample, &baseline, self.active);
                Some(Judgement {
                    active: self.active,
                    feature: Feature::Ewma,
                    value: self.acc_a,
                    statistic: deviation,
                    score: Score::Normal(deviation),
                    evidence: None,
                    view: None,
                })
            }
            DetectorSpec::Cusum {
                baseline,
                k,
                h,
                clear_h,
            } => {
                let (mean, std) = self.baseline(&baseline, sample)?;
                let z = (sample.value - mean) / std;
                let cap = 2.0 * h;
                self.acc_a = (self.acc_a + z - k).clamp(0.0, cap);
                self.acc_b = (self.acc_b - z - k).clamp(0.0, cap);
                let sum = match baseline.direction {
                    Direction::Up => self.acc_a,
                    Direction::Down => self.acc_b,
                    Direction::Both => self.acc_a.max(self.acc_b),
                };
                self.active = if self.active {
                    sum >= clear_h
                } else {
                    sum >= h
                };
                // A drift must be measured against the level before it, not against a rolling
                // mean that follows it: the reference freezes as soon as a sum starts to grow,
                // or a sample strays more than EXCURSION_SIGMA from it (a slow drift lags a
                // rolling mean by less than the slack, so the sums alone would never start).
                let excursion = self.active || sum > 0.0 || z.abs() > EXCURSION_SIGMA;
                self.after_judging(sample, &baseline, excursion);
                Some(Judgement {
                    active: self.active,
                    feature: Feature::Value,
                    value: sample.value,
                    statistic: sum,
                    score: Score::Value((sum / h).min(1.0)),
                    evidence: None,
                    view: None,
                })
            }
            DetectorSpec::Adaptive { feature, spec } => {
                let value = sample.feature(feature)?;
                let scored = self.adaptive.judge(&spec, sample.time_ms, value)?;
                self.active = scored.active;
                Some(Judgement {
                    active: scored.active,
                    feature,
                    value,
                    statistic: scored.raw,
                    score: Score::Normal(scored.surprise),
                    evidence: Some(scored.evidence),
                    view: None,
                })
            }
            DetectorSpec::Unusual { feature } => {
                let value = sample.feature(feature)?;
                let judged = wide?.judge(sample.time_ms, value)?;
                self.active = judged.active;
                Some(Judgement {
                    active: judged.active,
                    feature,
                    value,
                    statistic: judged.statistic,
                    score: judged
                        .adaptive
                        .map_or(Score::Value(f64::NAN), |a| Score::Normal(a.surprise)),
                    evidence: judged.adaptive.map(|a| a.evidence),
                    view: judged.view,
                })
            }
        }
    }

    /// The (mean, std) to judge against: frozen while an anomaly lasts, else the window's.
    fn baseline<const N: usize, I: SlotIndex>(
        &self,
        spec: &BaselineSpec,
        sample: &Sample<'_, N, I>,
    ) -> Option<(f64, f64)> {
        let live = sample.before?;
        if live.count < spec.warmup.max(2) {
            return None;
        }
        let (mean, std) = self.frozen().unwrap_or((live.mean, live.std_dev()));
        let std = std.max(spec.min_std).max(spec.min_rel_std * mean.abs());
        // A window with no spread at all cannot say how unusual a sample is; the flatline
        // detector is the one that speaks about such signals.
        (std > 0.0).then_some((mean, std))
    }

    /// Freezes the baseline when an excursion starts (the condition holds, or for CUSUM a
    /// sum grows). An excursion that never raised thaws as soon as it ends; after one that
    /// raised, the window is full of anomalous samples, so the baseline thaws only once the
    /// condition has not held for a whole window.
    fn after_judging<const N: usize, I: SlotIndex>(
        &mut self,
        sample: &Sample<'_, N, I>,
        baseline: &BaselineSpec,
        excursion: bool,
    ) {
        if self.is_frozen {
            self.frozen_for += 1;
            if self.frozen_for >= baseline.relearn_after {
                self.thaw();
                return;
            }
        }
        if excursion {
            self.calm = 0;
            self.alarmed |= self.active;
            if !self.is_frozen {
                if let Some(before) = sample.before {
                    self.frozen_baseline = (before.mean, before.std_dev());
                    self.is_frozen = true;
                }
            }
        } else if self.is_frozen {
            self.calm += 1;
            if !self.alarmed || self.calm as usize >= sample.window.len() {
                self.thaw();
            }
        }
    }

    /// The baseline (mean, std) frozen while an excursion lasts.
    fn frozen(&self) -> Option<(f64, f64)> {
        self.is_frozen.then_some(self.frozen_baseline)
    }

    fn thaw(&mut self) {
        self.is_frozen = false;
        // Cleared so that a thawed state equals one that never froze, as `None` did.
        self.frozen_baseline = (0.0, 0.0);
        self.calm = 0;
        self.alarmed = false;
        self.frozen_for = 0;
    }
}

/// A flatline with `longer_than_usual` holds only once the signal has been still for a
/// quarter longer than its longest still spell of about the last week. Why: a signal that rests
/// flat every night (a machine stopped, a square wave) is not stuck every night, yet a
/// transmitter that freezes looks exactly like it; only a stillness longer than the signal's
/// own tells them apart. A signal that has never been still is judged as before.
pub const USUAL_STILLNESS_MS: i64 = 7 * 24 * 3_600_000;

impl DetectorState {
    /// See [`USUAL_STILLNESS_MS`]. The spell's start is kept in `acc_a`, the longest spell and
    /// when it ended in `frozen_baseline`, whether a spell is on in `started`: a level
    /// detector uses none of them otherwise.
    fn still_longer_than_usual(&mut self, still: bool, now_ms: i64) -> bool {
        let (longest_ms, longest_end_ms) = self.frozen_baseline;
        if !still {
            if self.started {
                let spell = now_ms as f64 - self.acc_a;
                let forgotten = now_ms as f64 - longest_end_ms > USUAL_STILLNESS_MS as f64;
                let longest = if forgotten {
                    spell
                } else {
                    spell.max(longest_ms)
                };
                self.frozen_baseline = (longest, now_ms as f64);
                self.started = false;
            }
            return false;
        }
        if !self.started {
            self.started = true;
            self.acc_a = now_ms as f64;
        }
        now_ms as f64 - self.acc_a > 1.25 * longest_ms
    }
}

fn level_holds(was_active: bool, value: f64, above: Option<Level>, below: Option<Level>) -> bool {
    let over = above.is_some_and(|l| {
        if was_active {
            value >= l.clear
        } else {
            value >= l.raise
        }
    });
    let under = below.is_some_and(|l| {
        if was_active {
            value <= l.clear
        } else {
            value <= l.raise
        }
    });
    over || under
}
