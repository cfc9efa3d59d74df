//! Every streaming feature of [`Window`] (as read by `features::read`) against a naive two-pass
//! computation over the last `len` samples.
//!
//! # What is generated
//! Window lengths `1..=N` for `N = 64` (two-byte slot numbers, the default) and `N = 256`
//! (one-byte slot numbers, at their limit: the agent's runners use them up to 256 samples);
//! sequences built from segments of several regimes (small noise around a large offset, a
//! wide range of ±1e9, integers, constant runs, ordinary noise), long enough to be many
//! windows, so that eviction and the periodic rebase of the power sums run many times;
//! timestamps that step forwards, stand still and step backwards, from several origins (0, an
//! epoch in ms, negative).
//!
//! # The reference
//! Plain two-pass f64 over the window's samples, with compensated (Neumaier) sums and a
//! corrected mean, so that its own error (a few ulps relative to the window's range) is far
//! below the streaming tolerances and every difference is the streaming code's.
//!
//! # Tolerances, and why each is what it is
//! The window keeps power sums of `d = x - shift`, where `shift` is the mean of the window at
//! the last rebase, and recomputes them exactly every `len` pushes. So every `d` that has
//! touched the sums since the last rebase belongs to the last `2·len` samples, and
//! `|d| <= D := max - min of those samples`. Between two rebases a sum sees at most `3·len`
//! roundings (`len` adds, `len` evictions and the recompute), each at most one ulp of a partial
//! sum bounded by `(n + 1)·D^k`. Hence the averages `a_k = s_k / n` are each within
//! `E·D^k` of exact, with `E = 8·len·ε` (ε = `f64::EPSILON`; the 8 covers the `3·len`
//! roundings, the `(n+1)/n` and the rounding of each term). From that, to first order:
//! - mean: `E·D` plus two ulps of the mean itself (the final `shift + a1`);
//! - population variance `a2 − a1²`: `4·E·D²`;
//! - third and fourth central moments: `16·E·D³` and `48·E·D⁴` (the sums of the absolute
//!   values of the coefficients in `m3 = a3 − 3a1a2 + 2a1³` and
//!   `m4 = a4 − 4a1a3 + 6a1²a2 − 3a1⁴`, rounded up);
//! - skewness and kurtosis divide those by powers of the variance, so their error grows with
//!   the conditioning `ρ = D² / variance`: `16·E·ρ^1.5 + 6·E·ρ·|skew|` and
//!   `48·E·ρ² + 8·E·ρ·kurt`. They are compared only where the variance itself is known to
//!   0.1 % (`4·E·ρ <= 1e-3`, where the first-order bound holds); a nearly constant window
//!   (variance negligible against `D²`, e.g. `1e6 ± 1e-9`, or the first window after a step
//!   from 0 to 1e6) has no meaningful shape statistics in f64 and is not compared. A window
//!   that is exactly constant must read 0 for both, as documented.
//! - rms and std are compared through their squares, whose bounds follow from the above; the
//!   crest factor through rms, where rms² is known to 0.1 % (the same condition as the shape
//!   statistics: the first-order bound fails when the error of rms² nears rms²).
//! - rate_per_min: the time sums use `t = time − t0` with `t0` a timestamp of the last `2·len`
//!   samples, so `|t| <= T`, their time span. With `Sxx = Σ(t − t̄)²` and `κ = n·T² / Sxx`, the
//!   slope is within `3·E·κ·(D / T + |slope|)` per ms. The window refuses a slope (`None`)
//!   when its denominator is below `1e-9` of `n·Σt²`, which can only happen when
//!   `κ >= ~1e9`; where the reference has no slope at all (every timestamp equal), the window
//!   must refuse too.
//! - ewma: both sides run a recurrence whose rounding errors decay by `1 − α` per step, so
//!   each is within `3·ε·M / α` of exact, `M` the largest |value| so far.
//! - min, max, peak, peak_to_peak and value are exact.

use edge_rules::features::{self, Ewma, Feature};
use edge_rules::window::SlotIndex;
use edge_rules::Window;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

const EPS: f64 = f64::EPSILON;

/// Neumaier's compensated sum.
fn sum(values: impl IntoIterator<Item = f64>) -> f64 {
    let (mut total, mut compensation) = (0.0f64, 0.0f64);
    for x in values {
        let t = total + x;
        if total.abs() >= x.abs() {
            compensation += (total - t) + x;
        } else {
            compensation += (x - t) + total;
        }
        total = t;
    }
    total + compensation
}

/// The statistics of one window, computed the slow and careful way.
#[derive(Debug)]
struct Naive {
    n: usize,
    mean: f64,
    /// Population variance and third and fourth central moments (divisor `n`).
    m2: f64,
    m3: f64,
    m4: f64,
    mean_square: f64,
    min: f64,
    max: f64,
    /// Least-squares slope per ms and `Σ(t − t̄)²`; `None` when every timestamp is equal.
    slope: Option<(f64, f64)>,
}

impl Naive {
    fn of(samples: &[(i64, f64)]) -> Naive {
        let n = samples.len();
        let nf = n as f64;
        let xs = || samples.iter().map(|&(_, x)| x);
        // The mean as an unevaluated sum `hi + lo`: a mean of values near 1e9 is not always
        // representable, and a deviation measured from a rounded mean would carry that rounding
        // into the third and fourth moments. `x - hi` is exact for x near hi (Sterbenz).
        let hi = sum(xs()) / nf;
        let lo = sum(xs().map(|x| x - hi)) / nf;
        let mean = hi + lo;
        let central = |k: i32| sum(xs().map(|x| ((x - hi) - lo).powi(k))) / nf;
        let t_first = samples[0].0;
        let ts = || {
            samples
                .iter()
                .map(move |&(t, _)| (i128::from(t) - i128::from(t_first)) as f64)
        };
        let t_mean = sum(ts()) / nf;
        let sxx = sum(ts().map(|t| (t - t_mean) * (t - t_mean)));
        let sxy = sum(samples.iter().map(|&(t, x)| {
            ((i128::from(t) - i128::from(t_first)) as f64 - t_mean) * ((x - hi) - lo)
        }));
        Naive {
            n,
            mean,
            m2: central(2),
            m3: central(3),
            m4: central(4),
            mean_square: sum(xs().map(|x| x * x)) / nf,
            min: xs().fold(f64::INFINITY, f64::min),
            max: xs().fold(f64::NEG_INFINITY, f64::max),
            slope: (sxx > 0.0).then(|| (sxy / sxx, sxx)),
        }
    }
}

fn close(feature: &str, got: f64, want: f64, tolerance: f64) -> Result<(), TestCaseError> {
    prop_assert!(
        (got - want).abs() <= tolerance,
        "{feature}: window says {got:e}, two-pass says {want:e}, difference {:e} > tolerance {tolerance:e}",
        (got - want).abs()
    );
    Ok(())
}

fn read<const N: usize, I: SlotIndex>(
    feature: Feature,
    window: &Window<N, I>,
    ewma: &Ewma,
    latest: f64,
) -> Option<f64> {
    features::read(feature, window, ewma, latest)
}

/// Feeds `samples` one by one and compares every feature after every push.
fn check_stream<const N: usize, I: SlotIndex>(
    len: usize,
    alpha: f64,
    samples: &[(i64, f64)],
) -> Result<(), TestCaseError> {
    let mut window = Window::<N, I>::new(len).expect("1 <= len <= N");
    let mut ewma = Ewma::new(alpha);
    let mut reference_ewma: Option<f64> = None;
    let mut largest = 0.0f64;
    for (pushed, &(time, x)) in samples.iter().enumerate().map(|(i, s)| (i + 1, s)) {
        window.push(time, x);
        ewma.update(x);
        largest = largest.max(x.abs());
        let want_ewma = reference_ewma.map_or(x, |e| (1.0 - alpha) * e + alpha * x);
        reference_ewma = Some(want_ewma);

        let in_window = &samples[pushed - pushed.min(len)..pushed];
        let recent = &samples[pushed - pushed.min(2 * len)..pushed];
        prop_assert_eq!(window.count(), in_window.len());
        prop_assert!(
            window.iter().eq(in_window.iter().copied()),
            "window holds other samples than the last {len}"
        );
        let naive = Naive::of(in_window);
        let at = |feature| {
            read(feature, &window, &ewma, x)
                .ok_or_else(|| TestCaseError::fail(format!("{feature:?} undefined")))
        };
        let context = || format!("after {pushed} pushes, len {len}");
        let fail = |e: TestCaseError| TestCaseError::fail(format!("{e} ({})", context()));

        // Exact features.
        prop_assert_eq!(at(Feature::Value)?, x);
        prop_assert_eq!(at(Feature::Min)?, naive.min, "{}", context());
        prop_assert_eq!(at(Feature::Max)?, naive.max, "{}", context());
        prop_assert_eq!(at(Feature::Peak)?, naive.max.abs().max(naive.min.abs()));
        prop_assert_eq!(at(Feature::PeakToPeak)?, naive.max - naive.min);

        let d = recent.iter().map(|s| s.1).fold(f64::NEG_INFINITY, f64::max)
            - recent.iter().map(|s| s.1).fold(f64::INFINITY, f64::min);
        let e = 8.0 * len as f64 * EPS;
        let nf = naive.n as f64;
        let tol_mean = e * d + 2.0 * EPS * naive.mean.abs();
        let tol_var = 4.0 * e * d * d;
        close("mean", at(Feature::Mean)?, naive.mean, tol_mean).map_err(fail)?;

        let std = at(Feature::Std)?;
        if naive.n == 1 {
            prop_assert_eq!(std, 0.0);
        } else {
            let bessel = nf / (nf - 1.0);
            close(
                "std²",
                std * std,
                naive.m2 * bessel,
                (tol_var + 4.0 * EPS * naive.m2) * bessel,
            )
            .map_err(fail)?;
        }
        let rms = at(Feature::Rms)?;
        let tol_square = 2.0 * naive.mean.abs() * tol_mean
            + tol_mean * tol_mean
            + tol_var
            + 8.0 * EPS * naive.mean_square;
        close("rms²", rms * rms, naive.mean_square, tol_square).map_err(fail)?;
        match read(Feature::CrestFactor, &window, &ewma, x) {
            None => prop_assert!(
                rms == 0.0,
                "crest factor undefined with rms {rms:e} ({})",
                context()
            ),
            Some(crest) => {
                let rms_naive = naive.mean_square.sqrt();
                prop_assert!(
                    rms_naive > 0.0,
                    "crest factor {crest:e} of an all-zero window ({})",
                    context()
                );
                // Compared only where rms² is known to 0.1 %, as the shape statistics are: the
                // first-order bound below fails once the error of rms² nears rms² itself (small
                // values just after ±1e9 ones left the window), where the window's rms, and so
                // the crest factor, has no meaningful value in f64.
                if tol_square <= 1e-3 * naive.mean_square {
                    let want = naive.max.abs().max(naive.min.abs()) / rms_naive;
                    // |rms − rms_naive| <= |rms² − rms_naive²| / rms_naive, to first order.
                    let tol = want * (tol_square / naive.mean_square + 4.0 * EPS);
                    close("crest_factor", crest, want, tol).map_err(fail)?;
                }
            }
        }

        let skewness = at(Feature::Skewness)?;
        let kurtosis = at(Feature::Kurtosis)?;
        if naive.m2 == 0.0 {
            prop_assert_eq!(std, 0.0, "a constant window has no spread ({})", context());
            prop_assert_eq!(
                skewness,
                0.0,
                "a constant window has no skewness ({})",
                context()
            );
            prop_assert_eq!(
                kurtosis,
                0.0,
                "a constant window has kurtosis 0 by convention ({})",
                context()
            );
        } else {
            let rho = d * d / naive.m2;
            if 4.0 * e * rho <= 1e-3 {
                let skew = naive.m3 / naive.m2.powf(1.5);
                let kurt = naive.m4 / (naive.m2 * naive.m2);
                let tol_skew = 16.0 * e * rho.powf(1.5) + 6.0 * e * rho * skew.abs() + 8.0 * EPS;
                let tol_kurt = 48.0 * e * rho * rho + 8.0 * e * rho * kurt + 8.0 * EPS;
                close("skewness", skewness, skew, tol_skew).map_err(fail)?;
                close("kurtosis", kurtosis, kurt, tol_kurt).map_err(fail)?;
            }
        }

        let t_span = (recent.iter().map(|s| s.0).max().expect("not empty")
            - recent.iter().map(|s| s.0).min().expect("not empty")) as f64;
        match (read(Feature::RatePerMin, &window, &ewma, x), naive.slope) {
            (None, None) => {}
            (Some(rate), None) => prop_assert!(
                false,
                "a slope {rate:e} over equal timestamps ({})",
                context()
            ),
            (None, Some((_, sxx))) => {
                // Refused: only legitimate when the timestamps barely differ.
                let kappa = nf * t_span * t_span / sxx;
                prop_assert!(
                    naive.n < 2 || kappa >= 0.5e9,
                    "no slope, yet κ = {kappa:e} ({})",
                    context()
                );
            }
            (Some(rate), Some((slope, sxx))) => {
                let kappa = nf * t_span * t_span / sxx;
                if 3.0 * e * kappa <= 0.1 {
                    let tol = 3.0 * e * kappa * (d / t_span + slope.abs()) * 60_000.0
                        + 4.0 * EPS * (slope * 60_000.0).abs();
                    close("rate_per_min", rate, slope * 60_000.0, tol).map_err(fail)?;
                }
            }
        }

        close(
            "ewma",
            at(Feature::Ewma)?,
            want_ewma,
            8.0 * EPS * largest / alpha,
        )
        .map_err(fail)?;
    }
    Ok(())
}

/// One run of samples in one regime.
fn segment(max_len: usize) -> impl Strategy<Value = Vec<f64>> {
    let lengths = 1..=max_len;
    prop_oneof![
        // Small noise around a large offset: the case the shifted sums exist for.
        (
            prop::sample::select(vec![1e6, -1e6, 80.0, 1e9]),
            prop::collection::vec(-1000i32..=1000, lengths.clone())
        )
            .prop_map(|(offset, ks)| ks
                .into_iter()
                .map(|k| offset + 1e-3 * f64::from(k))
                .collect()),
        // A wide range.
        prop::collection::vec(-1e9f64..1e9, lengths.clone()),
        // Quantised values: integers, as from an ADC or a counter.
        prop::collection::vec(-1000i32..=1000, lengths.clone())
            .prop_map(|ks| ks.into_iter().map(f64::from).collect()),
        // A constant run.
        (
            prop::sample::select(vec![0.0, 1.0, -3.5, 1e6, 80.05]),
            lengths.clone()
        )
            .prop_map(|(x, n)| vec![x; n]),
        // Ordinary noise.
        prop::collection::vec(-10.0f64..10.0, lengths),
    ]
}

/// Timestamps: mostly forwards, sometimes equal, sometimes backwards, sometimes a long gap.
fn timestamps(count: usize) -> impl Strategy<Value = Vec<i64>> {
    let start = prop_oneof![
        Just(0i64),
        Just(1_700_000_000_000i64),
        -1_000_000_000_000i64..1_000_000_000_000
    ];
    let step = prop_oneof![
        6 => 1i64..=1_000,
        2 => Just(0i64),
        1 => -1_000i64..0,
        1 => 1i64..=100_000_000,
    ];
    (start, prop::collection::vec(step, count)).prop_map(|(start, steps)| {
        steps
            .into_iter()
            .scan(start, |t, step| {
                let now = *t;
                *t += step;
                Some(now)
            })
            .collect()
    })
}

/// A window length up to `n`, an EWMA weight and a stream of segments, each up to three windows.
fn case(n: usize, max_samples: usize) -> impl Strategy<Value = (usize, f64, Vec<(i64, f64)>)> {
    (1..=n, 0.001f64..=1.0)
        .prop_flat_map(move |(len, alpha)| {
            let segments = prop::collection::vec(segment((3 * len).max(4)), 1..=8);
            (Just(len), Just(alpha), segments)
        })
        .prop_flat_map(move |(len, alpha, segments)| {
            let mut values: Vec<f64> = segments.concat();
            values.truncate(max_samples);
            let count = values.len();
            (Just(len), Just(alpha), Just(values), timestamps(count))
        })
        .prop_map(|(len, alpha, values, times)| {
            (len, alpha, times.into_iter().zip(values).collect())
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_feature_of_a_64_slot_window_matches_a_two_pass_computation((len, alpha, samples) in case(64, 1_500)) {
        check_stream::<64, u16>(len, alpha, &samples)?;
    }
}

proptest! {
    // Each case checks every push against an O(len) reference: fewer cases keep it quick.
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_feature_of_a_256_slot_window_matches_a_two_pass_computation((len, alpha, samples) in case(256, 2_500)) {
        check_stream::<256, u8>(len, alpha, &samples)?;
    }
}

/// The window's moments after `samples`, against the two-pass reference over its last `len`.
fn assert_matches_reference<const N: usize>(window: &Window<N>, samples: &[(i64, f64)]) {
    let naive = Naive::of(&samples[samples.len() - window.count()..]);
    let moments = window.moments().expect("not empty");
    let scale = naive.max - naive.min;
    assert!(
        (moments.mean - naive.mean).abs() <= 1e-12 * scale.max(naive.mean.abs()),
        "{moments:?} vs {naive:?}"
    );
    assert!(
        (moments.variance - naive.m2).abs() <= 1e-12 * scale * scale,
        "{moments:?} vs {naive:?}"
    );
}

#[test]
fn a_window_that_turns_flat_after_a_wide_range_reads_exactly_no_spread() {
    // Regression: the sums kept the rounding residue of the ±1e9 samples that had left, so a
    // flat window read a standard deviation of about 0.01, and skewness and kurtosis of pure
    // rounding noise, until the next rebase.
    let mut window = Window::<64>::new(19).expect("valid length");
    let wide = (0..100).map(|i| {
        (
            i,
            if i % 3 == 0 {
                9.87e8
            } else {
                -6.54e8 + i as f64 * 1234.5
            },
        )
    });
    for (t, x) in wide.chain((100..119).map(|i| (i, 80.05))) {
        window.push(t, x);
    }
    let read = |f| features::read(f, &window, &Ewma::new(0.5), 80.05).expect("defined");
    assert_eq!(read(Feature::Mean), 80.05);
    assert_eq!(read(Feature::Std), 0.0);
    assert_eq!(read(Feature::Skewness), 0.0);
    assert_eq!(read(Feature::Kurtosis), 0.0);
    assert_eq!(read(Feature::RatePerMin), 0.0);
}

#[test]
fn an_all_zero_window_has_no_crest_factor_even_after_large_samples() {
    // Regression: the residue above made the rms of an all-zero window positive, so the crest
    // factor read 0 instead of being undefined.
    let mut window = Window::<64>::new(18).expect("valid length");
    for (t, x) in (0..40)
        .map(|i| (i, -908.0 + (i * 37 % 101) as f64))
        .chain((40..58).map(|i| (i, 0.0)))
    {
        window.push(t, x);
    }
    let ewma = Ewma::new(0.5);
    assert_eq!(features::read(Feature::Rms, &window, &ewma, 0.0), Some(0.0));
    assert_eq!(
        features::read(Feature::CrestFactor, &window, &ewma, 0.0),
        None
    );
}

#[test]
fn samples_near_f64_max_leave_the_window_usable_once_they_have_left() {
    // Regression: a sum that overflowed to ±inf became NaN on eviction, the next rebase took
    // its shift from it, and every statistic of the window stayed NaN forever.
    let mut window = Window::<64>::new(8).expect("valid length");
    let mut samples = vec![
        (0, 1.0),
        (1, 1.7e308),
        (2, 1.7e308),
        (3, -1.7e308),
        (4, 2.0),
    ];
    samples.extend((5..40).map(|i| (i, (i % 7) as f64)));
    for &(t, x) in &samples {
        window.push(t, x);
    }
    assert_matches_reference(&window, &samples);
    assert!(window.slope_per_minute().is_some_and(f64::is_finite));
}

#[test]
fn timestamps_at_the_ends_of_the_i64_range_do_not_overflow() {
    // Regression: `time - t0` was an i64 subtraction, which overflows (a panic in debug builds)
    // when a window holds both i64::MIN and i64::MAX.
    let mut window = Window::<64>::new(4).expect("valid length");
    let samples = [
        (i64::MIN, 1.0),
        (i64::MAX, 2.0),
        (0, 3.0),
        (i64::MIN, 4.0),
        (i64::MAX, 5.0),
        (-1, 6.0),
    ];
    for &(t, x) in &samples {
        window.push(t, x);
    }
    assert_matches_reference(&window, &samples);
    assert!(window.slope_per_minute().is_none_or(f64::is_finite));
}
