//! The stream task when the port misbehaves: it disappears and comes back, it falls silent, it
//! never existed. Health goes offline, the task reopens with backoff, and data resumes.

mod serial_common;

use std::path::Path;
use std::sync::atomic::Ordering;

use edge_agent::config::StreamFormat;
use edge_agent::event::HealthState;
use firmware_sim::{Plant, Scenario, SimClock, Simulator};
use serial_common::{health_states, on_simulator, quick_timing, scenario, stream, Running};

fn accel() -> StreamFormat {
    StreamFormat::AccelFrames { window: 64 }
}

async fn accelerometer_at(link: &Path) -> Simulator {
    let plant = Plant::from_scenario(scenario("demo.toml"), None);
    let mut sim = Simulator::new(plant, SimClock::scaled(30.0));
    sim.start_serial_pty("accel-motor", Some(link))
        .await
        .expect("accelerometer starts");
    sim
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_that_disappears_goes_offline_and_the_stream_resumes_when_it_is_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let link = dir.path().join("ttyACCEL");
    let first = accelerometer_at(&link).await;
    let mut run = Running::start(stream("m.accel", &link, accel()), quick_timing());
    run.until("windows from an online stream", |events, c| {
        c.windows >= 3 && health_states(events).last() == Some(&HealthState::Online)
    })
    .await;

    first.shutdown().await.expect("simulator stops"); // the pty closes, the link goes
    run.until("the stream offline", |events, _| {
        health_states(events).last() == Some(&HealthState::Offline)
    })
    .await;
    let before = run.snapshot();

    let second = accelerometer_at(&link).await;
    run.until("windows again from an online stream", |events, c| {
        c.windows >= before.windows + 3
            && health_states(events).last() == Some(&HealthState::Online)
    })
    .await;
    let (_, c) = run.stop().await;
    second.shutdown().await.expect("simulator stops");
    assert!(c.opens >= 2, "{c:?}");
    assert_eq!(c.frames_dropped(), 0, "{c:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_sensor_goes_degraded_then_offline_and_its_port_is_reopened() {
    let silent = Scenario::from_toml_str(
        r#"
        [scenario]
        name = "silent"
        [[machines]]
        id = "m"
        [[devices]]
        id = "accel"
        kind = "accel_stream"
        machine = "m"
        [[faults]]
        kind = "dropout"
        machine = "m"
        sensor = "vibration"
        start = "0s"
        "#,
    )
    .expect("scenario");
    let (sim, mut run) =
        on_simulator(silent, SimClock::scaled(1.0), "accel", "m.accel", accel()).await;
    run.until("an offline stream, reopened", |events, c| {
        health_states(events).last() == Some(&HealthState::Offline) && c.opens >= 2
    })
    .await;
    let (events, c) = run.stop().await;
    sim.shutdown().await.expect("simulator stops");
    assert_eq!(
        health_states(&events)[..2],
        [HealthState::Degraded, HealthState::Offline]
    );
    assert!(c.silences >= 3, "{c:?}");
    assert_eq!((c.bytes, c.frames_ok), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_that_does_not_exist_is_offline_and_retried_until_shutdown() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("ttyNOTHING");
    let mut run = Running::start(stream("m.accel", &missing, accel()), quick_timing());
    run.until("an offline stream", |events, _| {
        health_states(events) == [HealthState::Offline]
    })
    .await;
    let device = run.device.clone();
    run.until("three attempts to open", |_, _| {
        device.transport_errors.load(Ordering::Relaxed) >= 3
    })
    .await;
    let (events, c) = run.stop().await;
    assert_eq!(health_states(&events), [HealthState::Offline]);
    assert_eq!(c.opens, 0);
}
