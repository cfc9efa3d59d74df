//! From a poll's outcome to events: a good reading per decoded value, and a bad-quality
//! reading per register that could not be read, on the first failed poll of a streak only,
//! so that a consumer sees where the data stops without a flood while a device is down (the
//! device's health event says the rest).

use super::poller::{GroupOutcome, PlannedGroup};
use crate::event::{Event, EventBody, Quality, Reading};

/// The reading events of one poll; `mark_gap` says whether failed registers get a bad reading.
pub fn events(
    group: &PlannedGroup,
    outcome: &GroupOutcome,
    now_ms: i64,
    mark_gap: bool,
) -> Vec<Event> {
    let reading = |register: usize, value: f64, quality: Quality| {
        let r = &group.registers[register];
        Event {
            ts_ms: now_ms,
            body: EventBody::Reading(Reading {
                sensor: r.sensor.clone(),
                value,
                unit: r.unit.clone(),
                quality,
            }),
        }
    };
    let good = outcome
        .values
        .iter()
        .map(|v| reading(v.register, v.value, Quality::Good));
    let bad = outcome
        .failures
        .iter()
        .filter(|_| mark_gap)
        .flat_map(|(_, registers)| {
            registers
                .iter()
                .map(|&r| reading(r, f64::NAN, Quality::Bad))
        });
    good.chain(bad).collect()
}

/// What a device remembers between polls to report them: per group, whether the current
/// failure streak has had its bad readings (across connections: a streak ends only with a
/// poll of the group that fails nothing), and the registers already named as refused.
#[derive(Debug, Default)]
pub struct PollMemory {
    gap_marked: Vec<bool>,
    culprits: std::collections::HashSet<String>,
}

impl PollMemory {
    pub fn new(groups: usize) -> Self {
        Self {
            gap_marked: vec![false; groups],
            culprits: Default::default(),
        }
    }

    /// Every event of one poll of group `index` of `device`: its readings (a bad one per
    /// failed register, first failed poll of a streak only), the health changes, and the
    /// registers found refused.
    pub fn events(
        &mut self,
        device: &str,
        index: usize,
        group: &PlannedGroup,
        outcome: &GroupOutcome,
        health: &mut crate::sources::health::DeviceHealth,
        now_ms: i64,
    ) -> Vec<Event> {
        let mut out = events(group, outcome, now_ms, !self.gap_marked[index]);
        self.gap_marked[index] = !outcome.failures.is_empty();
        if outcome.failures.is_empty() {
            if !outcome.values.is_empty() {
                out.extend(health.succeeded(index, now_ms));
            }
        } else if !outcome.values.is_empty() {
            health.partly_succeeded();
        }
        for (failure, registers) in &outcome.failures {
            let what = sensors_of(group, registers);
            out.extend(health.failed(index, failure, &what, now_ms));
        }
        out.extend(culprit_events(
            device,
            group,
            outcome,
            now_ms,
            &mut self.culprits,
        ));
        out
    }
}

/// The sensors of `registers` for a health event: the first three by name, then how many more.
fn sensors_of(group: &PlannedGroup, registers: &[usize]) -> String {
    const NAMED: usize = 3;
    let mut what: Vec<&str> = registers
        .iter()
        .take(NAMED)
        .map(|&r| group.registers[r].sensor.as_str())
        .collect();
    let more = registers.len().saturating_sub(NAMED);
    let more = format!("and {more} more");
    if registers.len() > NAMED {
        what.push(&more);
    }
    what.join(", ")
}

/// The error line and health event for each register of `outcome.culprits` not yet in
/// `reported`: a register the device refuses with ILLEGAL DATA ADDRESS when read alone, so
/// most likely a mistake in the register map. Reported once per register.
fn culprit_events(
    device: &str,
    group: &PlannedGroup,
    outcome: &GroupOutcome,
    now_ms: i64,
    reported: &mut std::collections::HashSet<String>,
) -> Vec<Event> {
    let mut events = Vec::new();
    for &index in &outcome.culprits {
        let register = &group.registers[index];
        if !reported.insert(register.sensor.clone()) {
            continue;
        }
        let detail = format!(
            "{} register {} ({}) is refused with ILLEGAL DATA ADDRESS (exception 2) when read alone; the other registers of its merged read are read one by one",
            register.table.name(),
            register.address,
            register.sensor
        );
        tracing::error!(device, sensor = %register.sensor, table = register.table.name(), address = register.address, "the device does not map this register: check the register map");
        events.push(Event::health(
            now_ms,
            format!("device:{device}"),
            crate::event::HealthState::Degraded,
            detail,
        ));
    }
    events
}
