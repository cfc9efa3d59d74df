//! The health of one device: online, degraded or offline, from the outcome of its reads, with
//! a health event on every change, and errors counted per kind and logged once per streak
//! rather than once per poll.
//!
//! - A read that succeeds makes the device **online**, once none of its reads fails: a
//!   device's reads are its poll groups, and each remembers whether its last poll failed. A
//!   device with one refused read beside healthy ones stays degraded, instead of turning online
//!   and degraded again on every cycle (two health events and two log lines per poll).
//! - A Modbus exception (the device is alive and said no) makes it **degraded**.
//! - A timeout or a broken link makes it **degraded**, and **offline** from the third in a row
//!   (or when it cannot be connected to at all), once [`DeviceHealth::settle`]'s span has
//!   passed without an answer.
//!
//! - After failures, a device is online again only after [`DeviceHealth::settle`]'s number of
//!   successful polls in a row, spanning its span (one poll and no span by default; Modbus
//!   devices ask for [`MODBUS_SETTLE_POLLS`] polls over [`MODBUS_SETTLE_FOR`]). Until then it
//!   is degraded (an offline device turns degraded at its first success: the link works). A
//!   device that loses every other answer stays degraded, with one health event, instead of
//!   changing state with every lost answer.
//!
//! A failure streak, whose failures are logged once per kind, lasts until the device is online.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tracing::{info, warn};

use crate::event::{Event, HealthState};

/// Consecutive link failures after which a device is offline.
pub const OFFLINE_AFTER: u32 = 3;

/// Successful polls in a row after which a Modbus device that failed is online again...
pub const MODBUS_SETTLE_POLLS: u32 = 3;
/// ...over at least this long; and how long without an answer before it is offline. So that a
/// link that loses some answers, however fast it is polled, stays degraded.
pub const MODBUS_SETTLE_FOR: std::time::Duration = std::time::Duration::from_secs(5);

/// What went wrong with one read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The device answered with a Modbus exception: alive, but it said no.
    Exception(tokio_modbus::ExceptionCode),
    /// No answer within the timeout.
    Timeout,
    /// The link or the protocol broke (refused, reset, garbled).
    Transport(String),
    /// The answer could not be decoded into the configured values.
    Decode(String),
}

impl Failure {
    fn kind(&self) -> &'static str {
        match self {
            Failure::Exception(_) => "exception",
            Failure::Timeout => "timeout",
            Failure::Transport(_) => "transport",
            Failure::Decode(_) => "decode",
        }
    }

    /// Whether the link is broken, so that the connection should be dropped and made again.
    pub fn breaks_link(&self) -> bool {
        matches!(self, Failure::Timeout | Failure::Transport(_))
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Exception(code) => write!(f, "Modbus exception: {code}"),
            Failure::Timeout => write!(f, "no answer within the timeout"),
            Failure::Transport(why) => write!(f, "link failed: {why}"),
            Failure::Decode(why) => write!(f, "cannot decode: {why}"),
        }
    }
}

/// Counters of one device, shared with the status page and metrics.
#[derive(Debug, Default)]
pub struct DeviceCounters {
    /// Readings handed to the next stage (good and bad quality).
    pub readings: AtomicU64,
    pub reads_ok: AtomicU64,
    pub exceptions: AtomicU64,
    pub timeouts: AtomicU64,
    pub transport_errors: AtomicU64,
    pub decode_errors: AtomicU64,
    pub connects: AtomicU64,
    /// Polls that started later than their interval asked (the device or bus is too slow).
    pub overruns: AtomicU64,
    /// Exceptions by code: index 1 to 11 for the codes of the Modbus specification, 0 for any
    /// other code. They add up to `exceptions`.
    pub exception_codes: [AtomicU64; 12],
}

impl DeviceCounters {
    /// The slot of `code` in `exception_codes`.
    pub fn exception_slot(code: u8) -> usize {
        match usize::from(code) {
            slot @ 1..=11 => slot,
            _ => 0,
        }
    }
}

/// The health state machine of one device; see the module docs.
#[derive(Debug)]
pub struct DeviceHealth {
    component: String,
    state: Option<HealthState>,
    link_failures_in_a_row: u32,
    /// Per read (poll group, by index): whether its last poll failed.
    failing: Vec<bool>,
    /// Successful polls since the last failure, and when the first of them was.
    clean_polls: u32,
    clean_since_ms: i64,
    /// Successful polls in a row, over at least how many milliseconds, that make a device that
    /// failed online again; the milliseconds are also how long without an answer makes it
    /// offline.
    settle_polls: u32,
    settle_ms: i64,
    /// When a read last succeeded.
    last_success_ms: Option<i64>,
    /// The failure kinds logged in the current streak, so each is logged once.
    logged: Vec<&'static str>,
    failures_in_streak: u64,
    pub counters: Arc<DeviceCounters>,
}

impl DeviceHealth {
    pub fn new(device: &str) -> Self {
        let counters = Arc::default();
        Self {
            component: format!("device:{device}"),
            state: None,
            link_failures_in_a_row: 0,
            failing: Vec::new(),
            clean_polls: 0,
            clean_since_ms: 0,
            settle_polls: 1,
            settle_ms: 0,
            last_success_ms: None,
            logged: Vec::new(),
            failures_in_streak: 0,
            counters,
        }
    }

    /// How many successful polls in a row (at least 1), over at least how long, make a device
    /// that failed online again; and how long without an answer, besides [`OFFLINE_AFTER`]
    /// link failures in a row, makes it offline.
    pub fn settle(mut self, polls: u32, over: std::time::Duration) -> Self {
        self.settle_polls = polls.max(1);
        self.settle_ms = i64::try_from(over.as_millis()).unwrap_or(i64::MAX);
        self
    }

    pub fn state(&self) -> Option<HealthState> {
        self.state
    }

    /// Read `read` (a poll group's index) succeeded; returns the health event if the state
    /// changed.
    pub fn succeeded(&mut self, read: usize, now_ms: i64) -> Option<Event> {
        self.counters.reads_ok.fetch_add(1, Ordering::Relaxed);
        self.link_failures_in_a_row = 0;
        self.last_success_ms = Some(now_ms);
        self.set_failing(read, false);
        if self.clean_polls == 0 {
            self.clean_since_ms = now_ms;
        }
        self.clean_polls = self.clean_polls.saturating_add(1);
        let others_fail = self.failing.contains(&true);
        let clean_long_enough = self.clean_polls >= self.settle_polls
            && now_ms.saturating_sub(self.clean_since_ms) >= self.settle_ms;
        let recovering = self.failures_in_streak > 0 && !clean_long_enough;
        if others_fail || recovering {
            // The link works, so no longer offline; degraded until every read has recovered.
            let why = if others_fail {
                "some reads succeed again; others still fail".to_string()
            } else {
                format!(
                    "answers again; online after {} successful polls in a row over {} ms",
                    self.settle_polls, self.settle_ms
                )
            };
            return match self.state {
                Some(HealthState::Offline) => self.transition(HealthState::Degraded, why, now_ms),
                _ => None,
            };
        }
        if self.failures_in_streak > 0 {
            info!(component = %self.component, failures = self.failures_in_streak, "device answers again");
            self.failures_in_streak = 0;
            self.logged.clear();
        }
        self.transition(HealthState::Online, "reads succeed".to_string(), now_ms)
    }

    /// Some registers of read `read` answered and others failed: counted as a read that
    /// succeeded, while the failures (given to [`Self::failed`]) keep the read failing.
    pub fn partly_succeeded(&self) {
        self.counters.reads_ok.fetch_add(1, Ordering::Relaxed);
    }

    /// Read `read` (a poll group's index) failed; `what` names the registers it was reading.
    /// Returns the health event if the state changed.
    pub fn failed(
        &mut self,
        read: usize,
        failure: &Failure,
        what: &str,
        now_ms: i64,
    ) -> Option<Event> {
        self.set_failing(read, true);
        self.clean_polls = 0;
        let counter = match failure {
            Failure::Exception(_) => &self.counters.exceptions,
            Failure::Timeout => &self.counters.timeouts,
            Failure::Transport(_) => &self.counters.transport_errors,
            Failure::Decode(_) => &self.counters.decode_errors,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if let Failure::Exception(code) = failure {
            let slot = DeviceCounters::exception_slot(u8::from(*code));
            self.counters.exception_codes[slot].fetch_add(1, Ordering::Relaxed);
        }
        self.failures_in_streak += 1;
        if !self.logged.contains(&failure.kind()) {
            self.logged.push(failure.kind());
            warn!(component = %self.component, %failure, reading = what, "read failed (further failures of this kind are counted, not logged, until the device recovers)");
        }
        let state = if failure.breaks_link() {
            self.link_failures_in_a_row += 1;
            let silent_long_enough = self
                .last_success_ms
                .is_none_or(|t| now_ms.saturating_sub(t) >= self.settle_ms);
            if self.link_failures_in_a_row >= OFFLINE_AFTER && silent_long_enough {
                HealthState::Offline
            } else {
                HealthState::Degraded
            }
        } else {
            HealthState::Degraded
        };
        self.transition(state, format!("{failure} (reading {what})"), now_ms)
    }

    /// The device cannot be reached at all (a connect failed): offline at once.
    pub fn unreachable(&mut self, why: &str, now_ms: i64) -> Option<Event> {
        self.counters
            .transport_errors
            .fetch_add(1, Ordering::Relaxed);
        self.failures_in_streak += 1;
        if !self.logged.contains(&"connect") {
            self.logged.push("connect");
            warn!(component = %self.component, error = %why, "cannot connect (retrying with backoff; further failures are counted, not logged)");
        }
        self.clean_polls = 0;
        self.link_failures_in_a_row = self.link_failures_in_a_row.max(OFFLINE_AFTER);
        self.transition(
            HealthState::Offline,
            format!("cannot connect: {why}"),
            now_ms,
        )
    }

    fn set_failing(&mut self, read: usize, failing: bool) {
        if self.failing.len() <= read {
            self.failing.resize(read + 1, false);
        }
        self.failing[read] = failing;
    }

    fn transition(&mut self, state: HealthState, detail: String, now_ms: i64) -> Option<Event> {
        if self.state == Some(state) {
            return None;
        }
        self.state = Some(state);
        Some(Event::health(now_ms, self.component.clone(), state, detail))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventBody;

    fn state_of(event: Option<Event>) -> Option<HealthState> {
        event.map(|e| match e.body {
            EventBody::Health(h) => h.state,
            _ => unreachable!("health events only"),
        })
    }

    #[test]
    fn an_exception_degrades_a_device_but_never_takes_it_offline() {
        let mut health = DeviceHealth::new("d");
        assert_eq!(state_of(health.succeeded(0, 0)), Some(HealthState::Online));
        let exception = Failure::Exception(tokio_modbus::ExceptionCode::IllegalDataAddress);
        assert_eq!(
            state_of(health.failed(0, &exception, "r", 1)),
            Some(HealthState::Degraded)
        );
        for t in 2..10 {
            assert_eq!(state_of(health.failed(0, &exception, "r", t)), None);
        }
        let counters = &health.counters;
        assert_eq!(counters.exceptions.load(Ordering::Relaxed), 9);
        assert_eq!(counters.exception_codes[2].load(Ordering::Relaxed), 9);
        assert_eq!(counters.exception_codes[1].load(Ordering::Relaxed), 0);
    }

    #[test]
    fn the_third_timeout_in_a_row_takes_a_device_offline_and_a_success_brings_it_back() {
        let mut health = DeviceHealth::new("d");
        health.succeeded(0, 0);
        assert_eq!(
            state_of(health.failed(0, &Failure::Timeout, "r", 1)),
            Some(HealthState::Degraded)
        );
        assert_eq!(state_of(health.failed(0, &Failure::Timeout, "r", 2)), None);
        assert_eq!(
            state_of(health.failed(0, &Failure::Timeout, "r", 3)),
            Some(HealthState::Offline)
        );
        assert_eq!(state_of(health.succeeded(0, 4)), Some(HealthState::Online));
        assert_eq!(health.counters.timeouts.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn only_changes_of_state_make_events() {
        let mut health = DeviceHealth::new("d");
        assert!(health.succeeded(0, 0).is_some());
        assert!(health.succeeded(0, 1).is_none());
        assert!(health.unreachable("refused", 2).is_some());
        assert!(health.unreachable("refused", 3).is_none());
    }

    #[test]
    fn a_refused_read_beside_healthy_ones_keeps_the_device_degraded_without_flapping() {
        let mut health = DeviceHealth::new("d");
        let exception = Failure::Exception(tokio_modbus::ExceptionCode::ServerDeviceFailure);
        assert_eq!(state_of(health.succeeded(0, 0)), Some(HealthState::Online));
        assert_eq!(state_of(health.succeeded(1, 0)), None);
        assert_eq!(
            state_of(health.failed(1, &exception, "velocity", 1)),
            Some(HealthState::Degraded)
        );
        for t in 2..20 {
            assert_eq!(state_of(health.succeeded(0, t)), None, "read 0 at {t}");
            assert_eq!(state_of(health.failed(1, &exception, "velocity", t)), None);
        }
        assert_eq!(state_of(health.succeeded(1, 20)), Some(HealthState::Online));
    }

    #[test]
    fn a_device_offline_on_one_read_is_degraded_once_another_read_succeeds() {
        let mut health = DeviceHealth::new("d");
        for t in 0..3 {
            health.failed(0, &Failure::Timeout, "a", t);
        }
        assert_eq!(health.state(), Some(HealthState::Offline));
        assert_eq!(
            state_of(health.succeeded(1, 3)),
            Some(HealthState::Degraded)
        );
        assert_eq!(state_of(health.succeeded(0, 4)), Some(HealthState::Online));
    }

    #[test]
    fn the_health_event_names_what_the_failed_read_was_reading() {
        let mut health = DeviceHealth::new("d");
        let event = health.failed(0, &Failure::Timeout, "velocity, temperature", 0);
        match event.map(|e| e.body) {
            Some(EventBody::Health(h)) => assert_eq!(
                h.detail,
                "no answer within the timeout (reading velocity, temperature)"
            ),
            other => panic!("a health event: {other:?}"),
        }
    }

    #[test]
    fn a_device_that_fails_one_poll_in_four_stays_degraded_with_one_event() {
        // Polled every 100 ms: three good polls in a row are not 5 s without a failure.
        let mut health = DeviceHealth::new("d").settle(MODBUS_SETTLE_POLLS, MODBUS_SETTLE_FOR);
        assert_eq!(state_of(health.succeeded(0, 0)), Some(HealthState::Online));
        let mut events = Vec::new();
        for poll in 1..400 {
            let t = poll * 100;
            let event = if poll % 4 == 1 {
                health.failed(0, &Failure::Timeout, "t", t)
            } else {
                health.succeeded(0, t)
            };
            events.extend(state_of(event));
        }
        assert_eq!(events, [HealthState::Degraded]);
        // The last failure was at poll 397: online once the polls have been good for 5 s.
        for poll in 400..447 {
            assert_eq!(
                state_of(health.succeeded(0, poll * 100)),
                None,
                "poll {poll}"
            );
        }
        assert_eq!(
            state_of(health.succeeded(0, 44_800)),
            Some(HealthState::Online)
        );
    }

    #[test]
    fn an_offline_modbus_device_is_degraded_at_its_first_success_and_online_after_recovering() {
        let mut health = DeviceHealth::new("d").settle(MODBUS_SETTLE_POLLS, MODBUS_SETTLE_FOR);
        assert!(health.unreachable("refused", 0).is_some());
        assert_eq!(
            state_of(health.succeeded(0, 1_000)),
            Some(HealthState::Degraded)
        );
        // Three good polls, but within 2 s of the first: still degraded.
        assert_eq!(state_of(health.succeeded(0, 2_000)), None);
        assert_eq!(state_of(health.succeeded(0, 3_000)), None);
        // 5 s after the first good poll, with none failed since: online.
        assert_eq!(state_of(health.succeeded(0, 5_999)), None);
        assert_eq!(
            state_of(health.succeeded(0, 6_000)),
            Some(HealthState::Online)
        );
    }

    #[test]
    fn a_modbus_device_is_offline_only_when_nothing_answered_for_the_settling_span() {
        let mut health = DeviceHealth::new("d").settle(MODBUS_SETTLE_POLLS, MODBUS_SETTLE_FOR);
        health.succeeded(0, 0);
        for t in [100, 200, 300, 4_900] {
            assert_ne!(health.state(), Some(HealthState::Offline), "before {t} ms");
            health.failed(0, &Failure::Timeout, "t", t);
        }
        assert_eq!(health.state(), Some(HealthState::Degraded));
        assert_eq!(
            state_of(health.failed(0, &Failure::Timeout, "t", 5_000)),
            Some(HealthState::Offline)
        );
    }
}
