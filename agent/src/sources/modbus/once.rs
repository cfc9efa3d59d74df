//! `poll --once`: read every configured Modbus device once, the way an integrator checks a
//! register map before going live. Devices on one serial line share one open port.

use std::collections::BTreeMap;

use tokio_modbus::client::Context;
use tokio_modbus::slave::{Slave, SlaveContext};

use super::connect;
use super::poller::{poll_group, PlannedGroup, Value};
use crate::config::{Device, Register, SerialLine, Transport};
use crate::sources::health::Failure;
use crate::sources::now_ms;
use crate::sources::serial_port::PortOpener;

/// One decoded value of one register.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub device: String,
    pub register: Register,
    pub ts_ms: i64,
    pub value: Value,
}

/// What reading one device once gave.
#[derive(Debug, Clone, Default)]
pub struct DeviceReport {
    pub device: String,
    pub decoded: Vec<Decoded>,
    /// Each failure, with the sensors it left unread.
    pub failures: Vec<(Failure, Vec<String>)>,
}

/// Reads every device once, TCP devices and serial buses one after the other.
pub async fn poll_once(devices: &[Device]) -> Vec<DeviceReport> {
    let mut reports = Vec::new();
    let mut buses: BTreeMap<String, (SerialLine, Vec<&Device>)> = BTreeMap::new();
    for device in devices {
        match &device.transport {
            Transport::Tcp { address } => {
                let report = match connect::tcp(address, device.unit, device.timeout).await {
                    Ok(mut ctx) => read_device(&mut ctx, device).await,
                    Err(failure) => unreachable(device, failure),
                };
                reports.push(report);
            }
            Transport::Rtu(line) => {
                let key = line.path.display().to_string();
                buses
                    .entry(key)
                    .or_insert_with(|| (line.clone(), Vec::new()))
                    .1
                    .push(device);
            }
        }
    }
    for (line, devices) in buses.into_values() {
        match PortOpener::new(line).open().await {
            Ok(port) => {
                let mut ctx = tokio_modbus::client::rtu::attach_slave(port, Slave(devices[0].unit));
                for device in devices {
                    ctx.set_slave(Slave(device.unit));
                    reports.push(read_device(&mut ctx, device).await);
                }
            }
            Err(failure) => {
                reports.extend(devices.into_iter().map(|d| unreachable(d, failure.clone())))
            }
        }
    }
    reports
}

async fn read_device(ctx: &mut Context, device: &Device) -> DeviceReport {
    let mut report = DeviceReport {
        device: device.id.clone(),
        ..DeviceReport::default()
    };
    for group in &device.polls {
        let planned = PlannedGroup::new(group, device.merge_reads);
        let outcome = poll_group(ctx, &planned, device.timeout).await;
        let ts_ms = now_ms();
        report
            .decoded
            .extend(outcome.values.into_iter().map(|value| Decoded {
                device: device.id.clone(),
                register: planned.registers[value.register].clone(),
                ts_ms,
                value,
            }));
        for (failure, registers) in outcome.failures {
            let sensors = registers
                .iter()
                .map(|&r| planned.registers[r].sensor.clone())
                .collect();
            report.failures.push((failure, sensors));
        }
    }
    report
}

fn unreachable(device: &Device, failure: Failure) -> DeviceReport {
    let sensors = device
        .polls
        .iter()
        .flat_map(|g| g.registers.iter().map(|r| r.sensor.clone()))
        .collect();
    DeviceReport {
        device: device.id.clone(),
        decoded: Vec::new(),
        failures: vec![(failure, sensors)],
    }
}
