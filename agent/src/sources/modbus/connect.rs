//! Opening a Modbus client context over TCP or a serial line, under a timeout.

use std::time::Duration;

use tokio::net::lookup_host;
use tokio_modbus::client::{rtu, tcp, Context};
use tokio_modbus::Slave;
use tokio_serial::SerialPortBuilderExt;

use crate::config::{Parity, SerialLine};
use crate::sources::health::Failure;

/// Connects to the Modbus TCP server at `address` (HOST:PORT) for unit `unit`.
pub async fn tcp(address: &str, unit: u8, timeout: Duration) -> Result<Context, Failure> {
    let connect = async {
        let mut last = Failure::Transport(format!("{address} resolves to no address"));
        for socket in lookup_host(address)
            .await
            .map_err(|e| Failure::Transport(format!("cannot resolve {address}: {e}")))?
        {
            match tcp::connect_slave(socket, Slave(unit)).await {
                Ok(ctx) => return Ok(ctx),
                Err(e) => last = Failure::Transport(format!("{socket}: {e}")),
            }
        }
        Err(last)
    };
    tokio::time::timeout(timeout, connect)
        .await
        .map_err(|_| Failure::Timeout)?
}

/// Opens the serial line and attaches an RTU client addressing `unit` (change it with
/// `SlaveContext::set_slave` to talk to other slaves on the bus).
pub fn serial(line: &SerialLine, unit: u8) -> Result<Context, Failure> {
    let port = open_serial(line)?;
    Ok(rtu::attach_slave(port, Slave(unit)))
}

/// Opens a serial line with its configured settings.
pub fn open_serial(line: &SerialLine) -> Result<tokio_serial::SerialStream, Failure> {
    let parity = match line.parity {
        Parity::None => tokio_serial::Parity::None,
        Parity::Even => tokio_serial::Parity::Even,
        Parity::Odd => tokio_serial::Parity::Odd,
    };
    let data_bits = if line.data_bits == 7 {
        tokio_serial::DataBits::Seven
    } else {
        tokio_serial::DataBits::Eight
    };
    let stop_bits = if line.stop_bits == 2 {
        tokio_serial::StopBits::Two
    } else {
        tokio_serial::StopBits::One
    };
    tokio_serial::new(line.path.to_string_lossy(), line.baud)
        .parity(parity)
        .data_bits(data_bits)
        .stop_bits(stop_bits)
        .open_native_async()
        .map_err(|e| Failure::Transport(format!("cannot open {}: {e}", line.path.display())))
}
