//! A deterministic noise for the unit tests, which need no distribution and no crate for it.

/// Sample `i` of a noise in [-1, 1): one step of a 64-bit linear congruential generator.
pub(crate) fn noise(i: u64) -> f64 {
    let x = i
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    (x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
}
