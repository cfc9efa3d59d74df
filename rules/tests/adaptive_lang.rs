//! The adaptive detector in rule files: horizons as durations or sample counts, its defaults,
//! and the mistakes `check` reports at their key.

use edge_rules::detect::DetectorSpec;
use edge_rules::lang::parse_rule_file;
use edge_rules::Horizon;

fn rule(when: &str) -> String {
    format!("version = 1\n[[rule]]\nname = \"r\"\nkind = \"any\"\n  [[rule.when]]\n  detector = \"adaptive\"\n{when}")
}

fn spec(when: &str) -> edge_rules::AdaptiveSpec {
    let file = parse_rule_file("r.toml", &rule(when)).expect("valid");
    match file.rules[0].spec.conditions[0] {
        DetectorSpec::Adaptive { spec, .. } => spec,
        other => panic!("not adaptive: {other:?}"),
    }
}

#[test]
fn horizons_are_durations_or_sample_counts_with_documented_defaults() {
    let defaults = spec("");
    assert_eq!(defaults.window, Horizon::Millis(30_000));
    assert_eq!(defaults.baseline, Horizon::Millis(6 * 3_600_000));
    assert_eq!(defaults.settle_ms, 300_000);
    let given =
        spec("  window = \"10m\"\n  baseline = 7200\n  settle = \"1m\"\n  idle_below = 5.0\n");
    assert_eq!(given.window, Horizon::Millis(600_000));
    assert_eq!(given.baseline, Horizon::Samples(7200));
    assert_eq!(given.settle_ms, 60_000);
    assert_eq!(given.idle_below, Some(5.0));
}

#[test]
fn impossible_adaptive_settings_are_reported_at_their_key() {
    for (when, says) in [
        (
            "  window = \"6h\"\n  baseline = \"1h\"\n",
            "shorter than baseline",
        ),
        ("  window = 1\n", "2 samples or more"),
        ("  baseline = \"soon\"\n", "is not a duration"),
        (
            "  surprise = 2.0\n  clear_surprise = 3.0\n",
            "at most surprise",
        ),
        ("  slack = 1.0\n", "does not apply to detector `adaptive`"),
    ] {
        let errors = parse_rule_file("r.toml", &rule(when)).expect_err(when);
        let text = format!("{errors:?}");
        assert!(text.contains(says), "{when:?}: {text}");
    }
}
