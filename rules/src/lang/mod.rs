//! The rule language: TOML rule files (`version = 1`), documented in `rules/README.md`.
//!
//! [`parse_rule_file`] validates one file and reports every mistake as `FILE:LINE:COL: message`;
//! [`RuleSet`] decides which rules apply to which sensor.

mod compile;
mod condition;
mod diagnostic;
mod duration;
mod model;
mod ruleset;
mod schema;

pub use compile::parse_rule_file;
pub use diagnostic::{Diagnostic, Diagnostics, Reporter};
pub use duration::parse_ms as parse_duration_ms;
pub use model::{
    Group, Rule, RuleFile, SensorDecl, SensorKind, SiblingFilter, Target, DEFAULT_WINDOW,
    MAX_WINDOW,
};
pub use ruleset::{AppliedRule, RuleSet, SensorPlan, SensorRunner};

/// The generic rules applied to a sensor without rules of its own (`rules/default.toml`).
pub const DEFAULT_RULES: &str = include_str!("../../default.toml");
/// How the embedded default rules are named in diagnostics and lineage.
pub const DEFAULT_RULES_LABEL: &str = "<embedded rules/default.toml>";
