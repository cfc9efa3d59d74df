//! A Modbus master not written here (pymodbus) reads every register of the demo plant, over
//! TCP and over the RTU pseudo-terminal, and decodes the values the simulator says it holds.
//!
//! The plant clock is manual and stands at one plant time, so what pymodbus reads must equal
//! `Plant::reading` at that time, to the resolution of each register's type and scale.

mod common;

use std::{process::Stdio, time::Duration};

use firmware_sim::{registers::ValueType, Plant, SimClock, Simulator};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

const PLANT_TIME: f64 = 2400.0;

fn type_name(ty: ValueType) -> &'static str {
    match ty {
        ValueType::U16 => "u16",
        ValueType::I16 => "i16",
        ValueType::U32 => "u32",
        ValueType::I32 => "i32",
        ValueType::F32 => "f32",
        ValueType::F64 => "f64",
    }
}

fn table_name(t: firmware_sim::registers::Table) -> &'static str {
    use firmware_sim::registers::Table::*;
    match t {
        Coil => "coil",
        Discrete => "discrete",
        Holding => "holding",
        Input => "input",
    }
}

/// Runs the Python master with `args` and `spec` on stdin; returns its JSON answer.
async fn run_master(args: &[String], spec: &Value) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pymodbus_client.py");
    let mut child = tokio::process::Command::new(common::python())
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python starts");
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin
        .write_all(spec.to_string().as_bytes())
        .await
        .expect("spec written");
    drop(stdin);
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("pymodbus master finishes within 60 s")
        .expect("pymodbus master runs");
    assert!(
        output.status.success(),
        "pymodbus master failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("pymodbus master prints JSON")
}

/// Reads every entry of every unit of `device` and checks the decoded values.
fn check_values(plant: &Plant, device: &str, answer: &Value) -> usize {
    let scenario = plant.scenario();
    let mut checked = 0;
    let values = answer["values"].as_array().expect("values array");
    let mut results = values.iter();
    for unit in common::units(scenario, device) {
        for r in &unit.registers {
            let got = results.next().expect("one result per entry");
            let expected =
                common::expected_value(plant, &unit.machine, r.signal, r.value, PLANT_TIME);
            let value = got["value"].as_f64().unwrap_or_else(|| {
                panic!(
                    "{device} unit {} {:?} {}: no value: {got}",
                    unit.unit_id, r.table, r.address
                )
            });
            let tolerance = if r.table.is_bits() {
                0.0
            } else {
                match r.value_type {
                    ValueType::F32 => 1e-6 * expected.abs().max(1.0),
                    ValueType::F64 => 1e-12 * expected.abs().max(1.0),
                    _ => r.scale.abs() / 2.0 + 1e-9,
                }
            };
            let expected = if r.table.is_bits() {
                f64::from(u8::from(expected != 0.0))
            } else {
                expected
            };
            assert!(
                (value - expected).abs() <= tolerance,
                "{device} unit {} {:?} {} ({}): pymodbus decoded {value}, simulator holds {expected}",
                unit.unit_id,
                r.table,
                r.address,
                r.name.as_deref().unwrap_or("")
            );
            checked += 1;
        }
    }
    checked
}

fn spec_for(plant: &Plant, device: &str) -> Value {
    let reads: Vec<Value> = common::units(plant.scenario(), device)
        .iter()
        .flat_map(|u| {
            u.registers.iter().map(move |r| {
                json!({
                    "unit": u.unit_id, "table": table_name(r.table), "address": r.address,
                    "type": type_name(r.value_type), "order": format!("{:?}", r.order),
                    "scale": r.scale, "offset": r.offset,
                })
            })
        })
        .collect();
    let first = &common::units(plant.scenario(), device)[0];
    json!({
        "reads": reads,
        "unmapped": [
            { "unit": first.unit_id, "table": "input", "address": 900 },
            { "unit": first.unit_id, "table": "holding", "address": 900, "count": 2 },
        ],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymodbus_decodes_every_demo_register_over_tcp() {
    let plant = Plant::from_scenario(common::scenario("demo.toml"), Some(42));
    let mut sim = Simulator::new(plant, SimClock::manual(PLANT_TIME));
    let addr = sim
        .start_modbus_tcp("gateway", "127.0.0.1:0".parse().expect("address"))
        .await
        .expect("gateway starts");
    let mut spec = spec_for(sim.plant(), "gateway");
    // The motor's velocity alarm setpoint (holding 0, x100) is writable; a unit that is not
    // behind the gateway answers exception 0x0B.
    spec["writes"] = json!([{ "unit": 1, "address": 0, "values": [650] }]);
    spec["unmapped"]
        .as_array_mut()
        .expect("array")
        .push(json!({ "unit": 9, "table": "input", "address": 0 }));
    let answer = run_master(
        &["tcp".into(), addr.ip().to_string(), addr.port().to_string()],
        &spec,
    )
    .await;

    let checked = check_values(sim.plant(), "gateway", &answer);
    assert!(checked >= 25, "only {checked} entries checked");
    assert_eq!(
        answer["unmapped"],
        json!([2, 2, 11]),
        "illegal data address, then gateway target"
    );
    assert_eq!(
        answer["writes"],
        json!([{ "ok": true, "read_back": [650] }])
    );
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymodbus_decodes_every_demo_register_over_the_rtu_pty() {
    let plant = Plant::from_scenario(common::scenario("demo.toml"), Some(42));
    let mut sim = Simulator::new(plant, SimClock::manual(PLANT_TIME));
    let path = sim
        .start_rtu_pty("rtu-bus", None)
        .await
        .expect("RTU bus starts");
    let spec = spec_for(sim.plant(), "rtu-bus");
    let answer = run_master(
        &["rtu".into(), path.display().to_string(), "19200".into()],
        &spec,
    )
    .await;

    let checked = check_values(sim.plant(), "rtu-bus", &answer);
    assert!(checked >= 9, "only {checked} entries checked");
    assert_eq!(answer["unmapped"], json!([2, 2]), "illegal data address");
    sim.shutdown().await.expect("clean shutdown");
}
