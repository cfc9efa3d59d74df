//! Modbus faults as a master sees them on the wire, with tokio-modbus's client (another
//! master not written here): exceptions, timeouts, CRC errors, and an RTU bus paced at its
//! baud rate. The plant clock is manual, set inside or outside each fault's interval.

mod common;

use std::time::{Duration, Instant};

use firmware_sim::{Plant, Scenario, SimClock, Simulator};
use tokio_modbus::{client::Context, prelude::*, ExceptionCode};

const REPLY_TIMEOUT: Duration = Duration::from_millis(250);

/// What one read of input registers 0..5 of unit 1 gave.
#[derive(Debug, PartialEq)]
enum Got {
    Values,
    Exception(ExceptionCode),
    Nothing,
}

async fn poll(ctx: &mut Context) -> Got {
    match tokio::time::timeout(REPLY_TIMEOUT, ctx.read_input_registers(0, 5)).await {
        Ok(Ok(Ok(_))) => Got::Values,
        Ok(Ok(Err(code))) => Got::Exception(code),
        Ok(Err(_)) | Err(_) => Got::Nothing,
    }
}

async fn start(file: &str, t: f64) -> (Simulator, Context, Context, SimClock) {
    let clock = SimClock::manual(t);
    let mut sim = Simulator::new(
        Plant::from_scenario(common::scenario(file), None),
        clock.clone(),
    );
    let addr = sim
        .start_modbus_tcp("gateway", "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("tcp");
    let path = sim.start_rtu_pty("rtu-bus", None).await.expect("rtu");
    let tcp = tokio_modbus::client::tcp::connect_slave(addr, Slave(1))
        .await
        .expect("connect");
    let serial =
        tokio_serial::SerialStream::open(&tokio_serial::new(path.to_string_lossy(), 19200))
            .expect("open pty");
    let rtu = tokio_modbus::client::rtu::attach_slave(serial, Slave(1));
    (sim, tcp, rtu, clock)
}

#[tokio::test]
async fn exceptions_come_back_with_their_code_inside_the_interval_only() {
    let (sim, mut tcp, mut rtu, clock) = start("modbus_exception.toml", 600.0).await;
    let mut busy = 0;
    for _ in 0..60 {
        match poll(&mut tcp).await {
            Got::Values => {}
            Got::Exception(ExceptionCode::ServerDeviceBusy) => busy += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        (10..=32).contains(&busy),
        "{busy} of 60 answered busy (probability 0.33)"
    );
    for _ in 0..3 {
        assert_eq!(
            poll(&mut rtu).await,
            Got::Exception(ExceptionCode::ServerDeviceFailure)
        );
    }
    clock.set(1000.0);
    assert_eq!(poll(&mut tcp).await, Got::Values);
    assert_eq!(poll(&mut rtu).await, Got::Values);
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn timeouts_leave_requests_unanswered_and_the_link_usable() {
    let (sim, mut tcp, mut rtu, clock) = start("modbus_timeout.toml", 900.0).await;
    let results: Vec<Got> = {
        let mut v = Vec::new();
        for _ in 0..12 {
            v.push(poll(&mut tcp).await);
        }
        v
    };
    let silent = results.iter().filter(|g| **g == Got::Nothing).count();
    assert!(
        (2..=10).contains(&silent),
        "{silent} of 12 unanswered (probability 0.5): {results:?}"
    );
    assert!(results
        .iter()
        .all(|g| matches!(g, Got::Values | Got::Nothing)));
    for _ in 0..2 {
        assert_eq!(poll(&mut rtu).await, Got::Nothing);
    }
    clock.set(1300.0);
    assert_eq!(poll(&mut tcp).await, Got::Values);
    assert_eq!(poll(&mut rtu).await, Got::Values);
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn replies_with_a_bad_crc_are_refused_by_the_master() {
    let (sim, _tcp, mut rtu, clock) = start("serial_crc_errors.toml", 600.0).await;
    let mut failed = 0;
    for _ in 0..25 {
        if poll(&mut rtu).await != Got::Values {
            failed += 1;
        }
    }
    assert!(
        (1..=12).contains(&failed),
        "{failed} of 25 replies refused (probability 0.2)"
    );
    clock.set(2200.0);
    for _ in 0..5 {
        assert_eq!(poll(&mut rtu).await, Got::Values);
    }
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_9600_baud_bus_answers_no_faster_than_the_wire_allows() {
    let scenario = Scenario::from_toml_str(
        r#"
        [scenario]
        name = "slow bus"
        [[machines]]
        id = "m"
        [[devices]]
        id = "bus"
        kind = "modbus_rtu"
        baud = 9600
        [[devices.units]]
        unit_id = 5
        machine = "m"
        registers = [ { table = "holding", address = 0, signal = "constant", value = 1.0, type = "f64" },
                      { table = "holding", address = 4, signal = "constant", value = 2.0, type = "f64" },
                      { table = "holding", address = 8, signal = "status", type = "u32" } ]
        "#,
    )
    .expect("scenario");
    let mut sim = Simulator::new(Plant::from_scenario(scenario, None), SimClock::manual(0.0));
    let path = sim.start_rtu_pty("bus", None).await.expect("rtu");
    let serial = tokio_serial::SerialStream::open(&tokio_serial::new(path.to_string_lossy(), 9600))
        .expect("open");
    let mut ctx = tokio_modbus::client::rtu::attach_slave(serial, Slave(5));
    let n = 10;
    let started = Instant::now();
    for _ in 0..n {
        let words = tokio::time::timeout(Duration::from_secs(1), ctx.read_holding_registers(0, 10))
            .await
            .expect("reply in time")
            .expect("link ok")
            .expect("no exception");
        assert_eq!(words.len(), 10);
    }
    let elapsed = started.elapsed().as_secs_f64();
    // Request 8 bytes, reply 5 + 20 bytes, 3.5 characters of silence, 11 bits a character.
    let per_exchange = (8.0 + 25.0 + 3.5) * 11.0 / 9600.0;
    let floor = f64::from(n) * per_exchange;
    assert!(
        elapsed >= floor * 0.95,
        "{n} exchanges in {elapsed:.3} s, the wire needs {floor:.3} s"
    );
    assert!(
        elapsed < floor * 3.0 + 0.5,
        "{n} exchanges took {elapsed:.3} s"
    );
    sim.shutdown().await.expect("clean shutdown");
}
