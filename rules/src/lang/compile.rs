//! Validation and compilation of one rule file: schema structs in, [`RuleFile`] out, and every
//! mistake reported at its key, with a message that says what would be right.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use heapless::Vec as FixedVec;
use sha2::{Digest, Sha256};
use toml::Spanned;

use super::condition::compile_condition;
use super::diagnostic::{Diagnostics, Reporter};
use super::duration::parse_ms;
use super::model::{
    Group, Rule, RuleFile, SensorDecl, SensorKind, SiblingFilter, Target, DEFAULT_WINDOW,
    MAX_WINDOW,
};
use super::schema::{FileDef, GroupDef, HorizonDef, RuleDef, SensorDef};
use crate::alert::{Severity, Timing};
use crate::engine::{Combine, RuleSpec, SensorSpec, MAX_CONDITIONS};

/// Parses and validates the rule file `text`; `label` names it in diagnostics.
pub fn parse_rule_file(label: &str, text: &str) -> Result<RuleFile, Diagnostics> {
    let mut report = Reporter::new(label, text);
    let def: FileDef = match toml::from_str(text) {
        Ok(def) => def,
        Err(error) => {
            let span = error.span().unwrap_or(0..0);
            let message = match error.message().trim_end() {
                "" => unexpected_at(text, span.start),
                message => message.to_string(),
            };
            report.error(span, message);
            return Err(report.finish().expect_err("an error was just reported"));
        }
    };
    if *def.version.get_ref() != 1 {
        report.error(
            def.version.span(),
            format!(
                "unsupported rule language version {}: this agent reads version 1",
                def.version.get_ref()
            ),
        );
    }
    let sensors = compile_sensors(&def.sensors, &mut report);
    let groups = compile_groups(&def.groups, &mut report);
    let windows: HashMap<&str, usize> = sensors
        .iter()
        .map(|s| (s.id.as_str(), s.spec.window))
        .collect();
    let mut names = HashSet::new();
    let rules = def
        .rules
        .iter()
        .filter_map(|rule| {
            if !names.insert(rule.get_ref().name.get_ref().clone()) {
                let name = &rule.get_ref().name;
                report.error(
                    name.span(),
                    format!(
                        "a rule named `{}` is already defined in this file",
                        name.get_ref()
                    ),
                );
            }
            compile_rule(rule, &windows, &mut report)
        })
        .collect();
    report.finish()?;
    Ok(RuleFile {
        label: label.to_string(),
        hash: content_hash(text),
        sensors,
        groups,
        rules,
    })
}

/// What the TOML parser stopped at, for the errors it reports without a message (a control
/// character in a comment, for one).
fn unexpected_at(text: &str, offset: usize) -> String {
    match text.get(offset..).and_then(|rest| rest.chars().next()) {
        Some(c) => format!("unexpected character {c:?}: this is not valid TOML"),
        None => "unexpected end of file: this is not valid TOML".to_string(),
    }
}

fn content_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

fn compile_groups(defs: &[Spanned<GroupDef>], report: &mut Reporter<'_>) -> Vec<Group> {
    let mut names = HashSet::new();
    let mut member_of: HashMap<String, String> = HashMap::new();
    let mut groups = Vec::new();
    for def in defs.iter().map(Spanned::get_ref) {
        let name = def.name.get_ref();
        if name.trim().is_empty() {
            report.error(def.name.span(), "a group name must not be empty");
        } else if !names.insert(name.clone()) {
            report.error(def.name.span(), format!("group `{name}` is defined twice"));
        }
        let sensors = def.sensors.get_ref();
        if sensors.len() < 2 {
            report.error(
                def.sensors.span(),
                "a group needs at least two sensors: a sensor is judged against its siblings",
            );
            continue;
        }
        for id in sensors {
            if let Some(other) = member_of.insert(id.clone(), name.clone()) {
                report.error(
                    def.sensors.span(),
                    format!("sensor `{id}` is already in group `{other}`: a sensor belongs to one group at most"),
                );
            }
        }
        groups.push(Group {
            name: name.clone(),
            sensors: sensors.clone(),
        });
    }
    groups
}

fn compile_sensors(defs: &[Spanned<SensorDef>], report: &mut Reporter<'_>) -> Vec<SensorDecl> {
    let mut seen = HashSet::new();
    let mut sensors = Vec::new();
    for def in defs.iter().map(Spanned::get_ref) {
        let id = def.id.get_ref();
        if id.trim().is_empty() {
            report.error(def.id.span(), "a sensor id must not be empty");
        } else if !seen.insert(id.clone()) {
            report.error(def.id.span(), format!("sensor `{id}` is declared twice"));
        }
        let Some(kind) = SensorKind::from_name(def.kind.get_ref()) else {
            report.error(
                def.kind.span(),
                format!(
                    "unknown sensor kind `{}`: expected {}",
                    def.kind.get_ref(),
                    kind_names()
                ),
            );
            continue;
        };
        let Some(window) = sensor_window(def, report) else {
            continue;
        };
        let ewma_alpha = match &def.ewma_alpha {
            None => 2.0 / (window as f64 + 1.0),
            Some(a) if *a.get_ref() > 0.0 && *a.get_ref() <= 1.0 => *a.get_ref(),
            Some(a) => {
                report.error(
                    a.span(),
                    format!("ewma_alpha must be in (0, 1], not {}", a.get_ref()),
                );
                continue;
            }
        };
        let valid_range = match &def.range {
            None => None,
            Some(r) => match r.get_ref().as_slice() {
                &[min, max] if min < max => Some((min, max)),
                _ => {
                    report.error(r.span(), "range must be [min, max] with min below max");
                    continue;
                }
            },
        };
        sensors.push(SensorDecl {
            id: id.clone(),
            kind,
            unit: def.unit.clone(),
            spec: SensorSpec {
                window,
                ewma_alpha,
                valid_range,
            },
        });
    }
    sensors
}

/// The sensor's window in samples: as written, or a duration divided by `sample_every`, the
/// period at which the sensor delivers samples. The window is a ring of samples, so a duration
/// alone cannot size it.
fn sensor_window(def: &SensorDef, report: &mut Reporter<'_>) -> Option<usize> {
    let sample_every = match &def.sample_every {
        None => None,
        Some(text) => match parse_ms(text.get_ref()) {
            Ok(ms) if ms > 0 => Some(ms),
            Ok(_) => {
                report.error(text.span(), "sample_every must be longer than 0s");
                return None;
            }
            Err(message) => {
                report.error(text.span(), message);
                return None;
            }
        },
    };
    let Some(window) = &def.window else {
        return Some(DEFAULT_WINDOW);
    };
    let samples = match (window.get_ref(), sample_every) {
        (HorizonDef::Samples(n), _) => *n,
        (HorizonDef::Duration(text), Some(every_ms)) => match parse_ms(text) {
            // Rounded to the nearest sample: "1m" at "7s" is 9 samples (63 s).
            Ok(ms) => ms.saturating_add(every_ms / 2) / every_ms,
            Err(message) => {
                report.error(window.span(), message);
                return None;
            }
        },
        (HorizonDef::Duration(text), None) => {
            report.error(
                window.span(),
                format!(
                    "window = \"{text}\" needs the sensor's sample period to size its ring: \
                     add sample_every = \"1s\" (how often this sensor delivers a sample), \
                     or give the window in samples"
                ),
            );
            return None;
        }
    };
    if (2..=MAX_WINDOW as i64).contains(&samples) {
        return Some(samples as usize);
    }
    let message = match window.get_ref() {
        HorizonDef::Samples(n) => format!("window must be from 2 to {MAX_WINDOW} samples, not {n}"),
        HorizonDef::Duration(text) => format!(
            "window = \"{text}\" is {samples} samples of {}: it must be from 2 to {MAX_WINDOW} samples",
            def.sample_every.as_ref().map_or("", |s| s.get_ref().as_str())
        ),
    };
    report.error(window.span(), message);
    None
}

fn kind_names() -> String {
    SensorKind::ALL
        .map(|k| format!("`{}`", k.name()))
        .join(", ")
}

fn compile_rule(
    spanned: &Spanned<RuleDef>,
    windows: &HashMap<&str, usize>,
    report: &mut Reporter<'_>,
) -> Option<Rule> {
    let def = spanned.get_ref();
    let target = compile_target(spanned, windows, report)?;
    // The smallest window among the targeted sensors bounds a baseline detector's warm-up.
    let window = match &target {
        Target::Sensors(ids) => ids
            .iter()
            .filter_map(|id| windows.get(id.as_str()).copied())
            .min(),
        Target::Kind(_) => None,
    };
    let severity = match &def.severity {
        None => Severity::Warning,
        Some(s) => match s.get_ref().as_str() {
            "info" => Severity::Info,
            "warning" => Severity::Warning,
            "critical" => Severity::Critical,
            other => {
                report.error(
                    s.span(),
                    format!("unknown severity `{other}`: expected `info`, `warning` or `critical`"),
                );
                Severity::Warning
            }
        },
    };
    let combine = match &def.combine {
        None => Combine::Any,
        Some(m) => match m.get_ref().as_str() {
            "any" => Combine::Any,
            "all" => Combine::All,
            other => {
                report.error(
                    m.span(),
                    format!("unknown match `{other}`: expected `any` or `all`"),
                );
                Combine::Any
            }
        },
    };
    let timing = Timing {
        raise_after_ms: duration(&def.raise_after, report),
        clear_after_ms: duration(&def.clear_for, report),
        min_reraise_ms: duration(&def.min_interval, report),
        hold_off_ms: duration(&def.hold_off, report),
    };
    if def.when.is_empty() {
        report.error(
            spanned.span(),
            format!(
                "rule `{}` has no condition: add at least one [[rule.when]]",
                def.name.get_ref()
            ),
        );
        return None;
    }
    if def.when.len() > MAX_CONDITIONS {
        report.error(
            def.when[MAX_CONDITIONS].span(),
            format!("a rule combines at most {MAX_CONDITIONS} conditions"),
        );
        return None;
    }
    let mut conditions = FixedVec::new();
    for condition in &def.when {
        if let Some(spec) = compile_condition(condition, window, report) {
            // Cannot fail: the count was checked against MAX_CONDITIONS above.
            let _ = conditions.push(spec);
        }
    }
    let siblings = match &def.siblings {
        None => SiblingFilter::Any,
        Some(v) => match v.get_ref().as_str() {
            "any" => SiblingFilter::Any,
            "grouped" => SiblingFilter::Grouped,
            "alone" => SiblingFilter::Alone,
            other => {
                report.error(
                    v.span(),
                    format!("unknown siblings `{other}`: expected `any`, `grouped` (only sensors of a [[group]]) or `alone` (only sensors without one)"),
                );
                SiblingFilter::Any
            }
        },
    };
    (conditions.len() == def.when.len()).then(|| Rule {
        name: def.name.get_ref().clone(),
        target,
        siblings,
        spec: RuleSpec {
            conditions,
            combine,
            timing,
            severity,
        },
    })
}

fn compile_target(
    spanned: &Spanned<RuleDef>,
    windows: &HashMap<&str, usize>,
    report: &mut Reporter<'_>,
) -> Option<Target> {
    let def = spanned.get_ref();
    let check_declared = |id: &str, span: Range<usize>, report: &mut Reporter<'_>| {
        if !windows.contains_key(id) {
            report.error(span, format!("rule `{}` names sensor `{id}`, which this file does not declare in a [[sensor]]", def.name.get_ref()));
        }
    };
    match (&def.sensor, &def.sensors, &def.kind) {
        (Some(id), None, None) => {
            check_declared(id.get_ref(), id.span(), report);
            Some(Target::Sensors(vec![id.get_ref().clone()]))
        }
        (None, Some(ids), None) => {
            if ids.get_ref().is_empty() {
                report.error(ids.span(), "sensors must name at least one sensor");
            }
            for id in ids.get_ref() {
                check_declared(id, ids.span(), report);
            }
            Some(Target::Sensors(ids.get_ref().clone()))
        }
        (None, None, Some(kind)) => match kind.get_ref().as_str() {
            "any" => Some(Target::Kind(None)),
            name => match SensorKind::from_name(name) {
                Some(k) => Some(Target::Kind(Some(k))),
                None => {
                    report.error(
                        kind.span(),
                        format!(
                            "unknown sensor kind `{name}`: expected `any`, {}",
                            kind_names()
                        ),
                    );
                    None
                }
            },
        },
        _ => {
            report.error(spanned.span(), format!("rule `{}` must say what it applies to with exactly one of `sensor`, `sensors` or `kind`", def.name.get_ref()));
            None
        }
    }
}

fn duration(value: &Option<Spanned<String>>, report: &mut Reporter<'_>) -> i64 {
    let Some(value) = value else { return 0 };
    parse_ms(value.get_ref()).unwrap_or_else(|message| {
        report.error(value.span(), message);
        0
    })
}
