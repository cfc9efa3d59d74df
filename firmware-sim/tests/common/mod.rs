//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use firmware_sim::{scenario::DeviceConfig, Plant, Scenario, Signal};

/// The crate's shipped scenarios folder.
pub fn scenarios_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

/// Loads a shipped scenario by file name.
pub fn scenario(name: &str) -> Scenario {
    Scenario::load(scenarios_dir().join(name)).expect("shipped scenario loads")
}

/// The Python interpreter with pymodbus: `$EDGE_TEST_PYTHON`, else the workspace's
/// `.tools/venv/bin/python`. Panics with how to install it when neither exists.
pub fn python() -> PathBuf {
    const HOW: &str = "Run ./scripts/setup-test-deps.sh from the workspace root \
                       (./scripts/test.sh does it) to create .tools/venv with pymodbus.";
    if let Some(p) = std::env::var_os("EDGE_TEST_PYTHON") {
        let p = PathBuf::from(p);
        assert!(
            p.exists(),
            "EDGE_TEST_PYTHON={} does not exist. {HOW}",
            p.display()
        );
        return p;
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv/bin/python");
    assert!(
        venv.exists(),
        "no Python with pymodbus: EDGE_TEST_PYTHON is unset and {} does not exist. {HOW}",
        venv.display()
    );
    venv
}

/// What the register entry `(device, unit, table, address)` should read at plant time `t`.
pub fn expected_value(plant: &Plant, machine: &str, signal: Signal, value: f64, t: f64) -> f64 {
    match signal {
        Signal::Constant | Signal::Setpoint => value,
        s => plant
            .reading(machine, s, t)
            .expect("machine exists")
            .expect("no dropout in this scenario"),
    }
}

/// The units of a Modbus device of the scenario.
pub fn units<'a>(scenario: &'a Scenario, device: &str) -> &'a [firmware_sim::scenario::UnitConfig] {
    match scenario.device(device) {
        Some(d @ (DeviceConfig::ModbusTcp(_) | DeviceConfig::ModbusRtu(_))) => d.units(),
        _ => panic!("{device} is not a Modbus device"),
    }
}
