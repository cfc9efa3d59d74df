//! Nothing a sensor or a rule file can send makes the engine or the rule language panic.
//!
//! - Samples: arbitrary f64 bit patterns (NaN with any payload, ±inf, subnormals, ±f64::MAX)
//!   and arbitrary timestamps (the ends of the i64 range, backwards, repeated), through a
//!   [`SensorRunner`] for every sensor of the embedded default rules, of every shipped rule
//!   file that parses (`rules/*.toml`) and of a fixture that uses every detector and feature.
//! - Non-finite samples are rejected and counted, and leave no trace: a stream with them
//!   interleaved gives the same transitions and the same window as the stream without them.
//! - Rule files: arbitrary strings and bytes, and valid files mutated at random, never panic
//!   the parser; every diagnostic points inside the text; and whatever still parses runs.

use std::fmt::Debug;
use std::sync::LazyLock;

use edge_rules::engine::{Counters, Rejection, SensorEngine};
use edge_rules::lang::{
    parse_rule_file, Diagnostics, RuleFile, RuleSet, SensorKind, SensorPlan, SensorRunner,
    DEFAULT_RULES, DEFAULT_RULES_LABEL,
};
use edge_rules::{AlertState, Transition};
use proptest::prelude::*;

/// Every detector and every feature, on the smallest window, a large one, and a valid range.
const EVERY_DETECTOR: &str = r#"
version = 1

[[sensor]]
id = "fixture.small"
kind = "generic"
window = 2
ewma_alpha = 1.0

[[sensor]]
id = "fixture.large"
kind = "temperature"
window = 300
range = [-1e300, 1e300]

[[rule]]
name = "shape"
sensors = ["fixture.small", "fixture.large"]
  [[rule.when]]
  detector = "threshold"
  feature = "kurtosis"
  above = 4.0
  clear_below = 3.5
  [[rule.when]]
  detector = "threshold"
  feature = "skewness"
  above = 1.0
  below = -1.0
  [[rule.when]]
  detector = "threshold"
  feature = "crest_factor"
  above = 6.0
  [[rule.when]]
  detector = "threshold"
  feature = "peak_to_peak"
  above = 100.0

[[rule]]
name = "levels"
sensors = ["fixture.small", "fixture.large"]
match = "all"
for = "1s"
clear_for = "1s"
min_interval = "2s"
  [[rule.when]]
  detector = "threshold"
  feature = "std"
  above = 1.0
  [[rule.when]]
  detector = "threshold"
  feature = "ewma"
  below = 0.0
  [[rule.when]]
  detector = "threshold"
  feature = "min"
  below = -10.0
  [[rule.when]]
  detector = "threshold"
  feature = "mean"
  above = -1e9

[[rule]]
name = "more-levels"
sensors = ["fixture.small", "fixture.large"]
  [[rule.when]]
  detector = "threshold"
  feature = "max"
  above = 50.0
  [[rule.when]]
  detector = "threshold"
  feature = "peak"
  above = 60.0
  [[rule.when]]
  detector = "threshold"
  feature = "value"
  above = 70.0
  [[rule.when]]
  detector = "rate_of_rise"
  per_minute = 5.0

[[rule]]
name = "baselines"
sensors = ["fixture.small", "fixture.large"]
severity = "critical"
  [[rule.when]]
  detector = "zscore"
  k = 3.0
  warmup = 2
  [[rule.when]]
  detector = "ewma_chart"
  lambda = 0.2
  l = 3.0
  [[rule.when]]
  detector = "cusum"
  slack = 0.5
  h = 5.0
  relearn_after = 3
  [[rule.when]]
  detector = "zscore"
  k = 2.0
  direction = "down"
  min_std = 0.5

[[rule]]
name = "machine"
sensors = ["fixture.small", "fixture.large"]
severity = "info"
  [[rule.when]]
  detector = "iso10816"
  group = 1
  [[rule.when]]
  detector = "flatline"
  [[rule.when]]
  detector = "threshold"
  feature = "rms"
  above = 40.0
"#;

/// The rule files under test: label and text.
struct Shipped {
    texts: Vec<(String, String)>,
    default: RuleFile,
    plans: Vec<SensorPlan>,
}

static SHIPPED: LazyLock<Shipped> = LazyLock::new(load_shipped);

/// The embedded default rules, every `rules/*.toml` that parses (other files may be mid-edit
/// by someone else; they are reported and skipped) and the fixture, with a plan for every
/// sensor they declare and for an undeclared sensor of every kind.
fn load_shipped() -> Shipped {
    let default = parse_rule_file(DEFAULT_RULES_LABEL, DEFAULT_RULES)
        .unwrap_or_else(|d| panic!("the embedded default rules must parse:\n{d}"));
    let mut texts = vec![
        (DEFAULT_RULES_LABEL.to_string(), DEFAULT_RULES.to_string()),
        ("<fixture>".to_string(), EVERY_DETECTOR.to_string()),
    ];
    let mut paths: Vec<_> = std::fs::read_dir(env!("CARGO_MANIFEST_DIR"))
        .expect("the crate directory is readable")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .filter(|p| p.file_name().is_some_and(|n| n != "Cargo.toml"))
        .collect();
    paths.sort();
    for path in paths {
        let text = std::fs::read_to_string(&path).expect("a shipped rule file is readable");
        texts.push((path.display().to_string(), text));
    }

    let mut plans = Vec::new();
    let defaults_only = RuleSet::new(Vec::new(), default.clone());
    for kind in SensorKind::ALL.map(Some).into_iter().chain([None]) {
        plans.push(
            defaults_only
                .plan("undeclared", kind)
                .expect("default rules fit a sensor"),
        );
    }
    for (label, text) in &texts[1..] {
        match parse_rule_file(label, text) {
            Ok(file) => plans.extend(plans_of(&file, &default)),
            Err(d) if label == "<fixture>" => panic!("the fixture must parse:\n{d}"),
            Err(d) => eprintln!("skipping {label}, which does not parse now:\n{d}"),
        }
    }
    Shipped {
        texts,
        default,
        plans,
    }
}

/// A plan for every sensor `file` declares; plans that do not fit an engine are skipped.
fn plans_of(file: &RuleFile, default: &RuleFile) -> Vec<SensorPlan> {
    let rules = RuleSet::new(vec![file.clone()], default.clone());
    file.sensors
        .iter()
        .filter_map(|s| rules.plan(&s.id, None).ok())
        .collect()
}

/// Any f64: arbitrary bit patterns, the special values, and ordinary values that make rules
/// fire.
fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => any::<u64>().prop_map(f64::from_bits),
        2 => prop::sample::select(vec![
            f64::NAN,
            -f64::NAN,
            f64::from_bits(0x7ff0_0000_0000_0001), // a signalling NaN
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
            f64::MIN_POSITIVE,
            5e-324,
            -5e-324,
            1e308,
            -1e308,
            f64::MAX,
            f64::MIN,
            1e154,
            -1e-300,
        ]),
        4 => -100.0f64..100.0,
        1 => -1e6f64..1e6,
    ]
}

fn non_finite() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        // NaN with any sign and payload.
        (any::<bool>(), 1u64..(1 << 52)).prop_map(|(negative, payload)| {
            f64::from_bits(u64::from(negative) << 63 | 0x7ff0_0000_0000_0000 | payload)
        }),
    ]
}

/// How the next timestamp is chosen.
#[derive(Debug, Clone, Copy)]
enum Clock {
    /// Anywhere in the i64 range.
    Jump(i64),
    /// Forwards, repeated or backwards from the last one.
    Step(i64),
}

fn timestamps(count: usize) -> impl Strategy<Value = Vec<i64>> {
    let clock = prop_oneof![
        1 => any::<i64>().prop_map(Clock::Jump),
        1 => prop::sample::select(vec![i64::MIN, i64::MIN + 1, i64::MAX, i64::MAX - 1, 0, -1])
            .prop_map(Clock::Jump),
        6 => (-2_000i64..10_000).prop_map(Clock::Step),
        2 => Just(Clock::Step(0)),
    ];
    prop::collection::vec(clock, count).prop_map(|clocks| {
        clocks
            .into_iter()
            .scan(0i64, |t, clock| {
                *t = match clock {
                    Clock::Jump(to) => to,
                    Clock::Step(by) => t.saturating_add(by),
                };
                Some(*t)
            })
            .collect()
    })
}

fn samples(max: usize) -> impl Strategy<Value = Vec<(i64, f64)>> {
    prop::collection::vec(value(), 0..max).prop_flat_map(|values| {
        let count = values.len();
        timestamps(count).prop_map(move |times| times.into_iter().zip(values.clone()).collect())
    })
}

/// Runs `samples` through a runner for `plan`, checking every invariant a caller relies on.
fn run_checked(plan: &SensorPlan, samples: &[(i64, f64)]) -> Result<(), TestCaseError> {
    let mut runner = SensorRunner::new(plan).expect("a valid plan fits a runner");
    let mut raised = vec![false; plan.rules.len()];
    let mut clock: Option<i64> = None;
    let mut last: Option<i64> = None;
    let mut expected = Counters::default();
    for &(time, value) in samples {
        let mut transitions = Vec::new();
        let result = runner.process(time, value, &mut |t| transitions.push(t));
        if !value.is_finite() {
            prop_assert_eq!(result, Err(Rejection::NotFinite));
            expected.rejected_not_finite += 1;
        } else if result == Err(Rejection::OutOfRange) {
            let (min, max) = plan
                .spec
                .valid_range
                .expect("only a range rejects finite values");
            prop_assert!(!(min..=max).contains(&value));
            expected.rejected_out_of_range += 1;
        } else {
            prop_assert_eq!(result, Ok(()));
            expected.accepted += 1;
            expected.out_of_order += u64::from(last.is_some_and(|l| time <= l));
            last = Some(time);
            clock = Some(clock.map_or(time, |c| c.max(time)));
        }
        for t in transitions {
            prop_assert!(result.is_ok(), "a rejected sample caused {t:?}");
            prop_assert!(t.rule < plan.rules.len());
            prop_assert_eq!(
                Some(t.time_ms),
                clock,
                "transitions are stamped with the engine's clock"
            );
            prop_assert_eq!(t.value.to_bits(), value.to_bits());
            // A raise held back comes only while the alert is down, and changes nothing.
            if t.state == AlertState::HeldBack {
                prop_assert!(!raised[t.rule], "held back while raised");
                continue;
            }
            // Per rule, transitions alternate and start with a raise.
            let was_raised = std::mem::replace(&mut raised[t.rule], t.state == AlertState::Raised);
            prop_assert_eq!(
                was_raised,
                t.state == AlertState::Cleared,
                "{:?} twice in a row",
                t.state
            );
        }
    }
    prop_assert_eq!(runner.counters(), expected);
    Ok(())
}

/// Everything observable after a stream: transitions (NaN scores compare by their text) and
/// the window's contents and statistics.
fn observe(plan: &SensorPlan, samples: &[(i64, f64)]) -> (Vec<String>, Counters, String) {
    let mut engine = SensorEngine::<4096>::new(plan.spec, &plan.specs).expect("a valid plan fits");
    let mut transitions = Vec::new();
    for &(time, value) in samples {
        let _ = engine.process(&plan.specs, time, value, |t: Transition| {
            transitions.push(format!("{t:?}"))
        });
    }
    let window: Vec<_> = engine.window().iter().collect();
    let state = format!(
        "{window:?} {:?} {:?}",
        engine.window().moments(),
        engine.ewma()
    );
    (transitions, engine.counters(), state)
}

/// A signal that makes rules fire: levels, noise and spikes, at mostly increasing times.
fn signal() -> impl Strategy<Value = Vec<(i64, f64)>> {
    let segment = (
        prop::sample::select(vec![0.0, 20.0, 80.0, -5.0, 1e6]),
        0.0f64..3.0,
        prop::collection::vec(-1.0f64..1.0, 1..150),
    )
        .prop_map(|(level, amplitude, noise)| {
            noise
                .into_iter()
                .map(|n| level + amplitude * n)
                .collect::<Vec<_>>()
        });
    prop::collection::vec(segment, 1..6).prop_flat_map(|segments| {
        let values: Vec<f64> = segments.concat();
        let steps = prop::collection::vec(
            prop_oneof![8 => 1i64..2_000, 1 => Just(0i64), 1 => -2_000i64..0],
            values.len(),
        );
        (Just(values), steps, 0i64..2_000_000_000_000).prop_map(|(values, steps, start)| {
            let times = steps.into_iter().scan(start, |t, s| {
                *t += s;
                Some(*t)
            });
            times.zip(values).collect()
        })
    })
}

/// The diagnostics of a rejected file name the file and point inside its text.
fn check_diagnostics(
    label: &str,
    text: &str,
    diagnostics: &Diagnostics,
) -> Result<(), TestCaseError> {
    prop_assert!(!diagnostics.0.is_empty(), "rejected without a diagnostic");
    let lines: Vec<&str> = text.split('\n').collect();
    for d in &diagnostics.0 {
        prop_assert_eq!(&d.file, label);
        prop_assert!(!d.message.is_empty());
        prop_assert!(
            (1..=lines.len()).contains(&d.line),
            "line {} of a text of {} lines: {d}",
            d.line,
            lines.len()
        );
        let columns = lines[d.line - 1].chars().count() + 1;
        prop_assert!(
            (1..=columns).contains(&d.column),
            "column {} of a line of {} columns: {d}",
            d.column,
            columns
        );
    }
    Ok(())
}

/// Parses `text`; checks the diagnostics, or runs every sensor of what parsed on a hostile
/// stream.
fn parse_checked(text: &str) -> Result<(), TestCaseError> {
    let label = "mutated.toml";
    match parse_rule_file(label, text) {
        Err(diagnostics) => check_diagnostics(label, text, &diagnostics),
        Ok(file) => {
            let hostile = [
                (0, 1.0),
                (i64::MAX, f64::MAX),
                (i64::MIN, -f64::MAX),
                (5, f64::NAN),
                (6, 2.0),
                (6, 5e-324),
                (-7, 1e300),
                (8, 3.0),
            ];
            let stream: Vec<_> = hostile.iter().cycle().take(64).copied().collect();
            for plan in plans_of(&file, &SHIPPED.default) {
                run_checked(&plan, &stream)?;
            }
            Ok(())
        }
    }
}

/// One edit of a rule file's text.
#[derive(Debug, Clone)]
enum Mutation {
    Delete {
        at: prop::sample::Index,
        len: usize,
    },
    Insert {
        at: prop::sample::Index,
        text: String,
    },
    DuplicateLine(prop::sample::Index),
    SwapLines(prop::sample::Index, prop::sample::Index),
    Truncate(prop::sample::Index),
    /// Replaces the nth number of the text: validation sees every kind of bad value.
    Number(prop::sample::Index, &'static str),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let snippet = prop_oneof![
        prop::sample::select(vec![
            "[[rule]]\n",
            "[[rule.when]]\n",
            "[[sensor]]\n",
            "=",
            "\"",
            "\n",
            "#",
            "[",
            "]",
            "{",
            "0",
            "-1",
            "1e308",
            "nan",
            "-inf",
            "9223372036854775807",
            "-9223372036854775808",
            "window = 1\n",
            "window = 4096\n",
            "window = 4097\n",
            "window = \"106751991167d\"\n",
            "sample_every = \"1ms\"\n",
            "warmup = 0\n",
            "detector = \"zscore\"\n",
            "detector = \"flatline\"\n",
            "detector = \"bogus\"\n",
            "feature = \"kurtosis\"\n",
            "for = \"106751991167d\"\n",
            "for = \"9999999999999999999s\"\n",
            "k = nan\n",
            "above = inf\n",
            "clear_below = 1e308\n",
            "epsilon = -1\n",
            "relearn_after = 9223372036854775807\n",
            "ewma_alpha = 5e-324\n",
            "range = [1, 1]\n",
            "kind = \"any\"\n",
            "sensor = \"\"\n",
            "version = 2\n",
            "é",
            "\u{0}",
            "\r\n",
            "\t",
        ])
        .prop_map(str::to_string),
        ".{0,12}",
    ];
    prop_oneof![
        2 => (any::<prop::sample::Index>(), 1usize..40).prop_map(|(at, len)| Mutation::Delete { at, len }),
        4 => (any::<prop::sample::Index>(), snippet).prop_map(|(at, text)| Mutation::Insert { at, text }),
        1 => any::<prop::sample::Index>().prop_map(Mutation::DuplicateLine),
        1 => (any::<prop::sample::Index>(), any::<prop::sample::Index>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        1 => any::<prop::sample::Index>().prop_map(Mutation::Truncate),
        6 => (any::<prop::sample::Index>(), prop::sample::select(vec![
            "0", "-1", "1", "2", "0.5", "-0.0", "1e308", "-1e308", "1e-320", "nan", "+inf",
            "-inf", "4096", "4097", "9223372036854775807", "-9223372036854775808", "1_000",
        ])).prop_map(|(at, to)| Mutation::Number(at, to)),
    ]
}

/// Applies `mutation` on character boundaries, so that the text stays a string.
fn apply(text: &str, mutation: &Mutation) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
    match mutation {
        Mutation::Delete { at, len } if !chars.is_empty() => {
            let start = at.index(chars.len());
            chars.drain(start..(start + len).min(chars.len()));
        }
        Mutation::Insert { at, text } => {
            let at = at.index(chars.len() + 1);
            chars.splice(at..at, text.chars());
        }
        Mutation::DuplicateLine(i) if !lines.is_empty() => {
            let i = i.index(lines.len());
            lines.insert(i, lines[i]);
            return lines.concat();
        }
        Mutation::SwapLines(a, b) if !lines.is_empty() => {
            let (a, b) = (a.index(lines.len()), b.index(lines.len()));
            lines.swap(a, b);
            return lines.concat();
        }
        Mutation::Truncate(at) => chars.truncate(at.index(chars.len() + 1)),
        Mutation::Number(nth, to) => {
            let numbers = numbers(&chars);
            if !numbers.is_empty() {
                let (start, end) = numbers[nth.index(numbers.len())];
                chars.splice(start..end, to.chars());
            }
        }
        _ => {}
    }
    chars.into_iter().collect()
}

/// Where the numbers of a text are, as char ranges: a digit, or a sign before one, that does
/// not continue a word, and what follows it of digits, `.`, `_`, `e`, `E` and signs.
fn numbers(chars: &[char]) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let signed =
            matches!(chars[i], '-' | '+') && chars.get(i + 1).is_some_and(char::is_ascii_digit);
        let continues_word = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        if (chars[i].is_ascii_digit() || signed) && !continues_word {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_digit() || "._eE+-".contains(chars[i])) {
                i += 1;
            }
            found.push((start, i));
        } else {
            i += 1;
        }
    }
    found
}

fn assert_same<T: PartialEq + Debug>(what: &str, with: T, without: T) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        with,
        without,
        "{} differ with non-finite samples interleaved",
        what
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn no_sample_and_no_timestamp_panics_the_engine_of_any_shipped_sensor(samples in samples(300)) {
        for plan in &SHIPPED.plans {
            run_checked(plan, &samples)?;
        }
    }

    #[test]
    fn non_finite_samples_are_rejected_counted_and_change_nothing(
        clean in signal(),
        inserts in prop::collection::vec((any::<prop::sample::Index>(), any::<i64>(), non_finite()), 0..60),
    ) {
        let mut dirty = clean.clone();
        for (at, time, value) in &inserts {
            let at = at.index(dirty.len() + 1);
            dirty.insert(at, (*time, *value));
        }
        for plan in &SHIPPED.plans {
            let (transitions, counters, state) = observe(plan, &clean);
            let (dirty_transitions, dirty_counters, dirty_state) = observe(plan, &dirty);
            prop_assert_eq!(dirty_counters.rejected_not_finite, inserts.len() as u64);
            assert_same("counters", Counters { rejected_not_finite: 0, ..dirty_counters }, counters)?;
            assert_same("transitions", dirty_transitions, transitions)?;
            assert_same("windows", dirty_state, state)?;
        }
    }

    #[test]
    fn the_rule_parser_never_panics_on_arbitrary_text(text in any::<String>()) {
        parse_checked(&text)?;
    }

    #[test]
    fn the_rule_parser_never_panics_on_toml_like_text(text in "[a-z_=\\[\\]\"'.0-9 \n#{},+-]{0,300}") {
        parse_checked(&text)?;
    }

    #[test]
    fn the_rule_parser_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        parse_checked(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn the_rule_parser_never_panics_on_mutated_rule_files(
        file in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let (_, text) = &SHIPPED.texts[file.index(SHIPPED.texts.len())];
        let mutated = mutations.iter().fold(text.clone(), |text, m| apply(&text, m));
        parse_checked(&mutated)?;
    }
}

#[test]
fn every_shipped_sensor_and_the_fixture_are_under_test() {
    // The fixture's two sensors and one undeclared sensor per kind at the least; a shipped
    // file that does not parse is reported by the tests that load every shipped file.
    assert!(SHIPPED.plans.len() > SensorKind::ALL.len() + 2);
    assert!(SHIPPED
        .plans
        .iter()
        .any(|p| p.sensor == "fixture.large" && p.rules.len() == 5));
}

#[test]
fn a_stream_with_nans_interleaved_raises_and_clears_like_the_clean_stream() {
    // The property above with a signal that certainly raises and clears.
    let plan = SHIPPED
        .plans
        .iter()
        .find(|p| p.sensor == "fixture.large")
        .expect("fixture plan");
    let clean: Vec<_> = (0..900i64)
        .map(|i| {
            (
                i * 1000,
                if (300..400).contains(&i) {
                    60.0
                } else {
                    20.0 + (i % 5) as f64 * 0.1
                },
            )
        })
        .collect();
    let dirty: Vec<_> = clean
        .iter()
        .flat_map(|&(t, x)| [(t, x), (t + 1, f64::NAN), (i64::MIN, f64::INFINITY)])
        .collect();
    let (transitions, _, state) = observe(plan, &clean);
    assert!(
        transitions.iter().any(|t| t.contains("Raised")),
        "{transitions:?}"
    );
    assert!(
        transitions.iter().any(|t| t.contains("Cleared")),
        "{transitions:?}"
    );
    let (dirty_transitions, counters, dirty_state) = observe(plan, &dirty);
    assert_eq!(dirty_transitions, transitions);
    assert_eq!(dirty_state, state);
    assert_eq!(counters.rejected_not_finite, 2 * clean.len() as u64);
}

#[test]
fn samples_near_f64_max_do_not_silence_a_sensor_for_good() {
    // Regression: such samples overflowed the window's sums into NaN for ever, and a z-score
    // of NaN never holds, so the sensor's baseline detectors were dead from then on.
    let rules = r#"
        version = 1
        [[sensor]]
        id = "s"
        kind = "generic"
        window = 8
        [[rule]]
        name = "z"
        sensor = "s"
          [[rule.when]]
          detector = "zscore"
          k = 5.0
    "#;
    let file = parse_rule_file("zscore.toml", rules).expect("valid rules");
    let plan = plans_of(&file, &SHIPPED.default).pop().expect("one sensor");
    let mut runner = SensorRunner::new(&plan).expect("runner");
    let glitch = [1.0, 1.7e308, -1.7e308, 1.7e308];
    let normal = (0..50).map(|i| f64::from(i % 2));
    let mut raised = Vec::new();
    for (i, x) in glitch.into_iter().chain(normal).chain([100.0]).enumerate() {
        let time = i as i64 * 1000;
        let _ = runner.process(time, x, &mut |t| raised.push((time, t.state)));
    }
    assert_eq!(
        raised.last(),
        Some(&(54_000, AlertState::Raised)),
        "{raised:?}"
    );
}

#[test]
fn timestamps_at_both_ends_of_the_i64_range_in_one_window_are_processed() {
    // Regression: the window subtracted timestamps as i64, which overflowed here.
    for plan in &SHIPPED.plans {
        let stream = [
            (i64::MIN, 1.0),
            (i64::MAX, 2.0),
            (0, 3.0),
            (i64::MIN, 4.0),
            (i64::MAX, 5.0),
        ];
        let stream: Vec<_> = stream.iter().cycle().take(700).copied().collect();
        run_checked(plan, &stream).expect("invariants hold");
    }
}

#[test]
fn a_toml_error_without_a_message_of_its_own_still_says_what_is_wrong() {
    // Regression: toml 0.8 gave no message for a control character in a comment, and the
    // diagnostic read `f.toml:2:2: ` with nothing after it (toml 0.9 names the problem; the
    // agent's own fallback covers any parser that does not).
    let diagnostics = parse_rule_file("f.toml", "version = 1\n#\u{1}").expect_err("invalid TOML");
    let text = diagnostics.to_string();
    let message = text.strip_prefix("f.toml:2:2: ").expect(&text);
    assert!(message.len() > 10, "{text}");
}
