//! Compiling one `[[rule.when]]` condition: which keys each detector takes, their defaults,
//! and the checks that catch impossible settings (a clear level past the raise level, an
//! EWMA weight outside (0, 1], a warm-up longer than the window).

use std::ops::Range;

use toml::Spanned;

use super::diagnostic::Reporter;
use super::duration::parse_ms;
use super::model::MAX_WINDOW;
use super::schema::{ConditionDef, HorizonDef};
use crate::adaptive::{AdaptiveSpec, Horizon};
use crate::detect::{BaselineSpec, DetectorKind, DetectorSpec, Direction, Level};
use crate::features::Feature;
use crate::iso10816::{self, Foundation, MachineGroup, Zone};

const BASELINE_KEYS: &[&str] = &[
    "warmup",
    "min_std",
    "min_rel_std",
    "direction",
    "relearn_after",
];

/// The keys each detector takes besides `detector`.
fn keys_of(kind: DetectorKind) -> Vec<&'static str> {
    let own: &[&str] = match kind {
        DetectorKind::Threshold => &["feature", "above", "clear_below", "below", "clear_above"],
        DetectorKind::ZScore => &["k", "clear_k"],
        DetectorKind::EwmaChart => &["lambda", "l", "clear_l"],
        DetectorKind::Cusum => &["slack", "h", "clear_h"],
        DetectorKind::RateOfRise => &["per_minute", "clear_per_minute"],
        DetectorKind::Iso10816 => &["feature", "group", "foundation", "zone", "clear_margin"],
        DetectorKind::Flatline => &["epsilon", "longer_than_usual"],
        DetectorKind::Adaptive => &[
            "feature",
            "window",
            "baseline",
            "k",
            "surprise",
            "clear_surprise",
            "settle",
            "direction",
            "min_std",
            "min_rel_std",
            "idle_below",
        ],
        DetectorKind::Unusual => &["feature"],
    };
    let baseline = matches!(
        kind,
        DetectorKind::ZScore | DetectorKind::EwmaChart | DetectorKind::Cusum
    );
    own.iter()
        .chain(if baseline { BASELINE_KEYS } else { &[] })
        .copied()
        .collect()
}

fn detector_kind(name: &str) -> Option<DetectorKind> {
    [
        DetectorKind::Threshold,
        DetectorKind::ZScore,
        DetectorKind::EwmaChart,
        DetectorKind::Cusum,
        DetectorKind::RateOfRise,
        DetectorKind::Iso10816,
        DetectorKind::Flatline,
        DetectorKind::Adaptive,
        DetectorKind::Unusual,
    ]
    .into_iter()
    .find(|k| k.name() == name)
}

fn span<T>(value: &Option<Spanned<T>>) -> Option<Range<usize>> {
    value.as_ref().map(Spanned::span)
}

/// The keys present in a condition, with where they are.
fn present_keys(c: &ConditionDef) -> Vec<(&'static str, Range<usize>)> {
    [
        ("feature", span(&c.feature)),
        ("above", span(&c.above)),
        ("clear_below", span(&c.clear_below)),
        ("below", span(&c.below)),
        ("clear_above", span(&c.clear_above)),
        ("warmup", span(&c.warmup)),
        ("min_std", span(&c.min_std)),
        ("min_rel_std", span(&c.min_rel_std)),
        ("direction", span(&c.direction)),
        ("relearn_after", span(&c.relearn_after)),
        ("k", span(&c.k)),
        ("clear_k", span(&c.clear_k)),
        ("lambda", span(&c.lambda)),
        ("l", span(&c.l)),
        ("clear_l", span(&c.clear_l)),
        ("slack", span(&c.slack)),
        ("h", span(&c.h)),
        ("clear_h", span(&c.clear_h)),
        ("per_minute", span(&c.per_minute)),
        ("clear_per_minute", span(&c.clear_per_minute)),
        ("group", span(&c.group)),
        ("foundation", span(&c.foundation)),
        ("zone", span(&c.zone)),
        ("clear_margin", span(&c.clear_margin)),
        ("epsilon", span(&c.epsilon)),
        ("window", span(&c.window)),
        ("baseline", span(&c.baseline)),
        ("surprise", span(&c.surprise)),
        ("clear_surprise", span(&c.clear_surprise)),
        ("settle", span(&c.settle)),
        ("idle_below", span(&c.idle_below)),
    ]
    .into_iter()
    .filter_map(|(key, span)| span.map(|s| (key, s)))
    .collect()
}

/// Compiles one condition; `window` is the smallest window among the rule's sensors when it
/// names them. Reports every problem and returns `None` if there was one.
pub(crate) fn compile_condition(
    spanned: &Spanned<ConditionDef>,
    window: Option<usize>,
    report: &mut Reporter<'_>,
) -> Option<DetectorSpec> {
    let c = spanned.get_ref();
    let Some(detector) = &c.detector else {
        report.error(spanned.span(), "a condition needs `detector`: one of adaptive, threshold, zscore, ewma_chart, cusum, rate_of_rise, iso10816, flatline");
        return None;
    };
    let Some(kind) = detector_kind(detector.get_ref()) else {
        report.error(detector.span(), format!("unknown detector `{}`: expected adaptive, threshold, zscore, ewma_chart, cusum, rate_of_rise, iso10816 or flatline", detector.get_ref()));
        return None;
    };
    let allowed = keys_of(kind);
    let mut ok = true;
    for (key, span) in present_keys(c) {
        if !allowed.contains(&key) {
            report.error(
                span,
                format!(
                    "`{key}` does not apply to detector `{}` (it takes: {})",
                    kind.name(),
                    allowed.join(", ")
                ),
            );
            ok = false;
        }
    }
    let mut checks = Checks {
        report,
        ok: &mut ok,
    };
    let spec = match kind {
        DetectorKind::Threshold => threshold(c, spanned.span(), &mut checks),
        DetectorKind::RateOfRise => rate_of_rise(c, spanned.span(), &mut checks),
        DetectorKind::Iso10816 => iso(c, spanned.span(), &mut checks),
        DetectorKind::Flatline => {
            let epsilon = checks.non_negative(&c.epsilon, 0.0, "epsilon");
            Some(DetectorSpec::Level {
                kind,
                feature: Feature::PeakToPeak,
                above: None,
                below: Some(Level {
                    raise: epsilon,
                    clear: epsilon,
                }),
                // The sensor's window; set when the rule is applied to a sensor.
                min_count: window.unwrap_or(0),
                longer_than_usual: c.longer_than_usual.as_ref().is_some_and(|b| *b.get_ref()),
            })
        }
        DetectorKind::ZScore => {
            let baseline = baseline(c, window, &mut checks);
            let k = checks.positive(&c.k, 4.0, "k");
            let clear_k = checks.clear_level(&c.clear_k, k / 2.0, k, "clear_k", "k");
            Some(DetectorSpec::ZScore {
                baseline,
                k,
                clear_k,
            })
        }
        DetectorKind::EwmaChart => {
            let baseline = baseline(c, window, &mut checks);
            let lambda = checks.positive(&c.lambda, 0.2, "lambda");
            if lambda > 1.0 {
                checks.error(
                    span(&c.lambda),
                    format!("lambda must be in (0, 1], not {lambda}"),
                );
            }
            let l = checks.positive(&c.l, 3.0, "l");
            let clear_l = checks.clear_level(&c.clear_l, l / 2.0, l, "clear_l", "l");
            Some(DetectorSpec::EwmaChart {
                baseline,
                lambda,
                l,
                clear_l,
            })
        }
        DetectorKind::Adaptive => Some(adaptive(c, &mut checks)),
        DetectorKind::Unusual => Some(DetectorSpec::Unusual {
            feature: feature(c, Feature::Value, &mut checks),
        }),
        DetectorKind::Cusum => {
            let baseline = baseline(c, window, &mut checks);
            let k = checks.non_negative(&c.slack, 0.5, "slack");
            let h = checks.positive(&c.h, 5.0, "h");
            let clear_h = checks.clear_level(&c.clear_h, h / 2.0, h, "clear_h", "h");
            Some(DetectorSpec::Cusum {
                baseline,
                k,
                h,
                clear_h,
            })
        }
    };
    ok.then_some(spec).flatten()
}

/// Reports through the reporter and remembers that something was wrong.
struct Checks<'r, 'a> {
    report: &'r mut Reporter<'a>,
    ok: &'r mut bool,
}

impl Checks<'_, '_> {
    fn error(&mut self, span: Option<Range<usize>>, message: impl Into<String>) {
        self.report.error(span.unwrap_or(0..0), message);
        *self.ok = false;
    }

    fn number(
        &mut self,
        value: &Option<Spanned<f64>>,
        default: f64,
        key: &str,
        valid: impl Fn(f64) -> bool,
        expectation: &str,
    ) -> f64 {
        let Some(v) = value else { return default };
        let x = *v.get_ref();
        if !x.is_finite() || !valid(x) {
            self.error(
                Some(v.span()),
                format!("{key} must be {expectation}, not {x}"),
            );
        }
        x
    }

    fn positive(&mut self, value: &Option<Spanned<f64>>, default: f64, key: &str) -> f64 {
        self.number(value, default, key, |x| x > 0.0, "above 0")
    }

    fn non_negative(&mut self, value: &Option<Spanned<f64>>, default: f64, key: &str) -> f64 {
        self.number(value, default, key, |x| x >= 0.0, "0 or more")
    }

    /// A clearing level for a statistic that raises at `raise`: from 0 up to `raise`.
    fn clear_level(
        &mut self,
        value: &Option<Spanned<f64>>,
        default: f64,
        raise: f64,
        key: &str,
        raise_key: &str,
    ) -> f64 {
        let x = self.non_negative(value, default, key);
        if x > raise {
            self.error(span(value), format!("{key} ({x}) is above {raise_key} ({raise}): the alert would clear while the condition still holds"));
        }
        x
    }
}

fn baseline(c: &ConditionDef, window: Option<usize>, checks: &mut Checks<'_, '_>) -> BaselineSpec {
    let limit = window.unwrap_or(MAX_WINDOW);
    let warmup = match &c.warmup {
        // 0: the sensor's window, resolved when the rule is applied to a sensor.
        None => 0,
        Some(w) if (2..=limit as i64).contains(w.get_ref()) => *w.get_ref() as usize,
        Some(w) => {
            checks.error(
                Some(w.span()),
                format!(
                    "warmup must be from 2 to {limit} samples (the sensor's window), not {}",
                    w.get_ref()
                ),
            );
            0
        }
    };
    let direction = direction(c, checks);
    let relearn_after = match &c.relearn_after {
        // 0: ten windows, resolved when the rule is applied to a sensor.
        None => 0,
        Some(r) if *r.get_ref() >= 1 => *r.get_ref() as usize,
        Some(r) => {
            checks.error(
                Some(r.span()),
                format!(
                    "relearn_after must be 1 sample or more, not {}",
                    r.get_ref()
                ),
            );
            0
        }
    };
    BaselineSpec {
        relearn_after,
        warmup,
        min_std: checks.non_negative(&c.min_std, 0.0, "min_std"),
        min_rel_std: checks.non_negative(&c.min_rel_std, 0.001, "min_rel_std"),
        direction,
    }
}

/// The defaults of the adaptive detector, documented in `rules/README.md`.
pub(crate) mod adaptive_defaults {
    pub const WINDOW_MS: i64 = 30_000;
    pub const BASELINE_MS: i64 = 6 * 3_600_000;
    pub const K: f64 = 3.0;
    pub const SURPRISE: f64 = 4.0;
    pub const CLEAR_SURPRISE: f64 = 1.0;
    pub const SETTLE_MS: i64 = 5 * 60_000;
}

fn adaptive(c: &ConditionDef, checks: &mut Checks<'_, '_>) -> DetectorSpec {
    use adaptive_defaults as d;
    let feature = feature(c, Feature::Value, checks);
    let window = horizon(&c.window, Horizon::Millis(d::WINDOW_MS), "window", checks);
    let baseline_h = horizon(
        &c.baseline,
        Horizon::Millis(d::BASELINE_MS),
        "baseline",
        checks,
    );
    // Horizons of different units cannot be compared before the sample rate is known.
    let shorter = match (window, baseline_h) {
        (Horizon::Millis(w), Horizon::Millis(b)) => w < b,
        (Horizon::Samples(w), Horizon::Samples(b)) => w < b,
        _ => true,
    };
    if !shorter {
        checks.error(
            span(&c.window),
            "window must be shorter than baseline: the short term is judged against the long run",
        );
    }
    let k = checks.non_negative(&c.k, d::K, "k");
    let surprise = checks.non_negative(&c.surprise, d::SURPRISE, "surprise");
    let clear_surprise = checks.number(
        &c.clear_surprise,
        d::CLEAR_SURPRISE,
        "clear_surprise",
        |x| x <= surprise,
        "at most surprise",
    );
    let settle_ms = match &c.settle {
        None => d::SETTLE_MS,
        Some(s) => parse_ms(s.get_ref()).unwrap_or_else(|message| {
            checks.error(Some(s.span()), message);
            0
        }),
    };
    let idle_below = c
        .idle_below
        .as_ref()
        .map(|_| checks.number(&c.idle_below, 0.0, "idle_below", |_| true, "a number"));
    DetectorSpec::Adaptive {
        feature,
        spec: AdaptiveSpec {
            window,
            baseline: baseline_h,
            k,
            surprise,
            clear_surprise,
            settle_ms,
            direction: direction(c, checks),
            min_std: checks.non_negative(&c.min_std, 0.0, "min_std"),
            min_rel_std: checks.non_negative(&c.min_rel_std, 0.001, "min_rel_std"),
            idle_below,
            score_history: None,
            clip_scores: true,
        },
    }
}

/// A time scale: a duration, or 2 samples or more.
fn horizon(
    value: &Option<Spanned<HorizonDef>>,
    default: Horizon,
    key: &str,
    checks: &mut Checks<'_, '_>,
) -> Horizon {
    let Some(v) = value else { return default };
    match v.get_ref() {
        HorizonDef::Samples(n) if (2..=i64::from(u32::MAX)).contains(n) => {
            Horizon::Samples(*n as u32)
        }
        HorizonDef::Samples(n) => {
            checks.error(
                Some(v.span()),
                format!("{key} must be a duration such as \"10m\" or 2 samples or more, not {n}"),
            );
            default
        }
        HorizonDef::Duration(text) => match parse_ms(text) {
            Ok(ms) if ms > 0 => Horizon::Millis(ms),
            Ok(_) => {
                checks.error(Some(v.span()), format!("{key} must be longer than 0s"));
                default
            }
            Err(message) => {
                checks.error(Some(v.span()), message);
                default
            }
        },
    }
}

fn direction(c: &ConditionDef, checks: &mut Checks<'_, '_>) -> Direction {
    match c
        .direction
        .as_ref()
        .map(|d| (d.get_ref().as_str(), d.span()))
    {
        None | Some(("both", _)) => Direction::Both,
        Some(("up", _)) => Direction::Up,
        Some(("down", _)) => Direction::Down,
        Some((other, span)) => {
            checks.error(
                Some(span),
                format!("unknown direction `{other}`: expected `up`, `down` or `both`"),
            );
            Direction::Both
        }
    }
}

fn feature(c: &ConditionDef, default: Feature, checks: &mut Checks<'_, '_>) -> Feature {
    let Some(f) = &c.feature else { return default };
    Feature::from_name(f.get_ref()).unwrap_or_else(|| {
        let names: Vec<_> = Feature::ALL.iter().map(|f| f.name()).collect();
        checks.error(
            Some(f.span()),
            format!(
                "unknown feature `{}`: expected one of {}",
                f.get_ref(),
                names.join(", ")
            ),
        );
        default
    })
}

fn threshold(
    c: &ConditionDef,
    whole: Range<usize>,
    checks: &mut Checks<'_, '_>,
) -> Option<DetectorSpec> {
    let feature = feature(c, Feature::Value, checks);
    let above = upper_level(&c.above, &c.clear_below, "above", "clear_below", checks);
    let below = lower_level(&c.below, &c.clear_above, "below", "clear_above", checks);
    if above.is_none() && below.is_none() {
        checks.error(Some(whole), "a threshold needs `above`, `below` or both");
        return None;
    }
    if let (Some(a), Some(b)) = (above, below) {
        if b.raise >= a.raise {
            checks.error(
                span(&c.below),
                format!(
                    "below ({}) must be under above ({}): no value could be normal",
                    b.raise, a.raise
                ),
            );
        }
    }
    Some(DetectorSpec::Level {
        kind: DetectorKind::Threshold,
        feature,
        above,
        below,
        min_count: 1,
        longer_than_usual: false,
    })
}

fn rate_of_rise(
    c: &ConditionDef,
    whole: Range<usize>,
    checks: &mut Checks<'_, '_>,
) -> Option<DetectorSpec> {
    if c.per_minute.is_none() {
        checks.error(
            Some(whole),
            "rate_of_rise needs `per_minute`, the rise per minute that raises",
        );
        return None;
    }
    let above = upper_level(
        &c.per_minute,
        &c.clear_per_minute,
        "per_minute",
        "clear_per_minute",
        checks,
    );
    Some(DetectorSpec::Level {
        kind: DetectorKind::RateOfRise,
        feature: Feature::RatePerMin,
        above,
        below: None,
        min_count: 2,
        longer_than_usual: false,
    })
}

/// Which side of a level raises.
#[derive(Clone, Copy)]
enum Side {
    /// Raises at or above the level; the clear level may not be above it.
    Upper,
    /// Raises at or below the level; the clear level may not be below it.
    Lower,
}

fn upper_level(
    raise: &Option<Spanned<f64>>,
    clear: &Option<Spanned<f64>>,
    raise_key: &str,
    clear_key: &str,
    checks: &mut Checks<'_, '_>,
) -> Option<Level> {
    bounded_level(Side::Upper, raise, clear, raise_key, clear_key, checks)
}

fn lower_level(
    raise: &Option<Spanned<f64>>,
    clear: &Option<Spanned<f64>>,
    raise_key: &str,
    clear_key: &str,
    checks: &mut Checks<'_, '_>,
) -> Option<Level> {
    bounded_level(Side::Lower, raise, clear, raise_key, clear_key, checks)
}

/// A level whose clear level lies on the normal side of its raise level, or an error saying
/// the alert could never clear.
fn bounded_level(
    side: Side,
    raise: &Option<Spanned<f64>>,
    clear: &Option<Spanned<f64>>,
    raise_key: &str,
    clear_key: &str,
    checks: &mut Checks<'_, '_>,
) -> Option<Level> {
    let level = level(raise, clear, raise_key, clear_key, checks)?;
    let wrong_side = match side {
        Side::Upper => (level.clear > level.raise).then_some("above"),
        Side::Lower => (level.clear < level.raise).then_some("below"),
    };
    if let Some(where_) = wrong_side {
        checks.error(
            span(clear),
            format!(
                "`{clear_key}` ({}) is {where_} `{raise_key}` ({}): the alert could never clear",
                level.clear, level.raise
            ),
        );
    }
    Some(level)
}

/// A raise level and its clear level (the raise level itself when not given).
fn level(
    raise: &Option<Spanned<f64>>,
    clear: &Option<Spanned<f64>>,
    raise_key: &str,
    clear_key: &str,
    checks: &mut Checks<'_, '_>,
) -> Option<Level> {
    if raise.is_none() {
        if clear.is_some() {
            checks.error(
                span(clear),
                format!("{clear_key} is given without {raise_key}"),
            );
        }
        return None;
    }
    let raise = checks.number(raise, 0.0, raise_key, |_| true, "a number");
    let clear = checks.number(clear, raise, clear_key, |_| true, "a number");
    Some(Level { raise, clear })
}

fn iso(c: &ConditionDef, whole: Range<usize>, checks: &mut Checks<'_, '_>) -> Option<DetectorSpec> {
    let feature = feature(c, Feature::Rms, checks);
    let group = match &c.group {
        None => {
            checks.error(Some(whole.clone()), "iso10816 needs `group`: 1 (large machines), 2 (medium machines), 3 (pumps, separate driver) or 4 (pumps, integrated driver)");
            None
        }
        Some(g) => MachineGroup::from_number(*g.get_ref()).or_else(|| {
            checks.error(
                Some(g.span()),
                format!(
                    "group must be 1, 2, 3 or 4 (ISO 10816-3 machine groups), not {}",
                    g.get_ref()
                ),
            );
            None
        }),
    };
    let foundation = match c
        .foundation
        .as_ref()
        .map(|f| (f.get_ref().as_str(), f.span()))
    {
        None | Some(("rigid", _)) => Foundation::Rigid,
        Some(("flexible", _)) => Foundation::Flexible,
        Some((other, span)) => {
            checks.error(
                Some(span),
                format!("unknown foundation `{other}`: expected `rigid` or `flexible`"),
            );
            Foundation::Rigid
        }
    };
    let zone = match c.zone.as_ref().map(|z| (Zone::from_letter(z.get_ref()), z)) {
        None => Zone::C,
        Some((Some(zone), _)) if zone > Zone::A => zone,
        Some((_, z)) => {
            checks.error(
                Some(z.span()),
                format!(
                    "zone must be \"B\", \"C\" or \"D\" (the zone at which to raise), not {:?}",
                    z.get_ref()
                ),
            );
            Zone::C
        }
    };
    let margin = checks.number(
        &c.clear_margin,
        0.1,
        "clear_margin",
        |m| (0.0..1.0).contains(&m),
        "in [0, 1)",
    );
    let raise = iso10816::zone_start(group?, foundation, zone)?;
    Some(DetectorSpec::Level {
        kind: DetectorKind::Iso10816,
        feature,
        above: Some(Level {
            raise,
            clear: raise * (1.0 - margin),
        }),
        below: None,
        min_count: 1,
        longer_than_usual: false,
    })
}
