//! The life of one alert: raised once its condition has held long enough (debounce), cleared
//! once it has stopped holding long enough, and not raised again too soon.
//!
//! **Alert discipline.** A condition that flickers must stay one alert, because every raise
//! is a page someone reads. Two settings space raises out:
//! - `min_reraise_ms`: no raise sooner than this after the last raise;
//! - `hold_off_ms`: no raise sooner than this after the last clear. A rule that has just
//!   cleared on a sensor is the likeliest to raise again for the same cause.
//!
//! A raise that came due while it was spaced out is **held back**: not raised, and reported
//! as [`AlertState::HeldBack`] once per stretch of the condition, so that the agent can count
//! it and a replay can explain it. If the condition still holds when the spacing ends, the
//! alert is raised then, carrying how many raises were held back since the last one.
//!
//! Time is the engine's clock (the largest timestamp seen so far), so recorded data whose
//! timestamps jitter backwards can never make a debounce run backwards.

/// Where an alert went on a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertState {
    Raised,
    Cleared,
    /// The condition held long enough to raise, but the rule is within its hold-off or its
    /// minimum re-raise interval: nothing is raised. Reported once per stretch.
    HeldBack,
}

impl AlertState {
    pub const fn name(self) -> &'static str {
        match self {
            AlertState::Raised => "raised",
            AlertState::Cleared => "cleared",
            AlertState::HeldBack => "held_back",
        }
    }
}

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub const fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// Debounce and re-raise timing of a rule, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timing {
    /// The condition must hold this long before the alert is raised (0: at once).
    pub raise_after_ms: i64,
    /// The condition must have stopped holding this long before the alert clears.
    pub clear_after_ms: i64,
    /// An alert is not raised again sooner than this after it was last raised.
    pub min_reraise_ms: i64,
    /// An alert is not raised again sooner than this after it last cleared.
    pub hold_off_ms: i64,
}

/// A transition of one alert, with how many raises were held back before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub state: AlertState,
    /// On [`AlertState::Raised`]: raises held back since the previous raise. On
    /// [`AlertState::HeldBack`]: held back so far since the last raise, this one included.
    /// 0 on a clear.
    pub held_back: u32,
}

/// The state of one alert of one sensor.
///
/// Laid out for size (24 bytes, one per rule of every sensor): each optional instant is an
/// `i64` and a flag, the flags side by side, rather than an `Option<i64>` whose tag takes a
/// word of its own. The instant of a cleared flag is kept at 0, so that equal states compare
/// equal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lifecycle {
    raised: bool,
    is_pending: bool,
    /// Whether `not_before` is set: no raise has been spaced out yet otherwise.
    is_spaced: bool,
    /// Whether the current stretch of the condition was already reported as held back.
    reported_held: bool,
    /// Raises held back since the last raise (saturating).
    held_back: u32,
    /// Since when the condition has been pointing at the other state (if `is_pending`).
    pending_since: i64,
    /// No raise before this instant (if `is_spaced`): the last raise plus `min_reraise_ms`,
    /// or the last clear plus `hold_off_ms`, whichever ends later.
    not_before: i64,
}

impl Lifecycle {
    pub fn is_raised(&self) -> bool {
        self.raised
    }

    /// Feeds whether the condition holds at `now`; returns a transition when there is one.
    pub fn step(&mut self, holds: bool, now: i64, timing: &Timing) -> Option<Step> {
        if holds == self.raised {
            self.set_pending_since(None);
            return None;
        }
        let since = match self.pending_since() {
            Some(since) => since,
            None => {
                self.set_pending_since(Some(now));
                self.reported_held = false;
                now
            }
        };
        let held_for = now.saturating_sub(since);
        if self.raised {
            if held_for < timing.clear_after_ms {
                return None;
            }
            self.raised = false;
            self.set_pending_since(None);
            self.space_until(now.saturating_add(timing.hold_off_ms));
            return Some(Step {
                state: AlertState::Cleared,
                held_back: 0,
            });
        }
        if held_for < timing.raise_after_ms {
            return None;
        }
        if self.is_spaced && now < self.not_before {
            if self.reported_held {
                return None;
            }
            self.reported_held = true;
            self.held_back = self.held_back.saturating_add(1);
            return Some(Step {
                state: AlertState::HeldBack,
                held_back: self.held_back,
            });
        }
        self.raised = true;
        self.set_pending_since(None);
        let held_back = core::mem::take(&mut self.held_back);
        (self.is_spaced, self.not_before) = (true, now.saturating_add(timing.min_reraise_ms));
        Some(Step {
            state: AlertState::Raised,
            held_back,
        })
    }

    /// Pushes the earliest next raise out to `until`, never in.
    fn space_until(&mut self, until: i64) {
        self.not_before = if self.is_spaced {
            self.not_before.max(until)
        } else {
            until
        };
        self.is_spaced = true;
    }

    fn pending_since(&self) -> Option<i64> {
        self.is_pending.then_some(self.pending_since)
    }

    fn set_pending_since(&mut self, since: Option<i64>) {
        (self.is_pending, self.pending_since) = (since.is_some(), since.unwrap_or(0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBOUNCED: Timing = Timing {
        raise_after_ms: 10_000,
        clear_after_ms: 5_000,
        min_reraise_ms: 60_000,
        hold_off_ms: 0,
    };

    fn run_with(
        lifecycle: &mut Lifecycle,
        timing: &Timing,
        samples: &[(i64, bool)],
    ) -> Vec<(i64, AlertState)> {
        samples
            .iter()
            .filter_map(|&(t, holds)| lifecycle.step(holds, t, timing).map(|s| (t, s.state)))
            .collect()
    }

    fn run(lifecycle: &mut Lifecycle, samples: &[(i64, bool)]) -> Vec<(i64, AlertState)> {
        run_with(lifecycle, &DEBOUNCED, samples)
    }

    /// One sample a second from `from` to `to` (inclusive), all holding or all not.
    fn seconds(from: i64, to: i64, holds: bool) -> impl Iterator<Item = (i64, bool)> {
        (from..=to).map(move |s| (s * 1000, holds))
    }

    #[test]
    fn a_condition_shorter_than_the_debounce_raises_nothing() {
        let mut alert = Lifecycle::default();
        let samples: Vec<_> = seconds(0, 8, true).chain([(9000, false)]).collect();
        assert_eq!(run(&mut alert, &samples), vec![]);
    }

    #[test]
    fn a_condition_that_holds_through_the_debounce_raises_once() {
        let mut alert = Lifecycle::default();
        let samples: Vec<_> = seconds(0, 29, true).collect();
        assert_eq!(
            run(&mut alert, &samples),
            vec![(10_000, AlertState::Raised)]
        );
    }

    #[test]
    fn clearing_waits_for_the_clear_debounce_and_a_relapse_restarts_it() {
        let mut alert = Lifecycle::default();
        let mut samples: Vec<_> = seconds(0, 10, true).collect();
        samples.extend(seconds(11, 14, false));
        samples.push((15_000, true)); // relapse: the clear debounce starts over
        samples.extend(seconds(16, 22, false));
        assert_eq!(
            run(&mut alert, &samples),
            vec![(10_000, AlertState::Raised), (21_000, AlertState::Cleared)]
        );
    }

    #[test]
    fn a_new_raise_waits_for_the_minimum_re_raise_interval() {
        let mut alert = Lifecycle::default();
        let mut samples: Vec<_> = seconds(0, 10, true).collect();
        samples.extend(seconds(11, 16, false));
        samples.extend(seconds(17, 80, true));
        assert_eq!(
            run(&mut alert, &samples),
            vec![
                (10_000, AlertState::Raised),
                (16_000, AlertState::Cleared),
                (27_000, AlertState::HeldBack),
                (70_000, AlertState::Raised)
            ]
        );
    }

    #[test]
    fn a_flickering_condition_stays_one_alert_within_the_hold_off() {
        let timing = Timing {
            hold_off_ms: 3_600_000,
            ..DEBOUNCED
        };
        let mut alert = Lifecycle::default();
        // Raised, cleared, then on for 20 s and off for 20 s, for half an hour.
        let mut samples: Vec<_> = seconds(0, 10, true).chain(seconds(11, 20, false)).collect();
        for cycle in 0..45 {
            let start = 21 + cycle * 40;
            samples.extend(seconds(start, start + 19, true));
            samples.extend(seconds(start + 20, start + 39, false));
        }
        let steps = run_with(&mut alert, &timing, &samples);
        let raised = steps.iter().filter(|s| s.1 == AlertState::Raised).count();
        let held = steps.iter().filter(|s| s.1 == AlertState::HeldBack).count();
        assert_eq!(raised, 1, "{steps:?}");
        assert_eq!(held, 45, "each stretch past the debounce is held back once");
    }

    #[test]
    fn after_the_hold_off_a_raise_carries_how_many_were_held_back() {
        let timing = Timing {
            hold_off_ms: 100_000,
            ..DEBOUNCED
        };
        let mut alert = Lifecycle::default();
        let mut steps = Vec::new();
        let mut feed = |from: i64, to: i64, holds: bool| {
            for s in from..=to {
                if let Some(step) = alert.step(holds, s * 1000, &timing) {
                    steps.push((s, step));
                }
            }
        };
        feed(0, 10, true); // raised at 10 s
        feed(11, 16, false); // cleared at 16 s: no raise before 116 s
        feed(17, 40, true); // held back at 27 s
        feed(41, 50, false);
        feed(51, 130, true); // held back at 61 s, raised at 116 s
        let states: Vec<_> = steps.iter().map(|(s, step)| (*s, *step)).collect();
        assert_eq!(
            states,
            vec![
                (
                    10,
                    Step {
                        state: AlertState::Raised,
                        held_back: 0
                    }
                ),
                (
                    16,
                    Step {
                        state: AlertState::Cleared,
                        held_back: 0
                    }
                ),
                (
                    27,
                    Step {
                        state: AlertState::HeldBack,
                        held_back: 1
                    }
                ),
                (
                    61,
                    Step {
                        state: AlertState::HeldBack,
                        held_back: 2
                    }
                ),
                (
                    116,
                    Step {
                        state: AlertState::Raised,
                        held_back: 2
                    }
                ),
            ]
        );
    }

    #[test]
    fn a_condition_shorter_than_the_debounce_is_not_counted_as_held_back() {
        let timing = Timing {
            hold_off_ms: 1_000_000,
            ..DEBOUNCED
        };
        let mut alert = Lifecycle::default();
        let mut samples: Vec<_> = seconds(0, 10, true).chain(seconds(11, 16, false)).collect();
        samples.extend(seconds(17, 20, true));
        samples.extend(seconds(21, 30, false));
        assert_eq!(
            run_with(&mut alert, &timing, &samples),
            vec![(10_000, AlertState::Raised), (16_000, AlertState::Cleared)]
        );
    }
}
