//! First-order thermal lag, integrated on a fixed one-second grid of plant time.
//!
//! The temperature follows `dT/dt = (target(t) - T) / tau`. On each step of `DT` seconds
//! the target is held at its value at the start of the step and the exact solution
//! `T += (target - T) * (1 - e^(-DT/tau))` is applied; between grid points the value is
//! interpolated linearly. The integration always starts at plant time 0 with the machine at
//! its steady state, so `T(t)` is a pure function of the scenario and `t`, whatever order
//! the queries come in. Checkpoints every `CHECKPOINT_STEPS` steps keep a query for an
//! earlier time (a stuck sensor asks for its freezing time) cheap.

/// Integration step, plant seconds.
pub const DT: f64 = 1.0;
const CHECKPOINT_STEPS: u64 = 600;

/// Memoised integration state of one machine's temperature.
#[derive(Debug, Default)]
pub struct ThermalCache {
    /// Temperature at step `i * CHECKPOINT_STEPS`.
    checkpoints: Vec<f64>,
    /// The most recent step reached, and the temperature there.
    latest: Option<(u64, f64)>,
}

impl ThermalCache {
    /// Temperature at plant time `t` (negative `t` is treated as 0).
    ///
    /// `target(t)` is the steady-state temperature the machine tends to at time `t`; it
    /// must be a pure function.
    pub fn temperature(&mut self, t: f64, tau: f64, target: impl Fn(f64) -> f64) -> f64 {
        let t = t.max(0.0);
        let step = (t / DT).floor() as u64;
        let frac = t / DT - step as f64;
        let here = self.at_step(step, tau, &target);
        if frac <= 0.0 {
            return here;
        }
        let next = advance(here, step, tau, &target);
        here + (next - here) * frac
    }

    fn at_step(&mut self, step: u64, tau: f64, target: &impl Fn(f64) -> f64) -> f64 {
        if self.checkpoints.is_empty() {
            self.checkpoints.push(target(0.0));
        }
        let (mut k, mut temp) = match self.latest {
            Some((k, temp)) if k <= step => (k, temp),
            _ => {
                let idx = ((step / CHECKPOINT_STEPS) as usize).min(self.checkpoints.len() - 1);
                (idx as u64 * CHECKPOINT_STEPS, self.checkpoints[idx])
            }
        };
        while k < step {
            temp = advance(temp, k, tau, target);
            k += 1;
            if k % CHECKPOINT_STEPS == 0
                && (k / CHECKPOINT_STEPS) as usize == self.checkpoints.len()
            {
                self.checkpoints.push(temp);
            }
        }
        if self.latest.is_none_or(|(latest, _)| k >= latest) {
            self.latest = Some((k, temp));
        }
        temp
    }
}

fn advance(temp: f64, step: u64, tau: f64, target: &impl Fn(f64) -> f64) -> f64 {
    let goal = target(step as f64 * DT);
    let alpha = 1.0 - (-DT / tau.max(DT)).exp();
    temp + (goal - temp) * alpha
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_in_the_target_is_followed_with_the_time_constant() {
        let mut cache = ThermalCache::default();
        let target = |t: f64| if t < 100.0 { 20.0 } else { 80.0 };
        assert_eq!(cache.temperature(50.0, 300.0, target), 20.0);
        // One time constant after the step: 63 % of the way.
        let t1 = cache.temperature(400.0, 300.0, target);
        assert!((t1 - (20.0 + 60.0 * 0.632)).abs() < 0.5, "{t1}");
    }

    #[test]
    fn queries_in_any_order_give_the_same_values() {
        let target = |t: f64| 30.0 + 10.0 * (t / 500.0).sin();
        let mut forward = ThermalCache::default();
        let a: Vec<f64> = [10.0, 700.5, 2000.0, 4000.25]
            .iter()
            .map(|&t| forward.temperature(t, 200.0, target))
            .collect();
        let mut backward = ThermalCache::default();
        let mut b: Vec<f64> = [4000.25, 2000.0, 700.5, 10.0]
            .iter()
            .map(|&t| backward.temperature(t, 200.0, target))
            .collect();
        b.reverse();
        assert_eq!(a, b);
    }
}
