//! What the MQTT tests share: a spool in a temporary directory, events to fill
//! it with, the sink running as a task under a cancellation token, and the
//! check of received seqs (gaps, duplicates).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use edge_agent::event::{Alert, AlertState, Event, EventBody, FeatureSet, Severity};
use edge_agent::mqtt::{MqttConfig, MqttSink, SinkStatsHandle};
use edge_agent::spool::{Priority, SharedSpool, Spool, SpoolConfig};
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout, Instant};
use tokio_util::sync::CancellationToken;

use crate::mqtt_subscriber::Received;

/// The gateway id of the tests.
pub const GATEWAY: &str = "test-gw";

/// A sink config for a broker on 127.0.0.1:`port`, with test-sized delays:
/// reconnect within 20–200 ms, idle poll 20 ms.
pub fn sink_config(port: u16) -> MqttConfig {
    let mut config = MqttConfig::new("127.0.0.1");
    config.port = Some(port);
    config.keep_alive = Duration::from_secs(5);
    config.connect_timeout = Duration::from_secs(2);
    config.reconnect_min = Duration::from_millis(20);
    config.reconnect_max = Duration::from_millis(200);
    config.idle_poll = Duration::from_millis(20);
    config.shutdown_grace = Duration::from_secs(3);
    config
}

/// A spool in `dir` large enough for the tests (1 GiB of records).
pub fn open_spool(dir: &Path) -> Result<SharedSpool> {
    let config = SpoolConfig {
        max_bytes: 1 << 30,
        ..SpoolConfig::default()
    };
    let (spool, _) = Spool::open(&dir.join("spool"), config)?;
    Ok(SharedSpool::new(spool))
}

/// The spooled payload of a feature set (about 150 bytes spooled), number `i`.
pub fn telemetry_payload(i: u64) -> Vec<u8> {
    let event = Event {
        ts_ms: 1_700_000_000_000 + i as i64,
        body: EventBody::Features(FeatureSet {
            sensor: format!("line1.motor{}.drive-end.velocity", i % 8),
            window: 1024,
            values: vec![
                ("rms".to_owned(), 1.5 + (i % 100) as f64 / 100.0),
                ("peak".to_owned(), 4.25),
                ("crest_factor".to_owned(), 2.8),
                ("kurtosis".to_owned(), 3.1),
                ("mean".to_owned(), 0.02),
                ("std".to_owned(), 0.74),
                ("skewness".to_owned(), -0.12),
            ],
        }),
    };
    edge_agent::event::payload::encode(&event)
}

/// The spooled payload of an alert transition, number `i`.
pub fn alert_payload(i: u64) -> Vec<u8> {
    let event = Event {
        ts_ms: 1_700_000_000_000 + i as i64,
        body: EventBody::Alert(Alert {
            sensor: "line1.motor1.de.velocity".to_owned(),
            state: AlertState::Raised,
            rule: "bearing-wear".to_owned(),
            rule_hash: "0123456789abcdef".to_owned(),
            severity: Severity::Critical,
            detector: "cusum".to_owned(),
            value: 9.5,
            feature: "rms".to_owned(),
            feature_value: 7.25,
            score: 1.0,
            row: None,
            statistic: 31.0,
            evidence: None,
            held_back: 0,
        }),
    };
    edge_agent::event::payload::encode(&event)
}

/// Appends `n` events of `class` in groups of 1,000 (one flush per group);
/// returns their seqs.
pub async fn append(spool: &SharedSpool, class: Priority, n: u64) -> Result<Vec<u64>> {
    let mut seqs = Vec::with_capacity(n as usize);
    let mut next = 0;
    while next < n {
        let end = (next + 1000).min(n);
        let payloads: Vec<Vec<u8>> = (next..end)
            .map(|i| match class {
                Priority::Alert => alert_payload(i),
                Priority::Telemetry => telemetry_payload(i),
            })
            .collect();
        let results = spool
            .run(move |s| {
                let events: Vec<(Priority, &[u8])> =
                    payloads.iter().map(|p| (class, p.as_slice())).collect();
                s.append_all(&events)
            })
            .await?;
        for result in results {
            seqs.push(result?.seq);
        }
        next = end;
    }
    Ok(seqs)
}

/// The sink running as a task.
#[derive(Debug)]
pub struct RunningSink {
    pub stats: SinkStatsHandle,
    pub waker: std::sync::Arc<tokio::sync::Notify>,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), edge_agent::mqtt::MqttError>>,
}

impl RunningSink {
    /// Builds the sink of [`GATEWAY`] from `config` and spawns it.
    pub fn start(config: &MqttConfig, spool: &SharedSpool) -> Result<Self> {
        let sink = MqttSink::new(config, GATEWAY, spool.clone())?;
        let stats = sink.stats();
        let waker = sink.waker();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(sink.run(shutdown.clone()));
        Ok(RunningSink {
            stats,
            waker,
            shutdown,
            task,
        })
    }

    /// Cancels the sink and waits (at most 10 s) for its clean end.
    pub async fn stop(self) -> Result<()> {
        self.shutdown.cancel();
        timeout(Duration::from_secs(10), self.task)
            .await
            .context("the sink did not stop within 10 s")??
            .map_err(|e| anyhow!(e))
    }

    /// Kills the sink's task without any shutdown: the connection dies
    /// uncleanly (no DISCONNECT), as when the agent is killed.
    pub async fn abort(self) {
        self.task.abort();
        let _ = self.task.await;
    }

    /// Waits (polling every 10 ms) until `done` holds for the sink's stats.
    pub async fn wait_until(
        &self,
        what: &str,
        limit: Duration,
        done: impl Fn(&edge_agent::mqtt::SinkStats) -> bool,
    ) -> Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            let stats = self.stats.snapshot();
            if done(&stats) {
                return Ok(());
            }
            if self.task.is_finished() {
                bail!("the sink ended while waiting for {what}: {stats:?}");
            }
            if Instant::now() > deadline {
                bail!("{what} not reached within {limit:?}: {stats:?}");
            }
            sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Waits (polling every 10 ms) until the spool has no pending record.
pub async fn wait_spool_empty(spool: &SharedSpool, limit: Duration) -> Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        let stats = spool.stats().await?;
        if stats.pending.total() == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "spool still has {:?} pending after {limit:?}",
                stats.pending
            );
        }
        sleep(Duration::from_millis(10)).await;
    }
}

/// What a subscriber received, by seq.
#[derive(Debug, Clone, Default)]
pub struct SeqReport {
    /// Events received (the readings of a batch each count), re-sends included.
    pub messages: usize,
    /// Distinct seqs.
    pub distinct: usize,
    /// Events whose seq had been received before.
    pub duplicates: usize,
    /// Seqs in `expected` that never arrived.
    pub missing: Vec<u64>,
    /// Seqs that arrived but were not expected.
    pub unexpected: Vec<u64>,
    /// Seqs that arrived twice with different payloads (never allowed).
    pub conflicting: Vec<u64>,
}

impl SeqReport {
    /// Compares the event messages (those with a seq) with the expected seqs.
    pub fn of(received: &[Received], expected: &[u64]) -> Self {
        let mut first: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        let mut report = SeqReport::default();
        for (seq, payload) in received.iter().flat_map(Received::events) {
            report.messages += 1;
            match first.get(&seq) {
                None => {
                    first.insert(seq, payload);
                }
                Some(earlier) => {
                    report.duplicates += 1;
                    if *earlier != payload {
                        report.conflicting.push(seq);
                    }
                }
            }
        }
        report.distinct = first.len();
        let expected_set: std::collections::BTreeSet<u64> = expected.iter().copied().collect();
        report.missing = expected_set
            .iter()
            .filter(|s| !first.contains_key(s))
            .copied()
            .collect();
        report.unexpected = first
            .keys()
            .filter(|s| !expected_set.contains(s))
            .copied()
            .collect();
        report
    }

    /// Every expected seq arrived, nothing else did, duplicates are identical.
    pub fn assert_complete(&self) {
        assert!(
            self.missing.is_empty(),
            "missing seqs (first 20): {:?}",
            &self.missing[..self.missing.len().min(20)]
        );
        assert!(
            self.unexpected.is_empty(),
            "unexpected seqs: {:?}",
            self.unexpected
        );
        assert!(
            self.conflicting.is_empty(),
            "same seq, different payloads: {:?}",
            self.conflicting
        );
    }
}

/// A broker, optionally a proxy in front of it, a persistent-session
/// subscriber to every topic of [`GATEWAY`], and an empty spool.
#[derive(Debug)]
pub struct Plant {
    pub broker: crate::mosquitto::Mosquitto,
    pub proxy: Option<crate::tcp_proxy::TcpProxy>,
    pub subscriber: crate::mqtt_subscriber::Subscriber,
    pub spool: SharedSpool,
    _dir: tempfile::TempDir,
}

impl Plant {
    /// Starts the broker (and the proxy, if `proxy`) and connects the
    /// subscriber `subscriber_id` with `clean_session = false`.
    pub async fn start(subscriber_id: &str, proxy: bool) -> Result<Self> {
        let broker = crate::mosquitto::Mosquitto::start().await?;
        let proxy = match proxy {
            true => Some(crate::tcp_proxy::TcpProxy::start(broker.port()).await?),
            false => None,
        };
        let subscriber = crate::mqtt_subscriber::Subscriber::connect(
            broker.port(),
            subscriber_id,
            &format!("edge/{GATEWAY}/#"),
            false,
        )
        .await?;
        let dir = tempfile::tempdir()?;
        let spool = open_spool(dir.path())?;
        Ok(Plant {
            broker,
            proxy,
            subscriber,
            spool,
            _dir: dir,
        })
    }

    /// The sink's config: through the proxy if there is one.
    pub fn sink_config(&self) -> MqttConfig {
        sink_config(self.proxy.as_ref().map_or(self.broker.port(), |p| p.port()))
    }

    /// The proxy; panics if the plant was started without one.
    pub fn proxy(&self) -> &crate::tcp_proxy::TcpProxy {
        self.proxy.as_ref().expect("plant started with a proxy")
    }

    /// Waits until the subscriber has every seq of `expected` (within
    /// `limit`) and the spool is empty, stops `sink` cleanly, and returns
    /// what was received by seq and the sink's last stats.
    pub async fn finish(
        &self,
        sink: RunningSink,
        expected: &[u64],
        limit: Duration,
    ) -> Result<(SeqReport, edge_agent::mqtt::SinkStats)> {
        self.subscriber
            .wait_until("every seq", limit, |r| {
                SeqReport::of(r, expected).missing.is_empty()
            })
            .await?;
        wait_spool_empty(&self.spool, Duration::from_secs(30)).await?;
        let stats = sink.stats.snapshot();
        sink.stop().await?;
        let report = SeqReport::of(&self.subscriber.received(), expected);
        report.assert_complete();
        Ok((report, stats))
    }

    /// The seqs of the event messages received, in arrival order.
    pub fn arrival_order(&self) -> Vec<u64> {
        self.subscriber
            .received()
            .iter()
            .flat_map(Received::seqs)
            .collect()
    }
}
