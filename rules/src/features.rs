//! The features a rule can look at, and how each is read off a window.

use crate::window::{SlotIndex, Window};

/// A feature of one sensor's signal. `Value` is the latest sample itself; the others are
/// computed over the sensor's window (see [`Window`]), except `Ewma`, which is an
/// exponentially weighted mean over all samples so far, and `Departure`, the latest sample
/// over its siblings' (see [`crate::siblings`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feature {
    Value,
    Mean,
    Std,
    Min,
    Max,
    Rms,
    Peak,
    PeakToPeak,
    CrestFactor,
    Kurtosis,
    Skewness,
    Ewma,
    RatePerMin,
    /// The latest sample over the median of the latest samples of the other sensors of its
    /// group: 1 while it moves with its siblings. Undefined for a sensor without a group.
    Departure,
}

impl Feature {
    pub const ALL: [Feature; 14] = [
        Feature::Value,
        Feature::Mean,
        Feature::Std,
        Feature::Min,
        Feature::Max,
        Feature::Rms,
        Feature::Peak,
        Feature::PeakToPeak,
        Feature::CrestFactor,
        Feature::Kurtosis,
        Feature::Skewness,
        Feature::Ewma,
        Feature::RatePerMin,
        Feature::Departure,
    ];

    /// The name used in rule files and on the wire.
    pub const fn name(self) -> &'static str {
        match self {
            Feature::Value => "value",
            Feature::Mean => "mean",
            Feature::Std => "std",
            Feature::Min => "min",
            Feature::Max => "max",
            Feature::Rms => "rms",
            Feature::Peak => "peak",
            Feature::PeakToPeak => "peak_to_peak",
            Feature::CrestFactor => "crest_factor",
            Feature::Kurtosis => "kurtosis",
            Feature::Skewness => "skewness",
            Feature::Ewma => "ewma",
            Feature::RatePerMin => "rate_per_min",
            Feature::Departure => "departure",
        }
    }

    pub fn from_name(name: &str) -> Option<Feature> {
        Feature::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// Exponentially weighted moving average: `e ← α·x + (1 − α)·e`, started at the first sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ewma {
    alpha: f64,
    value: Option<f64>,
}

impl Ewma {
    /// `alpha` in `(0, 1]`; validated by the rule language.
    pub const fn new(alpha: f64) -> Self {
        Self { alpha, value: None }
    }

    pub fn update(&mut self, x: f64) -> f64 {
        let next = match self.value {
            None => x,
            Some(e) => e + self.alpha * (x - e),
        };
        self.value = Some(next);
        next
    }

    pub fn value(&self) -> Option<f64> {
        self.value
    }
}

/// Reads `feature` off the window (which already holds `latest`); `None` while it is undefined
/// (an empty window, a slope with one timestamp, a crest factor of a zero signal), and for
/// `Departure`, which is not the window's: see [`departure`].
pub fn read<const N: usize, I: SlotIndex>(
    feature: Feature,
    window: &Window<N, I>,
    ewma: &Ewma,
    latest: f64,
) -> Option<f64> {
    let moments = || window.moments();
    match feature {
        Feature::Value => Some(latest),
        Feature::Mean => moments().map(|m| m.mean),
        Feature::Std => moments().map(|m| m.std_dev()),
        Feature::Min => window.min(),
        Feature::Max => window.max(),
        Feature::Rms => moments().map(|m| m.rms()),
        Feature::Peak => peak(window),
        Feature::PeakToPeak => Some(window.max()? - window.min()?),
        Feature::CrestFactor => {
            let rms = moments()?.rms();
            (rms > 0.0).then(|| peak(window).map(|p| p / rms)).flatten()
        }
        Feature::Kurtosis => moments().map(|m| m.kurtosis()),
        Feature::Skewness => moments().map(|m| m.skewness()),
        Feature::Ewma => ewma.value(),
        Feature::RatePerMin => window.slope_per_minute(),
        Feature::Departure => None,
    }
}

/// `latest` over its siblings' `reference`; `None` without one. A ratio, so that a move the
/// whole group makes (a change of load or speed scales every bearing's vibration alike) leaves
/// it at 1. Only a positive reference has a meaning here: amplitudes, RMS values, currents and
/// machine temperatures are positive.
pub fn departure(latest: f64, reference: Option<f64>) -> Option<f64> {
    reference
        .filter(|&r| r > 0.0 && r.is_finite())
        .map(|r| latest / r)
}

fn peak<const N: usize, I: SlotIndex>(window: &Window<N, I>) -> Option<f64> {
    Some(window.max()?.abs().max(window.min()?.abs()))
}
