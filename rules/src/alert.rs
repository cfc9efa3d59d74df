//! The life of one alert: raised once its condition has held long enough (debounce), cleared
//! once it has stopped holding long enough, and not raised again too soon after the last time.
//!
//! Time is the engine's clock (the largest timestamp seen so far), so recorded data whose
//! timestamps jitter backwards can never make a debounce run backwards.

/// Where an alert went on a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertState {
    Raised,
    Cleared,
}

impl AlertState {
    pub const fn name(self) -> &'static str {
        match self {
            AlertState::Raised => "raised",
            AlertState::Cleared => "cleared",
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
    has_raised: bool,
    /// Since when the condition has been pointing at the other state (if `is_pending`).
    pending_since: i64,
    /// When the alert was last raised (if `has_raised`).
    last_raised: i64,
}

impl Lifecycle {
    pub fn is_raised(&self) -> bool {
        self.raised
    }

    /// Feeds whether the condition holds at `now`; returns a transition when there is one.
    pub fn step(&mut self, holds: bool, now: i64, timing: &Timing) -> Option<AlertState> {
        if holds == self.raised {
            self.set_pending_since(None);
            return None;
        }
        let since = match self.pending_since() {
            Some(since) => since,
            None => {
                self.set_pending_since(Some(now));
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
            return Some(AlertState::Cleared);
        }
        let spaced = self
            .last_raised()
            .is_none_or(|last| now.saturating_sub(last) >= timing.min_reraise_ms);
        if held_for < timing.raise_after_ms || !spaced {
            return None;
        }
        self.raised = true;
        self.set_pending_since(None);
        (self.has_raised, self.last_raised) = (true, now);
        Some(AlertState::Raised)
    }

    fn pending_since(&self) -> Option<i64> {
        self.is_pending.then_some(self.pending_since)
    }

    fn set_pending_since(&mut self, since: Option<i64>) {
        (self.is_pending, self.pending_since) = (since.is_some(), since.unwrap_or(0));
    }

    fn last_raised(&self) -> Option<i64> {
        self.has_raised.then_some(self.last_raised)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBOUNCED: Timing = Timing {
        raise_after_ms: 10_000,
        clear_after_ms: 5_000,
        min_reraise_ms: 60_000,
    };

    fn run(lifecycle: &mut Lifecycle, samples: &[(i64, bool)]) -> Vec<(i64, AlertState)> {
        samples
            .iter()
            .filter_map(|&(t, holds)| lifecycle.step(holds, t, &DEBOUNCED).map(|s| (t, s)))
            .collect()
    }

    #[test]
    fn a_condition_shorter_than_the_debounce_raises_nothing() {
        let mut alert = Lifecycle::default();
        let samples: Vec<_> = (0..9)
            .map(|s| (s * 1000, true))
            .chain([(9000, false)])
            .collect();
        assert_eq!(run(&mut alert, &samples), vec![]);
    }

    #[test]
    fn a_condition_that_holds_through_the_debounce_raises_once() {
        let mut alert = Lifecycle::default();
        let samples: Vec<_> = (0..30).map(|s| (s * 1000, true)).collect();
        assert_eq!(
            run(&mut alert, &samples),
            vec![(10_000, AlertState::Raised)]
        );
    }

    #[test]
    fn clearing_waits_for_the_clear_debounce_and_a_relapse_restarts_it() {
        let mut alert = Lifecycle::default();
        let mut samples: Vec<_> = (0..=10).map(|s| (s * 1000, true)).collect();
        samples.extend((11..=14).map(|s| (s * 1000, false)));
        samples.push((15_000, true)); // relapse: the clear debounce starts over
        samples.extend((16..=22).map(|s| (s * 1000, false)));
        assert_eq!(
            run(&mut alert, &samples),
            vec![(10_000, AlertState::Raised), (21_000, AlertState::Cleared)]
        );
    }

    #[test]
    fn a_new_raise_waits_for_the_minimum_re_raise_interval() {
        let mut alert = Lifecycle::default();
        let mut samples: Vec<_> = (0..=10).map(|s| (s * 1000, true)).collect();
        samples.extend((11..=16).map(|s| (s * 1000, false)));
        samples.extend((17..=80).map(|s| (s * 1000, true)));
        assert_eq!(
            run(&mut alert, &samples),
            vec![
                (10_000, AlertState::Raised),
                (16_000, AlertState::Cleared),
                (70_000, AlertState::Raised)
            ]
        );
    }
}
