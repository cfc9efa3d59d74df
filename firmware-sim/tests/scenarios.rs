//! Every shipped scenario loads, and scenario mistakes are refused with a useful message.

mod common;

use std::collections::BTreeSet;

use firmware_sim::{Plant, Scenario};

#[test]
fn every_shipped_scenario_loads_and_every_fault_kind_has_one() {
    let mut kinds = BTreeSet::new();
    let mut count = 0;
    for entry in std::fs::read_dir(common::scenarios_dir()).expect("scenarios folder") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
            kinds.extend(scenario.faults.iter().map(|f| f.kind_name()));
            assert!(
                !scenario.devices.is_empty(),
                "{} has no device",
                path.display()
            );
            count += 1;
        }
    }
    assert!(count >= 11, "only {count} scenarios");
    let all = [
        "bearing_wear",
        "crc_error",
        "dropout",
        "garbled",
        "imbalance",
        "modbus_exception",
        "modbus_timeout",
        "overheating",
        "spikes",
        "stuck",
    ];
    assert_eq!(
        kinds,
        all.into_iter().collect(),
        "fault kinds covered by the shipped scenarios"
    );
}

#[test]
fn a_fault_kind_scenario_names_its_fault_and_its_fault_only() {
    for (file, kind) in [
        ("bearing_wear.toml", "bearing_wear"),
        ("imbalance.toml", "imbalance"),
        ("overheating.toml", "overheating"),
        ("stuck_sensor.toml", "stuck"),
        ("sensor_dropout.toml", "dropout"),
        ("spikes.toml", "spikes"),
        ("modbus_exception.toml", "modbus_exception"),
        ("modbus_timeout.toml", "modbus_timeout"),
        ("serial_crc_errors.toml", "crc_error"),
        ("serial_garbled.toml", "garbled"),
    ] {
        let plant = Plant::from_scenario(common::scenario(file), None);
        assert!(
            plant.fault_intervals().iter().all(|f| f.fault == kind),
            "{file}"
        );
    }
}

fn error_of(text: &str) -> String {
    match Scenario::from_toml_str(text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

const BASE: &str = r#"
[scenario]
name = "t"
[[machines]]
id = "m"
"#;

#[test]
fn a_misspelt_key_is_an_error_not_a_default() {
    let e = error_of(&format!("{BASE}rmp = 1500.0\n"));
    assert!(e.contains("rmp"), "{e}");
    let e = error_of(&format!("{BASE}[[faults]]\nkind = \"bearing_wear\"\nmachine = \"m\"\nstart = 0\nramp_time = \"1h\"\n"));
    assert!(e.contains("ramp_time"), "{e}");
}

#[test]
fn references_to_unknown_machines_and_devices_are_refused() {
    let e = error_of(&format!(
        "{BASE}[[faults]]\nkind = \"imbalance\"\nmachine = \"nope\"\nstart = \"1m\"\n"
    ));
    assert!(e.contains("unknown machine \"nope\""), "{e}");
    let e = error_of(&format!(
        "{BASE}[[faults]]\nkind = \"crc_error\"\ndevice = \"bus\"\nstart = \"1m\"\n"
    ));
    assert!(e.contains("not a serial device"), "{e}");
}

#[test]
fn overlapping_registers_are_refused() {
    let e = error_of(&format!(
        "{BASE}[[devices]]\nid = \"gw\"\nkind = \"modbus_tcp\"\n[[devices.units]]\nunit_id = 1\nmachine = \"m\"\nregisters = [\n\
         {{ table = \"input\", address = 0, signal = \"temperature\", type = \"f32\" }},\n\
         {{ table = \"input\", address = 1, signal = \"status\" }},\n]\n"
    ));
    assert!(e.contains("overlaps"), "{e}");
}

#[test]
fn a_fault_that_ends_before_it_starts_is_refused() {
    let e = error_of(&format!("{BASE}[[faults]]\nkind = \"stuck\"\nmachine = \"m\"\nsensor = \"temperature\"\nstart = \"10m\"\nend = \"5m\"\n"));
    assert!(e.contains("end must be after start"), "{e}");
}
