//! The Modbus TCP gateway: tokio-modbus's server with our service behind it.
//!
//! Unit ids that the gateway does not know answer exception 0x0B (gateway target device
//! failed to respond), as a real gateway does. Unit 0 and 255, which many TCP masters use to
//! mean "the device itself", reach the only unit when there is exactly one.

use std::{future, io, net::SocketAddr, sync::Arc};

use tokio::net::{TcpListener, TcpStream};
use tokio_modbus::{server::tcp::Server, ExceptionCode, Response, SlaveRequest};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use super::modbus::{ModbusDevice, Outcome};

#[derive(Debug, Clone)]
struct Service(Arc<ModbusDevice>);

impl tokio_modbus::server::Service for Service {
    type Request = SlaveRequest<'static>;
    type Response = Option<Response>;
    type Exception = ExceptionCode;
    type Future = future::Ready<Result<Option<Response>, ExceptionCode>>;

    fn call(&self, req: Self::Request) -> Self::Future {
        let units = self.0.unit_ids();
        let unit = match (req.slave, units.as_slice()) {
            (0 | 255, [only]) => *only,
            (unit, _) => unit,
        };
        future::ready(match self.0.handle(unit, &req.request) {
            Outcome::Reply(response) => Ok(Some(response)),
            Outcome::Exception(code) => Err(code),
            Outcome::Silent => Ok(None),
            Outcome::UnknownUnit => Err(ExceptionCode::GatewayTargetDevice),
        })
    }
}

/// Serves `device` on `listener` until `cancel` fires.
pub(crate) async fn run(
    device: Arc<ModbusDevice>,
    listener: TcpListener,
    cancel: CancellationToken,
) {
    let id = device.id().to_owned();
    let server = Server::new(listener);
    let on_connected = |stream: TcpStream, peer: SocketAddr| {
        let service = Service(Arc::clone(&device));
        debug!(device = %service.0.id(), %peer, "Modbus TCP connection");
        future::ready(io::Result::Ok(Some((service, stream))))
    };
    let device_id = id.clone();
    let on_error =
        move |error: io::Error| debug!(device = %device_id, %error, "Modbus TCP connection closed");
    match server
        .serve_until(&on_connected, on_error, cancel.cancelled_owned())
        .await
    {
        Ok(_) => info!(device = %id, "Modbus TCP server stopped"),
        Err(error) => tracing::warn!(device = %id, %error, "Modbus TCP server failed"),
    }
}
