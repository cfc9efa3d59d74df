//! Ground truth: the fault intervals, written as JSON lines while the simulator runs.
//!
//! Each fault produces two lines with the same `id`: one when it begins (`"event":
//! "start"`, `end_s` null) and one when it ends (`"event": "end"`). A fault still active at
//! shutdown gets its end line then, with `end_s` the plant time of shutdown and
//! `"truncated": true`. Times are given both as plant seconds and as wall-clock Unix
//! milliseconds, so a test can compare them with what the agent timestamped. Each line is
//! written with one `write` call and flushed at once.

use std::{
    fs::File,
    io::Write,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::{clock::SimClock, error::SimError, plant::Plant, timeline::FaultInterval};

const POLL: Duration = Duration::from_millis(50);

/// One line of the ground-truth file.
#[derive(Debug, Serialize)]
struct Record<'a> {
    event: &'static str,
    #[serde(flatten)]
    interval: &'a FaultInterval,
    start_unix_ms: u64,
    end_unix_ms: Option<u64>,
    truncated: bool,
}

/// Writes the ground truth of `plant` to a file.
#[derive(Debug)]
pub(crate) struct TruthWriter {
    file: File,
    path: PathBuf,
}

impl TruthWriter {
    /// Creates (truncates) the file.
    pub fn create(path: &Path) -> Result<Self, SimError> {
        let file = File::create(path).map_err(|source| SimError::Truth {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self {
            file,
            path: path.to_owned(),
        })
    }

    fn write(&mut self, record: &Record<'_>) -> Result<(), SimError> {
        let mut line = serde_json::to_vec(record).map_err(|e| SimError::Truth {
            path: self.path.clone(),
            source: e.into(),
        })?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .map_err(|source| SimError::Truth {
                path: self.path.clone(),
                source,
            })
    }

    /// Follows the clock, writing start and end lines, until `cancel` fires.
    pub async fn run(
        mut self,
        plant: Arc<Plant>,
        clock: SimClock,
        cancel: CancellationToken,
    ) -> Result<(), SimError> {
        let intervals = plant.fault_intervals();
        let mut started = vec![false; intervals.len()];
        let mut ended = vec![false; intervals.len()];
        let mut ticker = tokio::time::interval(POLL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let stopping = tokio::select! {
                () = cancel.cancelled() => true,
                _ = ticker.tick() => false,
            };
            let now = clock.now();
            for (i, iv) in intervals.iter().enumerate() {
                if !started[i] && now >= iv.start_s {
                    started[i] = true;
                    self.write(&Record {
                        event: "start",
                        interval: &FaultInterval {
                            end_s: None,
                            ..iv.clone()
                        },
                        start_unix_ms: clock.unix_ms_at(iv.start_s),
                        end_unix_ms: None,
                        truncated: false,
                    })?;
                }
                let finished = iv.end_s.filter(|&end| now >= end);
                if started[i] && !ended[i] && (finished.is_some() || stopping) {
                    ended[i] = true;
                    let end_s = finished.unwrap_or(now);
                    self.write(&Record {
                        event: "end",
                        interval: &FaultInterval {
                            end_s: Some(end_s),
                            ..iv.clone()
                        },
                        start_unix_ms: clock.unix_ms_at(iv.start_s),
                        end_unix_ms: Some(clock.unix_ms_at(end_s)),
                        truncated: finished.is_none(),
                    })?;
                }
            }
            if stopping {
                return Ok(());
            }
        }
    }
}
