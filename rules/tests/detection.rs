//! The shipped rules on synthetic signals whose truth is known: steps and ramps in Gaussian
//! noise must be raised and cleared, stationary noise must stay (almost) quiet, and thresholds
//! must neither flap (hysteresis) nor fire on blips (debounce).

use edge_rules::lang::{
    parse_rule_file, RuleSet, SensorRunner, DEFAULT_RULES, DEFAULT_RULES_LABEL,
};
use edge_rules::{AlertState, Transition};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

const SECOND: i64 = 1000;

fn default_rules() -> RuleSet {
    let default =
        parse_rule_file(DEFAULT_RULES_LABEL, DEFAULT_RULES).expect("default rules are valid");
    RuleSet::new(Vec::new(), default)
}

/// Runs `signal` (one sample per second) for `sensor`; returns (second, rule name, state).
fn run(rules: &RuleSet, sensor: &str, signal: &[f64]) -> Vec<(usize, String, AlertState)> {
    let plan = rules.plan(sensor, None).expect("plan");
    let mut runner = SensorRunner::new(&plan).expect("runner");
    let mut out = Vec::new();
    for (second, &value) in signal.iter().enumerate() {
        let mut emit = |t: Transition| out.push((second, plan.rules[t.rule].name.clone(), t.state));
        runner
            .process(second as i64 * SECOND, value, &mut emit)
            .expect("finite samples are taken");
    }
    out
}

fn noise(seed: u64, n: usize, mean: f64, std: f64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let normal = Normal::new(mean, std).expect("valid normal");
    (0..n).map(|_| normal.sample(&mut rng)).collect()
}

fn raises(transitions: &[(usize, String, AlertState)]) -> Vec<usize> {
    transitions
        .iter()
        .filter(|t| t.2 == AlertState::Raised)
        .map(|t| t.0)
        .collect()
}

#[test]
fn a_step_in_noise_is_raised_within_a_minute_and_held_for_minutes_before_it_clears() {
    let rules = default_rules();
    for seed in 0..5 {
        let mut signal = noise(seed, 1800, 20.0, 0.5);
        for x in &mut signal[600..900] {
            *x += 4.0; // an 8-sigma step for five minutes
        }
        let transitions = run(&rules, "motor.temperature", &signal);
        let raised = raises(&transitions);
        assert!(
            raised.iter().all(|&s| s >= 600),
            "seed {seed}: raised before the step: {transitions:?}"
        );
        assert!(
            // The default rule wants the condition to hold for 45 s.
            raised.first().is_some_and(|&s| s <= 660),
            "seed {seed}: step not raised in a minute: {transitions:?}"
        );
        let last = transitions.last().expect("transitions");
        assert_eq!(
            last.2,
            AlertState::Cleared,
            "seed {seed}: still raised at the end: {transitions:?}"
        );
        assert!(
            transitions.iter().all(|t| t.0 < 900 + 180),
            "seed {seed}: alerts after the signal returned and settled: {transitions:?}"
        );
        // The adaptive normal learns a change that stays (a new operating point), so the alert
        // may clear before the step ends, but not before it has been held for two minutes.
        let first = raised[0];
        assert!(
            transitions
                .iter()
                .filter(|t| t.2 == AlertState::Cleared)
                .all(|t| t.0 >= first + 120),
            "seed {seed}: cleared within two minutes of the raise: {transitions:?}"
        );
    }
}

#[test]
fn a_slow_ramp_in_noise_is_raised_while_it_lasts_and_clears_after_it() {
    let rules = default_rules();
    for seed in 0..5 {
        let mut signal = noise(100 + seed, 2400, 50.0, 0.2);
        // 0.02 units per second (1.2 per minute) for ten minutes, then repaired: back to normal.
        for (i, x) in signal.iter_mut().enumerate().take(1200).skip(600) {
            *x += 0.02 * (i - 600) as f64;
        }
        let transitions = run(&rules, "bearing.temperature", &signal);
        let raised = raises(&transitions);
        assert!(
            raised.iter().all(|&s| s >= 600),
            "seed {seed}: raised before the ramp: {transitions:?}"
        );
        assert!(
            raised.first().is_some_and(|&s| s < 1200),
            "seed {seed}: ramp not raised: {transitions:?}"
        );
        assert_eq!(
            transitions.last().map(|t| t.2),
            Some(AlertState::Cleared),
            "seed {seed}: {transitions:?}"
        );
    }
}

#[test]
fn hours_of_stationary_noise_raise_almost_nothing() {
    let rules = default_rules();
    let mut total = 0;
    for seed in 0..4 {
        let signal = noise(200 + seed, 6 * 3600, 5.0, 1.0); // six hours at 1 Hz
        total += raises(&run(&rules, "fan.vibration", &signal)).len();
    }
    assert!(
        total <= 1,
        "{total} false alarms in 24 hours of stationary noise"
    );
}

const PUMP: &str = include_str!("../pump.toml");

fn pump_rules() -> RuleSet {
    let pump = parse_rule_file("pump.toml", PUMP).expect("pump rules are valid");
    let default =
        parse_rule_file(DEFAULT_RULES_LABEL, DEFAULT_RULES).expect("default rules are valid");
    RuleSet::new(vec![pump], default)
}

fn only(transitions: Vec<(usize, String, AlertState)>, rule: &str) -> Vec<(usize, AlertState)> {
    transitions
        .into_iter()
        .filter(|t| t.1 == rule)
        .map(|t| (t.0, t.2))
        .collect()
}

fn steady(n: usize, level: f64) -> impl Iterator<Item = f64> {
    (0..n).map(move |s| level + 0.1 * (s % 3) as f64)
}

/// A bare value threshold: raise at 90, clear below 85, after 30 s either way.
const OVERTEMPERATURE: &str = r#"
version = 1
[[sensor]]
id = "bearing"
kind = "temperature"
[[rule]]
name = "hot"
sensor = "bearing"
for = "30s"
clear_for = "30s"
  [[rule.when]]
  detector = "threshold"
  above = 90.0
  clear_below = 85.0
"#;

fn overtemperature(signal: &[f64]) -> Vec<(usize, AlertState)> {
    let file = parse_rule_file("hot.toml", OVERTEMPERATURE).expect("valid rules");
    let default = parse_rule_file(DEFAULT_RULES_LABEL, DEFAULT_RULES).expect("valid");
    only(
        run(&RuleSet::new(vec![file], default), "bearing", signal),
        "hot",
    )
}

#[test]
fn a_threshold_with_hysteresis_does_not_flap_around_its_raise_level() {
    // Hot, then hovering between 86 and 91 °C: never below the clear level (85), so one alert.
    let mut signal: Vec<f64> = steady(100, 70.0).collect();
    signal.extend((0..600).map(|s| if (s / 20) % 2 == 0 { 91.0 } else { 86.0 }));
    signal.extend(steady(100, 60.0));
    let alerts = overtemperature(&signal);
    assert_eq!(
        alerts,
        vec![
            (100 + 30, AlertState::Raised),
            (700 + 30, AlertState::Cleared)
        ]
    );
}

#[test]
fn a_blip_shorter_than_the_debounce_raises_nothing_and_a_sustained_one_raises_once() {
    let mut blips: Vec<f64> = steady(100, 70.0).collect();
    for _ in 0..5 {
        blips.extend(std::iter::repeat_n(120.0, 25)); // 25 s over the limit
        blips.extend(steady(50, 70.0));
    }
    assert_eq!(overtemperature(&blips), vec![], "25 s blips raised");

    let mut sustained: Vec<f64> = steady(100, 70.0).collect();
    sustained.extend(std::iter::repeat_n(95.0, 300));
    assert_eq!(
        overtemperature(&sustained),
        vec![(100 + 30, AlertState::Raised)]
    );
}

#[test]
fn a_stuck_transmitter_is_reported_once_its_window_is_flat() {
    let mut signal = noise(7, 300, 40.0, 0.3);
    signal.extend(std::iter::repeat_n(41.5, 300));
    let alerts = only(
        run(&pump_rules(), "pump1.casing.temperature", &signal),
        "sensor-stuck",
    );
    assert_eq!(
        alerts.first().map(|a| a.1),
        Some(AlertState::Raised),
        "{alerts:?}"
    );
    // The window of 120 samples must be entirely flat: the 120th flat sample completes it.
    assert_eq!(alerts[0].0, 300 + 119, "{alerts:?}");
}

#[test]
fn rejected_samples_never_reach_the_window() {
    let rules = pump_rules();
    let plan = rules.plan("pump1.bearing.temperature", None).expect("plan");
    let mut runner = SensorRunner::new(&plan).expect("runner");
    let mut ignore = |_: Transition| {};
    assert!(runner.process(0, f64::NAN, &mut ignore).is_err());
    assert!(runner.process(1, f64::INFINITY, &mut ignore).is_err());
    assert!(
        runner.process(2, 999.0, &mut ignore).is_err(),
        "out of the declared range"
    );
    assert!(runner.process(3, 50.0, &mut ignore).is_ok());
    let counters = runner.counters();
    assert_eq!(
        (
            counters.accepted,
            counters.rejected_not_finite,
            counters.rejected_out_of_range
        ),
        (1, 2, 1)
    );
}

#[test]
fn a_signal_that_rests_flat_every_day_is_stuck_only_when_it_stays_flat_longer_than_usual() {
    // One sample a minute: 12 noisy hours, then 12 flat hours (a machine stopped at night),
    // for five days; then the transmitter freezes for a whole day.
    let minute = |i: usize| i as i64 * 60 * SECOND;
    let mut signal = Vec::new();
    for day in 0..5u64 {
        signal.extend(noise(day, 720, 40.0, 0.3));
        signal.extend(std::iter::repeat_n(20.0, 720));
    }
    signal.extend(noise(99, 720, 40.0, 0.3));
    let frozen_at = signal.len();
    signal.extend(std::iter::repeat_n(41.5, 1440));

    let rules = default_rules();
    let plan = rules.plan("line.temperature", None).expect("plan");
    let mut runner = SensorRunner::new(&plan).expect("runner");
    let mut raised = Vec::new();
    for (i, &value) in signal.iter().enumerate() {
        let mut emit = |t: Transition| {
            if t.state == AlertState::Raised && plan.rules[t.rule].name == "stuck-sensor" {
                raised.push(i);
            }
        };
        runner.process(minute(i), value, &mut emit).expect("finite");
    }
    // The first night is the longest stillness seen so far: it is reported. The four nights
    // after it are as long, and are not; the freeze, twice as long, is.
    assert_eq!(raised.len(), 2, "raised at minutes {raised:?}");
    assert!(raised[0] < 1440, "the first night: {raised:?}");
    let night = 720 - 60; // still once the 60-sample window is flat
    assert!(
        raised[1] > frozen_at + night && raised[1] < frozen_at + 60 + night * 5 / 4 + 2,
        "the freeze is reported a quarter past the longest night: {raised:?}, frozen at {frozen_at}"
    );
}
