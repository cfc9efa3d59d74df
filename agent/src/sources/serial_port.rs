//! Opening a serial line (an RTU bus or a sensor stream) without stalling the agent.
//!
//! Opening a tty is a blocking system call. It normally returns at once, but a USB adapter
//! whose driver has stopped answering can hold it for minutes, and on one of the runtime's
//! two worker threads that would stall half of every other source. So the open runs on a
//! blocking thread and is waited for under [`OPEN_TIMEOUT`]. A thread stuck in the kernel
//! cannot be cancelled: a [`PortOpener`] keeps the open in flight and waits for that same
//! open on the next attempt instead of starting another, so a hung driver costs one thread
//! per port, not one per retry.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_serial::{SerialPortBuilderExt, SerialStream};

use crate::config::{Parity, SerialLine};
use crate::sources::health::Failure;

/// How long an open may take before the port counts as unreachable (a timeout) for this
/// attempt. Generous: a healthy open takes microseconds.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens one serial line, again and again (after each failure), with at most one open in
/// flight; see the module docs.
#[derive(Debug)]
pub struct PortOpener {
    line: SerialLine,
    in_flight: InFlight<SerialStream>,
}

impl PortOpener {
    pub fn new(line: SerialLine) -> Self {
        Self {
            line,
            in_flight: InFlight::default(),
        }
    }

    /// The port, opened with the line's settings; [`Failure::Timeout`] if the open has not
    /// returned within [`OPEN_TIMEOUT`] (it is then awaited again by the next call).
    pub async fn open(&mut self) -> Result<SerialStream, Failure> {
        let line = self.line.clone();
        self.in_flight
            .run(OPEN_TIMEOUT, move || open_now(&line))
            .await
    }
}

/// A blocking call run on tokio's blocking pool, of which at most one is in flight.
#[derive(Debug)]
struct InFlight<T> {
    pending: Option<JoinHandle<Result<T, Failure>>>,
}

impl<T> Default for InFlight<T> {
    fn default() -> Self {
        Self { pending: None }
    }
}

impl<T: Send + 'static> InFlight<T> {
    /// The outcome of `call`, or of the call still in flight from an earlier attempt (then
    /// `call` is not made); [`Failure::Timeout`] if it does not finish within `timeout`.
    async fn run<F>(&mut self, timeout: Duration, call: F) -> Result<T, Failure>
    where
        F: FnOnce() -> Result<T, Failure> + Send + 'static,
    {
        let handle = self
            .pending
            .get_or_insert_with(|| tokio::task::spawn_blocking(call));
        match tokio::time::timeout(timeout, handle).await {
            Err(_elapsed) => Err(Failure::Timeout), // still in flight: kept for the next call
            Ok(joined) => {
                self.pending = None;
                joined.unwrap_or_else(|e| Err(Failure::Transport(format!("the open failed: {e}"))))
            }
        }
    }
}

/// Opens `line` with its configured settings, blocking until the system call returns. Must
/// run inside the runtime (the port registers with its reactor).
fn open_now(line: &SerialLine) -> Result<SerialStream, Failure> {
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn a_hung_call_times_out_and_is_awaited_again_not_started_again() {
        let mut in_flight = InFlight::default();
        let calls = Arc::new(AtomicUsize::new(0));
        let hung_call = |calls: Arc<AtomicUsize>| {
            move || {
                calls.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(300));
                Ok(7)
            }
        };
        let short = Duration::from_millis(50);
        assert_eq!(
            in_flight.run(short, hung_call(Arc::clone(&calls))).await,
            Err(Failure::Timeout)
        );
        assert_eq!(
            in_flight.run(short, hung_call(Arc::clone(&calls))).await,
            Err(Failure::Timeout)
        );
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "one call in flight, not two"
        );
        // Once it returns, its outcome is what the next attempt gets, and the slot is free.
        let long = Duration::from_secs(5);
        assert_eq!(
            in_flight.run(long, hung_call(Arc::clone(&calls))).await,
            Ok(7)
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(
            in_flight.run(long, hung_call(Arc::clone(&calls))).await,
            Ok(7)
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_port_that_does_not_exist_is_a_transport_failure_that_names_it() {
        let line = SerialLine {
            path: "/dev/edge-agent-no-such-port".into(),
            baud: 9600,
            parity: Parity::None,
            data_bits: 8,
            stop_bits: 1,
        };
        match PortOpener::new(line).open().await {
            Err(Failure::Transport(reason)) => {
                assert!(reason.contains("/dev/edge-agent-no-such-port"), "{reason}");
            }
            other => panic!("expected a transport failure, got {other:?}"),
        }
    }
}
