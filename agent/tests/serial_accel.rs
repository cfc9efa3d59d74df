//! The accelerometer stream task against firmware-sim's accelerometer on a pseudo-terminal:
//! features equal to a two-pass computation over the simulator's own samples, and damaged
//! frames counted and skipped while good ones keep coming.

mod serial_common;

use edge_agent::config::StreamFormat;
use edge_agent::event::{EventBody, HealthState};
use edge_agent::sources::now_ms;
use firmware_sim::protocol::accel_frame::AccelFrame as SimFrame;
use firmware_sim::{accel_frame_bytes, SimClock};
use serial_common::{feature_sets, health_states, on_simulator, same_features, scenario, two_pass};

const SPEED: f64 = 30.0;
const WINDOW: usize = 64;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn features_of_the_live_stream_equal_a_two_pass_computation_over_the_simulators_samples() {
    let started_ms = now_ms();
    let format = StreamFormat::AccelFrames { window: WINDOW };
    let clock = SimClock::scaled(SPEED);
    let (sim, mut run) = on_simulator(
        scenario("demo.toml"),
        clock,
        "accel-motor",
        "motor.accel",
        format,
    )
    .await;
    run.until("20 windows from an online stream", |events, c| {
        c.windows >= 20 && health_states(events).contains(&HealthState::Online)
    })
    .await;
    let (events, counters) = run.stop().await;
    let ended_ms = now_ms();
    let plant = sim.plant().clone();
    sim.shutdown().await.expect("simulator stops");

    assert_eq!(counters.frames_dropped(), 0, "{counters:?}");
    assert!(counters.partial_at_open <= 1, "{counters:?}");

    // Every sample the simulator can have sent by now, from its pure function.
    let frames_due = u64::try_from(ended_ms - started_ms).expect("time runs forward") / 10 + 100;
    let mut samples: Vec<[i16; 3]> = Vec::new();
    for k in 0..frames_due {
        let bytes = accel_frame_bytes(&plant, "accel-motor", k, SPEED).expect("frame k exists");
        let frame = SimFrame::decode(&bytes).expect("a clean frame decodes");
        assert_eq!(frame.first_sample, samples.len() as u64);
        assert_eq!(frame.lsb_ug, 1000);
        samples.extend(frame.samples);
    }
    let axis = |i: usize, a: usize| -> Vec<i16> {
        samples[i * WINDOW..(i + 1) * WINDOW]
            .iter()
            .map(|s| s[a])
            .collect()
    };
    let expected_x: Vec<_> = (0..samples.len() / WINDOW)
        .map(|i| two_pass(&axis(i, 0), 1000))
        .collect();

    let sets = feature_sets(&events);
    assert_eq!(sets.len() as u64, 3 * counters.windows);
    let mut previous: Option<usize> = None;
    let mut previous_ts = i64::MIN;
    for window in sets.chunks(3) {
        let (ts, x) = window[0];
        let i = expected_x
            .iter()
            .position(|e| same_features(&x.values, e))
            .unwrap_or_else(|| panic!("{x:?} is no window of the simulator's samples"));
        for (a, (axis_ts, set)) in window.iter().enumerate() {
            assert_eq!(set.sensor, format!("motor.accel.{}", ["x", "y", "z"][a]));
            assert_eq!(set.window, WINDOW as u32);
            assert_eq!(*axis_ts, ts);
            let expected = two_pass(&axis(i, a), 1000);
            assert!(
                same_features(&set.values, &expected),
                "{set:?} != {expected:?}"
            );
        }
        assert!(previous < Some(i), "window {i} after window {previous:?}");
        assert!(ts >= previous_ts && ts >= started_ms - 1_000 && ts <= ended_ms);
        previous = Some(i);
        previous_ts = ts;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_feature_is_also_a_reading_with_the_same_time_and_value() {
    let format = StreamFormat::AccelFrames { window: 32 };
    let clock = SimClock::scaled(SPEED);
    let (sim, mut run) = on_simulator(
        scenario("demo.toml"),
        clock,
        "accel-motor",
        "fan1.accel",
        format,
    )
    .await;
    run.until("5 windows", |_, c| c.windows >= 5).await;
    let (events, _) = run.stop().await;
    sim.shutdown().await.expect("simulator stops");

    let mut pending = Vec::new();
    let mut windows = 0;
    for event in &events {
        match &event.body {
            EventBody::Reading(r) => pending.push((event.ts_ms, r.clone())),
            EventBody::Features(set) => {
                let readings = std::mem::take(&mut pending);
                assert_eq!(readings.len(), set.values.len());
                for ((ts, reading), (name, value)) in readings.iter().zip(&set.values) {
                    assert_eq!(reading.sensor, format!("{}.{name}", set.sensor));
                    assert_eq!((*ts, reading.value), (event.ts_ms, *value));
                    let unit = ["mean", "rms", "peak"].contains(&name.as_str());
                    assert_eq!(reading.unit.as_deref(), unit.then_some("g"));
                }
                if set.sensor == "fan1.accel.y" {
                    // Gravity: the vertical axis' DC part is 1 g.
                    let mean = set.values[0].1;
                    assert!((mean - 1.0).abs() < 0.05, "y mean {mean} g");
                }
                windows += 1;
            }
            EventBody::Health(_) | EventBody::Alert(_) => {}
        }
    }
    assert!(windows >= 15, "{windows} feature sets");
}

/// Runs `scenario` at plant time 10 min (inside its 5m–35m fault) until `errors` frames were
/// dropped, then until 30 more frames and 5 more windows arrived after them.
async fn damaged_stream(scenario_file: &str, errors: u64) -> serial_common::Running {
    let format = StreamFormat::AccelFrames { window: 64 };
    let clock = SimClock::manual(600.0);
    let (sim, mut run) =
        on_simulator(scenario(scenario_file), clock, "accel-1", "m.accel", format).await;
    run.until("damaged frames", |_, c| c.frames_dropped() >= errors)
        .await;
    let after = run.snapshot();
    run.until("good frames and windows after the damage", |_, c| {
        c.frames_ok >= after.frames_ok + 30 && c.windows >= after.windows + 5
    })
    .await;
    run.until("a degraded health event", |events, _| {
        health_states(events).contains(&HealthState::Degraded)
    })
    .await;
    sim.shutdown().await.expect("simulator stops");
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_with_a_bad_crc_are_counted_and_skipped_and_decoding_goes_on() {
    let run = damaged_stream("serial_crc_errors.toml", 5).await;
    let (_, c) = run.stop().await;
    assert_eq!(
        c.frames_dropped(),
        c.frames_bad_crc,
        "only CRCs are spoilt: {c:?}"
    );
    // Each dropped frame leaves a gap in the sequence (but perhaps the last one).
    assert!(c.frames_lost + 1 >= c.frames_bad_crc, "{c:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbled_and_truncated_frames_are_counted_and_skipped_and_decoding_goes_on() {
    let run = damaged_stream("serial_garbled.toml", 8).await;
    let (events, c) = run.stop().await;
    assert!(c.frames_lost > 0, "{c:?}");
    assert!(!feature_sets(&events).is_empty());
}
