//! The rule file as written: serde structs that mirror the TOML, with spans kept so that every
//! later check can point at the offending key. `compile` turns these into engine specs.
//! Field docs live in `rules/README.md`, the language reference.

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileDef {
    pub version: Spanned<i64>,
    #[serde(default)]
    #[allow(dead_code)] // documentation for humans; kept so that the key is accepted
    pub description: Option<String>,
    #[serde(default, rename = "sensor")]
    pub sensors: Vec<Spanned<SensorDef>>,
    #[serde(default, rename = "group")]
    pub groups: Vec<Spanned<GroupDef>>,
    #[serde(default, rename = "rule")]
    pub rules: Vec<Spanned<RuleDef>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GroupDef {
    pub name: Spanned<String>,
    #[serde(default)]
    #[allow(dead_code)]
    pub description: Option<String>,
    pub sensors: Spanned<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SensorDef {
    pub id: Spanned<String>,
    pub kind: Spanned<String>,
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    pub description: Option<String>,
    #[serde(default)]
    pub window: Option<Spanned<HorizonDef>>,
    #[serde(default)]
    pub sample_every: Option<Spanned<String>>,
    #[serde(default)]
    pub ewma_alpha: Option<Spanned<f64>>,
    #[serde(default)]
    pub range: Option<Spanned<Vec<f64>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleDef {
    pub name: Spanned<String>,
    #[serde(default)]
    #[allow(dead_code)]
    pub description: Option<String>,
    #[serde(default)]
    pub sensor: Option<Spanned<String>>,
    #[serde(default)]
    pub sensors: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    pub kind: Option<Spanned<String>>,
    #[serde(default)]
    pub severity: Option<Spanned<String>>,
    #[serde(default, rename = "match")]
    pub combine: Option<Spanned<String>>,
    #[serde(default, rename = "for")]
    pub raise_after: Option<Spanned<String>>,
    #[serde(default)]
    pub clear_for: Option<Spanned<String>>,
    #[serde(default)]
    pub min_interval: Option<Spanned<String>>,
    #[serde(default)]
    pub hold_off: Option<Spanned<String>>,
    #[serde(default)]
    pub siblings: Option<Spanned<String>>,
    #[serde(default)]
    pub when: Vec<Spanned<ConditionDef>>,
}

/// One condition. Flat on purpose: which keys apply depends on `detector`, and `compile`
/// names the key that does not apply, which serde's tagged enums cannot do with spans.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConditionDef {
    pub detector: Option<Spanned<String>>,
    pub feature: Option<Spanned<String>>,
    // threshold
    pub above: Option<Spanned<f64>>,
    pub clear_below: Option<Spanned<f64>>,
    pub below: Option<Spanned<f64>>,
    pub clear_above: Option<Spanned<f64>>,
    // baseline detectors
    pub warmup: Option<Spanned<i64>>,
    pub min_std: Option<Spanned<f64>>,
    pub min_rel_std: Option<Spanned<f64>>,
    pub direction: Option<Spanned<String>>,
    pub relearn_after: Option<Spanned<i64>>,
    // zscore
    pub k: Option<Spanned<f64>>,
    pub clear_k: Option<Spanned<f64>>,
    // ewma_chart
    pub lambda: Option<Spanned<f64>>,
    pub l: Option<Spanned<f64>>,
    pub clear_l: Option<Spanned<f64>>,
    // cusum
    pub slack: Option<Spanned<f64>>,
    pub h: Option<Spanned<f64>>,
    pub clear_h: Option<Spanned<f64>>,
    // rate_of_rise
    pub per_minute: Option<Spanned<f64>>,
    pub clear_per_minute: Option<Spanned<f64>>,
    // iso10816
    pub group: Option<Spanned<i64>>,
    pub foundation: Option<Spanned<String>>,
    pub zone: Option<Spanned<String>>,
    pub clear_margin: Option<Spanned<f64>>,
    // flatline
    pub epsilon: Option<Spanned<f64>>,
    pub longer_than_usual: Option<Spanned<bool>>,
    // adaptive (with feature, k, direction, min_std, min_rel_std)
    pub window: Option<Spanned<HorizonDef>>,
    pub baseline: Option<Spanned<HorizonDef>>,
    pub surprise: Option<Spanned<f64>>,
    pub clear_surprise: Option<Spanned<f64>>,
    pub settle: Option<Spanned<String>>,
    pub idle_below: Option<Spanned<f64>>,
}

/// A time scale as written: a duration (`"10m"`) or a number of samples (`600`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum HorizonDef {
    Samples(i64),
    Duration(String),
}
