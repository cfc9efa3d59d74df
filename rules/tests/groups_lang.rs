//! Groups of like sensors, `siblings`, `hold_off` and the `unusual` detector in rule files:
//! what a valid file means, and the mistakes `check` reports at FILE:LINE:COL.

use edge_rules::lang::{
    parse_rule_file, RuleSet, SiblingFilter, DEFAULT_RULES, DEFAULT_RULES_LABEL,
};

const BEARINGS: &str = r#"version = 1

[[group]]
name = "pump-1 bearings"
sensors = ["pump1.de", "pump1.nde", "pump1.motor"]

[[rule]]
name = "lone-departure"
kind = "any"
siblings = "grouped"
hold_off = "2h"
  [[rule.when]]
  detector = "adaptive"
  feature = "departure"

[[rule]]
name = "unusual"
kind = "any"
siblings = "alone"
  [[rule.when]]
  detector = "unusual"

[[sensor]]
id = "pump1.de"
kind = "vibration_velocity"

[[sensor]]
id = "fan.temperature"
kind = "temperature"
"#;

fn errors(text: &str) -> String {
    parse_rule_file("bearings.toml", text)
        .expect_err("the file has a mistake")
        .to_string()
}

#[test]
fn a_group_puts_its_sensors_under_the_grouped_rules_and_the_others_under_the_alone_ones() {
    let file = parse_rule_file("bearings.toml", BEARINGS).expect("valid");
    assert_eq!(file.groups.len(), 1);
    assert_eq!(
        file.groups[0].sensors,
        ["pump1.de", "pump1.nde", "pump1.motor"]
    );
    assert_eq!(file.rules[0].siblings, SiblingFilter::Grouped);
    assert_eq!(file.rules[0].spec.timing.hold_off_ms, 2 * 3_600_000);
    assert_eq!(file.rules[1].siblings, SiblingFilter::Alone);

    let default =
        parse_rule_file(DEFAULT_RULES_LABEL, DEFAULT_RULES).expect("default rules are valid");
    let rules = RuleSet::new(vec![file], default);
    assert_eq!(
        rules.group_of("pump1.nde").map(|g| g.name.as_str()),
        Some("pump-1 bearings")
    );
    let names = |sensor: &str| -> Vec<String> {
        let plan = rules.plan(sensor, None).expect("plan");
        plan.rules.iter().map(|r| r.name.clone()).collect()
    };
    assert_eq!(names("pump1.de"), ["lone-departure"]);
    assert_eq!(names("fan.temperature"), ["unusual"]);
}

#[test]
fn the_default_rules_judge_a_grouped_sensor_against_its_siblings_instead_of_on_its_own() {
    let default =
        parse_rule_file(DEFAULT_RULES_LABEL, DEFAULT_RULES).expect("default rules are valid");
    let rules = RuleSet::new(Vec::new(), default);
    let names = |grouped: bool| -> Vec<String> {
        let plan = rules
            .plan_in_group("Bearing 1", None, grouped)
            .expect("plan");
        plan.rules.iter().map(|r| r.name.clone()).collect()
    };
    assert!(names(true).contains(&"departs-from-siblings".to_string()));
    assert!(!names(true).contains(&"unusual-behaviour".to_string()));
    assert!(names(false).contains(&"unusual-behaviour".to_string()));
    assert!(!names(false).contains(&"departs-from-siblings".to_string()));
}

#[test]
fn group_mistakes_are_reported_at_their_place() {
    let one_member = BEARINGS.replace(
        r#"sensors = ["pump1.de", "pump1.nde", "pump1.motor"]"#,
        r#"sensors = ["pump1.de"]"#,
    );
    let text = errors(&one_member);
    assert!(
        text.contains("bearings.toml:5:11: a group needs at least two sensors"),
        "{text}"
    );

    let twice = format!(
        "{BEARINGS}\n[[group]]\nname = \"pump-1 bearings\"\nsensors = [\"pump1.de\", \"pump2.de\"]\n"
    );
    let text = errors(&twice);
    assert!(
        text.contains("group `pump-1 bearings` is defined twice"),
        "{text}"
    );
    assert!(
        text.contains("sensor `pump1.de` is already in group `pump-1 bearings`"),
        "{text}"
    );
}

#[test]
fn rule_mistakes_about_siblings_hold_off_and_unusual_are_reported_at_their_key() {
    let text = errors(&BEARINGS.replace(r#"siblings = "grouped""#, r#"siblings = "together""#));
    assert!(
        text.contains("bearings.toml:10:12: unknown siblings `together`"),
        "{text}"
    );

    let text = errors(&BEARINGS.replace(r#"hold_off = "2h""#, r#"hold_off = "later""#));
    assert!(text.contains("bearings.toml:11:12:"), "{text}");
    assert!(text.contains("is not a duration"), "{text}");

    let text = errors(&BEARINGS.replace(
        "  detector = \"unusual\"\n",
        "  detector = \"unusual\"\n  k = 3.0\n",
    ));
    assert!(
        text.contains("does not apply to detector `unusual`"),
        "{text}"
    );
}
