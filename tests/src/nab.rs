//! Scoring the shipped rules on the development part of the Numenta Anomaly Benchmark
//! (`tests/data/nab-dev`), the way NAB scores a detector, for alerts that are on or off.
//!
//! NAB's rules, per file (NAB's `sweeper.py` and the normalisation of its `runner.py`):
//! - the first `min(⌊0.15 n⌋, 750)` rows are probation: alerts there count for nothing;
//! - a labelled window earns its earliest alert only, worth `S(y) / S(−1)` where
//!   `y = −(right − row + 1) / width` and `S(y) = 2 σ(−5y) − 1`: the earlier, the more;
//! - a window with no alert costs `fn_weight`;
//! - every alerted row outside the windows costs `fp_weight × S(y)`, where `y` is its
//!   distance past the end of the window before it over that window's width − 1 (a full
//!   `fp_weight` with no window before it);
//! - a corpus sums the raw scores of its files and normalises once:
//!   `100 × (raw − null) / (perfect − null)`, the null detector (no alert) scoring 0 and a
//!   detector that catches every window at its left edge with no false alarm 100.
//!
//! The standard profile weighs a true positive 1, a miss 1 and a false positive 0.11.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use edge_agent::replay;
use edge_rules::lang::RuleSet;

/// NAB's cost profile.
#[derive(Debug, Clone, Copy)]
pub struct Profile {
    pub tp_weight: f64,
    pub fn_weight: f64,
    pub fp_weight: f64,
}

/// NAB's standard profile.
pub const STANDARD: Profile = Profile {
    tp_weight: 1.0,
    fn_weight: 1.0,
    fp_weight: 0.11,
};

/// The score of one file, before normalisation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileScore {
    /// The file's key in NAB: `category/name.csv`.
    pub key: String,
    /// Windows that take part in scoring (those that end after probation).
    pub windows: usize,
    pub detected: usize,
    /// Alerted rows outside every window, after probation.
    pub false_alarm_rows: usize,
    pub raw: f64,
    pub null: f64,
    pub perfect: f64,
}

impl FileScore {
    /// The category: the key's folder (`realTweets`, `artificialNoAnomaly`, …).
    pub fn category(&self) -> &str {
        self.key.split('/').next().unwrap_or_default()
    }
}

/// Files summed and normalised as NAB does: 0 is the null detector, 100 perfect.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Total {
    pub files: usize,
    pub windows: usize,
    pub detected: usize,
    pub false_alarm_rows: usize,
    pub raw: f64,
    pub null: f64,
    pub perfect: f64,
}

impl Total {
    pub fn of<'a>(files: impl IntoIterator<Item = &'a FileScore>) -> Self {
        files.into_iter().fold(Self::default(), |mut t, f| {
            t.files += 1;
            t.windows += f.windows;
            t.detected += f.detected;
            t.false_alarm_rows += f.false_alarm_rows;
            t.raw += f.raw;
            t.null += f.null;
            t.perfect += f.perfect;
            t
        })
    }

    /// NAB's normalised score. A corpus without windows is perfect until it raises anything:
    /// its raw score then goes below 0, and so does this (relative to one missed window).
    pub fn normalized(&self) -> f64 {
        if self.perfect == self.null {
            100.0 * self.raw
        } else {
            100.0 * (self.raw - self.null) / (self.perfect - self.null)
        }
    }
}

fn scaled_sigmoid(y: f64) -> f64 {
    if y > 3.0 {
        -1.0
    } else {
        2.0 / (1.0 + (5.0 * y).exp()) - 1.0
    }
}

/// Maps windows of timestamps (`YYYY-MM-DD HH:MM:SS`, compared as text) to inclusive row
/// ranges, as NAB does: an exact start matches its first row, else the first row at or after
/// it; the end is the last row at or before it, from the start on.
pub fn window_rows(timestamps: &[String], windows: &[(String, String)]) -> Vec<(usize, usize)> {
    let mut first: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, t) in timestamps.iter().enumerate() {
        first.entry(t.as_str()).or_insert(i);
    }
    let mut rows = Vec::new();
    for (start, end) in windows {
        let Some(s) = first
            .get(start.as_str())
            .copied()
            .or_else(|| timestamps.iter().position(|t| t >= start))
        else {
            continue;
        };
        let e = match first.get(end.as_str()) {
            Some(&e) if e >= s => Some(e),
            _ => (s..timestamps.len()).rev().find(|&i| &timestamps[i] <= end),
        };
        if let Some(e) = e.filter(|&e| s <= e) {
            rows.push((s, e));
        }
    }
    rows
}

/// Scores the alerted rows of one file of `n` rows with windows `windows` (row ranges).
pub fn score_rows(
    key: &str,
    n: usize,
    windows: &[(usize, usize)],
    alerts: &BTreeSet<usize>,
    profile: Profile,
) -> FileScore {
    let probation = ((0.15 * n as f64).floor()).min(750.0);
    let in_probation = |row: usize| (row as f64) < probation;
    // Per row: the window it is in, and its unweighted worth (a TP's share, or an FP's cost).
    let mut roles: Vec<(Option<usize>, f64)> = vec![(None, -1.0); n];
    let max_tp = scaled_sigmoid(-1.0);
    let mut previous: Option<(usize, f64)> = None;
    let mut next_window = 0;
    let mut row = 0;
    while row < n {
        if let Some(&(s, e)) = windows.get(next_window).filter(|w| w.0 == row) {
            let width = (e - s + 1) as f64;
            for (j, role) in roles.iter_mut().enumerate().take(e + 1).skip(s) {
                let position = -((e - j + 1) as f64) / width;
                *role = (Some(next_window), scaled_sigmoid(position) / max_tp);
            }
            previous = Some((e, width));
            next_window += 1;
            row = e + 1;
            continue;
        }
        let cost = match previous {
            Some((right, width)) if width > 1.0 => {
                scaled_sigmoid(right.abs_diff(row) as f64 / (width - 1.0))
            }
            _ => -1.0,
        };
        roles[row] = (None, cost);
        row += 1;
    }

    let scored: Vec<usize> = (0..windows.len())
        .filter(|&k| windows[k].1 as f64 >= probation)
        .collect();
    let mut first_hit: BTreeMap<usize, usize> = BTreeMap::new();
    let mut false_alarms = Vec::new();
    for &a in alerts.iter().filter(|&&a| a < n && !in_probation(a)) {
        match roles[a].0 {
            Some(w) => {
                first_hit.entry(w).or_insert(a);
            }
            None => false_alarms.push(a),
        }
    }
    let mut raw = 0.0;
    for k in &scored {
        raw += match first_hit.get(k) {
            Some(&a) => roles[a].1 * profile.tp_weight,
            None => -profile.fn_weight,
        };
    }
    for &a in &false_alarms {
        raw += roles[a].1 * profile.fp_weight;
    }
    FileScore {
        key: key.to_string(),
        windows: scored.len(),
        detected: scored.iter().filter(|k| first_hit.contains_key(k)).count(),
        false_alarm_rows: false_alarms.len(),
        raw,
        null: -profile.fn_weight * scored.len() as f64,
        perfect: profile.tp_weight * scored.len() as f64,
    }
}

/// Where the corpus is: `tests/data/nab-dev` in this repository.
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/nab-dev")
}

/// The windows of every file, by key, from `labels/combined_windows.json`.
pub fn windows(dir: &Path) -> anyhow::Result<BTreeMap<String, Vec<(String, String)>>> {
    let text = std::fs::read_to_string(dir.join("labels/combined_windows.json"))?;
    let json: BTreeMap<String, Vec<(String, String)>> = serde_json::from_str(&text)?;
    // NAB writes `2014-04-10 07:15:00.000000`; the data files `2014-04-10 07:15:00`.
    let trim = |t: String| t.get(..19).map(str::to_string).unwrap_or(t);
    Ok(json
        .into_iter()
        .map(|(key, ws)| {
            (
                key,
                ws.into_iter().map(|(s, e)| (trim(s), trim(e))).collect(),
            )
        })
        .collect())
}

/// The timestamps of a NAB data file (`timestamp,value`), as text.
fn timestamps(text: &str) -> Vec<String> {
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(',').next().unwrap_or_default().to_string())
        .collect()
}

/// The rows on which `rules` raise an alert when `text` is replayed through them.
pub fn alerted_rows(rules: &RuleSet, text: &str) -> anyhow::Result<BTreeSet<usize>> {
    let mut out = Vec::new();
    replay::replay(
        text.as_bytes(),
        &replay::ReplayOptions::default(),
        rules,
        "nab",
        &mut out,
    )?;
    let mut rows = BTreeSet::new();
    for line in String::from_utf8(out)?.lines() {
        let event: serde_json::Value = serde_json::from_str(line)?;
        if event["state"] == "raised" {
            if let Some(row) = event["row"].as_u64() {
                rows.insert(row as usize);
            }
        }
    }
    Ok(rows)
}

/// Replays every file of the corpus through `rules` and scores it with `profile`.
pub fn score(rules: &RuleSet, dir: &Path, profile: Profile) -> anyhow::Result<Vec<FileScore>> {
    let mut scores = Vec::new();
    for (key, windows) in windows(dir)? {
        let path = dir.join("data").join(&key);
        if !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path)?;
        let timestamps = timestamps(&text);
        let rows = window_rows(&timestamps, &windows);
        let alerts = alerted_rows(rules, &text)?;
        scores.push(score_rows(&key, timestamps.len(), &rows, &alerts, profile));
    }
    Ok(scores)
}

/// The totals of each category, in name order.
pub fn by_category(scores: &[FileScore]) -> BTreeMap<String, Total> {
    let mut groups: BTreeMap<String, Vec<&FileScore>> = BTreeMap::new();
    for s in scores {
        groups.entry(s.category().to_string()).or_default().push(s);
    }
    groups.into_iter().map(|(k, v)| (k, Total::of(v))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_caught_at_its_left_edge_with_no_false_alarm_is_perfect() {
        let alerts = BTreeSet::from([2000]);
        let s = score_rows("a/b.csv", 4000, &[(2000, 2399)], &alerts, STANDARD);
        assert!((s.raw - 1.0).abs() < 1e-9, "{s:?}");
        assert_eq!(Total::of([&s]).normalized().round(), 100.0);
    }

    #[test]
    fn no_alert_is_the_null_detector_and_a_late_catch_earns_less() {
        let none = score_rows("a/b.csv", 4000, &[(2000, 2399)], &BTreeSet::new(), STANDARD);
        assert_eq!(Total::of([&none]).normalized(), 0.0);
        let late = score_rows(
            "a/b.csv",
            4000,
            &[(2000, 2399)],
            &BTreeSet::from([2390]),
            STANDARD,
        );
        let normalized = Total::of([&late]).normalized();
        assert!(normalized > 0.0 && normalized < 60.0, "{normalized}");
    }

    #[test]
    fn false_alarms_cost_a_fraction_of_a_miss_and_probation_counts_for_nothing() {
        let alerts = BTreeSet::from([100, 1000, 3000]);
        let s = score_rows("a/b.csv", 4000, &[(2000, 2399)], &alerts, STANDARD);
        // Row 100 is in probation (600 rows); 1000 costs 0.11; 3000 costs a little less.
        assert_eq!((s.detected, s.false_alarm_rows), (0, 2));
        assert!(s.raw < -1.0 - 0.11 && s.raw > -1.0 - 0.22, "{s:?}");
    }
}
