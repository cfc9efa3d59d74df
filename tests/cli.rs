//! `edge-agent check` and `edge-agent replay` as a user runs them: the built binary, real files.

use std::process::{Command, Output};

use e2e_tests::paths;

/// Runs the built `edge-agent` in the workspace root.
fn edge_agent(args: &[&str]) -> Output {
    Command::new(paths::edge_agent_binary())
        .args(args)
        .current_dir(paths::workspace())
        .output()
        .expect("edge-agent runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write(dir: &tempfile::TempDir, name: &str, content: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, content).expect("write");
    path.display().to_string()
}

#[test]
fn check_accepts_every_shipped_rule_file() {
    let out = edge_agent(&["check", "rules/"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("all valid"));
}

#[test]
fn check_reports_a_mistake_on_line_3_with_the_path_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(
        &dir,
        "broken.toml",
        "version = 1\n[[sensor]]\nid = 42\nkind = \"temperature\"\n",
    );
    let out = edge_agent(&["check", &path]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with(&format!("{path}:3:")), "{stderr}");
}

#[test]
fn check_reports_every_error_of_a_file_like_a_compiler() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(
        &dir,
        "rules.toml",
        r#"version = 1
[[sensor]]
id = "a"
kind = "temperature"
[[rule]]
name = "r"
sensor = "missing"
  [[rule.when]]
  detector = "threshold"
  above = 5.0
  clear_below = 7.0
"#,
    );
    let out = edge_agent(&["check", &path]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains(&format!("{path}:7:10: rule `r` names sensor `missing`")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{path}:11:17: `clear_below` (7) is above `above` (5)"
        )),
        "{stderr}"
    );
}

const STEP: &str = "timestamp,value\n";

fn step_csv() -> String {
    // One sample a second: 10 minutes of a steady, slightly noisy level (past the default
    // rules' settling time), a jump for 200 s, and back for 20 minutes: the jump back shakes
    // the signal as much as the jump, and the alert clears once that has passed too.
    let mut csv = STEP.to_string();
    for s in 0..2000u32 {
        let wobble = f64::from((s * 7919) % 11) * 0.01;
        let level = if (600..800).contains(&s) { 30.0 } else { 20.0 };
        csv.push_str(&format!("{},{}\n", 1_700_000_000 + s, level + wobble));
    }
    csv
}

#[test]
fn replay_prints_each_raise_in_the_wire_shape_with_its_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(&dir, "step.csv", &step_csv());
    let out = edge_agent(&["replay", "--input", &path, "--sensor", "pump.temp"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let events: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let first = events.first().expect("the step raises an alert");
    assert_eq!(first["v"], 1);
    assert_eq!(first["kind"], "alert");
    assert_eq!(first["state"], "raised");
    assert_eq!(first["sensor"], "pump.temp");
    assert_eq!(first["rule"], "unusual-behaviour");
    assert_eq!(first["detector"], "unusual");
    let row = first["row"].as_u64().expect("row");
    // The default rule wants the step to stand out for 45 s (`for = "45s"`).
    assert!((645..660).contains(&row), "raised at row {row}");
    let score = first["score"].as_f64().expect("a score");
    assert!((0.0..=1.0).contains(&score) && score > 0.9, "score {score}");
    let evidence = &first["evidence"];
    let level = evidence["level"].as_f64().expect("a level");
    assert!(
        (19.9..20.2).contains(&level),
        "the normal was 20, not {level}"
    );
    assert!(evidence["spread"]
        .as_f64()
        .is_some_and(|s| s > 0.0 && s < 1.0));
    assert!(evidence["horizon_s"].as_f64().is_some_and(|h| h > 600.0));
    assert!(first["rule_hash"].as_str().is_some_and(|h| h.len() == 16));
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event["seq"], i as u64, "seq grows by one");
        assert!(event["ts"].as_str().is_some_and(|t| t.ends_with('Z')));
    }
    assert!(
        events.iter().all(|e| e["state"] == "raised"),
        "a clearing is not an alarm: without --clears only raises are printed"
    );
    let stderr = text(&out.stderr);
    assert!(stderr.contains("2000 rows"), "{stderr}");
    assert!(
        stderr.contains("1 cleared"),
        "the summary still counts it: {stderr}"
    );
}

#[test]
fn replay_with_clears_prints_each_alerts_whole_lifecycle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(&dir, "step.csv", &step_csv());
    let out = edge_agent(&[
        "replay",
        "--input",
        &path,
        "--sensor",
        "pump.temp",
        "--clears",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let states: Vec<String> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON line"))
        .map(|e| e["state"].as_str().expect("a state").to_string())
        .collect();
    assert_eq!(
        states,
        ["raised", "cleared"],
        "the step is raised, then cleared"
    );
}

#[test]
fn replay_gives_the_same_output_for_the_same_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(&dir, "step.csv", &step_csv());
    let a = edge_agent(&["replay", "--input", &path]);
    let b = edge_agent(&["replay", "--input", &path]);
    assert!(!a.stdout.is_empty());
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn replay_reads_long_and_wide_semicolon_files_and_counts_what_it_skips() {
    let dir = tempfile::tempdir().expect("tempdir");
    let long = write(
        &dir,
        "long.csv",
        "timestamp,sensor,value\n2024-01-01T00:00:00Z,a,1\n2024-01-01 00:00:01,b,2\nnot a time,a,3\n1704067202000,a,oops\n1704067201,a,NaN\n2024-01-01T00:00:00Z,b,5\n",
    );
    let out = edge_agent(&["replay", "--input", &long]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    for expected in [
        "6 rows",
        "4 samples of 2 sensors",
        "1 bad timestamps",
        "1 bad values",
        "1 not finite",
        "1 timestamps out of order",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in {stderr}"
        );
    }

    let wide = write(
        &dir,
        "wide.csv",
        "datetime;x;y;label\n2024-01-01 00:00:00;1;2;0\n2024-01-01 00:00:01;;3;0\n",
    );
    let out = edge_agent(&["replay", "--input", &wide, "--sensor", "x,y"]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("3 samples of 2 sensors") && stderr.contains("1 empty cells"),
        "{stderr}"
    );
}

#[test]
fn replay_of_garbage_or_empty_input_fails_cleanly_or_counts_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = write(&dir, "empty.csv", "");
    let out = edge_agent(&["replay", "--input", &empty]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("empty"), "{}", text(&out.stderr));

    let garbage = dir.path().join("garbage.csv");
    let bytes: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&garbage, bytes).expect("write");
    let out = edge_agent(&["replay", "--input", &garbage.display().to_string()]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "garbage gives no samples: {}",
        text(&out.stderr)
    );
    assert!(!text(&out.stderr).contains("panicked"));

    let missing_column = write(&dir, "x.csv", "t,a\n1,2\n");
    let out = edge_agent(&["replay", "--input", &missing_column, "--sensor", "a,b"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("`b`"), "{}", text(&out.stderr));
}

#[test]
fn replay_of_input_without_samples_fails_and_says_what_it_expected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases: [(&str, Vec<u8>, &str); 4] = [
        (
            "data.csv.gz",
            vec![
                0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0x2b, 0x49, 0x2d, 0x2e, 0x01, 0,
            ],
            "gzip",
        ),
        (
            "data.jsonl",
            b"{\"ts\": 1700000000, \"value\": 1.5}\n{\"ts\": 1700000001, \"value\": 1.6}\n"
                .to_vec(),
            "JSON",
        ),
        (
            "commas.csv",
            b"datetime;value\n2024-01-01 00:00:00;3,14\n2024-01-01 00:00:01;3,15\n".to_vec(),
            "decimal commas",
        ),
        (
            "data.bin",
            (0..4096u32).map(|i| (i % 7) as u8).collect(),
            "binary",
        ),
    ];
    for (name, bytes, said) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        let out = edge_agent(&["replay", "--input", &path.display().to_string()]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains("no samples"), "{name}: {stderr}");
        assert!(stderr.contains("expected a CSV"), "{name}: {stderr}");
        assert!(
            stderr.contains(said),
            "{name} should be called {said}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{name}");
    }
}

#[test]
fn replay_leaves_out_excluded_columns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wide = write(
        &dir,
        "labelled.csv",
        "datetime;x;y;anomaly;changepoint\n2024-01-01 00:00:00;1;2;0;0\n2024-01-01 00:00:01;1;3;1;1\n",
    );
    let out = edge_agent(&[
        "replay",
        "--input",
        &wide,
        "--exclude",
        "anomaly,changepoint",
    ]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("4 samples of 2 sensors"), "{stderr}");

    let out = edge_agent(&["replay", "--input", &wide, "--exclude", "label"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("`label`"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn replay_explain_says_why_each_alert_fired() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(&dir, "step.csv", &step_csv());
    let out = edge_agent(&["replay", "--input", &path, "--explain"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let json: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with('{'))
        .collect();
    let why: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("why: "))
        .collect();
    assert!(!json.is_empty());
    assert_eq!(json.len(), why.len(), "one explanation per alert: {stdout}");
    assert!(
        why[0].contains("`unusual-behaviour` raised at row")
            && (why[0].contains("score 0.9") || why[0].contains("score 1.0"))
            && why[0].contains("against a normal of 20.0")
            && why[0].contains("over the last"),
        "{}",
        why[0]
    );
}

fn agent_config(rules: &str, extra: &str) -> String {
    format!(
        "[agent]\ngateway = \"gw\"\nrules = [{rules:?}]\n{extra}\n[[device]]\nid = \"pump\"\ntransport = \"tcp\"\naddress = \"127.0.0.1:1502\"\n  [[device.poll]]\n  interval = \"1s\"\n    [[device.poll.register]]\n    sensor = \"pump1.bearing.temperature\"\n    table = \"input\"\n    address = 0\n    type = \"f32\"\n"
    )
}

#[test]
fn check_of_a_config_loads_its_rules_and_refuses_a_missing_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write(&dir, "agent.toml", &agent_config("/nonexistent/rules", ""));
    let out = edge_agent(&["check", &config]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("/nonexistent/rules:1:1: cannot read"),
        "{}",
        text(&out.stderr)
    );
    // `run` refuses it the same way, before starting anything.
    let out = edge_agent(&["run", "--config", &config]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("/nonexistent/rules:1:1: cannot read"));
}

#[test]
fn a_rule_file_sensor_the_config_does_not_read_is_a_warning_or_a_strict_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = paths::workspace()
        .join("rules/pump.toml")
        .display()
        .to_string();
    let config = write(&dir, "agent.toml", &agent_config(&rules, ""));
    let out = edge_agent(&["check", &config]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // rules/pump.toml declares pump1.casing.temperature on line 18, `id` at column 6.
    let expected = format!("{rules}:18:6: warning: sensor `pump1.casing.temperature` is read by no device or stream of {config}");
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(
        !stderr.contains("pump1.de.velocity`"),
        "a read sensor is not reported: {stderr}"
    );
    let out = edge_agent(&["check", "--strict", &config]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains(&format!(
        "{rules}:18:6: error (--strict): sensor `pump1.casing.temperature`"
    )));
}

#[test]
fn check_refuses_an_mqtt_host_written_as_a_url() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write(
        &dir,
        "agent.toml",
        &agent_config(
            &paths::workspace()
                .join("rules/pump.toml")
                .display()
                .to_string(),
            "[mqtt]\nhost = \"mqtt://127.0.0.1\"\n",
        ),
    );
    let out = edge_agent(&["check", &config]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("is a URL"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn replay_explain_says_when_a_raise_was_held_back_and_the_summary_counts_it() {
    // The step of `step_csv`, cleared by row 1600, then the same step again at row 2600: the
    // default rules hold off for 12 hours after a clear, so the second is held back.
    let mut csv = STEP.to_string();
    for s in 0..3200u32 {
        let wobble = f64::from((s * 7919) % 11) * 0.01;
        let step = (600..800).contains(&s) || (2600..2800).contains(&s);
        let level = if step { 30.0 } else { 20.0 };
        csv.push_str(&format!("{},{}\n", 1_700_000_000 + s, level + wobble));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(&dir, "twice.csv", &csv);
    let out = edge_agent(&["replay", "--input", &path, "--explain"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let raised = stdout.lines().filter(|l| l.starts_with('{')).count();
    assert_eq!(raised, 1, "the second step is not raised: {stdout}");
    let held: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("`unusual-behaviour` held back at row"))
        .collect();
    assert_eq!(held.len(), 1, "one line for the held-back raise: {stdout}");
    assert!(held[0].contains("within 12.0 h of clearing"), "{}", held[0]);
    let row: u64 = held[0]
        .split("held back at row ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("a row");
    assert!((2600..2700).contains(&row), "held back at row {row}");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("1 held back"), "{stderr}");
}
