//! The adaptive detector: short-term behaviour judged against the sensor's own long-run normal,
//! and the resulting score judged against the sensor's own history of scores.
//!
//! # How it decides
//! 1. **Two time scales, in time.** A short EWMA of the feature (horizon `window`, e.g. 30 s)
//!    is compared with a long-run EWMA mean and variance (horizon `baseline`, e.g. 6 h). Each
//!    sample's weight is `1 − exp(−Δt / horizon)`, so a horizon means the same span of time at
//!    10 Hz as at one sample per 10 minutes. A horizon given in samples weighs `2 / (n + 1)`.
//!    Until a horizon has been seen once, the weight is at least `1 / samples`: the long-run
//!    normal is then the plain mean and variance of everything seen so far.
//! 2. **A raw score**: how far the short EWMA sits from the long-run mean, in units of the
//!    long-run spread of that very distance. Measuring the spread of the short-term deviation
//!    itself, rather than deriving it from the samples' spread as an EWMA chart does, makes
//!    the score self-calibrating: a random walk, a sine or any autocorrelated signal scores
//!    like white noise does, at any sample rate.
//! 3. **Scores that know their own history.** The raw score's own long-run mean and spread are
//!    kept the same way; the alert's `score` is the probability `Φ(z)` that the current raw
//!    score is not an outlier of that history (an anomaly likelihood, 0–1). A signal whose raw
//!    scores are routinely high (autocorrelated, heavy-tailed, periodic) raises nothing for
//!    reaching them again; a quiet signal that suddenly scores high does.
//! 4. The condition holds when the raw score reaches `k` *and* its own z reaches `surprise`;
//!    it clears once the raw score's own z is back under `clear_surprise`.
//!
//! # Invariants
//! - Constant memory: [`AdaptiveState`] is 128 bytes whatever the horizons; nothing allocates.
//! - Updates are winsorised: a sample moves the long-run mean and variance by at most `CLIP`
//!   standard deviations' worth, so an anomaly contaminates the normal slowly, while a change
//!   that stays (a new operating point) is still learned within a few horizons.
//! - **Suspect samples are not learned.** While the condition holds, or its raw score is
//!   [`SUSPECT_SHARE`] of the way to `k` and already surprising, nothing is learned, for at
//!   most `settle`: then the change is taken for a new operating point and learned. A ramp
//!   is thus judged against the normal from before it started.
//! - **Operating states.** Judgement is held for `settle` after the first sample and after
//!   every stop: while the feature is under `idle_below` (a stopped machine) nothing is judged
//!   or learned, and the settling time starts again when it runs once more. A warm-up after a
//!   start is therefore never a fault.

use crate::detect::Direction;

/// How far, in standard deviations, one sample may pull the long-run statistics.
pub const CLIP: f64 = 4.0;

/// `x` limited to `±CLIP · spread`; `x` itself when the spread is not a number, which an
/// overflow of extreme samples can make (`f64::clamp` would panic).
pub fn winsorise(x: f64, spread: f64) -> f64 {
    let bound = CLIP * spread;
    if bound >= 0.0 {
        x.clamp(-bound, bound)
    } else {
        x
    }
}
/// Samples the long-run normal must hold before anything is judged, whatever `settle` says.
pub const MIN_SAMPLES: u32 = 30;
/// A raw score this share of `k` that already stands `surprise` above its history is suspect:
/// it is not learned. Without this a steady ramp (a cooling failure) is learned as it climbs,
/// each sample widening the spread by up to `CLIP²` times its weight, and never scores `k`.
pub const SUSPECT_SHARE: f64 = 0.5;

/// A time scale: a span of time, or a number of samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Horizon {
    Millis(i64),
    Samples(u32),
}

impl Horizon {
    /// The weight of a sample `dt_ms` after the previous one, before the `1 / seen` floor.
    fn weight(self, dt_ms: i64) -> f64 {
        match self {
            Horizon::Millis(tau) => -libm::expm1(-(dt_ms.max(0) as f64) / (tau.max(1) as f64)),
            Horizon::Samples(n) => 2.0 / (f64::from(n) + 1.0),
        }
    }

    /// The span in seconds, `interval_ms` being the mean time between samples.
    pub fn seconds(self, interval_ms: f64) -> f64 {
        match self {
            Horizon::Millis(ms) => ms as f64 / 1000.0,
            Horizon::Samples(n) => f64::from(n) * interval_ms / 1000.0,
        }
    }
}

/// The settings of one adaptive condition; the rule language documents their defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaptiveSpec {
    /// The short-term horizon.
    pub window: Horizon,
    /// The long-run horizon of the normal, and of the scores' own history.
    pub baseline: Horizon,
    /// The raw score (in standard errors) the condition needs at the least.
    pub k: f64,
    /// How far (in its own standard deviations) the raw score must stand above its history.
    pub surprise: f64,
    /// Under this, back in its history's range: the condition clears.
    pub clear_surprise: f64,
    /// Judgement is held this long after the first sample and after every stop.
    pub settle_ms: i64,
    pub direction: Direction,
    /// Floors on the long-run standard deviation, absolute and relative to |mean|.
    pub min_std: f64,
    pub min_rel_std: f64,
    /// Samples under this say the machine is stopped; `None`: it is always running.
    pub idle_below: Option<f64>,
    /// The horizon of the raw score's own history: `None`, the baseline's.
    pub score_history: Option<Horizon>,
    /// Whether a raw score enters its own history winsorised at [`CLIP`] standard deviations.
    /// Unclipped, a bursty signal widens its own spread with every burst and stops raising on
    /// the next one; clipped, the history stays that of the quiet times.
    pub clip_scores: bool,
}

/// Why an adaptive condition held: the normal it was judged against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evidence {
    /// The long-run mean of the feature.
    pub level: f64,
    /// The long-run standard deviation of the feature (after its floors).
    pub spread: f64,
    /// The span of history the normal describes, in seconds: the baseline horizon, or less
    /// while the sensor has not been seen that long.
    pub horizon_s: f64,
}

/// What one sample scored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    pub active: bool,
    /// The raw score, in standard errors from the long-run mean.
    pub raw: f64,
    /// The raw score's z against its own history.
    pub surprise: f64,
    pub evidence: Evidence,
}

impl Scored {
    /// `Φ` of [`Self::surprise`]: 0–1, the alert's score. Worked out on demand: it costs more
    /// than the rest of a judgement.
    pub fn likelihood(&self) -> f64 {
        normal_cdf(self.surprise)
    }
}

/// `1 − exp(−Δt / horizon)` for the last interval seen, for both horizons: at a steady rate
/// every sample has the same interval, and `expm1` is the dearest step of a judgement.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Weights {
    dt_ms: i64,
    long: f64,
    short: f64,
    scores: f64,
}

impl Weights {
    fn for_interval(&mut self, spec: &AdaptiveSpec, dt_ms: i64) -> (f64, f64, f64) {
        if self.dt_ms != dt_ms || self.long == 0.0 {
            let long = spec.baseline.weight(dt_ms);
            *self = Self {
                dt_ms,
                long,
                short: spec.window.weight(dt_ms),
                scores: spec.score_history.map_or(long, |h| h.weight(dt_ms)),
            };
        }
        (self.long, self.short, self.scores)
    }
}

/// A weight, but at least `1 / seen`: until a horizon has passed, the plain mean of all seen.
fn at_least_one_in(weight: f64, seen: u32) -> f64 {
    weight.max(1.0 / f64::from(seen.max(1)))
}

/// The state of one adaptive condition of one sensor; see the module docs.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AdaptiveState {
    active: bool,
    /// Samples learned (saturating).
    seen: u32,
    /// Raw scores learned (saturating).
    scored: u32,
    /// When judgement may start (the first sample, or the last idle one, plus `settle`).
    judge_from_ms: i64,
    /// Whether the last judgement was suspect: the condition held, or its score was
    /// [`SUSPECT_SHARE`] of the way there and already surprising.
    suspect: bool,
    /// When the judgements last became suspect.
    suspect_since_ms: i64,
    first_ms: i64,
    last_ms: i64,
    mean: f64,
    var: f64,
    short: f64,
    /// Long-run mean square of `short − mean`.
    deviation_var: f64,
    score_mean: f64,
    score_var: f64,
    weights: Weights,
}

impl AdaptiveState {
    /// Learns `x` at `time_ms` and judges it; `None` while settling or idle.
    pub fn judge(&mut self, spec: &AdaptiveSpec, time_ms: i64, x: f64) -> Option<Scored> {
        if spec.idle_below.is_some_and(|idle| x < idle) {
            // A stopped machine: nothing learned or judged; settling restarts when it runs.
            self.active = false;
            self.judge_from_ms = time_ms.saturating_add(spec.settle_ms);
            return None;
        }
        if self.seen == 0 {
            *self = Self {
                seen: 1,
                judge_from_ms: time_ms.saturating_add(spec.settle_ms),
                first_ms: time_ms,
                last_ms: time_ms,
                mean: x,
                short: x,
                ..Self::default()
            };
            return None;
        }
        let dt = time_ms.saturating_sub(self.last_ms);
        self.last_ms = self.last_ms.max(time_ms);
        self.seen = self.seen.saturating_add(1);
        let (long_weight, short_weight, score_weight) = self.weights.for_interval(spec, dt);
        let long = at_least_one_in(long_weight, self.seen);
        let short = at_least_one_in(short_weight, self.seen);
        self.short += short * (x - self.short);

        let spread = libm::sqrt(self.var)
            .max(spec.min_std)
            .max(spec.min_rel_std * self.mean.abs());
        // The floors, carried over to the short EWMA's scale (an EWMA of white noise spreads
        // `sqrt(α / (2 − α))` as wide as the samples).
        let floor = spec.min_std.max(spec.min_rel_std * self.mean.abs())
            * libm::sqrt(short / (2.0 - short));
        let deviation_spread = libm::sqrt(self.deviation_var).max(floor);
        let judged = if deviation_spread > 0.0 && self.seen > 2 {
            let signed = (self.short - self.mean) / deviation_spread;
            let raw = match spec.direction {
                Direction::Up => signed,
                Direction::Down => -signed,
                Direction::Both => signed.abs(),
            };
            Some(raw)
        } else {
            None
        };
        let settled = self.seen >= MIN_SAMPLES && time_ms >= self.judge_from_ms;
        let scored = judged.filter(|_| settled).map(|raw| {
            let score_spread = libm::sqrt(self.score_var).max(0.05);
            let z = (raw - self.score_mean) / score_spread;
            let was_active = self.active;
            self.active = if was_active {
                z >= spec.clear_surprise
            } else {
                raw >= spec.k && z >= spec.surprise
            };
            let suspect = self.active || (raw >= SUSPECT_SHARE * spec.k && z >= spec.surprise);
            if suspect && !self.suspect {
                self.suspect_since_ms = time_ms;
            }
            self.suspect = suspect;
            // Saturating: recorded data may put timestamps at both ends of the i64 range.
            let elapsed_ms = self.last_ms.saturating_sub(self.first_ms) as f64;
            let interval = elapsed_ms / f64::from(self.seen - 1);
            let elapsed_s = elapsed_ms / 1000.0;
            Scored {
                active: self.active,
                raw,
                surprise: z,
                evidence: Evidence {
                    level: self.mean,
                    spread,
                    horizon_s: spec.baseline.seconds(interval).min(elapsed_s),
                },
            }
        });
        if !settled {
            self.active = false;
            self.suspect = false;
        }

        // Learn, winsorised, unless the judgements are suspect and have not been for `settle`.
        if self.suspect && time_ms.saturating_sub(self.suspect_since_ms) < spec.settle_ms {
            return scored;
        }
        let deviation = x - self.mean;
        let clipped = if self.seen > 3 {
            winsorise(deviation, spread)
        } else {
            deviation
        };
        self.mean += long * clipped;
        self.var = (1.0 - long) * (self.var + long * clipped * clipped);
        let distance = self.short - self.mean;
        let distance = if self.seen > 3 {
            winsorise(distance, deviation_spread)
        } else {
            distance
        };
        self.deviation_var = if self.seen > 2 {
            (1.0 - long) * (self.deviation_var + long * distance * distance)
        } else {
            distance * distance
        };
        if let Some(raw) = judged.filter(|_| self.seen > 5) {
            self.scored = self.scored.saturating_add(1);
            let w = at_least_one_in(score_weight, self.scored);
            let score_spread = libm::sqrt(self.score_var).max(0.05);
            let raw = if self.scored > 3 && spec.clip_scores {
                raw.min(self.score_mean + CLIP * score_spread)
            } else {
                raw
            };
            let d = raw - self.score_mean;
            self.score_mean += w * d;
            self.score_var = (1.0 - w) * (self.score_var + w * d * d);
        }
        scored
    }
}

/// The standard normal distribution function.
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * libm::erfc(-z / core::f64::consts::SQRT_2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_noise::noise;

    fn spec() -> AdaptiveSpec {
        AdaptiveSpec {
            window: Horizon::Millis(30_000),
            baseline: Horizon::Millis(6 * 3_600_000),
            k: 3.0,
            surprise: 4.0,
            clear_surprise: 1.0,
            settle_ms: 300_000,
            direction: Direction::Both,
            min_std: 0.0,
            min_rel_std: 0.001,
            idle_below: None,
            score_history: None,
            clip_scores: true,
        }
    }

    fn run(
        state: &mut AdaptiveState,
        spec: &AdaptiveSpec,
        from: u64,
        to: u64,
        level: f64,
    ) -> Option<u64> {
        (from..to).find(|&i| {
            state
                .judge(spec, i as i64 * 1000, level + noise(i))
                .is_some_and(|s| s.active)
        })
    }

    #[test]
    fn nothing_is_judged_while_settling() {
        let mut state = AdaptiveState::default();
        let spec = spec();
        for i in 0..300 {
            assert_eq!(state.judge(&spec, i * 1000, 20.0 + noise(i as u64)), None);
        }
        assert!(state.judge(&spec, 300_000, 20.0).is_some());
    }

    #[test]
    fn a_step_of_many_standard_deviations_holds_and_noise_does_not() {
        let mut state = AdaptiveState::default();
        let spec = spec();
        assert_eq!(run(&mut state, &spec, 0, 3_000, 20.0), None);
        let hit = run(&mut state, &spec, 3_000, 3_100, 30.0).expect("a step of 17 sigma holds");
        assert!(hit < 3_010, "held {} samples after the step", hit - 3_000);
    }

    #[test]
    fn a_stopped_machine_is_neither_judged_nor_learned_and_settles_again() {
        let mut state = AdaptiveState::default();
        let spec = AdaptiveSpec {
            idle_below: Some(5.0),
            ..spec()
        };
        assert_eq!(run(&mut state, &spec, 0, 1_000, 20.0), None);
        let mean = state.mean;
        assert_eq!(run(&mut state, &spec, 1_000, 2_000, 0.0), None);
        assert_eq!(state.mean, mean, "a stop is not learned");
        // Restarted at a level far from normal: held for the settling time.
        assert!((2_000..2_298).all(|i| state.judge(&spec, i * 1000, 40.0).is_none()));
        let after = state.judge(&spec, 2_300_000, 40.0);
        assert!(after.is_some(), "judged again once settled");
    }

    #[test]
    fn a_steady_ramp_out_of_a_cycling_normal_is_judged_against_the_normal_before_it() {
        // Twenty minutes of a 30-minute load cycle (±2) with a little noise, then a cooling
        // failure: +0.05 a second (firmware-sim's overheating scenario is of this shape).
        // Learned as it climbs, the ramp would widen the spread as fast as it grows.
        let mut state = AdaptiveState::default();
        let spec = AdaptiveSpec {
            k: 6.5,
            surprise: 2.5,
            ..spec()
        };
        let cycle = |i: u64| 2.0 * libm::sin(i as f64 * core::f64::consts::TAU / 1_800.0);
        let level = |i: u64| 40.0 + cycle(i) + 0.05 * noise(i);
        let quiet = (0..1_200).find(|&i| {
            state
                .judge(&spec, i as i64 * 1000, level(i))
                .is_some_and(|s| s.active)
        });
        assert_eq!(quiet, None, "the cycle is normal");
        let hit = (1_200..3_000).find(|&i| {
            let ramp = 0.05 * (i - 1_200) as f64;
            state
                .judge(&spec, i as i64 * 1000, level(i) + ramp)
                .is_some_and(|s| s.active)
        });
        let hit = hit.expect("the ramp holds the condition");
        assert!(hit < 1_200 + 600, "held {} s into the ramp", hit - 1_200);
    }

    #[test]
    fn the_likelihood_is_a_probability() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-12);
        assert!(normal_cdf(4.0) > 0.9999 && normal_cdf(4.0) < 1.0);
        assert!(normal_cdf(-4.0) < 1e-4);
    }
}
