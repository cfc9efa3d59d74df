//! A sensor's window in a rule file: a count of samples, or a duration with the sensor's sample
//! period (`sample_every`), and the mistakes `check` reports at FILE:LINE:COL.

use edge_rules::lang::parse_rule_file;

fn sensor(keys: &str) -> String {
    format!("version = 1\n[[sensor]]\nid = \"pump.temp\"\nkind = \"temperature\"\n{keys}")
}

fn window_of(keys: &str) -> usize {
    let file = parse_rule_file("pump.toml", &sensor(keys)).expect("valid");
    file.sensors[0].spec.window
}

#[test]
fn a_window_is_samples_or_a_duration_over_the_sample_period() {
    assert_eq!(window_of(""), 60, "the documented default");
    assert_eq!(window_of("window = 300\n"), 300);
    assert_eq!(window_of("window = \"10m\"\nsample_every = \"1s\"\n"), 600);
    assert_eq!(
        window_of("window = \"1m\"\nsample_every = \"100ms\"\n"),
        600
    );
    // Rounded to the nearest sample: 60 s at 7 s is 8.57 samples.
    assert_eq!(window_of("window = \"1m\"\nsample_every = \"7s\"\n"), 9);
    // sample_every alone changes nothing: the window stays a count.
    assert_eq!(window_of("sample_every = \"5m\"\nwindow = 12\n"), 12);
    assert_eq!(window_of("sample_every = \"5m\"\n"), 60);
}

#[test]
fn the_ewma_weight_follows_a_window_given_as_a_duration() {
    let file = parse_rule_file(
        "pump.toml",
        &sensor("window = \"2m\"\nsample_every = \"1s\"\n"),
    )
    .expect("valid");
    let alpha = file.sensors[0].spec.ewma_alpha;
    assert!((alpha - 2.0 / 121.0).abs() < 1e-12, "{alpha}");
}

#[test]
fn impossible_windows_are_reported_at_their_key_with_what_would_be_right() {
    for (keys, line, says) in [
        (
            "window = \"10m\"\n",
            5,
            "needs the sensor's sample period to size its ring: add sample_every",
        ),
        (
            "window = \"1h\"\nsample_every = \"100ms\"\n",
            5,
            "is 36000 samples of 100ms: it must be from 2 to 4096 samples",
        ),
        (
            "window = \"1s\"\nsample_every = \"1s\"\n",
            5,
            "is 1 samples of 1s",
        ),
        (
            "window = \"106751991167d\"\nsample_every = \"1ms\"\n",
            5,
            "it must be from 2 to 4096 samples",
        ),
        (
            "window = 1\n",
            5,
            "window must be from 2 to 4096 samples, not 1",
        ),
        (
            "window = \"soon\"\nsample_every = \"1s\"\n",
            5,
            "is not a duration",
        ),
        (
            "window = 30\nsample_every = \"0s\"\n",
            6,
            "sample_every must be longer than 0s",
        ),
        (
            "window = 30\nsample_every = \"fast\"\n",
            6,
            "is not a duration",
        ),
    ] {
        let errors = parse_rule_file("pump.toml", &sensor(keys)).expect_err(keys);
        let text = errors.to_string();
        assert!(
            text.contains(&format!("pump.toml:{line}:")),
            "{keys:?} should point at line {line}: {text}"
        );
        assert!(text.contains(says), "{keys:?}: {text}");
    }
}
