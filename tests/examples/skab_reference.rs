//! A reference detector on SKAB, to show how many episodes the four channels the rules read can
//! give away at a given false-alarm rate (the README's "How well the shipped rules detect"):
//! `cargo run -p e2e-tests --example skab_reference`.
//!
//! It has what no streaming detector has: no warm-up and no settling, and the freshest normal
//! there is. Each 30-second mean of each channel is judged against the 30-second means of the
//! five minutes just before it, in units of their standard deviation; an alert is raised when any
//! channel passes `T`, and then none for five minutes (the default rule's `min_interval`).
//! Scored like `tests/src/skab.rs`: an episode is detected when an alert falls inside it, and an
//! alert outside every episode is a false alarm.

use e2e_tests::skab;

/// The short window and the reference span before it, in rows (one row a second).
const WINDOW: usize = 30;
const REFERENCE: usize = 300;
const REFRACTORY: usize = 300;
const THRESHOLDS: [f64; 6] = [5.0, 8.0, 12.0, 16.0, 24.0, 32.0];

/// Per row, the largest distance over the channels of the current 30-second mean from the
/// 30-second means of the five minutes before it, in their standard deviations.
fn distances(columns: &[Vec<f64>]) -> Vec<f64> {
    let rows = columns.first().map_or(0, Vec::len);
    let mut worst = vec![0.0f64; rows];
    for column in columns {
        let mut sums = vec![0.0];
        for x in column {
            sums.push(sums.last().copied().unwrap_or(0.0) + x);
        }
        // The mean of the WINDOW rows ending at row `i`.
        let mean_at = |i: usize| (sums[i + 1] - sums[i + 1 - WINDOW]) / WINDOW as f64;
        for (i, slot) in worst.iter_mut().enumerate().skip(WINDOW + REFERENCE) {
            let reference: Vec<f64> = (i - REFERENCE..=i - WINDOW).map(mean_at).collect();
            let n = reference.len() as f64;
            let mean = reference.iter().sum::<f64>() / n;
            let spread = (reference.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / n).sqrt();
            if spread > 0.0 {
                *slot = slot.max((mean_at(i) - mean).abs() / spread);
            }
        }
    }
    worst
}

fn main() -> anyhow::Result<()> {
    let dir = skab::data_dir();
    let mut runs = Vec::new();
    for path in skab::files(&dir)? {
        let text = std::fs::read_to_string(&path)?;
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().split(';').collect();
        let wanted: Vec<usize> = skab::SENSORS
            .iter()
            .map(|s| header.iter().position(|h| h == s))
            .collect::<Option<_>>()
            .ok_or_else(|| anyhow::anyhow!("{} lacks a channel", path.display()))?;
        let mut columns = vec![Vec::new(); wanted.len()];
        for line in lines {
            let cells: Vec<&str> = line.split(';').collect();
            for (column, &at) in columns.iter_mut().zip(&wanted) {
                column.push(
                    cells
                        .get(at)
                        .and_then(|c| c.trim().parse().ok())
                        .unwrap_or(f64::NAN),
                );
            }
        }
        runs.push((skab::episodes(&text), distances(&columns)));
    }
    println!("| threshold T (standard deviations) | episodes detected | false alarms per 1,000 normal rows |");
    println!("|---|---|---|");
    for threshold in THRESHOLDS {
        let (mut detected, mut episodes, mut false_alarms, mut normal_rows) = (0, 0, 0, 0);
        for (labelled, distance) in &runs {
            let mut alerts = Vec::new();
            let mut row = 0;
            while row < distance.len() {
                if distance[row] > threshold {
                    alerts.push(row as u64);
                    row += REFRACTORY;
                } else {
                    row += 1;
                }
            }
            let inside = |r: u64| labelled.iter().any(|&(a, b)| (a..=b).contains(&r));
            episodes += labelled.len();
            detected += labelled
                .iter()
                .filter(|&&(a, b)| alerts.iter().any(|r| (a..=b).contains(r)))
                .count();
            false_alarms += alerts.iter().filter(|&&r| !inside(r)).count();
            let anomalous: u64 = labelled.iter().map(|(a, b)| b - a + 1).sum();
            normal_rows += distance.len() as u64 - anomalous;
        }
        println!(
            "| {threshold} | {detected} of {episodes} | {:.2} ({false_alarms} in {normal_rows}) |",
            false_alarms as f64 * 1000.0 / normal_rows as f64
        );
    }
    Ok(())
}
