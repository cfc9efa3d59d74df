//! Scoring the shipped rules on the SKAB pump recordings (`tests/data/skab`): each labelled
//! file is replayed from its start through the rules, exactly as `edge-agent replay` does, with
//! all eight channels of the pump wired together as a user would, and the raised alerts are
//! compared with the labels.
//!
//! - An episode (a run of rows with `anomaly` = 1) is **detected** when an alert is raised on a
//!   row inside it, on any channel; its **delay** is the rows (seconds) from its first row to
//!   that alert.
//! - A **false alarm** is an alert raised on a row outside every episode, in a labelled file or
//!   in the anomaly-free run; the rate is per 1,000 such rows.

use std::path::{Path, PathBuf};

use edge_agent::replay;
use edge_rules::lang::RuleSet;

/// The label columns, never replayed as sensors: every other column is one of the pump's
/// eight channels (vibration, current, pressure, temperatures, voltage, flow).
pub const LABELS: [&str; 2] = ["anomaly", "changepoint"];

#[derive(Debug, Default, Clone)]
pub struct Score {
    pub files: usize,
    pub episodes: usize,
    pub detected: usize,
    pub delays: Vec<u64>,
    pub false_alarms: usize,
    pub normal_rows: u64,
    /// Per file: (name, detected, delay, false alarms).
    pub per_file: Vec<(String, bool, Option<u64>, usize)>,
}

impl Score {
    pub fn median_delay(&self) -> Option<u64> {
        let mut d = self.delays.clone();
        d.sort_unstable();
        (!d.is_empty()).then(|| d[d.len() / 2])
    }

    pub fn false_alarms_per_1000_rows(&self) -> f64 {
        self.false_alarms as f64 * 1000.0 / self.normal_rows.max(1) as f64
    }

    pub fn detection_rate(&self) -> f64 {
        self.detected as f64 / self.episodes.max(1) as f64
    }
}

/// Where the data set is: `SKAB_DIR`, or `tests/data/skab/data` in this repository.
pub fn data_dir() -> PathBuf {
    std::env::var_os("SKAB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("data/skab/data"))
}

/// Labelled files and the anomaly-free run, sorted for a stable report.
pub fn files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for folder in ["anomaly-free", "valve1", "valve2", "other"] {
        for entry in std::fs::read_dir(dir.join(folder))? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "csv") {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// The episodes `[first, last]` (0-based data rows) of a file's `anomaly` column.
pub fn episodes(text: &str) -> Vec<(u64, u64)> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(';').collect();
    let Some(column) = header.iter().position(|h| *h == "anomaly") else {
        return Vec::new();
    };
    let mut found: Vec<(u64, u64)> = Vec::new();
    for (row, line) in lines.enumerate() {
        let row = row as u64;
        let anomalous = line
            .split(';')
            .nth(column)
            .is_some_and(|v| v.trim().starts_with('1'));
        match found.last_mut() {
            Some(last) if anomalous && last.1 + 1 == row => last.1 = row,
            _ if anomalous => found.push((row, row)),
            _ => {}
        }
    }
    found
}

/// Replays every file through `rules` and scores the raised alerts against the labels.
pub fn score(rules: &RuleSet, dir: &Path) -> anyhow::Result<Score> {
    let mut score = Score::default();
    for path in files(dir)? {
        let text = std::fs::read_to_string(&path)?;
        // The anomaly-free run has no label columns.
        let header = text.lines().next().unwrap_or_default();
        let options = replay::ReplayOptions {
            exclude: LABELS
                .iter()
                .filter(|l| header.split(';').any(|h| h == **l))
                .map(|s| s.to_string())
                .collect(),
            ..replay::ReplayOptions::default()
        };
        let episodes = episodes(&text);
        let rows = text.lines().count().saturating_sub(1) as u64;
        let mut out = Vec::new();
        replay::replay(text.as_bytes(), &options, rules, "skab", &mut out)?;
        let raised_rows: Vec<u64> = String::from_utf8(out)?
            .lines()
            .map(serde_json::from_str::<serde_json::Value>)
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter(|e| e["state"] == "raised")
            .filter_map(|e| e["row"].as_u64())
            .collect();
        let inside = |row: u64| episodes.iter().any(|&(a, b)| (a..=b).contains(&row));
        let false_alarms = raised_rows.iter().filter(|&&r| !inside(r)).count();
        let anomalous_rows: u64 = episodes.iter().map(|(a, b)| b - a + 1).sum();
        score.files += 1;
        score.false_alarms += false_alarms;
        score.normal_rows += rows - anomalous_rows;
        let mut file_delay = None;
        for &(first, last) in &episodes {
            score.episodes += 1;
            if let Some(&hit) = raised_rows.iter().find(|&&r| (first..=last).contains(&r)) {
                score.detected += 1;
                score.delays.push(hit - first);
                file_delay = Some(hit - first);
            }
        }
        let name = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .display()
            .to_string();
        score
            .per_file
            .push((name, file_delay.is_some(), file_delay, false_alarms));
    }
    Ok(score)
}
