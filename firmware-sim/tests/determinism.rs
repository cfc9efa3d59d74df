//! The same seed gives byte-identical output; another seed gives other output. Checked on
//! the pure functions every device sends from, so no wall clock is involved.

mod common;

use firmware_sim::{accel_frame_bytes, scenario::DeviceConfig, text_line_bytes, Plant, Signal};

const SIGNALS: [Signal; 14] = [
    Signal::Temperature,
    Signal::VelocityRms,
    Signal::AccelPeak,
    Signal::AccelRms,
    Signal::IsoZone,
    Signal::SpeedRpm,
    Signal::LoadPct,
    Signal::RunHours,
    Signal::Status,
    Signal::Running,
    Signal::Warning,
    Signal::Alarm,
    Signal::Overtemp,
    Signal::SensorFault,
];

/// Everything the devices of `file` would send, as bytes: readings of every signal of every
/// machine at a grid of plant times, accelerometer frames, text lines, and the fault list.
fn output(file: &str, seed: u64, queries_backwards: bool) -> Vec<u8> {
    let plant = Plant::from_scenario(common::scenario(file), Some(seed));
    let times: Vec<f64> = (0..60).map(|i| f64::from(i) * 181.7).collect();
    let mut order: Vec<usize> = (0..times.len()).collect();
    if queries_backwards {
        order.reverse();
    }
    let mut out = Vec::new();
    for m in &plant.scenario().machines {
        let mut per_time = vec![Vec::new(); times.len()];
        for &i in &order {
            for s in SIGNALS {
                match plant.reading(&m.id, s, times[i]).expect("machine") {
                    Ok(v) => per_time[i].extend(v.to_le_bytes()),
                    Err(e) => per_time[i].extend(e.to_string().bytes()),
                }
            }
        }
        out.extend(per_time.concat());
    }
    for d in &plant.scenario().devices {
        for k in [0u64, 1, 2, 500, 1999, 5000] {
            match d {
                DeviceConfig::AccelStream(_) => {
                    out.extend(accel_frame_bytes(&plant, d.id(), k, 60.0).unwrap_or_default())
                }
                DeviceConfig::TextLine(_) => {
                    out.extend(text_line_bytes(&plant, d.id(), k, 60.0).unwrap_or_default())
                }
                _ => {}
            }
        }
    }
    out.extend(serde_json::to_vec(&plant.fault_intervals()).expect("serialisable"));
    out
}

#[test]
fn the_same_seed_gives_byte_identical_output_for_every_scenario() {
    for entry in std::fs::read_dir(common::scenarios_dir()).expect("scenarios") {
        let file = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if !file.ends_with(".toml") {
            continue;
        }
        let a = output(&file, 1234, false);
        let b = output(&file, 1234, false);
        assert!(a == b, "{file}: two plants with seed 1234 differ");
        // The order of the questions does not matter either (caches only memoise).
        assert!(
            a == output(&file, 1234, true),
            "{file}: answers depend on query order"
        );
    }
}

#[test]
fn another_seed_gives_other_noise() {
    let a = output("demo.toml", 1, false);
    let b = output("demo.toml", 2, false);
    assert_ne!(a, b);
    let plant = |seed| Plant::from_scenario(common::scenario("demo.toml"), Some(seed));
    let (p1, p2) = (plant(1), plant(2));
    assert_ne!(
        accel_frame_bytes(&p1, "accel-motor", 10, 30.0),
        accel_frame_bytes(&p2, "accel-motor", 10, 30.0)
    );
    // Temperature is physics plus a 0.05 °C measurement scatter: another seed draws other
    // scatter around the same physical value.
    let temperature = |p: &Plant| match p.reading("motor-1", Signal::Temperature, 900.0) {
        Some(Ok(t)) => t,
        other => panic!("a temperature: {other:?}"),
    };
    let (t1, t2) = (temperature(&p1), temperature(&p2));
    assert_ne!(t1, t2);
    assert!(
        (t1 - t2).abs() < 0.5,
        "{t1} and {t2} differ by more than the scatter allows"
    );
}
