//! A reference detector on SKAB, to show how many episodes the four channels the rules read can
//! give away at a given false-alarm rate (docs/detection.md):
//! `cargo run -p e2e-tests --example skab_reference`.
//!
//! It has what no streaming detector has: no warm-up and no settling, and the freshest normal
//! there is. Each 30-second mean of each channel is judged against the 30-second means of the
//! five minutes just before it, in units of their standard deviation; an alert is raised when any
//! channel passes `T`, and then none for five minutes (the default rule's `min_interval`).
//! Scored like `tests/src/skab.rs`: an episode is detected when an alert falls inside it, and an
//! alert outside every episode is a false alarm.
//!
//! A second table judges the spread as well: each 30-second standard deviation against those of
//! the five minutes before it, so that a change of vibration or noise that leaves the level alone
//! counts too.

use e2e_tests::skab;

/// The short window and the reference span before it, in rows (one row a second).
const WINDOW: usize = 30;
const REFERENCE: usize = 300;
const REFRACTORY: usize = 300;
const THRESHOLDS: [f64; 6] = [5.0, 8.0, 12.0, 16.0, 24.0, 32.0];
/// The pump's vibration and temperature channels: what the rules read before they read all
/// eight.
const SENSORS: [&str; 4] = [
    "Accelerometer1RMS",
    "Accelerometer2RMS",
    "Temperature",
    "Thermocouple",
];

/// What of each 30-second window is judged against the same statistic of the windows before it.
#[derive(Clone, Copy)]
enum Statistic {
    Level,
    Spread,
}

/// Per row, the largest distance over the channels of the current 30-second statistic from the
/// 30-second statistics of the five minutes before it, in their standard deviations.
fn distances(columns: &[Vec<f64>], statistic: Statistic) -> Vec<f64> {
    let rows = columns.first().map_or(0, Vec::len);
    let mut worst = vec![0.0f64; rows];
    for column in columns {
        let (mut sums, mut squares) = (vec![0.0], vec![0.0]);
        for x in column {
            sums.push(sums.last().copied().unwrap_or(0.0) + x);
            squares.push(squares.last().copied().unwrap_or(0.0) + x * x);
        }
        // The statistic of the WINDOW rows ending at row `i`.
        let window_at = |i: usize| {
            let n = WINDOW as f64;
            let mean = (sums[i + 1] - sums[i + 1 - WINDOW]) / n;
            match statistic {
                Statistic::Level => mean,
                Statistic::Spread => {
                    let mean_square = (squares[i + 1] - squares[i + 1 - WINDOW]) / n;
                    (mean_square - mean * mean).max(0.0).sqrt()
                }
            }
        };
        for (i, slot) in worst.iter_mut().enumerate().skip(WINDOW + REFERENCE) {
            let reference: Vec<f64> = (i - REFERENCE..=i - WINDOW).map(window_at).collect();
            let n = reference.len() as f64;
            let mean = reference.iter().sum::<f64>() / n;
            let spread = (reference.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / n).sqrt();
            if spread > 0.0 {
                *slot = slot.max((window_at(i) - mean).abs() / spread);
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
        let wanted: Vec<usize> = SENSORS
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
        let level = distances(&columns, Statistic::Level);
        let spread = distances(&columns, Statistic::Spread);
        let either: Vec<f64> = level.iter().zip(&spread).map(|(a, b)| a.max(*b)).collect();
        runs.push((skab::episodes(&text), level, either));
    }
    println!("Level: each channel's 30-second mean\n");
    print_table(
        runs.iter()
            .map(|(episodes, level, _)| (&episodes[..], &level[..])),
    );
    println!(
        "\nLevel or spread: the 30-second mean or standard deviation, whichever stands out more\n"
    );
    print_table(
        runs.iter()
            .map(|(episodes, _, either)| (&episodes[..], &either[..])),
    );
    Ok(())
}

/// A file's labelled episodes (first and last row) and the distance of each of its rows.
type Scored<'a> = (&'a [(u64, u64)], &'a [f64]);

/// Scores alerts at each threshold over every file.
fn print_table<'a>(runs: impl Iterator<Item = Scored<'a>> + Clone) {
    println!("| threshold T (standard deviations) | episodes detected | false alarms per 1,000 normal rows |");
    println!("|---|---|---|");
    for threshold in THRESHOLDS {
        let (mut detected, mut episodes, mut false_alarms, mut normal_rows) = (0, 0, 0, 0);
        for (labelled, distance) in runs.clone() {
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
}
