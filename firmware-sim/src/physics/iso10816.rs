//! ISO 10816-1 vibration severity zones from velocity RMS (10–1000 Hz, mm/s).
//!
//! | class | machines                                  | A/B  | B/C | C/D  |
//! |-------|-------------------------------------------|------|-----|------|
//! | I     | small, up to 15 kW                        | 0.71 | 1.8 | 4.5  |
//! | II    | medium, 15–75 kW (default)                | 1.12 | 2.8 | 7.1  |
//! | III   | large, rigid foundation                   | 1.8  | 4.5 | 11.2 |
//! | IV    | large, soft foundation                    | 2.8  | 7.1 | 18.0 |
//!
//! Zone A: newly commissioned; B: unrestricted long-term operation; C: restricted, plan
//! maintenance; D: damage likely. A value exactly on a boundary belongs to the higher zone.

use serde::{Deserialize, Serialize};

/// ISO 10816-1 machine class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
pub enum IsoClass {
    /// Small machines.
    I,
    /// Medium machines (the default).
    #[default]
    II,
    /// Large machines on rigid foundations.
    III,
    /// Large machines on soft foundations.
    IV,
}

impl IsoClass {
    /// The A/B, B/C and C/D boundaries, mm/s RMS.
    pub fn boundaries(self) -> [f64; 3] {
        match self {
            IsoClass::I => [0.71, 1.8, 4.5],
            IsoClass::II => [1.12, 2.8, 7.1],
            IsoClass::III => [1.8, 4.5, 11.2],
            IsoClass::IV => [2.8, 7.1, 18.0],
        }
    }

    /// The zone of a velocity RMS in mm/s.
    pub fn zone(self, velocity_rms_mm_s: f64) -> Zone {
        let [ab, bc, cd] = self.boundaries();
        match velocity_rms_mm_s {
            v if v >= cd => Zone::D,
            v if v >= bc => Zone::C,
            v if v >= ab => Zone::B,
            _ => Zone::A,
        }
    }
}

/// ISO 10816 evaluation zone, ordered from good to bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Zone {
    /// Good.
    A,
    /// Satisfactory.
    B,
    /// Unsatisfactory.
    C,
    /// Unacceptable.
    D,
}

impl Zone {
    /// 1 for A up to 4 for D, as the `iso_zone` register reports it.
    pub fn number(self) -> u8 {
        match self {
            Zone::A => 1,
            Zone::B => 2,
            Zone::C => 3,
            Zone::D => 4,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_belong_to_the_higher_zone() {
        assert_eq!(IsoClass::II.zone(1.11), Zone::A);
        assert_eq!(IsoClass::II.zone(1.12), Zone::B);
        assert_eq!(IsoClass::II.zone(2.8), Zone::C);
        assert_eq!(IsoClass::II.zone(7.1), Zone::D);
        assert_eq!(IsoClass::IV.zone(7.0), Zone::B);
    }
}
