//! Helpers of the serial-stream tests: a stream task on a simulator's pty, events collected
//! until a condition holds (always under a deadline), and the two-pass reference features.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use edge_agent::config::{Parity, SerialLine, Stream, StreamFormat};
use edge_agent::event::{Event, EventBody, FeatureSet, HealthState};
use edge_agent::sources::health::DeviceCounters;
use edge_agent::sources::serial::{CountersSnapshot, StreamCounters, StreamSource, StreamTiming};
use firmware_sim::{Plant, Scenario, SimClock, Simulator};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Every wait of these tests ends by then at the latest: a stall fails, it never hangs.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// A shipped firmware-sim scenario.
pub fn scenario(name: &str) -> Scenario {
    Scenario::load(scenario_path(name)).expect("shipped scenario loads")
}

pub fn scenario_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../firmware-sim/scenarios")
        .join(name)
}

pub fn stream(id: &str, path: &Path, format: StreamFormat) -> Stream {
    Stream {
        id: id.to_string(),
        line: SerialLine {
            path: path.to_owned(),
            baud: 921_600,
            parity: Parity::None,
            data_bits: 8,
            stop_bits: 1,
        },
        format,
    }
}

/// Short timings, so that health changes show within a test's few seconds.
pub fn quick_timing() -> StreamTiming {
    StreamTiming {
        silence: Duration::from_millis(300),
        health_period: Duration::from_millis(100),
        recover_periods: 2,
        reopen_min: Duration::from_millis(50),
        reopen_max: Duration::from_millis(200),
    }
}

/// Starts serial device `device` of `scenario` on a pty and a stream task `id` reading it.
pub async fn on_simulator(
    scenario: Scenario,
    clock: SimClock,
    device: &str,
    id: &str,
    format: StreamFormat,
) -> (Simulator, Running) {
    let mut sim = Simulator::new(Plant::from_scenario(scenario, None), clock);
    let path = sim
        .start_serial_pty(device, None)
        .await
        .unwrap_or_else(|e| panic!("{device} starts: {e}"));
    let run = Running::start(stream(id, &path, format), quick_timing());
    (sim, run)
}

/// A stream task running on its own, and what it sent so far.
pub struct Running {
    pub rx: mpsc::Receiver<Event>,
    pub events: Vec<Event>,
    pub counters: Arc<StreamCounters>,
    pub device: Arc<DeviceCounters>,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl Running {
    pub fn start(stream: Stream, timing: StreamTiming) -> Self {
        let source = StreamSource::new(stream)
            .expect("valid stream")
            .with_timing(timing);
        let counters = source.counters();
        let device = source.device_counters();
        let (tx, rx) = mpsc::channel(1024);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(source.run(tx, shutdown.clone()));
        Self {
            rx,
            events: Vec::new(),
            counters,
            device,
            shutdown,
            task,
        }
    }

    pub fn snapshot(&self) -> CountersSnapshot {
        self.counters.snapshot()
    }

    /// Collects events until `done` holds for them and the counters; panics with what it
    /// saw if [`DEADLINE`] passes first or the task stops.
    pub async fn until(
        &mut self,
        what: &str,
        mut done: impl FnMut(&[Event], &CountersSnapshot) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            if done(&self.events, &self.counters.snapshot()) {
                return;
            }
            // Wake up now and then even without events: some conditions are on counters.
            let tick = tokio::time::Instant::now() + Duration::from_millis(50);
            match tokio::time::timeout_at(tick.min(deadline), self.rx.recv()).await {
                Ok(Some(event)) => self.events.push(event),
                Ok(None) => panic!("the stream task ended while waiting for {what}"),
                Err(_) if tokio::time::Instant::now() >= deadline => panic!(
                    "no {what} within {DEADLINE:?}: counters {:?}, health {:?}",
                    self.counters.snapshot(),
                    health_states(&self.events)
                ),
                Err(_) => {}
            }
        }
    }

    /// Stops the task, checks that it ends promptly, and returns every event it sent (those
    /// still in the channel included) and its final counts.
    pub async fn stop(mut self) -> (Vec<Event>, CountersSnapshot) {
        self.shutdown.cancel();
        tokio::time::timeout(DEADLINE, self.task)
            .await
            .expect("the stream task stops on shutdown")
            .expect("the stream task did not panic");
        while let Ok(event) = self.rx.try_recv() {
            self.events.push(event);
        }
        (self.events, self.counters.snapshot())
    }
}

pub fn feature_sets(events: &[Event]) -> Vec<(i64, &FeatureSet)> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Features(f) => Some((e.ts_ms, f)),
            _ => None,
        })
        .collect()
}

pub fn health_states(events: &[Event]) -> Vec<HealthState> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Health(h) => Some(h.state),
            _ => None,
        })
        .collect()
}

/// The features of one axis' counts by the book: mean first, then central sums.
pub fn two_pass(counts: &[i16], lsb_ug: u32) -> Vec<(String, f64)> {
    let n = counts.len() as f64;
    let g = |c: f64| c * f64::from(lsb_ug) / 1e6;
    let mean = counts.iter().map(|&c| f64::from(c)).sum::<f64>() / n;
    let central = |p: i32| {
        counts
            .iter()
            .map(|&c| (f64::from(c) - mean).powi(p))
            .sum::<f64>()
            / n
    };
    let (m2, m4) = (central(2), central(4));
    let peak = counts
        .iter()
        .map(|&c| (f64::from(c) - mean).abs())
        .fold(0.0, f64::max);
    let mut out = vec![
        ("mean".to_string(), g(mean)),
        ("rms".to_string(), g(m2.sqrt())),
        ("peak".to_string(), g(peak)),
    ];
    if m2 > 0.0 {
        out.push(("crest_factor".to_string(), peak / m2.sqrt()));
    }
    out.push((
        "kurtosis".to_string(),
        if m2 > 0.0 { m4 / (m2 * m2) } else { 0.0 },
    ));
    out
}

/// Whether two feature lists have the same names and values within 1e-9 (relative, or
/// absolute against 1 g for the accelerations).
pub fn same_features(a: &[(String, f64)], b: &[(String, f64)]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|((na, va), (nb, vb))| {
            na == nb && (va - vb).abs() <= 1e-9 * va.abs().max(vb.abs()).max(1.0)
        })
}
