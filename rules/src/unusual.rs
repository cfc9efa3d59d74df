//! The `unusual` detector: the default rules' judgement of a signal nobody tuned for.
//!
//! # How it decides
//! Three views of the signal, each scored against the sensor's own long run and each behind a
//! **tail gate** that asks "has this score been reached before, lately?":
//! 1. **Level**: the adaptive detector ([`crate::adaptive`]: a 30 s EWMA against a 6 h normal,
//!    with its score's own history over 7 days) *and* the same two-scale level score against a
//!    7-day normal, gated at 3 with fewer than 4 earlier samples as high in about 2 days.
//! 2. **Volatility**: the power of the residual against a 30 s prediction over the last 15
//!    minutes, over its 7-day typical power; gated at 3, with no earlier sample as high in about
//!    2 days. A signal that starts to shake, jump or go quiet in a new way.
//! 3. **Daily profile**: only for a signal whose hour-of-day means explain at least half of its
//!    variance (after 25 hours). The residual against the profile, smoothed over 30 s, in units
//!    of its own 7-day spread; gated at 5, with no earlier sample as high in about 4 days. A
//!    daily cycle that breaks.
//!
//! The condition holds when any view holds. Why gates: a raw score says how far the signal is
//! from its normal, but a signal that routinely jumps that far (CPU load, tweet volumes) should
//! not raise for doing it again. A gate keeps a histogram of the score's recent values,
//! decayed in time, and lets a high score through only if it is rarer than `c_max` samples in
//! the gate's horizon. A view that holds is not learned for 7 minutes, then taken for a new
//! normal.
//!
//! The settings were chosen by measurement on NAB's development corpus and on SKAB (see
//! `docs/detection.md`); they are constants here, not rule keys, because a user who wants
//! other settings wants a detector of their own (`adaptive`, `zscore`, thresholds).
//!
//! # Invariants
//! - Constant memory: [`UnusualState`] is about 1.2 KiB, whatever the sample rate; nothing
//!   allocates. It lives beside the sensor's detector states, only for `unusual` conditions
//!   ([`crate::states`]).
//! - O(1) per sample: a few EWMAs with weights cached per sample interval, two square roots per
//!   view, and a bin index per gate; a gate sums its histogram only when its score passes `k`.
//! - Time scales are in time: the same detector serves a 10 Hz register and a 5-minute export.

use crate::adaptive::{winsorise, AdaptiveSpec, AdaptiveState, Horizon, MIN_SAMPLES};
use crate::detect::Direction;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;

/// Judgement waits this long after the first sample, and a view that holds is not learned for
/// this long.
pub const SETTLE_MS: i64 = 7 * MINUTE_MS;
/// The long-run normal of every view.
pub const BASELINE_MS: i64 = 7 * DAY_MS;
/// The short term of the level and of the profile residual, and the volatility's prediction.
pub const SHORT_MS: i64 = 30_000;
/// The span of the volatility's recent power.
pub const VOLATILITY_MS: i64 = 15 * MINUTE_MS;
/// The volatility's recent power spans at least this many samples. At a 5-minute rate, the
/// one its settings were chosen at, 15 minutes hold three; at a 30-minute rate they would hold
/// one, and the view would judge a single step between two samples of white noise (3 sigma,
/// one sample in 370).
const VOLATILITY_MIN_SAMPLES: i64 = 3;
/// Floor on a spread, relative to the level, so that a flat signal's first wobble is not
/// infinitely surprising.
const MIN_REL_STD: f64 = 0.001;
/// The profile explains the signal when the residual's variance is under this share of the
/// signal's.
const PROFILE_SHARE: f64 = 0.5;
/// The profile is trusted once this much time has passed: a day of every bin, and an hour
/// of residuals against a profile made of earlier samples.
const PROFILE_AFTER_MS: i64 = 2 * DAY_MS;
const PROFILE_BINS: usize = 24;

/// The adaptive detector of the level view.
pub const LEVEL_ADAPTIVE: AdaptiveSpec = AdaptiveSpec {
    window: Horizon::Millis(SHORT_MS),
    baseline: Horizon::Millis(6 * HOUR_MS),
    k: 6.5,
    surprise: 2.5,
    clear_surprise: 1.0,
    settle_ms: SETTLE_MS,
    direction: Direction::Both,
    min_std: 0.0,
    min_rel_std: MIN_REL_STD,
    idle_below: None,
    score_history: Some(Horizon::Millis(BASELINE_MS)),
    clip_scores: false,
};

/// A gate's settings: the score it must reach, how few earlier samples may have reached it,
/// and over what span of time they are counted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateSpec {
    pub k: f64,
    pub c_max: f64,
    pub horizon_ms: i64,
}

pub const LEVEL_GATE: GateSpec = GateSpec {
    k: 3.0,
    c_max: 4.0,
    horizon_ms: 2 * DAY_MS,
};
pub const VOLATILITY_GATE: GateSpec = GateSpec {
    k: 3.0,
    c_max: 1.0,
    horizon_ms: 2 * DAY_MS,
};
pub const PROFILE_GATE: GateSpec = GateSpec {
    k: 5.0,
    c_max: 1.0,
    horizon_ms: 4 * DAY_MS,
};

/// `1 − exp(−Δt / τ)`, cached for the last interval: at a steady rate every sample has the
/// same one, and `expm1` is the dearest step.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Weight {
    tau_ms: i64,
    dt_ms: i64,
    weight: f64,
}

impl Weight {
    fn of(&mut self, tau_ms: i64, dt_ms: i64) -> f64 {
        if self.dt_ms != dt_ms || self.tau_ms != tau_ms || self.weight == 0.0 {
            (self.tau_ms, self.dt_ms) = (tau_ms, dt_ms);
            self.weight = -libm::expm1(-(dt_ms.max(0) as f64) / (tau_ms.max(1) as f64));
        }
        self.weight
    }
}

/// A weight, but at least `1 / seen`: until a horizon has passed, the plain mean of all seen.
fn at_least_one_in(weight: f64, seen: u32) -> f64 {
    weight.max(1.0 / f64::from(seen.max(1)))
}

const GATE_BINS: usize = 48;
/// When the growth of new counts passes this, the bins are scaled down.
const GATE_RESCALE: f64 = 1e12;

/// A gate counts over at least this many samples, whatever its horizon in time says. The
/// gates' settings were chosen on signals sampled every 5 minutes, where 2 days hold 576
/// samples; at a slower rate, 2 days hold too few for "rarer than `c_max`" to mean rare, and
/// white noise sampled every 30 minutes raised an alert every 700 samples.
const GATE_MIN_SAMPLES: i64 = 576;

/// The sample interval the settings were chosen at.
const DESIGN_INTERVAL_MS: i64 = 5 * MINUTE_MS;

/// The mean of `count` intervals from `first_ms` to `now_ms`, but at least
/// [`DESIGN_INTERVAL_MS`]: the floors on spans in samples matter only at slower rates, and a
/// faster stream skips the division (a fifth of the detector's time when it was done on every
/// sample). A gap in the data barely moves the mean, and at a steady rate it stays the same
/// integer, so a cached weight holds.
fn slow_interval_ms(first_ms: i64, now_ms: i64, count: u32) -> i64 {
    let span = now_ms.saturating_sub(first_ms).max(0);
    let count = i64::from(count.max(1));
    if span <= DESIGN_INTERVAL_MS.saturating_mul(count) {
        DESIGN_INTERVAL_MS
    } else {
        span / count
    }
}

/// The bin of score `r`: 48 bins spaced evenly in log from 0.25 to 256, everything under 0.25
/// in the first.
fn bin(r: f64) -> usize {
    // The lower edges of bins 1..48, `0.25 · 1024^(i / 48)`: a search
    // of this table costs a few comparisons where a logarithm cost a tenth of the detector.
    GATE_EDGES.partition_point(|&edge| edge <= r)
}

// Computed edges, printed in full (the test below checks them); one of them is √2.
#[allow(
    clippy::excessive_precision,
    clippy::unreadable_literal,
    clippy::approx_constant
)]
const GATE_EDGES: [f64; GATE_BINS - 1] = [
    0.28883817421806823,
    0.3337099635425086,
    0.3855527063519852,
    0.44544935907016964,
    0.514651118321746,
    0.5946035575013605,
    0.6869768237290446,
    0.7937005259840997,
    0.9170040432046712,
    1.059463094359295,
    1.2240535433046553,
    1.4142135623730951,
    1.6339154532410998,
    1.8877486253633873,
    2.1810154653305154,
    2.5198420997897464,
    2.9113063656843745,
    3.363585661014858,
    3.886127764614423,
    4.489848193237491,
    5.1873582186040395,
    5.993228307506727,
    6.9242924880491445,
    8.0,
    9.242821574978183,
    10.678718833360273,
    12.337686603263524,
    14.254379490245432,
    16.468835786295866,
    19.02731384004354,
    21.983258359329415,
    25.39841683149119,
    29.34412938254949,
    33.90281901949744,
    39.16971338574898,
    45.25483399593903,
    52.28529450371521,
    60.407956011628364,
    69.79249489057649,
    80.63494719327184,
    93.16180370189998,
    107.6347411524755,
    124.35608846766154,
    143.67514218359977,
    165.99546299532918,
    191.78330584021526,
    221.57735961757254,
];

/// A tail gate: a histogram of a score's values, decayed in time. Rather than shrink every bin
/// on every sample, a new count weighs `g = exp((t − t₀) / horizon)`, more the later it comes,
/// and the sum of the bins over `g` is the decayed count; the bins are scaled back when `g`
/// grows large.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TailGate {
    hist: [f32; GATE_BINS],
    growth: f64,
    growth_of: Weight,
    first_ms: i64,
    last_ms: i64,
    active_since_ms: i64,
    judged: u32,
    /// Samples seen, with a score or not: the count for the mean interval.
    samples: u32,
    started: bool,
    active: bool,
}

impl Default for TailGate {
    fn default() -> Self {
        Self {
            hist: [0.0; GATE_BINS],
            growth: 1.0,
            growth_of: Weight::default(),
            first_ms: 0,
            last_ms: 0,
            active_since_ms: 0,
            judged: 0,
            samples: 0,
            started: false,
            active: false,
        }
    }
}

impl TailGate {
    /// Whether the view may learn at `time_ms`: not while it has held for less than settling.
    fn learns(&self, time_ms: i64) -> bool {
        !(self.active && time_ms.saturating_sub(self.active_since_ms) < SETTLE_MS)
    }

    /// Judges score `r` at `time_ms`; `None` while settling or without a score.
    fn judge(
        &mut self,
        spec: &GateSpec,
        time_ms: i64,
        r: Option<f64>,
        learn: bool,
    ) -> Option<bool> {
        if !self.started {
            (self.started, self.first_ms, self.last_ms) = (true, time_ms, time_ms);
        }
        self.samples = self.samples.saturating_add(1);
        let r = r?;
        self.judged = self.judged.saturating_add(1);
        let dt = time_ms.saturating_sub(self.last_ms).max(0);
        self.last_ms = self.last_ms.max(time_ms);
        let interval_ms = slow_interval_ms(self.first_ms, time_ms, self.samples - 1);
        let horizon_ms = spec
            .horizon_ms
            .max(GATE_MIN_SAMPLES.saturating_mul(interval_ms));
        // exp(Δt / h) = 1 / (1 − w) for w = 1 − exp(−Δt / h).
        let fraction_left = 1.0 - self.growth_of.of(horizon_ms, dt);
        self.growth /= fraction_left.max(f64::MIN_POSITIVE);
        if self.growth > GATE_RESCALE {
            let scale = self.growth;
            self.hist
                .iter_mut()
                .for_each(|h| *h = (f64::from(*h) / scale) as f32);
            self.growth = 1.0;
        }
        let settled =
            self.judged >= MIN_SAMPLES && time_ms.saturating_sub(self.first_ms) >= SETTLE_MS;
        let judged = settled.then(|| {
            if self.active {
                self.active = r >= 0.5 * spec.k;
            } else if r >= spec.k {
                let reached: f64 = self.hist[bin(r)..].iter().map(|&h| f64::from(h)).sum();
                self.active = reached / self.growth < spec.c_max;
                if self.active {
                    self.active_since_ms = time_ms;
                }
            }
            self.active
        });
        if learn {
            let slot = &mut self.hist[bin(r)];
            *slot = (f64::from(*slot) + self.growth) as f32;
        }
        judged
    }
}

/// The level view's second score: the adaptive detector's two-scale raw score against a
/// 7-day normal, with no history of its own (the gate is its history).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct LevelScore {
    seen: u32,
    last_ms: i64,
    mean: f64,
    var: f64,
    short: f64,
    deviation_var: f64,
    long_of: Weight,
    short_of: Weight,
}

impl LevelScore {
    fn update(&mut self, time_ms: i64, x: f64, learn: bool) -> Option<f64> {
        if self.seen == 0 {
            *self = Self {
                seen: 1,
                last_ms: time_ms,
                mean: x,
                short: x,
                ..Self::default()
            };
            return None;
        }
        let dt = time_ms.saturating_sub(self.last_ms).max(0);
        self.last_ms = self.last_ms.max(time_ms);
        self.seen = self.seen.saturating_add(1);
        let long = at_least_one_in(self.long_of.of(BASELINE_MS, dt), self.seen);
        let short = at_least_one_in(self.short_of.of(SHORT_MS, dt), self.seen);
        self.short += short * (x - self.short);
        let level = MIN_REL_STD * self.mean.abs();
        let spread = libm::sqrt(self.var).max(level);
        let floor = level * libm::sqrt(short / (2.0 - short));
        let deviation_spread = libm::sqrt(self.deviation_var).max(floor);
        let raw = (deviation_spread > 0.0 && self.seen > 2)
            .then(|| (self.short - self.mean).abs() / deviation_spread);
        if learn {
            let mut deviation = x - self.mean;
            if self.seen > 3 {
                deviation = winsorise(deviation, spread);
            }
            self.mean += long * deviation;
            self.var = (1.0 - long) * (self.var + long * deviation * deviation);
            let mut distance = self.short - self.mean;
            if self.seen > 3 {
                distance = winsorise(distance, deviation_spread);
            }
            self.deviation_var = if self.seen > 2 {
                (1.0 - long) * (self.deviation_var + long * distance * distance)
            } else {
                distance * distance
            };
        }
        raw
    }
}

/// The volatility view: the recent power of the residual against a short prediction, over its
/// long-run typical power.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Volatility {
    seen: u32,
    first_ms: i64,
    last_ms: i64,
    /// The 30 s EWMA: the prediction of the next sample.
    prediction: f64,
    /// The residual's power over the last 15 minutes.
    recent_power: f64,
    /// `recent_power`'s 7-day typical value.
    typical_power: f64,
    /// The 7-day mean of |x|, for the floor.
    level: f64,
    prediction_of: Weight,
    recent_of: Weight,
    long_of: Weight,
}

impl Volatility {
    fn update(&mut self, time_ms: i64, x: f64, learn: bool) -> Option<f64> {
        if self.seen == 0 {
            *self = Self {
                seen: 1,
                first_ms: time_ms,
                last_ms: time_ms,
                prediction: x,
                level: x.abs(),
                ..Self::default()
            };
            return None;
        }
        let dt = time_ms.saturating_sub(self.last_ms).max(0);
        self.last_ms = self.last_ms.max(time_ms);
        self.seen = self.seen.saturating_add(1);
        let residual = x - self.prediction;
        self.prediction +=
            at_least_one_in(self.prediction_of.of(SHORT_MS, dt), self.seen) * residual;
        let interval_ms = slow_interval_ms(self.first_ms, time_ms, self.seen - 1);
        let span_ms = VOLATILITY_MS.max(VOLATILITY_MIN_SAMPLES.saturating_mul(interval_ms));
        self.recent_power += at_least_one_in(self.recent_of.of(span_ms, dt), self.seen)
            * (residual * residual - self.recent_power);
        let floor = MIN_REL_STD * self.level;
        let typical = self.typical_power.max(floor * floor);
        let r = (typical > 0.0 && self.seen > 3).then(|| libm::sqrt(self.recent_power / typical));
        if learn {
            let long = at_least_one_in(self.long_of.of(BASELINE_MS, dt), self.seen);
            self.typical_power += long * (self.recent_power - self.typical_power);
            self.level += long * (x.abs() - self.level);
        }
        r
    }
}

/// The daily-profile view: hour-of-day means, read between bin centres, and the smoothed
/// residual against them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct DailyProfile {
    means: [f32; PROFILE_BINS],
    counts: [u16; PROFILE_BINS],
    seen: u32,
    first_ms: i64,
    last_ms: i64,
    mean: f64,
    /// The signal's variance and the residual's, over 7 days: whether the profile explains it.
    total_var: f64,
    residual_var: f64,
    /// Residuals learned into `residual_var`: only those of samples the profile had not seen.
    residuals: u32,
    /// The residual, smoothed over 30 s, and its long-run variance.
    smoothed: f64,
    smoothed_var: f64,
    long_of: Weight,
    short_of: Weight,
    bin_of: Weight,
}

impl DailyProfile {
    /// The profile at `of_day_ms` (the time of day), between the two nearest bin centres; `None` until both have
    /// been seen.
    fn at(&self, of_day_ms: i64) -> Option<f64> {
        let bins = PROFILE_BINS as f64;
        let u = of_day_ms as f64 / DAY_MS as f64 * bins - 0.5;
        let below = libm::floor(u);
        let f = u - below;
        let a = (below as i64).rem_euclid(PROFILE_BINS as i64) as usize;
        let b = (a + 1) % PROFILE_BINS;
        (self.counts[a] > 0 && self.counts[b] > 0)
            .then(|| f64::from(self.means[a]) * (1.0 - f) + f64::from(self.means[b]) * f)
    }

    fn update(&mut self, time_ms: i64, x: f64, learn: bool) -> Option<f64> {
        if self.seen == 0 {
            // As the reference: the first sample counts twice in the `1 / seen` floors.
            *self = Self {
                seen: 1,
                first_ms: time_ms,
                last_ms: time_ms,
                mean: x,
                ..Self::default()
            };
        }
        let dt = time_ms.saturating_sub(self.last_ms).max(0);
        self.last_ms = self.last_ms.max(time_ms);
        self.seen = self.seen.saturating_add(1);
        let long = at_least_one_in(self.long_of.of(BASELINE_MS, dt), self.seen);
        let mut r = None;
        let of_day_ms = time_ms.rem_euclid(DAY_MS);
        if let Some(profile) = self.at(of_day_ms) {
            let residual = x - profile;
            let short = at_least_one_in(self.short_of.of(SHORT_MS, dt), self.seen);
            self.smoothed += short * (residual - self.smoothed);
            let floor = MIN_REL_STD * self.mean.abs() * libm::sqrt(short / (2.0 - short));
            let spread = libm::sqrt(self.smoothed_var).max(floor);
            let cyclic = time_ms.saturating_sub(self.first_ms) >= PROFILE_AFTER_MS
                && self.residual_var < PROFILE_SHARE * self.total_var;
            if spread > 0.0 && cyclic {
                r = Some(self.smoothed.abs() / spread);
            }
            if learn {
                let d = if self.smoothed_var > 0.0 {
                    winsorise(self.smoothed, spread)
                } else {
                    self.smoothed
                };
                self.smoothed_var = if self.smoothed_var > 0.0 {
                    (1.0 - long) * (self.smoothed_var + long * d * d)
                } else {
                    d * d
                };
                // Only out of sample: on the first day, a bin's mean is made of the very samples
                // it is compared with, and a slow random walk seemed explained by its profile.
                if time_ms.saturating_sub(self.first_ms) >= DAY_MS {
                    self.residuals = self.residuals.saturating_add(1);
                    let w = at_least_one_in(long, self.residuals);
                    self.residual_var += w * (residual * residual - self.residual_var);
                }
            }
        }
        if learn {
            let deviation = x - self.mean;
            self.mean += long * deviation;
            self.total_var = (1.0 - long) * (self.total_var + long * deviation * deviation);
            let j = (of_day_ms / HOUR_MS) as usize % PROFILE_BINS;
            self.counts[j] = self.counts[j].saturating_add(1);
            // Each hour's bin forgets over about 7 days of its own hour.
            let own = self
                .bin_of
                .of(BASELINE_MS, dt.saturating_mul(PROFILE_BINS as i64));
            let w = own.max(1.0 / f64::from(self.counts[j]));
            let m = f64::from(self.means[j]);
            self.means[j] = (m + w * (x - m)) as f32;
        }
        r
    }
}

/// Which of the detector's views holds: what `replay --explain` says it compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Level,
    Volatility,
    DailyProfile,
}

impl View {
    /// What the view compared, for a human.
    pub fn describe(self) -> &'static str {
        match self {
            View::Level => "its level, against its 6-hour and 7-day normals",
            View::Volatility => "its volatility, the power of its residual over 15 minutes against its 7-day typical power",
            View::DailyProfile => "its daily cycle, the residual against its hour-of-day means",
        }
    }
}

/// What the detector saw on one sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UnusualJudgement {
    pub active: bool,
    /// The view that holds, the first of level, volatility and daily profile.
    pub view: Option<View>,
    /// The score of the view that decided (the adaptive raw score when none holds).
    pub statistic: f64,
    /// The adaptive part's judgement: its normal and its surprise.
    pub adaptive: Option<crate::adaptive::Scored>,
}

/// The state of one `unusual` condition of one sensor; see the module docs.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct UnusualState {
    adaptive: AdaptiveState,
    level: LevelScore,
    level_gate: TailGate,
    volatility: Volatility,
    volatility_gate: TailGate,
    profile: DailyProfile,
    profile_gate: TailGate,
}

impl UnusualState {
    /// Learns `x` at `time_ms` (the engine's clock) and judges it; `None` while every view is
    /// still settling.
    pub fn judge(&mut self, time_ms: i64, x: f64) -> Option<UnusualJudgement> {
        let adaptive = self.adaptive.judge(&LEVEL_ADAPTIVE, time_ms, x);

        let learn = self.level_gate.learns(time_ms);
        let level_raw = self.level.update(time_ms, x, learn);
        let level = self
            .level_gate
            .judge(&LEVEL_GATE, time_ms, level_raw, learn);
        let level = match (adaptive, level) {
            (Some(a), Some(l)) => Some(a.active && l),
            _ => None,
        };

        let learn = self.volatility_gate.learns(time_ms);
        let volatility_raw = self.volatility.update(time_ms, x, learn);
        let volatility =
            self.volatility_gate
                .judge(&VOLATILITY_GATE, time_ms, volatility_raw, learn);

        let learn = self.profile_gate.learns(time_ms);
        let profile_raw = self.profile.update(time_ms, x, learn);
        let profile = self
            .profile_gate
            .judge(&PROFILE_GATE, time_ms, profile_raw, learn);

        if level.is_none() && volatility.is_none() && profile.is_none() {
            return None;
        }
        let adaptive_raw = adaptive.map_or(f64::NAN, |a| a.raw);
        let (view, statistic) = if level == Some(true) {
            (Some(View::Level), adaptive_raw)
        } else if volatility == Some(true) {
            (Some(View::Volatility), volatility_raw.unwrap_or(f64::NAN))
        } else if profile == Some(true) {
            (Some(View::DailyProfile), profile_raw.unwrap_or(f64::NAN))
        } else {
            (None, adaptive_raw)
        };
        Some(UnusualJudgement {
            active: view.is_some(),
            view,
            statistic,
            adaptive,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_noise::noise;

    fn first_active(
        state: &mut UnusualState,
        samples: impl Iterator<Item = (i64, f64)>,
    ) -> Option<i64> {
        samples
            .filter(|&(t, x)| state.judge(t, x).is_some_and(|j| j.active))
            .map(|(t, _)| t)
            .next()
    }

    #[test]
    fn the_state_stays_within_its_budget() {
        // Two of these fit a sensor's 4 KiB beside its other detectors (MAX_UNUSUAL_PER_SENSOR).
        let size = core::mem::size_of::<UnusualState>();
        assert!(size <= 1536, "{size} bytes");
    }

    #[test]
    fn the_bins_cover_the_scores_in_log_steps() {
        assert_eq!(bin(0.1), 0);
        assert_eq!(bin(0.25), 0);
        assert_eq!(bin(1.0), 9, "48 × ln(4) / ln(1024) = 9.6");
        assert_eq!(bin(1e9), GATE_BINS - 1);
        // The table is the formula: 48 bins evenly in log from 0.25 to 256.
        let step = (256.0f64 / 0.25).ln() / GATE_BINS as f64;
        for (i, edge) in GATE_EDGES.iter().enumerate() {
            let expected = 0.25 * (step * (i + 1) as f64).exp();
            assert!(
                (edge / expected - 1.0).abs() < 1e-12,
                "edge {}: {edge}",
                i + 1
            );
        }
    }

    #[test]
    fn noise_raises_nothing_and_a_step_of_many_spreads_does() {
        let mut state = UnusualState::default();
        let minute = |i: u64| i as i64 * 60_000;
        let quiet = (0..3 * 1440).map(|i| (minute(i), 20.0 + noise(i)));
        assert_eq!(first_active(&mut state, quiet), None, "three days of noise");
        let step = (3 * 1440..3 * 1440 + 60).map(|i| (minute(i), 30.0 + noise(i)));
        let hit = first_active(&mut state, step).expect("a step of ten spreads holds");
        assert!(
            hit - minute(3 * 1440) <= 5 * 60_000,
            "held {} ms after the step",
            hit - minute(3 * 1440)
        );
    }

    #[test]
    fn a_signal_that_starts_to_shake_holds_through_the_volatility_view() {
        let mut state = UnusualState::default();
        let t = |i: u64| i as i64 * 10_000;
        let quiet = (0..20_000).map(|i| (t(i), 5.0 + 0.01 * noise(i)));
        assert_eq!(first_active(&mut state, quiet), None);
        // Same mean, ten times the noise.
        let shaking = (20_000..20_400).map(|i| (t(i), 5.0 + 0.1 * noise(i)));
        assert!(first_active(&mut state, shaking).is_some());
    }

    #[test]
    fn a_repeated_burst_is_not_surprising_the_tenth_time() {
        // Every 6 hours the signal jumps for half an hour, for ten days: after the first few
        // bursts a burst is what this signal does.
        let mut state = UnusualState::default();
        let minute = |i: u64| i as i64 * 60_000;
        let mut raised_late = 0;
        for i in 0..10 * 1440u64 {
            let burst = (i % 360) < 30;
            let x = if burst { 60.0 } else { 20.0 } + noise(i);
            let active = state.judge(minute(i), x).is_some_and(|j| j.active);
            if active && i > 7 * 1440 && i % 360 == 5 {
                raised_late += 1;
            }
        }
        assert_eq!(raised_late, 0, "bursts still held after a week of them");
    }

    #[test]
    fn a_daily_cycle_that_breaks_holds_through_the_profile_view() {
        let mut state = UnusualState::default();
        let t = |i: u64| i as i64 * 300_000;
        let cycle = |i: u64| 50.0 + 20.0 * libm::sin(i as f64 * core::f64::consts::TAU / 288.0);
        let normal = (0..288 * 6).map(|i| (t(i), cycle(i) + 0.5 * noise(i)));
        assert_eq!(
            first_active(&mut state, normal),
            None,
            "six days of the cycle"
        );
        // The cycle stops at its middle value: inside the signal's range, out of its hour.
        let flat = (288 * 6..288 * 7).map(|i| (t(i), 50.0 + 0.5 * noise(i)));
        assert!(first_active(&mut state, flat).is_some());
    }
}
