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
