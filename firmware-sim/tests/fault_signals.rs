//! Each fault kind shows in the signal, checked on the plant directly (no I/O, no clock):
//! against the time before the fault and against the same plant without its faults.

mod common;

use firmware_sim::{
    accel_frame_bytes,
    physics::iso10816::Zone,
    plant::status,
    protocol::{accel_frame::AccelFrame, text_line::parse_line},
    text_line_bytes, Plant, Scenario, Signal,
};

fn plants(file: &str) -> (Plant, Plant) {
    let scenario = common::scenario(file);
    let mut healthy: Scenario = scenario.clone();
    healthy.faults.clear();
    (
        Plant::from_scenario(scenario, None),
        Plant::from_scenario(healthy, None),
    )
}

fn read(plant: &Plant, machine: &str, signal: Signal, t: f64) -> f64 {
    plant
        .reading(machine, signal, t)
        .expect("machine exists")
        .unwrap_or_else(|e| panic!("{signal:?} at {t}: {e}"))
}

fn zones(plant: &Plant, machine: &str, from: f64, to: f64) -> Vec<Zone> {
    let mut t = from;
    let mut out = Vec::new();
    while t < to {
        out.push(plant.condition(machine, t).expect("machine").zone);
        t += 60.0;
    }
    out
}

#[test]
fn bearing_wear_raises_acceleration_peaks_first_then_the_iso_zone() {
    let (plant, healthy) = plants("bearing_wear.toml");
    let (start, ramp) = (900.0, 7200.0);
    let before = zones(&plant, "motor-1", 0.0, start);
    let during = zones(&plant, "motor-1", start, start + ramp + 1.0);
    let worst_before = before.iter().max().copied().expect("samples");
    assert_eq!(worst_before, Zone::A);
    assert_eq!(
        during.last().copied(),
        Some(Zone::D),
        "zone at the end of the ramp"
    );
    // Zones only get worse as the fault grows.
    assert!(during.windows(2).all(|w| w[0] <= w[1]), "{during:?}");

    // Halfway through the ramp the impacts dominate the acceleration peak, while the velocity
    // (what ISO 10816 looks at) has hardly moved.
    let mid = start + ramp / 2.0;
    let peak = read(&plant, "motor-1", Signal::AccelPeak, mid);
    let healthy_peak = read(&healthy, "motor-1", Signal::AccelPeak, mid);
    assert!(
        peak > 3.0 * healthy_peak,
        "peak {peak} g vs healthy {healthy_peak} g"
    );
    assert_eq!(
        plant.condition("motor-1", mid).expect("machine").zone,
        Zone::A
    );

    // Friction heat: warmer than the healthy twin half an hour (two time constants) after the
    // end of the ramp.
    let t = start + ramp + 1800.0;
    let warmer = read(&plant, "motor-1", Signal::Temperature, t)
        - read(&healthy, "motor-1", Signal::Temperature, t);
    assert!(warmer > 10.0, "only {warmer} °C warmer");
    assert_ne!(
        read(&plant, "motor-1", Signal::Status, t) as u16 & status::ALARM,
        0
    );
}

#[test]
fn imbalance_raises_the_1x_velocity_until_the_rotor_is_rebalanced() {
    let (plant, _) = plants("imbalance.toml");
    let cond = |t| plant.condition("fan-1", t).expect("machine");
    let (before, during, after) = (cond(1700.0), cond(1900.0), cond(5500.0));
    assert!(during.vibration.one_x_mm_s > before.vibration.one_x_mm_s + 8.0);
    assert!(
        during.zone >= Zone::C && before.zone == Zone::A,
        "{:?} -> {:?}",
        before.zone,
        during.zone
    );
    assert_eq!(after.zone, before.zone);
    assert_eq!(read(&plant, "fan-1", Signal::IsoZone, 1900.0), 3.0);
}

#[test]
fn overheating_drives_the_temperature_past_the_alarm_with_the_thermal_lag() {
    let (plant, healthy) = plants("overheating.toml");
    let temp = |p: &Plant, t| read(p, "pump-1", Signal::Temperature, t);
    assert_eq!(
        temp(&plant, 1190.0),
        temp(&healthy, 1190.0),
        "identical before the fault"
    );
    // The target jumps within the 10-minute ramp, the temperature follows with tau = 10 min.
    let soon = temp(&plant, 1500.0) - temp(&healthy, 1500.0);
    let later = temp(&plant, 5400.0) - temp(&healthy, 5400.0);
    assert!(soon > 1.0 && soon < 30.0, "after 5 minutes: +{soon} °C");
    assert!(later > 55.0, "after 70 minutes: +{later} °C");
    assert!(temp(&plant, 5400.0) > 85.0);
    assert_ne!(
        read(&plant, "pump-1", Signal::Status, 5400.0) as u16 & status::OVERTEMP,
        0
    );
    assert_eq!(read(&plant, "pump-1", Signal::Overtemp, 1000.0), 0.0);
}

#[test]
fn a_stuck_sensor_reads_flat_while_the_truth_moves() {
    let (plant, _) = plants("stuck_sensor.toml");
    let stuck: Vec<f64> = (1800..3600)
        .step_by(30)
        .map(|t| read(&plant, "motor-1", Signal::Temperature, t as f64))
        .collect();
    assert!(
        stuck.windows(2).all(|w| w[0] == w[1]),
        "stuck readings vary"
    );
    let truth: Vec<f64> = (1800..3600)
        .step_by(30)
        .map(|t| {
            plant
                .condition("motor-1", t as f64)
                .expect("machine")
                .temperature_c
        })
        .collect();
    let spread = truth.iter().cloned().fold(f64::MIN, f64::max)
        - truth.iter().cloned().fold(f64::MAX, f64::min);
    assert!(spread > 0.5, "the true temperature moved only {spread} °C");
    let after = plant
        .condition("motor-1", 3700.0)
        .expect("machine")
        .temperature_c;
    // Moving again: the truth plus the transmitter's 0.05 °C scatter.
    let reading = read(&plant, "motor-1", Signal::Temperature, 3700.0);
    assert!(
        (reading - after).abs() < 0.3,
        "read {reading}, truth {after}"
    );
}

#[test]
fn a_dropped_out_sensor_gives_no_readings_no_frames_and_a_status_bit() {
    let (plant, _) = plants("sensor_dropout.toml");
    assert!(plant
        .reading("motor-1", Signal::VelocityRms, 1300.0)
        .expect("machine")
        .is_err());
    assert!(plant
        .reading("motor-1", Signal::IsoZone, 1300.0)
        .expect("machine")
        .is_err());
    assert!(plant
        .reading("motor-1", Signal::Temperature, 1300.0)
        .expect("machine")
        .is_ok());
    assert_ne!(
        read(&plant, "motor-1", Signal::Status, 1300.0) as u16 & status::SENSOR_FAULT,
        0
    );
    assert_eq!(
        read(&plant, "motor-1", Signal::Status, 1600.0) as u16 & status::SENSOR_FAULT,
        0
    );
    // Accelerometer frame k covers plant time k * 32 / 3200 * 60 = 0.6 k s.
    let frame = |k| accel_frame_bytes(&plant, "accel-1", k, 60.0);
    assert!(
        frame(1990).is_some()
            && frame(2000).is_none()
            && frame(2499).is_none()
            && frame(2500).is_some()
    );
    assert!(
        text_line_bytes(&plant, "temp-1", 1300 / 60, 60.0).is_some(),
        "the temperature probe still prints"
    );
}

#[test]
fn spikes_hit_isolated_readings_at_the_configured_rate() {
    let (plant, healthy) = plants("spikes.toml");
    let spiked = |from: u32, to: u32| {
        (from..to)
            .filter(|&t| {
                let (r, h) = (
                    read(&plant, "motor-1", Signal::Temperature, f64::from(t)),
                    read(&healthy, "motor-1", Signal::Temperature, f64::from(t)),
                );
                (r / h - 3.0).abs() < 1e-9
            })
            .count()
    };
    // 12 per minute over 30 minutes: 360 expected.
    let during = spiked(600, 2400);
    assert!((280..=440).contains(&during), "{during} spikes");
    assert_eq!(spiked(0, 600) + spiked(2400, 3600), 0);
    // The accelerometer shows 8 g spikes during the fault, none before.
    let max_abs = |k: u64| {
        let wire = accel_frame_bytes(&plant, "accel-1", k, 60.0).expect("frame");
        let frame = AccelFrame::decode(&wire).expect("valid frame");
        frame
            .samples
            .iter()
            .flat_map(|s| s.iter())
            .map(|c| i32::from(*c).abs())
            .max()
            .unwrap_or(0)
    };
    let spiky = (1500..3500).filter(|&k| max_abs(k) > 5000).count();
    assert!(spiky > 20, "{spiky} frames with a spike");
    assert!((0..900).all(|k| max_abs(k) < 5000));
}

#[test]
fn crc_errors_and_garbling_hit_the_configured_share_of_serial_frames() {
    for (file, probability) in [
        ("serial_crc_errors.toml", 0.2),
        ("serial_garbled.toml", 0.25),
    ] {
        let (plant, _) = plants(file);
        // Accelerometer frames: plant time 0.6 k s; the fault runs from 300 s to 2100 s.
        let bad_frames = |ks: std::ops::Range<u64>| {
            ks.filter(|&k| {
                AccelFrame::decode(&accel_frame_bytes(&plant, "accel-1", k, 60.0).expect("frame"))
                    .is_err()
            })
            .count()
        };
        let n = 3000 - 500;
        let share = bad_frames(500..3000) as f64 / n as f64;
        assert!(
            (share - probability).abs() < 0.04,
            "{file}: {share} of frames bad"
        );
        assert_eq!(
            bad_frames(0..500) + bad_frames(3500..4000),
            0,
            "{file}: bad frames outside"
        );
        // Text lines: one per wall second, plant time 60 k s; the fault covers lines 5..35.
        let bad_lines = (5..35)
            .filter(|&k| {
                let line = text_line_bytes(&plant, "temp-1", k, 60.0).expect("line");
                parse_line(&String::from_utf8_lossy(&line), "T=", "C").is_none()
            })
            .count();
        assert!(bad_lines >= 1, "{file}: no bad line among 30");
    }
}
