//! The task of one serial stream: open the port, read, decode, send events, judge health,
//! reopen when the port breaks or falls silent.
//!
//! ```text
//!   open ──fail──▶ unreachable (offline) ─▶ backoff ─▶ open
//!    │ok
//!    ▼
//!   read ──bytes──▶ decoder ─▶ events ─▶ channel
//!    │ ├─ every health period: judge the outcomes since the last one
//!    │ └─ silence timeout: Timeout failure; once offline, reopen
//!    └─ error / end of file ─▶ Transport failure ─▶ backoff ─▶ open
//! ```
//!
//! Invariants:
//! - the task ends only when `shutdown` is cancelled or nobody receives its events; every
//!   wait for the port (open, read, backoff) is raced against `shutdown`, but sends are not:
//!   what was read goes downstream, which drains at shutdown (`sources::send`);
//! - decoding changes health once per period at most: a period with any dropped frame or
//!   line is a `Decode` failure (degraded); online again takes `recover_periods` clean periods in a row
//!   after decode errors, one after anything else; silence and broken ports are judged as
//!   they happen, through [`DeviceHealth`]'s own rules (offline from the third in a row);
//! - failures are logged once per streak (by [`DeviceHealth`]); per-period summaries of
//!   dropped frames go to `debug`, at most one per period.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, info_span, Instrument};

use super::counters::StreamCounters;
use super::decoder::{DecoderError, StreamDecoder};
use crate::backoff::Backoff;
use crate::config::{SerialLine, Stream};
use crate::event::{Event, HealthState};
use crate::sources::health::{DeviceCounters, DeviceHealth, Failure};
use crate::sources::now_ms;
use crate::sources::send::send_all;
use crate::sources::serial_port::PortOpener;

/// A stream is one read in its device's health (health tracks a Modbus device's polls apart).
const STREAM: usize = 0;
/// What a failed read of a stream was reading, for its health event.
const STREAM_READS: &str = "the serial stream";

/// The timings of a stream task; [`Default`] is what the agent runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamTiming {
    /// No byte for this long is a `Timeout` failure. Default 5 s.
    pub silence: Duration,
    /// How often health is judged from the frames or lines in between. Default 1 s.
    pub health_period: Duration,
    /// Clean periods in a row that bring a stream back online after decode errors. Default 3.
    pub recover_periods: u32,
    /// First wait before reopening the port, and the cap. Defaults 200 ms and 30 s.
    pub reopen_min: Duration,
    pub reopen_max: Duration,
}

impl Default for StreamTiming {
    fn default() -> Self {
        Self {
            silence: Duration::from_secs(5),
            health_period: Duration::from_secs(1),
            recover_periods: 3,
            reopen_min: Duration::from_millis(200),
            reopen_max: Duration::from_secs(30),
        }
    }
}

/// One serial stream's task; see the module docs.
#[derive(Debug)]
pub struct StreamSource {
    id: String,
    line: SerialLine,
    decoder: StreamDecoder,
    health: DeviceHealth,
    backoff: Backoff,
    timing: StreamTiming,
    clean_periods: u32,
    decode_degraded: bool,
}

/// Why reading stopped.
enum Stopped {
    /// Shutdown, or nobody listens: end the task.
    End,
    /// The port broke or stayed silent: reopen it after a pause.
    Reopen,
}

impl StreamSource {
    /// A task for `stream`, not started; fails on a window or pattern that cannot work.
    pub fn new(stream: Stream) -> Result<Self, DecoderError> {
        let decoder = StreamDecoder::new(&stream)?;
        let timing = StreamTiming::default();
        Ok(Self {
            health: DeviceHealth::new(&stream.id),
            backoff: Backoff::seeded(timing.reopen_min, timing.reopen_max, &stream.id),
            id: stream.id,
            line: stream.line,
            decoder,
            timing,
            clean_periods: 0,
            decode_degraded: false,
        })
    }

    pub fn with_timing(mut self, timing: StreamTiming) -> Self {
        self.backoff = Backoff::seeded(timing.reopen_min, timing.reopen_max, &self.id);
        self.timing = timing;
        self
    }

    /// Frame, line and window counts, per kind.
    pub fn counters(&self) -> Arc<StreamCounters> {
        self.decoder.counters()
    }

    /// The health counters (one outcome per health period, plus timeouts and port failures).
    pub fn device_counters(&self) -> Arc<DeviceCounters> {
        Arc::clone(&self.health.counters)
    }

    /// Reads until `shutdown` is cancelled or `out` is closed.
    pub async fn run(mut self, out: mpsc::Sender<Event>, shutdown: CancellationToken) {
        let span = info_span!("stream", id = %self.id, port = %self.line.path.display());
        async move {
            let mut opener = PortOpener::new(self.line.clone());
            loop {
                let opened = tokio::select! {
                    () = shutdown.cancelled() => return,
                    opened = opener.open() => opened,
                };
                let stopped = match opened {
                    Ok(port) => {
                        // Reopens are routine (a silent sensor is reopened again and again);
                        // the health events say when data stops and resumes.
                        let opens = self
                            .health
                            .counters
                            .connects
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if opens == 0 {
                            info!(baud = self.line.baud, "port open");
                        } else {
                            debug!(opens, "port reopened");
                        }
                        self.decoder.reopened();
                        self.read_until_stopped(port, &out, &shutdown).await
                    }
                    Err(failure) => {
                        let event = self.health.unreachable(&failure.to_string(), now_ms());
                        if send_all(&out, event, &self.health.counters).await {
                            Stopped::Reopen
                        } else {
                            Stopped::End
                        }
                    }
                };
                if matches!(stopped, Stopped::End) {
                    return;
                }
                let wait = self.backoff.next_delay();
                debug!(?wait, "reopening the port after a pause");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(wait) => {}
                }
            }
        }
        .instrument(span)
        .await;
    }

    async fn read_until_stopped(
        &mut self,
        mut port: tokio_serial::SerialStream,
        out: &mpsc::Sender<Event>,
        shutdown: &CancellationToken,
    ) -> Stopped {
        let mut buf = vec![0u8; 4096];
        let mut events = Vec::new();
        let mut last_data = Instant::now();
        let mut period = tokio::time::interval(self.timing.health_period);
        period.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let silent_at = last_data + self.timing.silence;
            let failure = tokio::select! {
                () = shutdown.cancelled() => return Stopped::End,
                _ = period.tick() => {
                    let event = self.judge_period();
                    if !send_all(out, event, &self.health.counters).await {
                        return Stopped::End;
                    }
                    continue;
                }
                () = tokio::time::sleep_until(silent_at) => {
                    StreamCounters::add(&self.decoder.counters().silences, 1);
                    last_data = Instant::now();
                    Failure::Timeout
                }
                read = port.read(&mut buf) => match read {
                    Ok(0) => Failure::Transport("the port reached end of file".into()),
                    Ok(n) => {
                        last_data = Instant::now();
                        self.backoff.reset();
                        self.decoder.push(&buf[..n], now_ms(), &mut events);
                        if !send_all(out, events.drain(..), &self.health.counters).await {
                            return Stopped::End;
                        }
                        continue;
                    }
                    Err(error) => Failure::Transport(format!("read failed: {error}")),
                },
            };
            let event = self.health.failed(STREAM, &failure, STREAM_READS, now_ms());
            if !send_all(out, event, &self.health.counters).await {
                return Stopped::End;
            }
            let silent_long = self.health.state() == Some(HealthState::Offline);
            if matches!(failure, Failure::Transport(_)) || silent_long {
                return Stopped::Reopen;
            }
        }
    }

    /// The health event, if any, of the outcomes since the last period.
    fn judge_period(&mut self) -> Option<Event> {
        let tally = self.decoder.take_tally();
        if tally.error_count() > 0 {
            self.clean_periods = 0;
            self.decode_degraded = true;
            let summary = tally.summary(self.decoder.unit_name());
            debug!(%summary, "damaged input this period");
            return self
                .health
                .failed(STREAM, &Failure::Decode(summary), STREAM_READS, now_ms());
        }
        if tally.good == 0 {
            return None; // silence is the silence timer's to judge
        }
        self.clean_periods += 1;
        if self.decode_degraded && self.clean_periods < self.timing.recover_periods {
            return None;
        }
        self.decode_degraded = false;
        self.health.succeeded(STREAM, now_ms())
    }
}
