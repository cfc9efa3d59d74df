//! Faults of a serial line (`crc_error`, `garbled`), decided per frame and applied to bytes.
//!
//! Whether frame `n` of a device is hit is `uniform(key(seed, device, fault), n) < p`: a pure
//! function of the seed and the frame counter, like every other random choice.

use crate::{physics::noise, plant::Plant, timeline::Effect};

/// What happens to one frame on the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Impairment {
    /// Sent as is.
    Clean,
    /// Sent with a wrong CRC or checksum.
    BadCrc,
    /// Mangled: bytes flipped, cut short or noise inserted.
    Garbled,
}

/// The impairment of frame `n` of `device` at plant time `t`.
pub(crate) fn impairment(plant: &Plant, device: &str, t: f64, n: u64) -> Impairment {
    for f in plant.timeline().device_faults(device, None, t) {
        let key = noise::key(plant.seed(), &["line", device, &f.interval.id.to_string()]);
        match f.effect {
            Effect::CrcError { probability } if noise::uniform(key, n) < probability => {
                return Impairment::BadCrc;
            }
            Effect::Garbled { probability } if noise::uniform(key, n) < probability => {
                return Impairment::Garbled;
            }
            _ => {}
        }
    }
    Impairment::Clean
}

/// Mangles `bytes` in one of three ways chosen by `(key, n)`: flip one to three bytes, cut
/// the frame at a random point, or insert one to four random bytes.
pub(crate) fn garble(bytes: &mut Vec<u8>, seed: u64, n: u64) {
    if bytes.is_empty() {
        return;
    }
    let key = noise::key(seed, &["garble"]);
    let pick = |i: u64, len: usize| {
        (noise::uniform(key, n.wrapping_mul(16).wrapping_add(i)) * len as f64) as usize
    };
    match pick(0, 3) {
        0 => {
            for i in 0..=pick(1, 3) as u64 {
                let at = pick(2 + i, bytes.len());
                bytes[at] ^= 1 << pick(6 + i, 8);
            }
        }
        1 => bytes.truncate(pick(1, bytes.len()).max(1)),
        _ => {
            let at = pick(1, bytes.len());
            for i in 0..=pick(2, 4) as u64 {
                bytes.insert(at, pick(3 + i, 256) as u8);
            }
        }
    }
}
