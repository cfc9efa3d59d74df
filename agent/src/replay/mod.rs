//! `edge-agent replay`: recorded data through the engine exactly as the live agent runs it,
//! each raised alert printed as one wire-shape JSON line (and, with `--clears`, each clearing).
//!
//! Raises alone are the default because a consumer of replay's output (a scorer, a person
//! counting alarms) reads every line as an alarm: a clearing is part of an alert's lifecycle,
//! not a second alarm.
//!
//! A replay that reads no sample at all is an error, never an empty success: the input was not
//! what replay reads (a binary or gzipped file, JSON lines, decimal commas), and the error says
//! what was expected and what the input looked like ([`sniff`]).

mod explain;
mod input;
mod sniff;
pub mod timestamp;

use std::collections::HashMap;
use std::io::{Read, Write};

use edge_rules::lang::{RuleSet, SensorPlan, SensorRunner};
use edge_rules::siblings::{infer_groups, Siblings};
use thiserror::Error;

pub use explain::{explain, explain_held_back};
pub use input::{CsvSamples, InputCounters, InputError, Sample};

use crate::event::{wire, Alert, AlertState, Event, EventBody};

/// What a replay saw and did; printed to stderr at the end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplaySummary {
    pub input: InputCounters,
    pub samples: u64,
    pub sensors: usize,
    pub raised: u64,
    pub cleared: u64,
    /// Raises held back by their rule's hold-off or minimum interval.
    pub held_back: u64,
    pub rejected_not_finite: u64,
    pub rejected_out_of_range: u64,
    /// Samples whose timestamp did not move forward for their sensor (processed in file order).
    pub out_of_order: u64,
}

impl std::fmt::Display for ReplaySummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let i = &self.input;
        write!(
            f,
            "replay: {} rows, {} samples of {} sensors; {} alerts raised, {} cleared, {} held back; \
             skipped: {} bad timestamps, {} bad values, {} empty cells, {} ragged rows; \
             rejected: {} not finite, {} out of range; {} timestamps out of order",
            i.rows,
            self.samples,
            self.sensors,
            self.raised,
            self.cleared,
            self.held_back,
            i.bad_timestamps,
            i.bad_values,
            i.empty_cells,
            i.ragged_rows,
            self.rejected_not_finite,
            self.rejected_out_of_range,
            self.out_of_order
        )
    }
}

#[derive(Debug, Error)]
pub enum ReplayError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("sensor `{sensor}`: {reason}")]
    Plan { sensor: String, reason: String },
    #[error("no samples in the input ({counters}): expected a CSV file with a header and rows of a timestamp and numbers (`timestamp,value`, `timestamp,sensor,value`, or one column per sensor){hint}")]
    NoSamples { counters: String, hint: String },
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

struct SensorRun {
    plan: SensorPlan,
    runner: SensorRunner,
    /// Whether the sensor is judged against siblings (see [`Siblings`]).
    grouped: bool,
}

/// What to replay, and how to print it.
#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    /// `--sensor`: the columns (or sensors of a long file) to replay; empty: all.
    pub sensors: Vec<String>,
    /// `--exclude`: columns never replayed (labels, such as SKAB's `anomaly`).
    pub exclude: Vec<String>,
    /// `--explain`: after each alert's JSON line, a line of text that says why it fired.
    pub explain: bool,
    /// `--clears`: print the clearing of each alert too, not only its raise.
    pub clears: bool,
    /// `--ungrouped`: infer no groups from the columns' names; only the rule files' groups.
    pub ungrouped: bool,
}

/// Replays `input` (see [`input`] for the shapes) through `rules`, writing one JSON line per
/// raised alert (and per cleared one, with [`ReplayOptions::clears`]) to `out`.
pub fn replay<R: Read>(
    input: R,
    options: &ReplayOptions,
    rules: &RuleSet,
    gateway: &str,
    out: &mut impl Write,
) -> Result<ReplaySummary, ReplayError> {
    let (head, input) = sniff::peek(input)?;
    let mut samples = match CsvSamples::new(input, &options.sensors, &options.exclude) {
        Ok(samples) => samples,
        // A header that is not one may be a file of another kind: say which, if it shows.
        Err(e @ (InputError::Empty | InputError::TooFewColumns(_))) => {
            return Err(match sniff::diagnose(&head, &InputCounters::default()) {
                Some(hint) => ReplayError::NoSamples {
                    counters: e.to_string(),
                    hint: format!("; {hint}"),
                },
                None => e.into(),
            })
        }
        Err(e) => return Err(e.into()),
    };
    // Groups: the rule files' first, then columns whose names differ only in their digits.
    let inferred = if options.ungrouped {
        Vec::new()
    } else {
        infer_groups(samples.columns().iter().map(String::as_str))
    };
    let mut siblings = Siblings::new(rules.groups().map(|g| g.sensors.clone()).chain(inferred));
    let mut runs: HashMap<usize, SensorRun> = HashMap::new();
    let mut summary = ReplaySummary::default();
    let mut seq = 0u64;
    let mut transitions = Vec::new();
    // The samples of one row, so that every member of a group is learned before any is
    // judged against the others: a move of the whole group is then no one's departure.
    let mut row: Vec<Sample> = Vec::new();
    let mut next = samples.next();
    while let Some(first) = next.take() {
        row.clear();
        row.push(first);
        loop {
            next = samples.next();
            match next {
                Some(sample) if sample.row == first.row => row.push(sample),
                _ => break,
            }
        }
        for sample in &row {
            siblings.learn(
                samples.sensor_name(sample.sensor),
                sample.ts_ms,
                sample.value,
            );
        }
        for &sample in &row {
            summary.samples += 1;
            let run = match runs.entry(sample.sensor) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    let name = samples.sensor_name(sample.sensor).to_string();
                    let grouped = siblings.is_grouped(&name);
                    let plan = rules.plan_in_group(&name, None, grouped).map_err(|e| {
                        ReplayError::Plan {
                            sensor: name.clone(),
                            reason: e.to_string(),
                        }
                    })?;
                    let runner = SensorRunner::new(&plan).map_err(|e| ReplayError::Plan {
                        sensor: name,
                        reason: format!("{e:?}"),
                    })?;
                    e.insert(SensorRun {
                        plan,
                        runner,
                        grouped,
                    })
                }
            };
            let reference = if run.grouped {
                siblings.reference(&run.plan.sensor)
            } else {
                None
            };
            // Rejections are counted by the engine and summed up below.
            let _ = run
                .runner
                .process_in_group(sample.ts_ms, sample.value, reference, &mut |t| {
                    transitions.push(t)
                });
            for transition in transitions.drain(..) {
                let Some(alert) = Alert::from_transition(&run.plan, &transition, Some(sample.row))
                else {
                    summary.held_back += 1;
                    if options.explain {
                        writeln!(
                            out,
                            "{}",
                            explain_held_back(&run.plan, &transition, sample.row)
                        )?;
                    }
                    continue;
                };
                match alert.state {
                    AlertState::Raised => summary.raised += 1,
                    AlertState::Cleared => summary.cleared += 1,
                }
                if alert.state == AlertState::Cleared && !options.clears {
                    continue;
                }
                let event = Event {
                    ts_ms: transition.time_ms,
                    body: EventBody::Alert(alert),
                };
                writeln!(out, "{}", wire::to_json(gateway, seq, &event))?;
                if let (true, EventBody::Alert(alert)) = (options.explain, &event.body) {
                    writeln!(out, "{}", explain(alert, event.ts_ms, transition.view))?;
                }
                seq += 1;
            }
        }
    }
    summary.input = samples.counters();
    if summary.samples == 0 {
        return Err(ReplayError::NoSamples {
            counters: format!(
                "{} rows: {} bad timestamps, {} bad values, {} empty cells",
                summary.input.rows,
                summary.input.bad_timestamps,
                summary.input.bad_values,
                summary.input.empty_cells
            ),
            hint: sniff::diagnose(&head, &summary.input)
                .map(|h| format!("; {h}"))
                .unwrap_or_default(),
        });
    }
    summary.sensors = runs.len();
    for run in runs.values() {
        let c = run.runner.counters();
        summary.rejected_not_finite += c.rejected_not_finite;
        summary.rejected_out_of_range += c.rejected_out_of_range;
        summary.out_of_order += c.out_of_order;
    }
    out.flush()?;
    Ok(summary)
}
