//! The text-line stream task against firmware-sim's text probe on a pseudo-terminal: values
//! equal to the lines the simulator printed, with and without a checksum, and spoilt lines
//! counted and skipped.

mod serial_common;

use edge_agent::config::StreamFormat;
use edge_agent::event::{EventBody, HealthState, Quality};
use firmware_sim::protocol::text_line::parse_line;
use firmware_sim::{text_line_bytes, Plant, Scenario, SimClock, Simulator};
use serial_common::{health_states, on_simulator, quick_timing, scenario_path, stream, Running};

fn probes() -> Scenario {
    Scenario::from_toml_str(
        r#"
        [scenario]
        name = "probes"
        [[machines]]
        id = "pump"
        [[devices]]
        id = "plain"
        kind = "text_line"
        machine = "pump"
        interval = "30ms"
        [[devices]]
        id = "summed"
        kind = "text_line"
        machine = "pump"
        interval = "30ms"
        checksum = true
        decimals = 3
        "#,
    )
    .expect("scenario")
}

fn lines_format() -> StreamFormat {
    StreamFormat::TextLines {
        pattern: "T={value}C".into(),
        sensor: "pump.temperature".into(),
        unit: Some("°C".into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reading_is_the_value_of_a_line_the_simulator_printed() {
    let mut sim = Simulator::new(Plant::from_scenario(probes(), None), SimClock::scaled(1.0));
    for device in ["plain", "summed"] {
        let path = sim
            .start_serial_pty(device, None)
            .await
            .expect("probe starts");
        let mut run = Running::start(stream(device, &path, lines_format()), quick_timing());
        run.until("8 readings from an online probe", |events, c| {
            c.lines_ok >= 8 && health_states(events).contains(&HealthState::Online)
        })
        .await;
        let (events, c) = run.stop().await;
        assert_eq!(c.lines_dropped(), 0, "{device}: {c:?}");

        // The lines the probe can have printed so far (30 ms apart, for at most 10 s).
        let printed: Vec<f64> = (0..400)
            .filter_map(|k| text_line_bytes(sim.plant(), device, k, 1.0))
            .map(|bytes| {
                let line = String::from_utf8(bytes).expect("ASCII");
                parse_line(&line, "T=", "C").expect("a clean line parses")
            })
            .collect();
        let mut readings = 0;
        for event in &events {
            if let EventBody::Reading(r) = &event.body {
                assert_eq!(r.sensor, "pump.temperature");
                assert_eq!(r.unit.as_deref(), Some("°C"));
                assert_eq!(r.quality, Quality::Good);
                assert!(
                    printed.contains(&r.value),
                    "{device}: {} never printed",
                    r.value
                );
                readings += 1;
            }
        }
        assert_eq!(readings, c.lines_ok);
    }
    sim.shutdown().await.expect("simulator stops");
}

/// A shipped scenario with its text probe printing every 20 ms instead of every second.
fn fast_probe(file: &str) -> Scenario {
    let text = std::fs::read_to_string(scenario_path(file)).expect("shipped scenario");
    let text = text.replacen("checksum = true", "checksum = true\ninterval = \"20ms\"", 1);
    Scenario::from_toml_str(&text).expect("scenario with a faster probe")
}

/// Runs the probe of `file` at plant time 10 min (inside its fault) until `errors` lines were
/// dropped and 10 more good ones came after them.
async fn damaged_probe(file: &str, errors: u64) -> Running {
    let clock = SimClock::manual(600.0);
    let (sim, mut run) =
        on_simulator(fast_probe(file), clock, "temp-1", "temp-1", lines_format()).await;
    run.until("spoilt lines", |_, c| c.lines_dropped() >= errors)
        .await;
    let after = run.snapshot();
    run.until(
        "good lines after the damage and a degraded probe",
        |events, c| {
            c.lines_ok >= after.lines_ok + 10
                && health_states(events).contains(&HealthState::Degraded)
        },
    )
    .await;
    sim.shutdown().await.expect("simulator stops");
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_with_a_wrong_checksum_are_counted_and_skipped() {
    let (events, c) = damaged_probe("serial_crc_errors.toml", 4)
        .await
        .stop()
        .await;
    assert_eq!(c.lines_dropped(), c.lines_bad_checksum, "{c:?}");
    let values = events.iter().filter_map(|e| match &e.body {
        EventBody::Reading(r) => Some(r.value),
        _ => None,
    });
    // All readings are the one plant temperature at 10 min: no spoilt value got through.
    let values: Vec<f64> = values.collect();
    assert!(values.windows(2).all(|w| w[0] == w[1]), "{values:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbled_and_cut_lines_are_counted_and_skipped() {
    let (_, c) = damaged_probe("serial_garbled.toml", 6).await.stop().await;
    // A garbled line is refused as overlong, not text, a checksum, no match or no number;
    // which ones depends on the bytes hit. (No check on the values that got through: an XOR
    // checksum misses two flips of the same bit, so a garbled line can pass, as on a real
    // line with an NMEA checksum.)
    assert!(c.lines_dropped() >= 6 && c.lines_ok >= 10, "{c:?}");
}
