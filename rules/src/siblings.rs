//! Groups of like sensors at run time: each sensor of a group is judged against its siblings,
//! so that a move the whole group makes (a change of load, of speed, of the weather) is taken
//! for the operating point and a lone departure for a fault.
//!
//! The groups come from the rule files (`[[group]]`) or are inferred by the caller from names
//! that differ only in their digits ([`infer_groups`]). [`Siblings`] keeps, for every member,
//! its latest sample and its long-run level, and hands each new sample its **reference**: the
//! sensor's own level times the median of its siblings' latest samples over their levels.
//! The sample over that reference is the `departure` feature: 1 while the sensor moves with
//! its group.
//!
//! Why each member over its own level: like sensors still sit at different levels (the drive
//! end vibrates more than the free end). Without the levels, a median of raw samples jumps
//! from one member to another as one of them rises, and a healthy sibling seems to depart
//! (measured: with four bearings, the failing one pulled the lowest one's ratio down 20 % and
//! raised it first). Over their levels, healthy siblings sit near 1 and the median of the
//! others ignores a single failing one.
//!
//! A member that has not reported yet does not count; until one sibling has, there is no
//! reference and the departure is undefined (judged as not holding).
//!
//! Memory: three numbers and a flag per member, and one scratch buffer as large as the largest
//! group; nothing allocates per sample.

use std::collections::HashMap;

/// The time scale of each member's long-run level: long, so that a fault that grows over
/// days departs from it, yet a repair or a new sensor is learned within a week or two.
pub const LEVEL_HORIZON_MS: i64 = 7 * 24 * 3_600_000;

/// One member's latest sample and long-run level.
#[derive(Debug, Clone, Copy, Default)]
struct Member {
    latest: f64,
    /// The mean of its samples over [`LEVEL_HORIZON_MS`] (the plain mean until that has
    /// passed).
    level: f64,
    last_ms: i64,
    seen: u32,
}

impl Member {
    fn learn(&mut self, time_ms: i64, value: f64) {
        self.seen = self.seen.saturating_add(1);
        let dt = time_ms.saturating_sub(self.last_ms).max(0) as f64;
        let weight = if self.seen == 1 {
            1.0
        } else {
            (-libm::expm1(-dt / LEVEL_HORIZON_MS as f64)).max(1.0 / f64::from(self.seen))
        };
        self.level += weight * (value - self.level);
        self.latest = value;
        self.last_ms = self.last_ms.max(time_ms);
    }

    /// The latest sample over the level, once there is a positive level to divide by.
    fn relative(&self) -> Option<f64> {
        (self.seen > 0 && self.level > 0.0).then(|| self.latest / self.level)
    }
}

/// Which group each sensor is in, and every member's latest sample and level.
#[derive(Debug, Clone, Default)]
pub struct Siblings {
    /// For each sensor id: its group and its place in it.
    member_of: HashMap<String, (usize, usize)>,
    groups: Vec<Vec<Member>>,
    /// The other members' relative samples of one group, for the median.
    scratch: Vec<f64>,
}

impl Siblings {
    /// Groups of sensor ids. A sensor named in two groups stays in the first; a group left
    /// with fewer than two sensors is dropped.
    pub fn new<G, S>(groups: G) -> Self
    where
        G: IntoIterator<Item = S>,
        S: IntoIterator<Item = String>,
    {
        let mut siblings = Self::default();
        for group in groups {
            let index = siblings.groups.len();
            let mut members: Vec<String> = Vec::new();
            for id in group {
                if !siblings.member_of.contains_key(&id) && !members.contains(&id) {
                    members.push(id);
                }
            }
            if members.len() < 2 {
                continue;
            }
            for (place, id) in members.iter().enumerate() {
                siblings.member_of.insert(id.clone(), (index, place));
            }
            siblings.groups.push(vec![Member::default(); members.len()]);
        }
        siblings
    }

    /// Whether `sensor` is in a group.
    pub fn is_grouped(&self, sensor: &str) -> bool {
        self.member_of.contains_key(sensor)
    }

    /// Learns `value` as `sensor`'s sample at `time_ms` and returns its reference: its own
    /// level times the median of its siblings' latest samples over their levels (see the
    /// module docs). `None` for a sensor without a group, before its own first finite sample,
    /// and until one of its siblings has reported. Non-finite values are not learned.
    ///
    /// The siblings' latest samples may be of the instant before, for the members that report
    /// first: a move of the whole group then shows, for one sample, as a departure of those.
    /// Where the samples of one instant come together (a row of a recorded file), [`learn`]
    /// them all first and then take each one's [`reference`].
    ///
    /// [`learn`]: Siblings::learn
    /// [`reference`]: Siblings::reference
    pub fn observe(&mut self, sensor: &str, time_ms: i64, value: f64) -> Option<f64> {
        self.learn(sensor, time_ms, value);
        self.reference(sensor)
    }

    /// Learns `value` as `sensor`'s sample at `time_ms` (nothing for a sensor without a group
    /// or a non-finite value).
    pub fn learn(&mut self, sensor: &str, time_ms: i64, value: f64) {
        if let Some(&(group, place)) = self.member_of.get(sensor) {
            if value.is_finite() {
                self.groups[group][place].learn(time_ms, value);
            }
        }
    }

    /// `sensor`'s reference from what has been learned: see [`Siblings::observe`].
    pub fn reference(&mut self, sensor: &str) -> Option<f64> {
        let &(group, place) = self.member_of.get(sensor)?;
        let members = &self.groups[group];
        self.scratch.clear();
        self.scratch.extend(
            members
                .iter()
                .enumerate()
                .filter(|&(i, _)| i != place)
                .filter_map(|(_, m)| m.relative()),
        );
        let own = members[place];
        if own.seen == 0 {
            return None;
        }
        median(&mut self.scratch).map(|m| m * own.level)
    }
}

/// The median of `values` (the mean of the middle two for an even count); `None` if empty.
fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

/// Members a group inferred from names needs at the least.
pub const MIN_INFERRED_MEMBERS: usize = 3;

/// Groups inferred from sensor names: names that are the same once their digits are taken
/// out, and that have digits, form a group (`Bearing 1` … `Bearing 4`, `phase_l1` …
/// `phase_l3`). The groups come in the order of their first member.
///
/// Why names: a recorded file says nothing of kind or unit, and like channels of one machine
/// are numbered, not named apart. It can group channels that are not alike (`temp1` on a
/// motor, `temp2` on the pump it drives): name them apart, or give the groups in a rule file.
///
/// Why three at the least ([`MIN_INFERRED_MEMBERS`]): with two sensors, each is the other's
/// reference, so a departure of one is a departure of both and cannot name the failing one;
/// and a pair (`Accelerometer1RMS`, `Accelerometer2RMS` on one pump) is as often two views of
/// one thing as two like things. A rule file may still name a pair as a `[[group]]`.
pub fn infer_groups<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<Vec<String>> {
    let mut order: Vec<String> = Vec::new();
    let mut by_pattern: HashMap<String, Vec<String>> = HashMap::new();
    for name in names {
        if !name.bytes().any(|b| b.is_ascii_digit()) {
            continue;
        }
        let pattern: String = name.chars().filter(|c| !c.is_ascii_digit()).collect();
        let members = by_pattern.entry(pattern.clone()).or_default();
        if members.is_empty() {
            order.push(pattern);
        }
        if !members.iter().any(|m| m == name) {
            members.push(name.to_string());
        }
    }
    order
        .into_iter()
        .filter_map(|p| by_pattern.remove(&p))
        .filter(|members| members.len() >= MIN_INFERRED_MEMBERS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearings() -> Siblings {
        Siblings::new([(1..=4).map(|i| format!("Bearing {i}"))])
    }

    #[test]
    fn the_reference_is_the_median_of_the_other_members_relative_to_their_levels() {
        let mut s = bearings();
        assert_eq!(
            s.observe("Bearing 1", 0, 1.0),
            None,
            "no sibling has reported"
        );
        // Each member's first sample is its level: relative samples are all 1.
        assert_eq!(s.observe("Bearing 2", 0, 2.0), Some(2.0));
        assert_eq!(s.observe("Bearing 3", 0, 10.0), Some(10.0));
        assert_eq!(s.observe("Bearing 4", 0, 3.0), Some(3.0));
    }

    #[test]
    fn a_move_of_the_whole_group_leaves_the_departure_at_one_and_a_lone_rise_does_not() {
        let mut s = bearings();
        let levels = [1.0, 2.0, 10.0, 3.0];
        let names = ["Bearing 1", "Bearing 2", "Bearing 3", "Bearing 4"];
        for t in 0..100 {
            for (name, level) in names.iter().zip(levels) {
                s.observe(name, t * 600_000, level);
            }
        }
        // Everything 10 % up. Once every member has moved, every departure is 1 again.
        for (name, level) in names.iter().zip(levels) {
            s.observe(name, 100 * 600_000, 1.1 * level);
        }
        for (name, level) in names.iter().zip(levels) {
            let x = 1.1 * level;
            let reference = s
                .observe(name, 101 * 600_000, x)
                .expect("siblings reported");
            assert!(
                (x / reference - 1.0).abs() < 0.01,
                "{name}: {}",
                x / reference
            );
        }
        // Bearing 1 alone 50 % up: it departs, and its siblings do not.
        let reference = s
            .observe("Bearing 1", 102 * 600_000, 1.5 * 1.1)
            .expect("reference");
        assert!(1.5 * 1.1 / reference > 1.4);
        for (name, level) in names.iter().zip(levels).skip(1) {
            let x = 1.1 * level;
            let reference = s.observe(name, 102 * 600_000, x).expect("reference");
            assert!(
                (x / reference - 1.0).abs() < 0.02,
                "{name}: {}",
                x / reference
            );
        }
    }

    #[test]
    fn a_sensor_without_a_group_has_no_reference_and_nan_is_not_learned() {
        let mut s = bearings();
        assert!(!s.is_grouped("motor.temperature"));
        assert_eq!(s.observe("motor.temperature", 0, 40.0), None);
        s.observe("Bearing 1", 0, 1.0);
        assert_eq!(
            s.observe("Bearing 2", 0, f64::NAN),
            None,
            "no level of its own yet"
        );
        assert_eq!(
            s.observe("Bearing 1", 1, 1.0),
            None,
            "Bearing 2 never reported"
        );
    }

    #[test]
    fn a_sensor_in_two_groups_stays_in_the_first_and_a_lone_member_makes_no_group() {
        let s = Siblings::new([
            vec!["a1".to_string(), "a2".to_string()],
            vec!["a2".to_string(), "b".to_string()],
        ]);
        assert!(s.is_grouped("a1") && s.is_grouped("a2"));
        assert!(!s.is_grouped("b"), "its group lost a2 and kept one member");
    }

    #[test]
    fn names_that_differ_only_in_their_digits_are_inferred_as_a_group() {
        let names = [
            "Accelerometer1RMS",
            "Accelerometer2RMS",
            "Current",
            "Temperature",
            "Thermocouple",
            "Volume Flow RateRMS",
            "Bearing 1",
            "Bearing 2",
            "Bearing 3",
            "pump2.speed",
        ];
        assert_eq!(
            infer_groups(names),
            vec![vec!["Bearing 1", "Bearing 2", "Bearing 3"]],
            "a pair is no group: it cannot tell which of the two departs"
        );
    }
}
