//! Deterministic, random-access pseudo-randomness: a counter-based generator.
//!
//! Every random quantity of the plant (sensor noise, impact timing, spikes, which request a
//! fault hits) is `f(key, n)`: a SplitMix64 hash of a key (made from the seed and the names
//! of what it belongs to) and an index. No generator state is carried between calls, so a
//! value depends only on (seed, scenario, index), never on the order or timing of queries.
//! That is what makes "same seed, byte-identical output" hold for every device.

/// SplitMix64's finalizer: a bijective 64-bit mix with good avalanche.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A key from a seed and names (machine id, device id, purpose), stable across runs.
pub fn key(seed: u64, parts: &[&str]) -> u64 {
    // FNV-1a over the parts, separated so that ("ab","c") differs from ("a","bc").
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for part in parts {
        for b in part.bytes().chain(std::iter::once(0xFF)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01B3);
        }
    }
    mix(seed ^ mix(h))
}

/// Derives a sub-key, e.g. one per axis.
pub fn subkey(key: u64, n: u64) -> u64 {
    mix(key ^ mix(n.wrapping_add(0x5851_F42D_4C95_7F2D)))
}

/// Uniform in `[0, 1)`.
pub fn uniform(key: u64, n: u64) -> f64 {
    (mix(key ^ mix(n)) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Standard normal (Box–Muller on two independent uniforms).
pub fn gaussian(key: u64, n: u64) -> f64 {
    let u1 = 1.0 - uniform(key, n.wrapping_mul(2));
    let u2 = uniform(key, n.wrapping_mul(2).wrapping_add(1));
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaussian_has_unit_variance_and_zero_mean() {
        let k = key(7, &["noise"]);
        let n = 200_000;
        let (mut sum, mut sq) = (0.0, 0.0);
        for i in 0..n {
            let g = gaussian(k, i);
            sum += g;
            sq += g * g;
        }
        let mean = sum / n as f64;
        let var = sq / n as f64 - mean * mean;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "variance {var}");
    }

    #[test]
    fn keys_depend_on_seed_and_on_the_split_of_names() {
        assert_ne!(key(1, &["a"]), key(2, &["a"]));
        assert_ne!(key(1, &["ab", "c"]), key(1, &["a", "bc"]));
        assert_eq!(key(1, &["motor", "x"]), key(1, &["motor", "x"]));
    }
}
