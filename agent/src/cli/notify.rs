//! systemd's notify protocol, for `Type=notify` units with `WatchdogSec=`: `READY=1` once the
//! agent has started (spool open, sources and sink started), `WATCHDOG=1` every half watchdog
//! interval while the agent's runtime runs, `STOPPING=1` when it stops. Every message is a
//! no-op without `NOTIFY_SOCKET` (not under systemd); a failed send is logged once.
//!
//! The watchdog proves that the runtime still schedules tasks: a deadlocked or starved runtime
//! stops the pings and systemd restarts the agent.

use std::time::Duration;

use edge_agent::observe::Observer;
use sd_notify::NotifyState;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// How often readiness is looked at before the agent is ready.
const READY_POLL: Duration = Duration::from_millis(50);

/// Notifies systemd as the agent starts, runs and stops, until `stop`.
pub(crate) async fn run(observer: Observer, stop: CancellationToken) {
    let mut notifier = Notifier::default();
    loop {
        let readiness = observer.readiness().await;
        if readiness.sources_started && readiness.spool_open {
            break;
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(READY_POLL) => {}
        }
    }
    notifier.send(&[NotifyState::Ready, NotifyState::Status("running")]);
    match sd_notify::watchdog_enabled() {
        Some(interval) => {
            let period = (interval / 2).max(Duration::from_millis(10));
            debug!(?period, "systemd watchdog enabled");
            loop {
                notifier.send(&[NotifyState::Watchdog]);
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(period) => {}
                }
            }
        }
        None => stop.cancelled().await,
    }
    notifier.send(&[NotifyState::Stopping]);
}

#[derive(Debug, Default)]
struct Notifier {
    failure_logged: bool,
}

impl Notifier {
    fn send(&mut self, states: &[NotifyState<'_>]) {
        if let Err(error) = sd_notify::notify(states) {
            if !self.failure_logged {
                self.failure_logged = true;
                warn!(%error, "cannot notify systemd (further failures are not logged)");
            }
        }
    }
}
