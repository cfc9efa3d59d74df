//! `replay --explain`: one line of text per alert that says why it fired.

use edge_rules::lang::SensorPlan;
use edge_rules::unusual::View;
use edge_rules::Transition;

use crate::event::{Alert, AlertState};

/// Why `alert` (at `ts_ms`) changed state, for a human: its score, the detector and its
/// statistic, the feature's value and, where the detector keeps one, the normal it was judged
/// against (level, spread and the span of history behind them), and for the `unusual`
/// detector the view that held.
pub fn explain(alert: &Alert, ts_ms: i64, view: Option<View>) -> String {
    let verb = match alert.state {
        AlertState::Raised => "raised",
        AlertState::Cleared => "cleared",
    };
    let row = alert
        .row
        .map(|r| format!(" at row {r}"))
        .unwrap_or_default();
    let mut line = format!(
        "why: {} `{}` {verb}{row} ({}): score {}, {} statistic {}; {} = {}",
        alert.sensor,
        alert.rule,
        super::super::event::wire::format_ts(ts_ms),
        number(alert.score, 5),
        alert.detector,
        number(alert.statistic, 2),
        alert.feature,
        number(alert.feature_value, 4),
    );
    if let Some(e) = alert.evidence {
        line.push_str(&format!(
            " against a normal of {} ± {} over the last {}",
            number(e.level, 4),
            number(e.spread, 4),
            span(e.horizon_s)
        ));
    }
    if let (Some(view), AlertState::Raised) = (view, alert.state) {
        line.push_str(&format!(
            "; it held on {}, rarer than it has been lately",
            view.describe()
        ));
    }
    if alert.held_back > 0 {
        line.push_str(&format!(
            "; {} raise(s) held back since the last",
            alert.held_back
        ));
    }
    line
}

/// Why a raise was not sent: the condition held long enough, but the rule had cleared (or
/// raised) too recently on this sensor.
pub fn explain_held_back(plan: &SensorPlan, transition: &Transition, row: u64) -> String {
    let rule = &plan.rules[transition.rule];
    let timing = &plan.specs[transition.rule].timing;
    format!(
        "why: {} `{}` held back at row {row} ({}): the condition held ({} statistic {}), but \
         the rule does not raise again within {} of clearing or {} of raising; {} held back \
         since the last raise",
        plan.sensor,
        rule.name,
        super::super::event::wire::format_ts(transition.time_ms),
        transition.detector.name(),
        number(transition.statistic, 2),
        span(timing.hold_off_ms as f64 / 1000.0),
        span(timing.min_reraise_ms as f64 / 1000.0),
        transition.held_back,
    )
}

fn number(x: f64, decimals: usize) -> String {
    if x.is_finite() {
        format!("{x:.decimals$}")
    } else {
        "none".to_string()
    }
}

/// Seconds as the largest whole unit that reads well: `45 s`, `12 min`, `6.0 h`, `2.0 d`.
fn span(seconds: f64) -> String {
    match seconds {
        s if !s.is_finite() => "none".to_string(),
        s if s < 120.0 => format!("{s:.0} s"),
        s if s < 7_200.0 => format!("{:.0} min", s / 60.0),
        s if s < 172_800.0 => format!("{:.1} h", s / 3_600.0),
        s => format!("{:.1} d", s / 86_400.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Evidence, Severity};

    #[test]
    fn an_adaptive_alert_is_explained_with_its_normal() {
        let alert = Alert {
            sensor: "pump.temp".into(),
            state: AlertState::Raised,
            rule: "unusual-behaviour".into(),
            rule_hash: "0123456789abcdef".into(),
            severity: Severity::Warning,
            detector: "adaptive".into(),
            value: 31.5,
            feature: "value".into(),
            feature_value: 31.5,
            score: 0.99991,
            row: Some(812),
            statistic: 9.25,
            evidence: Some(Evidence {
                level: 24.0,
                spread: 0.4,
                horizon_s: 21_600.0,
            }),
            held_back: 0,
        };
        assert_eq!(
            explain(&alert, 0, None),
            "why: pump.temp `unusual-behaviour` raised at row 812 (1970-01-01T00:00:00.000Z): \
             score 0.99991, adaptive statistic 9.25; value = 31.5000 against a normal of \
             24.0000 ± 0.4000 over the last 6.0 h"
        );
        let unusual = Alert {
            detector: "unusual".into(),
            statistic: 4.1,
            held_back: 2,
            ..alert
        };
        assert_eq!(
            explain(&unusual, 0, Some(View::Volatility)),
            "why: pump.temp `unusual-behaviour` raised at row 812 (1970-01-01T00:00:00.000Z): \
             score 0.99991, unusual statistic 4.10; value = 31.5000 against a normal of \
             24.0000 ± 0.4000 over the last 6.0 h; it held on its volatility, the power of its \
             residual over 15 minutes against its 7-day typical power, rarer than it has been \
             lately; 2 raise(s) held back since the last"
        );
    }
}
