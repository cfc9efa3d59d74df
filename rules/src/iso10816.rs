//! ISO 10816-3 evaluation zones for the broadband vibration velocity (mm/s RMS, 10–1000 Hz) of
//! industrial machines above 15 kW measured on the bearing housings.
//!
//! - Zone A: newly commissioned machines.
//! - Zone B: acceptable for unrestricted long-term operation.
//! - Zone C: unsatisfactory for long-term continuous operation; plan maintenance.
//! - Zone D: severe enough to cause damage.

/// Machine group of ISO 10816-3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MachineGroup {
    /// Group 1: large machines, 300 kW to 50 MW; electrical machines with shaft height ≥ 315 mm.
    Large,
    /// Group 2: medium machines, 15 kW to 300 kW; electrical machines with shaft height 160–315 mm.
    Medium,
    /// Group 3: pumps above 15 kW with a separate driver (multivane impeller).
    PumpSeparateDriver,
    /// Group 4: pumps above 15 kW with an integrated driver.
    PumpIntegratedDriver,
}

impl MachineGroup {
    /// From the standard's group number, 1 to 4.
    pub fn from_number(group: i64) -> Option<Self> {
        match group {
            1 => Some(MachineGroup::Large),
            2 => Some(MachineGroup::Medium),
            3 => Some(MachineGroup::PumpSeparateDriver),
            4 => Some(MachineGroup::PumpIntegratedDriver),
            _ => None,
        }
    }
}

/// How the machine is supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Foundation {
    Rigid,
    Flexible,
}

/// An evaluation zone, A (best) to D (worst).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Zone {
    A,
    B,
    C,
    D,
}

impl Zone {
    pub const fn letter(self) -> char {
        match self {
            Zone::A => 'A',
            Zone::B => 'B',
            Zone::C => 'C',
            Zone::D => 'D',
        }
    }

    pub fn from_letter(letter: &str) -> Option<Self> {
        match letter {
            "A" => Some(Zone::A),
            "B" => Some(Zone::B),
            "C" => Some(Zone::C),
            "D" => Some(Zone::D),
            _ => None,
        }
    }
}

/// The zone boundaries A/B, B/C and C/D in mm/s RMS.
pub const fn boundaries(group: MachineGroup, foundation: Foundation) -> [f64; 3] {
    use Foundation::*;
    use MachineGroup::*;
    match (group, foundation) {
        (Large | PumpSeparateDriver, Rigid) => [2.3, 4.5, 7.1],
        (Large | PumpSeparateDriver, Flexible) => [3.5, 7.1, 11.0],
        (Medium | PumpIntegratedDriver, Rigid) => [1.4, 2.8, 4.5],
        (Medium | PumpIntegratedDriver, Flexible) => [2.3, 4.5, 7.1],
    }
}

/// The velocity at which `zone` begins (`None` for zone A, which begins at 0).
pub const fn zone_start(group: MachineGroup, foundation: Foundation, zone: Zone) -> Option<f64> {
    let b = boundaries(group, foundation);
    match zone {
        Zone::A => None,
        Zone::B => Some(b[0]),
        Zone::C => Some(b[1]),
        Zone::D => Some(b[2]),
    }
}

/// The zone of a velocity RMS in mm/s; a value on a boundary belongs to the worse zone.
pub fn zone_of(group: MachineGroup, foundation: Foundation, velocity_rms: f64) -> Zone {
    let [ab, bc, cd] = boundaries(group, foundation);
    if velocity_rms >= cd {
        Zone::D
    } else if velocity_rms >= bc {
        Zone::C
    } else if velocity_rms >= ab {
        Zone::B
    } else {
        Zone::A
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medium_machines_on_rigid_foundations_use_the_standard_boundaries() {
        let zone = |v| zone_of(MachineGroup::Medium, Foundation::Rigid, v);
        assert_eq!(zone(1.0), Zone::A);
        assert_eq!(zone(1.4), Zone::B);
        assert_eq!(zone(2.79), Zone::B);
        assert_eq!(zone(2.8), Zone::C);
        assert_eq!(zone(4.5), Zone::D);
    }

    #[test]
    fn flexible_foundations_tolerate_more_vibration_than_rigid_ones() {
        for group in 1..=4 {
            let group = MachineGroup::from_number(group).expect("1 to 4 are groups");
            let rigid = boundaries(group, Foundation::Rigid);
            let flexible = boundaries(group, Foundation::Flexible);
            assert!(rigid.iter().zip(flexible).all(|(r, f)| *r < f));
        }
    }
}
