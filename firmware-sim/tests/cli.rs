//! The `firmware-sim` binary: endpoints printed at start, symlinks to its ptys, ground truth
//! written while it runs, a clean stop on SIGTERM.

mod common;

use std::{path::Path, process::Stdio, time::Duration};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_modbus::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_prints_endpoints_writes_truth_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (rtu, accel, probe, truth) = (
        dir.path().join("rtu"),
        dir.path().join("accel"),
        dir.path().join("probe"),
        dir.path().join("truth.jsonl"),
    );
    // At 600x the demo's bearing fault (5 min of plant time) begins after half a second.
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_firmware-sim"))
        .arg("--scenario")
        .arg(common::scenarios_dir().join("demo.toml"))
        .args([
            "--speed",
            "600",
            "--seed",
            "3",
            "--modbus-tcp",
            "127.0.0.1:0",
        ])
        .arg("--rtu-link")
        .arg(&rtu)
        .arg("--serial-link")
        .arg(format!("accel-motor={}", accel.display()))
        .arg("--serial-link")
        .arg(format!("temp-pump={}", probe.display()))
        .arg("--truth")
        .arg(&truth)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut endpoints = Vec::new();
    let started = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.expect("stdout readable") {
            if line == "ready" {
                return true;
            }
            if line.starts_with("endpoint ") {
                endpoints.push(line);
            }
        }
        false
    })
    .await
    .expect("ready within 20 s");
    assert!(started, "the binary exited before it was ready");
    assert_eq!(endpoints.len(), 4, "{endpoints:?}");

    // `endpoint gateway modbus_tcp 127.0.0.1:PORT`: the gateway answers.
    let gateway = endpoints
        .iter()
        .find(|l| l.contains("modbus_tcp"))
        .expect("gateway line");
    let addr = gateway
        .split_whitespace()
        .nth(3)
        .expect("address")
        .parse()
        .expect("socket address");
    let mut ctx = tokio_modbus::client::tcp::connect_slave(addr, Slave(1))
        .await
        .expect("connect");
    let rpm = ctx
        .read_input_registers(23, 1)
        .await
        .expect("link")
        .expect("no exception");
    assert_eq!(rpm, vec![1480]);
    for link in [&rtu, &accel, &probe] {
        let target = std::fs::read_link(link).expect("symlink made");
        assert!(target.starts_with("/dev/pts"), "{}", target.display());
    }

    // Wait for the bearing fault's start line.
    let has = |needle: &str| {
        std::fs::read_to_string(&truth)
            .unwrap_or_default()
            .contains(needle)
    };
    tokio::time::timeout(Duration::from_secs(10), async {
        while !has(r#""event":"start""#) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the fault began within 10 s");

    let pid = child.id().expect("running").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("stops within 10 s of SIGTERM")
        .expect("exit status");
    assert!(exit.success(), "{exit:?}");

    let text = std::fs::read_to_string(&truth).expect("truth file");
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let bearing: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r["fault"] == "bearing_wear")
        .collect();
    assert_eq!(bearing.len(), 2, "start and end lines: {text}");
    assert_eq!(bearing[0]["machine"], "motor-1");
    assert_eq!(bearing[0]["start_s"], 300.0);
    assert!(bearing[0]["end_s"].is_null());
    assert_eq!(bearing[1]["event"], "end");
    assert_eq!(bearing[1]["truncated"], true);
    assert!(bearing[1]["end_unix_ms"].as_u64() > bearing[1]["start_unix_ms"].as_u64());
    for link in [&rtu, &accel, &probe] {
        assert!(
            Path::new(link).symlink_metadata().is_err(),
            "{} left behind",
            link.display()
        );
    }
}
