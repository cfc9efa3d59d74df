//! The alert service's benchmark (a documented harness, not a test): a local nisshi, a local
//! PostgreSQL and Alertmanager, and the release `edge-agent alerts` on 127.0.0.1.
//!
//! ```sh
//! cargo run --release -p e2e-tests --example alerts_bench                    # 20,000 alert records, 10 s at 50/s
//! cargo run --release -p e2e-tests --example alerts_bench -- --alerts 5000 --rate 20 --seconds 5
//! ```
//!
//! 1. **Alerts/s into each store**: `--alerts` alert records (a raise and its clear on each of
//!    `--alerts / 2` sensors) are produced to Kafka first; the service is started on a fresh
//!    store (SQLite in a temporary file, then PostgreSQL) and timed from its first stored
//!    record to its last (so start-up and the group join are left out). Every record is a
//!    transaction's worth of work: dedup insert, episode insert or update.
//! 2. **Latency from the alert's timestamp to Alertmanager**: at a steady `--rate` for
//!    `--seconds`, a raise on a new sensor is produced with `ts` = now; Alertmanager's API is
//!    polled every 20 ms and each episode's first appearance noted. p50/p99 of appearance −
//!    `ts`: Kafka, the consumer's batch, the PostgreSQL commit, the notifier's post and
//!    Alertmanager's ingestion, plus up to 20 ms of polling.
//!
//! The service is built with `cargo build --release -p edge-agent --features bridge,alerts`
//! (the data-centre package's build; in `CARGO_TARGET_DIR` when set).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use e2e_tests::alertmanager::Alertmanager;
use e2e_tests::nisshi::Nisshi;
use e2e_tests::postgres::Postgres;
use e2e_tests::service::Service;
use edge_agent::alerts::Store;
use edge_agent::event::{wire, Alert, AlertState, Event, EventBody, Severity};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};

struct Args {
    alerts: u64,
    rate: u64,
    seconds: u64,
}

fn main() -> Result<()> {
    let flags =
        e2e_tests::bench::numeric_flags(&[("alerts", 20_000), ("rate", 50), ("seconds", 10)])?;
    let args = Args {
        alerts: flags["alerts"],
        rate: flags["rate"],
        seconds: flags["seconds"],
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn alert_json(seq: u64, sensor: u64, state: AlertState) -> String {
    let event = Event {
        ts_ms: now_ms(),
        body: EventBody::Alert(Alert {
            sensor: format!("m{}.s{sensor}", sensor % 100),
            state,
            rule: "bench".into(),
            rule_hash: "0".into(),
            severity: Severity::Warning,
            detector: "zscore".into(),
            value: 1.0,
            feature: "rms".into(),
            feature_value: 1.0,
            score: 0.99,
            row: None,
            statistic: 4.0,
            evidence: None,
            held_back: 0,
        }),
    };
    wire::to_json("bench", seq, &event)
}

async fn produce(
    producer: &FutureProducer,
    topic: &str,
    seq: u64,
    sensor: u64,
    state: AlertState,
) -> Result<()> {
    let value = alert_json(seq, sensor, state);
    let key = format!("bench/m{}", sensor % 100);
    producer
        .send(
            FutureRecord::to(topic).key(&key).payload(&value),
            Duration::from_secs(30),
        )
        .await
        .map_err(|(error, _)| error)?;
    Ok(())
}

fn config(
    dir: &Path,
    kafka: &Nisshi,
    name: &str,
    store: &str,
    am: Option<&str>,
) -> Result<PathBuf> {
    let mut text = format!(
        "[alerts]\n[kafka]\nbootstrap_servers = \"{}\"\ngroup_id = \"bench-{name}\"\n\
         [kafka.topics]\nalerts = \"bench.{name}\"\n[store]\nurl = \"{store}\"\n",
        kafka.bootstrap()
    );
    if let Some(url) = am {
        text.push_str(&format!(
            "[alertmanager]\nurl = \"{url}\"\nresend_interval = \"60s\"\n"
        ));
    }
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text)?;
    Ok(path)
}

async fn throughput(
    binary: &Path,
    dir: &Path,
    kafka: &Nisshi,
    name: &str,
    url: &str,
    alerts: u64,
) -> Result<f64> {
    let topic = format!("bench.{name}");
    kafka.create_topic(&topic, 3, false).await?;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap())
        .set("linger.ms", "5")
        .create()?;
    eprintln!("bench: producing {alerts} alert records for {name}");
    let pairs = alerts / 2;
    let mut deliveries = Vec::new();
    for (state, offset) in [(AlertState::Raised, 1), (AlertState::Cleared, 2)] {
        for i in 0..pairs {
            let value = alert_json(2 * i + offset, i, state);
            let key = format!("bench/m{}", i % 100);
            let record = FutureRecord::to(&topic).key(&key).payload(&value);
            let delivery = producer.send_result(record).map_err(|(error, _)| error)?;
            deliveries.push(delivery);
        }
    }
    for delivery in deliveries {
        delivery
            .await
            .context("delivery dropped")?
            .map_err(|(error, _)| error)?;
    }
    let config = config(dir, kafka, name, url, None)?;
    let store = Store::connect(url, 1, None).await?;
    let service = Service::start(
        binary,
        ["alerts", "--config", config.to_str().context("utf-8")?],
        &dir.join(format!("{name}.log")),
    )?;
    let mut first: Option<Instant> = None;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let (episodes, open, _) = store.counts().await?;
        if episodes > 0 && first.is_none() {
            first = Some(Instant::now());
        }
        if episodes as u64 == pairs && open == 0 {
            break;
        }
        if Instant::now() > deadline {
            bail!("{name}: not done in 600 s ({episodes} episodes, {open} open)");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = first.context("started")?.elapsed().as_secs_f64();
    service.terminate()?;
    Ok(alerts as f64 / elapsed)
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or(0)
}

async fn run(args: Args) -> Result<()> {
    let binary = e2e_tests::bench::release_edge_agent("bridge,alerts")?;
    let dir = tempfile::tempdir()?;
    let kafka = Nisshi::start().await?;
    let postgres = Postgres::start().await?;
    let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
    let sqlite_rate =
        throughput(&binary, dir.path(), &kafka, "sqlite", &sqlite, args.alerts).await?;
    println!("alerts/s into SQLite:     {sqlite_rate:.0}");
    let pg_rate = throughput(
        &binary,
        dir.path(),
        &kafka,
        "postgres",
        &postgres.url(),
        args.alerts,
    )
    .await?;
    println!("alerts/s into PostgreSQL: {pg_rate:.0}");

    // Latency to Alertmanager, on a fresh database of the same server.
    let am = Alertmanager::start().await?;
    let topic = "bench.latency";
    kafka.create_topic(topic, 3, false).await?;
    // A database of its own: the throughput runs' resolves are not Alertmanager's business.
    let psql = e2e_tests::postgres::bin_dir()?.join("psql");
    let created = Command::new(psql)
        .args([&postgres.url(), "-q", "-c", "CREATE DATABASE latency"])
        .status()?;
    anyhow::ensure!(created.success(), "CREATE DATABASE latency failed");
    let server = postgres.url();
    let url = format!("{}/latency", server.rsplit_once('/').context("a URL")?.0);
    let config = config(dir.path(), &kafka, "latency", &url, Some(&am.url()))?;
    let service = Service::start(
        &binary,
        ["alerts", "--config", config.to_str().context("utf-8")?],
        &dir.path().join("latency.log"),
    )?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap())
        .set("linger.ms", "0")
        .create()?;
    let total = args.rate * args.seconds;
    let mut sent: HashMap<String, i64> = HashMap::new();
    let mut seen: HashMap<String, i64> = HashMap::new();
    let interval = Duration::from_micros(1_000_000 / args.rate.max(1));
    let mut next_send = Instant::now();
    let mut next_poll = Instant::now();
    let mut i = 0u64;
    let deadline = Instant::now() + Duration::from_secs(args.seconds + 60);
    while (seen.len() as u64) < total && Instant::now() < deadline {
        if i < total && Instant::now() >= next_send {
            let seq = 1_000_000 + i;
            let ts = now_ms();
            produce(&producer, topic, seq, 500_000 + i, AlertState::Raised).await?;
            sent.insert(format!("bench:{seq}"), ts);
            i += 1;
            next_send += interval;
        }
        if Instant::now() >= next_poll {
            for alert in am.alerts().await? {
                if let Some(id) = alert["annotations"]["episode"].as_str() {
                    if sent.contains_key(id) {
                        seen.entry(id.to_owned()).or_insert_with(now_ms);
                    }
                }
            }
            next_poll = Instant::now() + Duration::from_millis(20);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut latencies: Vec<i64> = seen
        .iter()
        .filter_map(|(id, at)| sent.get(id).map(|ts| at - ts))
        .collect();
    latencies.sort_unstable();
    println!(
        "alert ts -> Alertmanager at {}/s for {} s: {} of {} seen, p50 {} ms, p99 {} ms",
        args.rate,
        args.seconds,
        latencies.len(),
        total,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );
    service.terminate()?;
    Ok(())
}
