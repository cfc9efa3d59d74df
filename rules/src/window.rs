//! A sliding window over the last `len` samples of one sensor, with O(1) statistics.
//!
//! # Invariants
//! - Memory is fixed at compile time: `N` slots of value and timestamp, and two index deques
//!   of capacity `N`. Nothing allocates; the configured length `len <= N` is chosen at runtime.
//!   The length, the positions and the counts kept beside the slots are `u32`, half a word
//!   (`u16` would save 8 more bytes, but cost about 5 % of the push throughput, measured on
//!   x86-64). The deques hold slot numbers of type `I` ([`SlotIndex`]): `u8` for windows of up
//!   to 256 samples halves them.
//! - Every statistic is updated in O(1) per sample (min and max in amortised O(1) through
//!   monotonic deques). Nothing rescans the window on the hot path.
//! - Power sums are kept of `x - shift`, where `shift` is a recent mean. Shifting keeps the sums
//!   small when the signal sits far from zero (a temperature of 80 °C with 0.05 °C noise), so
//!   the central moments derived from them do not cancel catastrophically. Every `len` samples
//!   the sums are recomputed exactly from the window around a new shift: rounding error can
//!   never accumulate for longer than one window, and the rebase costs one pass per `len`
//!   samples, O(1) amortised.
//! - Only finite values may enter; the engine rejects NaN and infinities before they get here.

use heapless::Deque;

/// The statistics of a window as it stands, computed on demand from the running sums.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moments {
    /// Samples in the window.
    pub count: usize,
    pub mean: f64,
    /// Population variance (divisor `n`).
    pub variance: f64,
    /// Third and fourth central moments (divisor `n`).
    pub m3: f64,
    pub m4: f64,
}

impl Moments {
    /// Sample standard deviation (divisor `n - 1`), the one a z-score wants; 0 for one sample.
    pub fn std_dev(&self) -> f64 {
        if self.count < 2 {
            return 0.0;
        }
        libm::sqrt(self.variance * self.count as f64 / (self.count - 1) as f64)
    }

    /// Root mean square of the raw values: `sqrt(mean² + variance)`.
    pub fn rms(&self) -> f64 {
        libm::sqrt(self.mean * self.mean + self.variance)
    }

    /// Skewness `m3 / m2^1.5`; 0 when the window has no spread.
    pub fn skewness(&self) -> f64 {
        if self.variance <= 0.0 {
            return 0.0;
        }
        self.m3 / libm::pow(self.variance, 1.5)
    }

    /// Pearson kurtosis `m4 / m2²` (3 for a Gaussian, the convention of vibration analysis);
    /// 0 when the window has no spread.
    pub fn kurtosis(&self) -> f64 {
        if self.variance <= 0.0 {
            return 0.0;
        }
        self.m4 / (self.variance * self.variance)
    }
}

/// The type of a slot number in a window's min and max deques. `u8` halves the deques of a
/// window of up to 256 samples (the agent's default window is 60); `u16`, the default, serves
/// any window.
pub trait SlotIndex: Copy + PartialEq + core::fmt::Debug {
    /// The largest capacity `N` of a window whose slots this type numbers.
    const SLOTS: usize;
    /// `slot` must be below [`SlotIndex::SLOTS`].
    fn from_slot(slot: usize) -> Self;
    fn slot(self) -> usize;
}

impl SlotIndex for u8 {
    const SLOTS: usize = 1 << u8::BITS;
    fn from_slot(slot: usize) -> Self {
        slot as u8
    }
    fn slot(self) -> usize {
        usize::from(self)
    }
}

impl SlotIndex for u16 {
    const SLOTS: usize = 1 << u16::BITS;
    fn from_slot(slot: usize) -> Self {
        slot as u16
    }
    fn slot(self) -> usize {
        usize::from(self)
    }
}

/// A sliding window of at most `N` samples, whose deques number slots with `I`; see the module
/// docs for its invariants.
#[derive(Debug, Clone)]
pub struct Window<const N: usize, I: SlotIndex = u16> {
    values: [f64; N],
    times_ms: [i64; N],
    /// Configured length, `1..=N`.
    len: u32,
    /// Slot of the oldest sample.
    head: u32,
    count: u32,
    pushes_since_rebase: u32,
    shift: f64,
    /// Sums of `d = x - shift` to the powers 1 to 4.
    s1: f64,
    s2: f64,
    s3: f64,
    s4: f64,
    /// Time origin for the slope sums, so that `t` stays small.
    t0_ms: i64,
    /// Sums of `t = time - t0` (in ms), `t²` and `t·d`, for the least-squares slope.
    st: f64,
    stt: f64,
    std: f64,
    /// Slots in decreasing (max) or increasing (min) value order; front is the extreme.
    max_slots: Deque<I, N>,
    min_slots: Deque<I, N>,
}

/// The window length asked for is 0 or larger than the window's capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidLength {
    pub requested: usize,
    pub capacity: usize,
}

impl<const N: usize, I: SlotIndex> Window<N, I> {
    const FITS: () = assert!(
        N > 0 && N <= I::SLOTS,
        "window capacity must fit its slot index"
    );

    /// An empty window that holds the last `len` samples.
    pub fn new(len: usize) -> Result<Self, InvalidLength> {
        #[allow(clippy::let_unit_value)]
        let () = Self::FITS;
        if len == 0 || len > N {
            return Err(InvalidLength {
                requested: len,
                capacity: N,
            });
        }
        Ok(Self {
            values: [0.0; N],
            times_ms: [0; N],
            // Cannot truncate: `len <= N <= 2^16` (checked above).
            len: len as u32,
            head: 0,
            count: 0,
            shift: 0.0,
            s1: 0.0,
            s2: 0.0,
            s3: 0.0,
            s4: 0.0,
            t0_ms: 0,
            st: 0.0,
            stt: 0.0,
            std: 0.0,
            pushes_since_rebase: 0,
            max_slots: Deque::new(),
            min_slots: Deque::new(),
        })
    }

    /// The configured length.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Samples currently held (`<= len`).
    pub fn count(&self) -> usize {
        self.count as usize
    }

    /// The slot of the `i`-th sample, oldest first.
    fn slot(&self, i: usize) -> usize {
        (self.head as usize + i) % self.len()
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn is_full(&self) -> bool {
        self.count == self.len
    }

    /// Adds a sample, evicting the oldest when the window is full. `value` must be finite.
    pub fn push(&mut self, time_ms: i64, value: f64) {
        debug_assert!(
            value.is_finite(),
            "the engine rejects non-finite values first"
        );
        if self.count == 0 {
            self.shift = value;
            self.t0_ms = time_ms;
        }
        if self.count == self.len {
            self.evict_oldest();
        }
        let slot = self.slot(self.count());
        self.values[slot] = value;
        self.times_ms[slot] = time_ms;
        self.count += 1;
        self.add_to_sums(time_ms, value);
        if self.push_extremes(slot, value) {
            // Every sample in the window equals `value`: restart the value sums around it, so
            // that a flat window reads exactly no spread. The running sums would still hold the
            // rounding residue of the samples that left: a small made-up spread (with skewness
            // and kurtosis of pure noise) until the next rebase.
            self.shift = value;
            (self.s1, self.s2, self.s3, self.s4, self.std) = (0.0, 0.0, 0.0, 0.0, 0.0);
        }

        self.pushes_since_rebase += 1;
        if self.pushes_since_rebase >= self.len {
            self.rebase();
        }
    }

    fn evict_oldest(&mut self) {
        let slot = self.head as usize;
        let (time_ms, value) = (self.times_ms[slot], self.values[slot]);
        let d = value - self.shift;
        let d2 = d * d;
        self.s1 -= d;
        self.s2 -= d2;
        self.s3 -= d2 * d;
        self.s4 -= d2 * d2;
        let t = self.since_t0(time_ms);
        self.st -= t;
        self.stt -= t * t;
        self.std -= t * d;
        let slot_index = I::from_slot(slot);
        if self.max_slots.front() == Some(&slot_index) {
            self.max_slots.pop_front();
        }
        if self.min_slots.front() == Some(&slot_index) {
            self.min_slots.pop_front();
        }
        // Cannot truncate: a slot is below `len`.
        self.head = self.slot(1) as u32;
        self.count -= 1;
    }

    fn add_to_sums(&mut self, time_ms: i64, value: f64) {
        let d = value - self.shift;
        let d2 = d * d;
        self.s1 += d;
        self.s2 += d2;
        self.s3 += d2 * d;
        self.s4 += d2 * d2;
        let t = self.since_t0(time_ms);
        self.st += t;
        self.stt += t * t;
        self.std += t * d;
    }

    /// `time − t0` in ms. Subtracted in f64, which is exact for timestamps within ±2^53 ms and
    /// cannot overflow for timestamps anywhere in the i64 range (an i64 subtraction can).
    fn since_t0(&self, time_ms: i64) -> f64 {
        time_ms as f64 - self.t0_ms as f64
    }

    /// Enters `slot` in the min and max deques. Returns whether the window is flat: when no
    /// other sample is above `value` nor below it, every sample equals it.
    fn push_extremes(&mut self, slot: usize, value: f64) -> bool {
        while let Some(&back) = self.max_slots.back() {
            if self.values[back.slot()] > value {
                break;
            }
            self.max_slots.pop_back();
        }
        while let Some(&back) = self.min_slots.back() {
            if self.values[back.slot()] < value {
                break;
            }
            self.min_slots.pop_back();
        }
        let flat = self.max_slots.is_empty() && self.min_slots.is_empty();
        // Each live slot is in each deque at most once and the deques hold at most `len <= N`
        // slots, so these pushes cannot overflow.
        let slot = I::from_slot(slot);
        let _ = self.max_slots.push_back(slot);
        let _ = self.min_slots.push_back(slot);
        flat
    }

    /// Recomputes every sum exactly around the current mean and the oldest timestamp.
    fn rebase(&mut self) {
        self.pushes_since_rebase = 0;
        let n = f64::from(self.count);
        let mut mean = self.shift + self.s1 / n;
        if !mean.is_finite() {
            // Samples near ±f64::MAX overflowed the running sums. Take the mean from the values
            // themselves (each divided first, so that the sum cannot overflow); otherwise a
            // non-finite shift would turn every later sum into NaN, for good.
            mean = self.iter().map(|(_, x)| x / n).sum();
        }
        self.shift = mean;
        self.t0_ms = self.times_ms[self.head as usize];
        (self.s1, self.s2, self.s3, self.s4) = (0.0, 0.0, 0.0, 0.0);
        (self.st, self.stt, self.std) = (0.0, 0.0, 0.0);
        for i in 0..self.count() {
            let slot = self.slot(i);
            self.add_to_sums(self.times_ms[slot], self.values[slot]);
        }
    }

    /// Mean, variance and higher central moments; `None` when empty.
    pub fn moments(&self) -> Option<Moments> {
        if self.count == 0 {
            return None;
        }
        let n = f64::from(self.count);
        let (a1, a2, a3, a4) = (self.s1 / n, self.s2 / n, self.s3 / n, self.s4 / n);
        let variance = (a2 - a1 * a1).max(0.0);
        let m3 = a3 - 3.0 * a1 * a2 + 2.0 * a1 * a1 * a1;
        let m4 = a4 - 4.0 * a1 * a3 + 6.0 * a1 * a1 * a2 - 3.0 * a1 * a1 * a1 * a1;
        Some(Moments {
            count: self.count(),
            mean: self.shift + a1,
            variance,
            m3,
            m4: m4.max(0.0),
        })
    }

    /// Largest value in the window.
    pub fn max(&self) -> Option<f64> {
        self.max_slots.front().map(|&s| self.values[s.slot()])
    }

    /// Smallest value in the window.
    pub fn min(&self) -> Option<f64> {
        self.min_slots.front().map(|&s| self.values[s.slot()])
    }

    /// Least-squares slope of value over time, in units per minute. `None` with fewer than two
    /// samples or when every sample has the same timestamp.
    pub fn slope_per_minute(&self) -> Option<f64> {
        if self.count < 2 {
            return None;
        }
        let n = f64::from(self.count);
        let denominator = n * self.stt - self.st * self.st;
        // Timestamps that are all equal (or nearly) give no slope rather than a huge one.
        if denominator <= 1e-9 * n * self.stt.abs().max(1.0) {
            return None;
        }
        let per_ms = (n * self.std - self.st * self.s1) / denominator;
        Some(per_ms * 60_000.0)
    }

    /// The samples oldest first, as `(time_ms, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (i64, f64)> + '_ {
        (0..self.count()).map(move |i| {
            let slot = self.slot(i);
            (self.times_ms[slot], self.values[slot])
        })
    }
}
