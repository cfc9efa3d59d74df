//! Memory the rules take per sensor, on a gateway of many sensors without rules of their own
//! (the 2,000 Modbus registers of the load benchmark): every sensor gets the embedded default
//! rules, as the agent's rules stage gives them.
//!
//! Heap bytes are counted by an instrumented global allocator (`stats_alloc`: a counting
//! allocator of our own would need `unsafe`, which the workspace forbids). They are the bytes
//! asked of the allocator, as heaptrack reports them; the allocator adds its own overhead per
//! allocation (glibc: 8 bytes, rounded up to 16, at least 32 bytes a chunk), so the number of
//! allocations per sensor is printed too. A plan and a runner also have an inline part that
//! lives wherever the caller keeps them (in the rules stage, a hash map entry): their
//! `size_of`, added to the heap bytes for the totals.
//!
//! Run: `cargo run --release -p edge-rules --example memory_per_sensor [SENSORS]`
//! (default 2,000 sensors).

use std::alloc::System;
use std::mem::size_of;

use edge_rules::alert::Lifecycle;
use edge_rules::detect::DetectorState;
use edge_rules::lang::{
    parse_rule_file, AppliedRule, RuleSet, SensorKind, SensorPlan, SensorRunner, DEFAULT_RULES,
    DEFAULT_RULES_LABEL,
};
use edge_rules::{DetectorSpec, RuleSpec, SensorEngine, Transition, Window};
use stats_alloc::{Region, Stats, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Heap bytes still held from what happened since the region started.
fn live_bytes(change: Stats) -> i64 {
    change.bytes_allocated as i64 - change.bytes_deallocated as i64
        + change.bytes_reallocated as i64
}

/// Allocations still held (reallocations move a block, they do not add one).
fn live_blocks(change: Stats) -> i64 {
    change.allocations as i64 - change.deallocations as i64
}

/// A Modbus-like sensor name, as long as the load benchmark's.
fn sensor_name(i: usize) -> String {
    format!("plant1.unit{:02}.hr{:05}", i / 100, 40_001 + i)
}

/// Per-sensor figures for `sensors` sensors of `kind`.
struct Figures {
    rules: usize,
    plan_heap: f64,
    plan_blocks: f64,
    runner_heap: f64,
    runner_blocks: f64,
    process_heap: i64,
}

fn measure(rules: &RuleSet, sensors: usize, kind: Option<SensorKind>) -> Figures {
    let names: Vec<String> = (0..sensors).map(sensor_name).collect();
    let mut plans: Vec<SensorPlan> = Vec::with_capacity(sensors);
    let mut runners: Vec<SensorRunner> = Vec::with_capacity(sensors);

    let region = Region::new(GLOBAL);
    for name in &names {
        plans.push(
            rules
                .plan(name, kind)
                .expect("the default rules fit a sensor"),
        );
    }
    let planned = region.change();

    let region = Region::new(GLOBAL);
    for plan in &plans {
        runners.push(SensorRunner::new(plan).expect("a plan fits a runner"));
    }
    let built = region.change();

    // A wobbling level past the default settling time, then a step: the rules run (and
    // raise), and nothing may allocate.
    let region = Region::new(GLOBAL);
    let mut transitions = 0u64;
    for runner in &mut runners {
        for i in 0..560i64 {
            let value = if i < 500 {
                20.0 + ((i * 7919) % 11) as f64 * 0.01
            } else {
                50.0
            };
            let _ = runner.process(i * 2000, value, &mut |_: Transition| transitions += 1);
        }
    }
    let processed = region.change();
    assert!(transitions > 0, "the signal should raise an alert");

    let n = sensors as f64;
    Figures {
        rules: plans[0].rules.len(),
        plan_heap: live_bytes(planned) as f64 / n,
        plan_blocks: live_blocks(planned) as f64 / n,
        runner_heap: live_bytes(built) as f64 / n,
        runner_blocks: live_blocks(built) as f64 / n,
        process_heap: live_bytes(processed),
    }
}

fn main() {
    let sensors: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("SENSORS is a count"))
        .unwrap_or(2_000);
    let default = parse_rule_file(DEFAULT_RULES_LABEL, DEFAULT_RULES).expect("valid defaults");
    let rules = RuleSet::new(Vec::new(), default);

    println!("size_of (bytes):");
    for (name, size) in [
        ("SensorPlan", size_of::<SensorPlan>()),
        ("SensorRunner", size_of::<SensorRunner>()),
        ("AppliedRule", size_of::<AppliedRule>()),
        ("RuleSpec", size_of::<RuleSpec>()),
        ("DetectorSpec", size_of::<DetectorSpec>()),
        ("DetectorState", size_of::<DetectorState>()),
        ("Lifecycle", size_of::<Lifecycle>()),
        ("Window<64>", size_of::<Window<64>>()),
        ("Window<64, u8>", size_of::<Window<64, u8>>()),
        ("SensorEngine<64>", size_of::<SensorEngine<64>>()),
    ] {
        println!("  {name:<18} {size:>6}");
    }

    println!("\n{sensors} sensors on the embedded default rules, per sensor:");
    println!(
        "  {:<12} {:>5} {:>10} {:>7} {:>12} {:>7} {:>10} {:>8}",
        "kind", "rules", "plan heap", "blocks", "runner heap", "blocks", "total", "process"
    );
    for (label, kind) in [
        ("generic", None),
        ("temperature", Some(SensorKind::Temperature)),
        ("vibration", Some(SensorKind::VibrationVelocity)),
    ] {
        let f = measure(&rules, sensors, kind);
        let inline = (size_of::<SensorPlan>() + size_of::<SensorRunner>()) as f64;
        let total = f.plan_heap + f.runner_heap + inline;
        println!(
            "  {label:<12} {:>5} {:>10.0} {:>7.2} {:>12.0} {:>7.2} {:>10.0} {:>8}",
            f.rules,
            f.plan_heap,
            f.plan_blocks,
            f.runner_heap,
            f.runner_blocks,
            total,
            f.process_heap
        );
    }
    println!(
        "\n  total = plan heap + runner heap + size_of SensorPlan and SensorRunner; \
         process = heap bytes left by 560 samples per sensor (must be 0)"
    );
}
