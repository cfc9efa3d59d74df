//! Between two connection attempts, a cheap TCP probe of the broker's port, so that the
//! sink reconnects at once when the broker returns instead of at the end of a backoff delay
//! that may have grown to `reconnect_max`.
//!
//! The probe opens a TCP connection and closes it: no MQTT, no TLS, no authentication, one
//! SYN per `reconnect_probe` against a broker that is down (refused or unreachable). It
//! shortens the wait only on a **transition**: a probe that fails, then one that succeeds.
//! A broker whose port answers from the start (it refuses the CONNECT, say, for bad
//! credentials) gets no shortcut, so the backoff still spaces those attempts out.

use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::{sleep_until, timeout, Instant};

/// How a wait for the next attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitEnd {
    /// The backoff delay ran out.
    Delay,
    /// The broker's port was seen closed, then open: it is back.
    BrokerBack,
}

/// Waits until `at`, probing `host:port` every `every` (`None`: no probing).
pub(crate) async fn wait_for_attempt(
    at: Instant,
    host: &str,
    port: u16,
    every: Option<Duration>,
) -> WaitEnd {
    let Some(every) = every else {
        sleep_until(at).await;
        return WaitEnd::Delay;
    };
    let mut seen_closed = false;
    loop {
        let now = Instant::now();
        if now >= at {
            return WaitEnd::Delay;
        }
        let open = matches!(
            timeout(every, TcpStream::connect((host, port))).await,
            Ok(Ok(_))
        );
        if open && seen_closed {
            return WaitEnd::BrokerBack;
        }
        seen_closed |= !open;
        sleep_until((now + every).min(at)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_port_that_opens_ends_the_wait_long_before_the_delay() {
        // A port that is closed now: bind, note it, drop.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let opener = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            tokio::net::TcpListener::bind(("127.0.0.1", port)).await
        });
        let far = Instant::now() + Duration::from_secs(60);
        let every = Some(Duration::from_millis(50));
        let ended = timeout(
            Duration::from_secs(20),
            wait_for_attempt(far, "127.0.0.1", port, every),
        );
        assert_eq!(ended.await, Ok(WaitEnd::BrokerBack));
        let _listener = opener.await.expect("task").expect("bind again");
    }

    #[tokio::test]
    async fn a_port_open_from_the_start_gets_no_shortcut() {
        // Real time (paused time would let a probe's timeout win against real I/O).
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        let at = Instant::now() + Duration::from_millis(600);
        let every = Some(Duration::from_millis(100));
        assert_eq!(
            wait_for_attempt(at, "127.0.0.1", port, every).await,
            WaitEnd::Delay
        );
        assert!(Instant::now() >= at);
    }
}
