//! Opening a Modbus TCP client context, under a timeout. (A serial line is opened by
//! [`PortOpener`](crate::sources::serial_port::PortOpener), then attached with
//! `tokio_modbus::client::rtu::attach_slave`.)

use std::time::Duration;

use tokio::net::lookup_host;
use tokio_modbus::client::{tcp, Context};
use tokio_modbus::Slave;

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
