//! Where a sensor's engine keeps the state of its rules, sized to the rules it runs.
//!
//! The state is one alert [`Lifecycle`] per rule, one [`DetectorState`] per condition, and one
//! [`UnusualState`] per `unusual` condition (1.2 KiB: kept apart, so that the other conditions
//! do not pay for it). The
//! detector states of all rules sit in one flat run, rule after rule in the order of the rule
//! slice, each rule taking as many as it has conditions: the engine walks the run alongside
//! the rules, so no offsets are stored. A sensor with three one-condition rules pays for three
//! detector states, not for the worst case of [`MAX_RULES_PER_SENSOR`] rules of
//! [`MAX_CONDITIONS`] conditions each (2.6 KiB a sensor, most of the rules' memory on a
//! gateway of thousands of sensors).
//!
//! Two stores, chosen by the engine's type parameter:
//! - [`Inline`], the default and the no_std one: fixed capacity in the engine itself, no
//!   allocation. Its capacity is what the sensor may ever need, which is what a microcontroller
//!   must reserve anyway; a build for one can lower it.
//! - [`Boxed`], with `std`: two boxed slices of exactly the lengths asked, allocated once when
//!   the engine is built and never again. The agent's runners use it.

use heapless::Vec;

use crate::alert::Lifecycle;
use crate::detect::DetectorState;
use crate::engine::{MAX_CONDITIONS, MAX_RULES_PER_SENSOR};
use crate::unusual::UnusualState;

/// Conditions of all the rules of one sensor, at most.
pub const MAX_CONDITIONS_PER_SENSOR: usize = MAX_RULES_PER_SENSOR * MAX_CONDITIONS;

/// `unusual` conditions of one sensor, at most, in the fixed-capacity store.
pub const MAX_UNUSUAL_PER_SENSOR: usize = 2;

/// A store has no room for that many rules or conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreFull {
    Rules { rules: usize, capacity: usize },
    Conditions { conditions: usize, capacity: usize },
    Unusual { unusual: usize, capacity: usize },
}

/// The mutable parts of a store at once: lifecycles, detector states, `unusual` states.
pub type StatesMut<'a> = (
    &'a mut [Lifecycle],
    &'a mut [DetectorState],
    &'a mut [UnusualState],
);

/// Room for the state of a sensor's rules; see the module docs.
pub trait RuleStates: Sized {
    /// `rules` lifecycles, `conditions` detector states and `unusual` states, all at rest.
    fn at_rest(rules: usize, conditions: usize, unusual: usize) -> Result<Self, StoreFull>;

    /// One per rule.
    fn lifecycles(&self) -> &[Lifecycle];

    /// The lifecycles, the flat run of detector states and the run of `unusual` states (in
    /// the order of their conditions), all mutable at once.
    fn split_mut(&mut self) -> StatesMut<'_>;
}

/// Fixed capacity, inside the engine; see the module docs.
#[derive(Debug, Clone, Default)]
pub struct Inline<
    const RULES: usize = MAX_RULES_PER_SENSOR,
    const CONDITIONS: usize = MAX_CONDITIONS_PER_SENSOR,
> {
    lifecycles: Vec<Lifecycle, RULES>,
    detectors: Vec<DetectorState, CONDITIONS>,
    unusual: Vec<UnusualState, MAX_UNUSUAL_PER_SENSOR>,
}

impl<const RULES: usize, const CONDITIONS: usize> RuleStates for Inline<RULES, CONDITIONS> {
    fn at_rest(rules: usize, conditions: usize, unusual: usize) -> Result<Self, StoreFull> {
        let mut store = Self::default();
        store
            .lifecycles
            .resize_default(rules)
            .map_err(|()| StoreFull::Rules {
                rules,
                capacity: RULES,
            })?;
        store
            .detectors
            .resize_default(conditions)
            .map_err(|()| StoreFull::Conditions {
                conditions,
                capacity: CONDITIONS,
            })?;
        store
            .unusual
            .resize_default(unusual)
            .map_err(|()| StoreFull::Unusual {
                unusual,
                capacity: MAX_UNUSUAL_PER_SENSOR,
            })?;
        Ok(store)
    }

    fn lifecycles(&self) -> &[Lifecycle] {
        &self.lifecycles
    }

    fn split_mut(&mut self) -> StatesMut<'_> {
        (&mut self.lifecycles, &mut self.detectors, &mut self.unusual)
    }
}

/// Exactly the lengths asked, on the heap; see the module docs.
#[cfg(feature = "std")]
#[derive(Debug, Clone)]
pub struct Boxed {
    lifecycles: Box<[Lifecycle]>,
    detectors: Box<[DetectorState]>,
    unusual: Box<[UnusualState]>,
}

#[cfg(feature = "std")]
impl RuleStates for Boxed {
    fn at_rest(rules: usize, conditions: usize, unusual: usize) -> Result<Self, StoreFull> {
        Ok(Self {
            lifecycles: vec![Lifecycle::default(); rules].into_boxed_slice(),
            detectors: vec![DetectorState::default(); conditions].into_boxed_slice(),
            unusual: vec![UnusualState::default(); unusual].into_boxed_slice(),
        })
    }

    fn lifecycles(&self) -> &[Lifecycle] {
        &self.lifecycles
    }

    fn split_mut(&mut self) -> StatesMut<'_> {
        (&mut self.lifecycles, &mut self.detectors, &mut self.unusual)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inline_store_refuses_more_than_its_capacity() {
        assert!(Inline::<2, 3>::at_rest(2, 3, 2).is_ok());
        assert_eq!(
            Inline::<2, 3>::at_rest(3, 3, 0).err(),
            Some(StoreFull::Rules {
                rules: 3,
                capacity: 2
            })
        );
        assert_eq!(
            Inline::<2, 3>::at_rest(2, 4, 0).err(),
            Some(StoreFull::Conditions {
                conditions: 4,
                capacity: 3
            })
        );
        assert_eq!(
            Inline::<2, 3>::at_rest(2, 3, 3).err(),
            Some(StoreFull::Unusual {
                unusual: 3,
                capacity: MAX_UNUSUAL_PER_SENSOR
            })
        );
    }

    /// Every sensor holds one of these per rule and per condition: their layouts are documented
    /// and chosen for size (see `Lifecycle` and `DetectorState`).
    #[cfg(target_pointer_width = "64")]
    #[test]
    fn the_state_of_a_rule_and_of_a_condition_stays_as_small_as_documented() {
        assert_eq!(core::mem::size_of::<Lifecycle>(), 24);
        assert_eq!(core::mem::size_of::<DetectorState>(), 176);
    }

    #[cfg(feature = "std")]
    #[test]
    fn a_boxed_store_holds_exactly_what_was_asked() {
        let mut store = Boxed::at_rest(3, 5, 1).expect("a boxed store is never full");
        assert_eq!(store.lifecycles().len(), 3);
        assert_eq!(store.split_mut().1.len(), 5);
        assert_eq!(store.split_mut().2.len(), 1);
    }
}
