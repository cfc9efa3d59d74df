//! Samples per second through the detection engine, on one core.
//!
//! - `zscore_window_60`: one sensor with a window of 60 and one rolling z-score rule (the
//!   issue's target: at least 20 million samples per second per core);
//! - `default_rules`: one sensor with every embedded default rule that applies to a
//!   temperature (the most rules of any kind);
//! - `window_push`: the window alone, the floor under every rule.
//!
//! Each iteration runs a block of pre-generated samples (Gaussian noise with a rare spike, so
//! that alerts do raise and clear) with timestamps that keep increasing across iterations.
//! Run with `cargo bench -p edge-rules --bench engine`; the whole run takes under a minute.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use edge_rules::lang::{
    parse_rule_file, RuleSet, SensorKind, SensorPlan, SensorRunner, DEFAULT_RULES,
    DEFAULT_RULES_LABEL,
};
use edge_rules::{Transition, Window};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// Samples per iteration.
const BLOCK: usize = 10_000;

const ZSCORE_ONLY: &str = r#"
version = 1
[[sensor]]
id = "bench.zscore"
kind = "generic"
window = 60
[[rule]]
name = "z"
sensor = "bench.zscore"
  [[rule.when]]
  detector = "zscore"
  k = 4.0
  clear_k = 2.0
"#;

fn signal() -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let noise = Normal::new(20.0, 0.5).expect("valid normal");
    (0..BLOCK)
        .map(|i| noise.sample(&mut rng) + if i % 997 == 0 { 10.0 } else { 0.0 })
        .collect()
}

fn zscore_plan() -> SensorPlan {
    let file = parse_rule_file("zscore.toml", ZSCORE_ONLY).expect("valid bench rules");
    let default = parse_rule_file(DEFAULT_RULES_LABEL, DEFAULT_RULES).expect("valid defaults");
    RuleSet::new(vec![file], default)
        .plan("bench.zscore", None)
        .expect("one rule fits")
}

fn default_plan() -> SensorPlan {
    let default = parse_rule_file(DEFAULT_RULES_LABEL, DEFAULT_RULES).expect("valid defaults");
    RuleSet::new(Vec::new(), default)
        .plan("bench.temperature", Some(SensorKind::Temperature))
        .expect("default rules fit")
}

fn engine(c: &mut Criterion) {
    let signal = signal();
    let mut group = c.benchmark_group("engine");
    group
        .throughput(Throughput::Elements(BLOCK as u64))
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    for (name, plan) in [
        ("zscore_window_60", zscore_plan()),
        ("default_rules", default_plan()),
    ] {
        let mut runner = SensorRunner::new(&plan).expect("runner");
        let mut time = 0i64;
        let mut transitions = 0u64;
        let rules = plan.rules.len();
        group.bench_function(BenchmarkId::new(name, format!("{rules} rules")), |b| {
            b.iter(|| {
                for &x in &signal {
                    time += 1000;
                    let mut emit = |_: Transition| transitions += 1;
                    let _ = runner.process(time, black_box(x), &mut emit);
                }
            });
        });
        black_box(transitions);
    }

    let mut window = Window::<64>::new(60).expect("valid length");
    let mut time = 0i64;
    group.bench_function("window_push/60", |b| {
        b.iter(|| {
            for &x in &signal {
                time += 1000;
                window.push(time, black_box(x));
            }
            black_box(window.moments())
        });
    });
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
