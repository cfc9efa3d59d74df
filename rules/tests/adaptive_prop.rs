//! The property of the default rules that the issue asks for ("Done when"): on signals that
//! have nothing wrong with them, at any time scale, they stay quiet.
//!
//! Stationary noise, a mean-reverting random walk, a sine with a period from 1 minute to 1 day
//! sampled from 10 Hz to once per 10 minutes, and a step that then stays: at most one alert
//! per 100,000 samples after the warm-up (the default rules' settling time), and one more for
//! the step. Case counts are modest so that the test runs in seconds in a debug build.

use edge_rules::lang::{
    parse_rule_file, RuleSet, SensorRunner, DEFAULT_RULES, DEFAULT_RULES_LABEL,
};
use edge_rules::{AlertState, Transition};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// Samples of each case.
const SAMPLES: usize = 100_000;
/// The default rules' settling time (`settle = "7m"`) and a minute of `for`.
const WARM_UP_MS: i64 = 8 * 60_000;

fn default_rules() -> RuleSet {
    let default =
        parse_rule_file(DEFAULT_RULES_LABEL, DEFAULT_RULES).expect("default rules are valid");
    RuleSet::new(Vec::new(), default)
}

/// Raised alerts of the default rules on `signal`, one sample every `interval_ms`, after the
/// warm-up.
fn raised_after_warm_up(interval_ms: i64, signal: impl Iterator<Item = f64>) -> Vec<(i64, String)> {
    let rules = default_rules();
    let plan = rules.plan("line.sensor", None).expect("plan");
    let mut runner = SensorRunner::new(&plan).expect("runner");
    let mut raised = Vec::new();
    for (i, value) in signal.enumerate() {
        let t = i as i64 * interval_ms;
        let mut emit = |tr: Transition| {
            if tr.state == AlertState::Raised && t >= WARM_UP_MS {
                raised.push((t, plan.rules[tr.rule].name.clone()));
            }
        };
        runner.process(t, value, &mut emit).expect("finite samples");
    }
    raised
}

/// Sample intervals from 10 Hz to one sample per 10 minutes, spread evenly in log scale.
fn interval_ms() -> impl Strategy<Value = i64> {
    (0.0f64..1.0).prop_map(|u| (100.0 * 6000f64.powf(u)).round() as i64)
}

fn gaussian(seed: u64) -> impl FnMut() -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let normal = Normal::new(0.0, 1.0).expect("a valid normal");
    move || normal.sample(&mut rng)
}

proptest! {
    // A fixed seed: the properties are statistical (a false-alarm rate on noise), and the
    // default rules' rate at the slow end, about one alert per 100,000 samples of white noise
    // sampled every 5 to 6 minutes (docs/detection.md), sits near the budget. A random seed
    // would fail CI on chance alone; a fixed one still fails when the rules get noisier.
    #![proptest_config(ProptestConfig {
        cases: 6,
        rng_seed: proptest::test_runner::RngSeed::Fixed(17),
        ..ProptestConfig::default()
    })]

    #[test]
    fn stationary_noise_raises_at_most_one_alert(
        seed in any::<u64>(), interval in interval_ms(), level in -1e3f64..1e3, std in 1e-2f64..1e2,
    ) {
        let mut noise = gaussian(seed);
        let raised = raised_after_warm_up(interval, (0..SAMPLES).map(|_| level + std * noise()));
        prop_assert!(raised.len() <= 1, "{raised:?}");
    }

    #[test]
    fn a_mean_reverting_random_walk_raises_at_most_one_alert(
        seed in any::<u64>(), interval in interval_ms(), phi in 0.9f64..0.9999,
    ) {
        let mut noise = gaussian(seed);
        let mut x = 0.0;
        let walk = (0..SAMPLES).map(|_| {
            x = phi * x + noise();
            50.0 + x
        });
        let raised = raised_after_warm_up(interval, walk);
        prop_assert!(raised.len() <= 1, "{raised:?}");
    }

    #[test]
    fn a_sine_of_any_period_at_any_rate_raises_at_most_one_alert(
        seed in any::<u64>(), interval in interval_ms(), period_s in 60.0f64..86_400.0,
        noise_share in 0.0f64..0.1,
    ) {
        let mut noise = gaussian(seed);
        let omega = core::f64::consts::TAU / (period_s * 1000.0);
        let sine = (0..SAMPLES).map(|i| {
            let t = (i as i64 * interval) as f64;
            60.0 + 10.0 * (omega * t).sin() + 10.0 * noise_share * noise()
        });
        let raised = raised_after_warm_up(interval, sine);
        prop_assert!(raised.len() <= 1, "{raised:?}");
    }

    #[test]
    fn a_step_that_stays_raises_at_most_one_alert(
        seed in any::<u64>(), interval in interval_ms(), step in -50.0f64..50.0,
    ) {
        let mut noise = gaussian(seed);
        let at = SAMPLES / 4;
        let signal = (0..SAMPLES).map(|i| 20.0 + noise() + if i >= at { step } else { 0.0 });
        let raised = raised_after_warm_up(interval, signal);
        // The noise has its budget of one alert, before or after the step; the step gets one.
        let step_ms = at as i64 * interval;
        let before = raised.iter().filter(|(t, _)| *t < step_ms).count();
        prop_assert!(before <= 1, "{raised:?}");
        prop_assert!(raised.len() <= 2, "{raised:?}");
    }
}
