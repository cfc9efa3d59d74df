//! The Modbus RTU bus: several slaves on one pseudo-terminal.
//!
//! Reads bytes, splits them into requests ([`crate::protocol::rtu::RtuFramer`]), answers
//! each through the shared [`ModbusDevice`], applies line faults, and, when pacing is on,
//! holds each reply back for the time the exchange would occupy a real bus:
//! `(request bytes + reply bytes + 3.5) * bits_per_char / baud`. A request for a unit that
//! is not on the bus, a broadcast (unit 0) and a request hit by a timeout fault get no
//! reply, as on a real multi-drop line. A request with a bad CRC is dropped silently.

use std::{sync::Arc, time::Duration};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{
    line::{self, Impairment},
    modbus::{ModbusDevice, Outcome},
    pty::Pty,
};
use crate::protocol::rtu::{
    adu, decode_request, encode_exception, encode_response, Received, RtuFramer,
};

const WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// Line parameters of the bus.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BusTiming {
    pub baud: u32,
    pub bits_per_char: u32,
    pub pace: bool,
}

impl BusTiming {
    fn chars(&self, n: f64) -> Duration {
        Duration::from_secs_f64(n * f64::from(self.bits_per_char) / f64::from(self.baud))
    }

    /// Silence after which a partial frame is taken as complete: 3.5 characters, but at
    /// least 5 ms, since a pseudo-terminal delivers bytes in bursts.
    fn frame_gap(&self) -> Duration {
        self.chars(3.5).max(Duration::from_millis(5))
    }
}

/// Serves the bus until `cancel` fires.
pub(crate) async fn run(
    device: Arc<ModbusDevice>,
    mut pty: Pty,
    timing: BusTiming,
    cancel: CancellationToken,
) {
    let mut framer = RtuFramer::default();
    let mut buf = [0u8; 512];
    let mut replies: u64 = 0;
    loop {
        let read = async {
            if framer.is_empty() {
                Some(pty.master.read(&mut buf).await)
            } else {
                tokio::time::timeout(timing.frame_gap(), pty.master.read(&mut buf))
                    .await
                    .ok()
            }
        };
        let read = tokio::select! {
            () = cancel.cancelled() => break,
            read = read => read,
        };
        match read {
            Some(Ok(0)) => {
                // A pty master with a slave handle open does not reach end of file; wait a bit
                // rather than spin if it ever does.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Some(Ok(n)) => framer.push(&buf[..n]),
            Some(Err(error)) => {
                warn!(device = %device.id(), %error, "RTU bus read failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            None => {
                if let Some(received) = framer.silence() {
                    replies = serve(&device, &mut pty, timing, received, replies, &cancel).await;
                }
            }
        }
        while let Some(received) = framer.next_frame() {
            replies = serve(&device, &mut pty, timing, received, replies, &cancel).await;
        }
    }
    info!(device = %device.id(), "RTU bus stopped");
}

/// Answers one received frame; returns the updated reply counter.
async fn serve(
    device: &ModbusDevice,
    pty: &mut Pty,
    timing: BusTiming,
    received: Received,
    replies: u64,
    cancel: &CancellationToken,
) -> u64 {
    let (slave, pdu) = match received {
        Received::Frame { slave, pdu } => (slave, pdu),
        Received::Noise(n) => {
            debug!(device = %device.id(), bytes = n, "RTU bus: dropped bytes that are not a valid frame");
            return replies;
        }
    };
    let request_len = pdu.len() + 3;
    let outcome = match decode_request(&pdu) {
        Ok(request) => device.handle(slave, &request),
        Err(code) if device.unit_ids().contains(&slave) => Outcome::Exception(code),
        Err(_) => Outcome::UnknownUnit,
    };
    if slave == 0 {
        return replies;
    }
    let reply_pdu = match outcome {
        Outcome::Reply(response) => encode_response(&response).unwrap_or_else(|| {
            encode_exception(pdu[0], tokio_modbus::ExceptionCode::IllegalFunction)
        }),
        Outcome::Exception(code) => encode_exception(pdu[0], code),
        Outcome::Silent | Outcome::UnknownUnit => return replies,
    };
    let mut frame = adu(slave, &reply_pdu);
    let t = device.clock().now();
    match line::impairment(device.plant(), device.id(), t, replies) {
        Impairment::Clean => {}
        Impairment::BadCrc => {
            let last = frame.len() - 1;
            frame[last] ^= 0x5A;
        }
        Impairment::Garbled => line::garble(&mut frame, device.plant().seed(), replies),
    }
    if timing.pace {
        let busy = timing.chars((request_len + frame.len()) as f64 + 3.5);
        tokio::select! {
            () = cancel.cancelled() => return replies,
            () = tokio::time::sleep(busy) => {}
        }
    }
    // Nobody may be reading (a master that sent and closed): never block the bus on it.
    match tokio::time::timeout(WRITE_TIMEOUT, pty.master.write_all(&frame)).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => warn!(device = %device.id(), %error, "RTU bus write failed"),
        Err(_) => debug!(device = %device.id(), "RTU reply dropped: nobody reads the bus"),
    }
    replies + 1
}
