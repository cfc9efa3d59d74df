//! Vibration of a rotating machine: what a maintenance engineer expects to see.
//!
//! The waveform (acceleration, g) on each axis is the sum of
//! - sinusoids at 1x and 2x running speed (imbalance raises 1x),
//! - a sinusoid at the outer-race defect frequency BPFO (late-stage bearing wear),
//! - impacts at BPFO, each exciting a structural resonance: a tone burst at the resonance
//!   under a Gaussian envelope (early bearing wear: high acceleration peaks, little
//!   velocity). The smooth envelope keeps the burst's spectrum near the resonance, as the
//!   accelerometer's anti-aliasing filter would, so sampling does not fold it into the
//!   velocity band,
//! - white Gaussian noise whose density is fixed (its RMS grows with the sample rate).
//!
//! Velocity RMS is computed from the same components over the ISO 10816 band (10–1000 Hz):
//! in closed form for the sinusoids and the noise, by numerical integration of the bursts'
//! known spectrum for the impacts (a test checks it against a DFT of the waveform); acceleration peak and RMS are measured on a
//! synthesised one-second window. Sample `n` at rate `fs` is a pure function of
//! (key, params, n, fs): see [`crate::physics::noise`].

use std::f64::consts::{PI, TAU};

use super::noise;

/// Standard gravity, m/s² per g.
pub const G0: f64 = 9.806_65;
/// Sample rate at which `noise_g` is specified.
pub const NOISE_REF_RATE_HZ: f64 = 3200.0;
const BAND_LOW_HZ: f64 = 10.0;
const BAND_HIGH_HZ: f64 = 1000.0;
/// Relative amplitude of each component on the X (radial horizontal), Y (radial vertical)
/// and Z (axial) axes.
const AXIS_GAIN: [f64; 3] = [1.0, 0.8, 0.45];
const AXIS_PHASE: [f64; 3] = [0.0, PI / 2.0, PI / 3.0];
/// Bearing impacts wander by up to ±4 % of their period (rolling elements slip).
const IMPACT_JITTER: f64 = 0.08;

/// The vibration components of a machine at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VibrationParams {
    /// Shaft frequency, Hz.
    pub shaft_hz: f64,
    /// 1x velocity amplitude, mm/s peak.
    pub one_x_mm_s: f64,
    /// 2x velocity amplitude, mm/s peak.
    pub two_x_mm_s: f64,
    /// Bearing defect frequency, Hz.
    pub bpfo_hz: f64,
    /// Velocity amplitude at BPFO, mm/s peak.
    pub bpfo_mm_s: f64,
    /// Peak acceleration of each bearing impact, g.
    pub impulse_g: f64,
    /// Resonance the impacts excite, Hz.
    pub resonance_hz: f64,
    /// Standard deviation of each burst's Gaussian envelope, s.
    pub burst_s: f64,
    /// Noise, g RMS at [`NOISE_REF_RATE_HZ`].
    pub noise_g: f64,
}

impl VibrationParams {
    /// Velocity RMS over 10–1000 Hz on the X axis, mm/s.
    pub fn velocity_rms_mm_s(&self) -> f64 {
        let in_band = |f: f64| (BAND_LOW_HZ..=BAND_HIGH_HZ).contains(&f);
        let mut mean_square = 0.0;
        for (f, v) in [
            (self.shaft_hz, self.one_x_mm_s),
            (2.0 * self.shaft_hz, self.two_x_mm_s),
            (self.bpfo_hz, self.bpfo_mm_s),
        ] {
            if in_band(f) {
                mean_square += v * v / 2.0;
            }
        }
        // White acceleration noise of one-sided density S (m/s²)²/Hz integrates to a
        // velocity mean square of S / (2 pi)^2 * (1/f_low - 1/f_high).
        let density = (self.noise_g * G0).powi(2) / (NOISE_REF_RATE_HZ / 2.0);
        let noise_ms = density / (TAU * TAU) * (1.0 / BAND_LOW_HZ - 1.0 / BAND_HIGH_HZ);
        mean_square += noise_ms * 1e6;
        mean_square += self.burst_velocity_mean_square() * 1e6;
        mean_square.sqrt()
    }

    /// Mean-square velocity (m/s)² of the impact bursts in the band: for a train of pulses
    /// at rate f_b with spectrum X, the one-sided power density is 2 f_b E[s²] |X(f)|²;
    /// a Gaussian-enveloped tone burst has |X(ω)| = A σ √(π/2) e^(-(ω - ω0)² σ² / 2).
    fn burst_velocity_mean_square(&self) -> f64 {
        if self.impulse_g == 0.0 || self.bpfo_hz <= 0.0 {
            return 0.0;
        }
        let amplitude = self.impulse_g * G0;
        let (sigma, w0) = (self.burst_s, TAU * self.resonance_hz);
        let strength_ms = 1.0 + 0.4f64.powi(2) / 12.0;
        let density = |f: f64| {
            let w = TAU * f;
            let x2 = (amplitude * sigma).powi(2) * PI / 2.0 * (-((w - w0) * sigma).powi(2)).exp();
            2.0 * self.bpfo_hz * strength_ms * x2 / (w * w)
        };
        simpson(density, BAND_LOW_HZ, BAND_HIGH_HZ, 400)
    }

    /// Acceleration of `axis` (0 = X, 1 = Y, 2 = Z) at sample `n` of a stream at `fs`
    /// samples/s, in g, without gravity.
    pub fn sample(&self, key: u64, axis: usize, n: u64, fs: f64) -> f64 {
        let t = n as f64 / fs;
        let gain = AXIS_GAIN[axis];
        let phase = AXIS_PHASE[axis];
        let mut a = 0.0;
        for (i, (f, v)) in [
            (self.shaft_hz, self.one_x_mm_s),
            (2.0 * self.shaft_hz, self.two_x_mm_s),
            (self.bpfo_hz, self.bpfo_mm_s),
        ]
        .into_iter()
        .enumerate()
        {
            if v != 0.0 && f > 0.0 && f < fs / 2.0 {
                // v mm/s peak at f Hz is 2 pi f v / 1000 m/s² peak.
                let amplitude_g = TAU * f * v / 1000.0 / G0;
                let phi = noise::uniform(noise::subkey(key, 100 + i as u64), 0) * TAU;
                a += gain * amplitude_g * (TAU * f * t + phi + phase).cos();
            }
        }
        a += gain * self.bursts(key, t);
        let sigma = self.noise_g * (fs / NOISE_REF_RATE_HZ).sqrt();
        a + sigma * noise::gaussian(noise::subkey(key, axis as u64), n)
    }

    /// Sum of the impact bursts around time `t`. Impact `j` happens at `(j + jitter) / f_b`;
    /// its burst peaks three envelope widths later.
    fn bursts(&self, key: u64, t: f64) -> f64 {
        if self.impulse_g == 0.0 || self.bpfo_hz <= 0.0 {
            return 0.0;
        }
        let impacts_key = noise::subkey(key, 200);
        let period = 1.0 / self.bpfo_hz;
        let latest = (t / period).floor() as i64;
        let span = ((6.0 * self.burst_s / period).ceil() as i64).clamp(1, 64);
        let mut a = 0.0;
        for j in (latest - span..=latest + 1).filter(|&j| j >= 0) {
            let u = noise::uniform(impacts_key, j as u64);
            let at = (j as f64 + IMPACT_JITTER * (u - 0.5)) * period;
            let dt = t - at;
            let envelope = ((dt - 3.0 * self.burst_s) / self.burst_s).powi(2);
            if dt >= 0.0 && envelope < 50.0 {
                let strength = 0.8 + 0.4 * noise::uniform(impacts_key, (j as u64) ^ (1 << 63));
                a += self.impulse_g
                    * strength
                    * (-envelope / 2.0).exp()
                    * (TAU * self.resonance_hz * dt).sin();
            }
        }
        a
    }
}

/// Composite Simpson integration of `f` over `[a, b]` with `n` (even) intervals.
fn simpson(f: impl Fn(f64) -> f64, a: f64, b: f64, n: usize) -> f64 {
    let h = (b - a) / n as f64;
    let inner: f64 = (1..n)
        .map(|i| f(a + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 })
        .sum();
    (f(a) + inner + f(b)) * h / 3.0
}

/// Acceleration features of a window of samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AccelFeatures {
    /// Largest absolute acceleration, g.
    pub peak_g: f64,
    /// RMS acceleration (mean removed), g.
    pub rms_g: f64,
}

/// Peak and RMS of the X axis over the one-second window starting at sample `first` of a
/// stream at `fs` samples/s.
pub fn features(params: &VibrationParams, key: u64, first: u64, fs: f64) -> AccelFeatures {
    let count = fs as u64;
    let samples: Vec<f64> = (first..first + count)
        .map(|n| params.sample(key, 0, n, fs))
        .collect();
    let mean = samples.iter().sum::<f64>() / count as f64;
    let mean_square = samples.iter().map(|s| (s - mean) * (s - mean)).sum::<f64>() / count as f64;
    let peak_g = samples.iter().fold(0.0f64, |m, s| m.max(s.abs()));
    AccelFeatures {
        peak_g,
        rms_g: mean_square.sqrt(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> VibrationParams {
        VibrationParams {
            shaft_hz: 24.667,
            one_x_mm_s: 1.0,
            two_x_mm_s: 0.35,
            bpfo_hz: 88.3,
            bpfo_mm_s: 0.0,
            impulse_g: 0.0,
            resonance_hz: 1250.0,
            burst_s: 0.0005,
            noise_g: 0.02,
        }
    }

    /// Velocity RMS in the band, measured from the synthesised waveform with a plain DFT
    /// (Hann window, 1 Hz bins): checks the closed form against the samples it describes.
    fn measured_velocity_rms(p: &VibrationParams) -> f64 {
        let fs = 3200.0;
        let n = 3200usize;
        let x: Vec<f64> = (0..n as u64).map(|i| p.sample(42, 0, i, fs) * G0).collect();
        let hann: Vec<f64> = (0..n)
            .map(|i| 0.5 - 0.5 * (TAU * i as f64 / n as f64).cos())
            .collect();
        let window_power = hann.iter().map(|w| w * w).sum::<f64>();
        let mut mean_square = 0.0;
        for k in 10..=1000 {
            let (mut re, mut im) = (0.0, 0.0);
            for i in 0..n {
                let angle = TAU * (k * i) as f64 / n as f64;
                re += x[i] * hann[i] * angle.cos();
                im -= x[i] * hann[i] * angle.sin();
            }
            let accel_ms = 2.0 * (re * re + im * im) / (window_power * n as f64);
            mean_square += accel_ms / (TAU * k as f64).powi(2);
        }
        mean_square.sqrt() * 1000.0
    }

    #[test]
    fn closed_form_velocity_rms_matches_the_waveform() {
        let mut worn = healthy();
        worn.bpfo_mm_s = 6.0;
        worn.impulse_g = 4.0;
        worn.noise_g = 0.06;
        for p in [healthy(), worn] {
            let closed = p.velocity_rms_mm_s();
            let measured = measured_velocity_rms(&p);
            assert!(
                (measured - closed).abs() / closed < 0.1,
                "closed form {closed:.3} mm/s, waveform {measured:.3} mm/s"
            );
        }
    }

    #[test]
    fn bearing_impacts_raise_the_acceleration_peak_long_before_the_velocity() {
        let mut early = healthy();
        early.impulse_g = 3.0;
        let before = features(&healthy(), 1, 0, 3200.0);
        let after = features(&early, 1, 0, 3200.0);
        assert!(
            after.peak_g > 3.0 * before.peak_g,
            "{before:?} -> {after:?}"
        );
        let dv = early.velocity_rms_mm_s() - healthy().velocity_rms_mm_s();
        assert!(dv < 0.2, "velocity rose by {dv} mm/s");
    }
}
