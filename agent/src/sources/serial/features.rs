//! Block statistics of one axis over one window, in one pass and O(1) memory.
//!
//! Samples are i16 counts, so the power sums Σx, Σx², Σx³, Σx⁴ are kept as **exact
//! integers** (`i64`, and `i128` for Σx⁴): with at most [`MAX_WINDOW`] samples none can
//! overflow (|Σx³| ≤ 2¹⁶·2⁴⁵ = 2⁶¹, Σx⁴ ≤ 2⁷⁶). Nothing is rounded while samples arrive.
//!
//! At the end of the window the sums are moved, still exactly, to sums about `K`, the integer
//! nearest the mean (binomial expansion in `i128`), and only then converted to `f64`. The
//! remaining shift `d = mean − K` is at most half a count, and for integer data the variance
//! is at least `d²`, so the final central-moment formulas lose at most a few bits: the result
//! is as good as a two-pass computation (property-tested against one below).
//!
//! Features, all of the window's AC part (its mean removed), in g:
//! - `mean`: the DC part (gravity on the vertical axis, a tilted mount, sensor offset);
//! - `rms`: the standard deviation (population), as vibration RMS is usually read;
//! - `peak`: the largest |x − mean|;
//! - `crest_factor`: `peak / rms`, absent when `rms` is 0 (a stuck sensor);
//! - `kurtosis`: Pearson's `m4 / m2²` (3 for Gaussian noise, high for impacts), 0 when the
//!   window has no spread, as in the rules crate.

/// The largest window the exact sums allow (and the configuration's upper bound).
pub const MAX_WINDOW: u32 = 65_536;

/// The names of the features, in the order [`Features::values`] gives them.
pub const FEATURE_NAMES: [&str; 5] = ["mean", "rms", "peak", "crest_factor", "kurtosis"];

/// Exact power sums of one axis' counts over the current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AxisSums {
    n: u32,
    s1: i64,
    s2: i64,
    s3: i64,
    s4: i128,
    min: i16,
    max: i16,
}

impl Default for AxisSums {
    fn default() -> Self {
        Self {
            n: 0,
            s1: 0,
            s2: 0,
            s3: 0,
            s4: 0,
            min: i16::MAX,
            max: i16::MIN,
        }
    }
}

/// Central moments of a window, in counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moments {
    pub n: u32,
    pub mean: f64,
    /// Population variance `m2`.
    pub variance: f64,
    pub m3: f64,
    pub m4: f64,
    /// Largest |x − mean|.
    pub peak: f64,
}

/// The features of one axis' window, in g (crest factor and kurtosis are ratios).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Features {
    pub mean: f64,
    pub rms: f64,
    pub peak: f64,
    pub crest_factor: Option<f64>,
    pub kurtosis: f64,
}

impl Features {
    /// `(name, value)` pairs in [`FEATURE_NAMES`] order, the crest factor left out when it is
    /// undefined.
    pub fn values(&self) -> impl Iterator<Item = (&'static str, f64)> {
        self.by_index()
            .into_iter()
            .zip(FEATURE_NAMES)
            .filter_map(|(value, name)| value.map(|v| (name, v)))
    }

    /// The values in [`FEATURE_NAMES`] order, `None` where undefined.
    pub fn by_index(&self) -> [Option<f64>; 5] {
        [
            Some(self.mean),
            Some(self.rms),
            Some(self.peak),
            self.crest_factor,
            Some(self.kurtosis),
        ]
    }
}

impl AxisSums {
    /// Adds one sample. The caller keeps the count at or below [`MAX_WINDOW`].
    #[inline]
    pub fn push(&mut self, x: i16) {
        let x1 = i64::from(x);
        let x2 = x1 * x1;
        self.n += 1;
        self.s1 += x1;
        self.s2 += x2;
        self.s3 += x2 * x1;
        self.s4 += i128::from(x2 * x2);
        self.min = self.min.min(x);
        self.max = self.max.max(x);
    }

    pub fn len(&self) -> u32 {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// The window's central moments; `None` when it is empty.
    pub fn moments(&self) -> Option<Moments> {
        if self.n == 0 {
            return None;
        }
        let n = i128::from(self.n);
        let (s1, s2, s3, s4) = (
            i128::from(self.s1),
            i128::from(self.s2),
            i128::from(self.s3),
            self.s4,
        );
        // K = round(s1 / n), half away from zero: |mean − K| ≤ 1/2.
        let k = (2 * s1 + n * s1.signum()) / (2 * n);
        // Sums of (x − K)^p, exact.
        let t1 = s1 - n * k;
        let t2 = s2 - 2 * k * s1 + n * k * k;
        let t3 = s3 - 3 * k * s2 + 3 * k * k * s1 - n * k * k * k;
        let t4 = s4 - 4 * k * s3 + 6 * k * k * s2 - 4 * k * k * k * s1 + n * k * k * k * k;
        let nf = f64::from(self.n);
        let d = t1 as f64 / nf;
        let (a2, a3, a4) = (t2 as f64 / nf, t3 as f64 / nf, t4 as f64 / nf);
        let d2 = d * d;
        let variance = (a2 - d2).max(0.0);
        let m3 = a3 - 3.0 * d * a2 + 2.0 * d2 * d;
        let m4 = (a4 - 4.0 * d * a3 + 6.0 * d2 * a2 - 3.0 * d2 * d2).max(0.0);
        let kf = k as f64;
        // max − mean = (max − K) − d, computed from small exact integers.
        let above = (f64::from(self.max) - kf) - d;
        let below = d - (f64::from(self.min) - kf);
        Some(Moments {
            n: self.n,
            mean: kf + d,
            variance,
            m3,
            m4,
            peak: above.max(below).max(0.0),
        })
    }
}

impl Moments {
    /// The features in g, for a scale of `lsb_ug` micro-g per count.
    pub fn features(&self, lsb_ug: u32) -> Features {
        // counts × µg / 10⁶: one rounding fewer than multiplying by a rounded 10⁻⁶.
        let lsb = f64::from(lsb_ug);
        let g = |counts: f64| counts * lsb / 1e6;
        let rms = self.variance.sqrt();
        Features {
            mean: g(self.mean),
            rms: g(rms),
            peak: g(self.peak),
            crest_factor: (rms > 0.0).then(|| self.peak / rms),
            kurtosis: if self.variance > 0.0 {
                self.m4 / (self.variance * self.variance)
            } else {
                0.0
            },
        }
    }
}

#[cfg(test)]
mod tests {
    //! Exact cases here; the property test against a two-pass computation is in
    //! `agent/tests/serial_fuzz.rs`, beside the other references.
    use super::*;

    fn one_pass(xs: &[i16], lsb_ug: u32) -> Features {
        let mut sums = AxisSums::default();
        xs.iter().for_each(|&x| sums.push(x));
        sums.moments().expect("not empty").features(lsb_ug)
    }

    #[test]
    fn a_constant_window_has_no_spread_no_crest_factor_and_zero_kurtosis() {
        let f = one_pass(&[1000; 64], 1000);
        assert_eq!(f.mean, 1.0);
        assert_eq!((f.rms, f.peak, f.kurtosis), (0.0, 0.0, 0.0));
        assert_eq!(f.crest_factor, None);
        assert_eq!(f.values().count(), 4);
        let f = one_pass(&vec![i16::MIN; MAX_WINDOW as usize], 1000);
        assert_eq!((f.mean, f.rms), (-32.768, 0.0));
    }

    #[test]
    fn a_square_wave_has_crest_factor_one_and_kurtosis_one() {
        let xs: Vec<i16> = (0..64)
            .map(|i| if i % 2 == 0 { 1500 } else { 500 })
            .collect();
        let f = one_pass(&xs, 1000);
        assert_eq!((f.mean, f.rms, f.peak), (1.0, 0.5, 0.5));
        assert_eq!(f.crest_factor, Some(1.0));
        assert_eq!(f.kurtosis, 1.0);
    }

    #[test]
    fn the_largest_window_of_full_scale_samples_does_not_overflow() {
        // A two-point distribution: a fraction p at i16::MIN, the rest at i16::MAX.
        let xs: Vec<i16> = (0..MAX_WINDOW)
            .map(|i| if i % 3 == 0 { i16::MIN } else { i16::MAX })
            .collect();
        let n = f64::from(MAX_WINDOW);
        let p = xs.iter().filter(|&&x| x == i16::MIN).count() as f64 / n;
        let q = 1.0 - p;
        let span = 65_535.0; // i16::MAX − i16::MIN, in g at 1 g per count
        let f = one_pass(&xs, 1_000_000);
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs();
        assert!(close(f.rms, span * (p * q).sqrt()), "{f:?}");
        assert!(close(f.kurtosis, (1.0 - 3.0 * p * q) / (p * q)), "{f:?}");
        assert!(close(f.peak, span * q), "{f:?}");
    }
}
