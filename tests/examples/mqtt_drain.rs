//! How long a backlog takes to drain to a local Mosquitto through the real
//! MQTT sink: the spool is filled with telemetry events (feature sets of
//! about 150 spooled bytes), then the sink is started and timed until the
//! broker has acknowledged every event and the spool is empty.
//!
//! ```sh
//! cargo run --release -p e2e-tests --example mqtt_drain               # one hour at 1,000 events/s
//! cargo run --release -p e2e-tests --example mqtt_drain -- --events 200000 --max-inflight 100 --subscriber
//! ```
//!
//! `--subscriber` adds a QoS 1 subscriber (on the same machine, so it competes
//! for the CPU) and checks that it received every event. The spool uses the
//! agent's default durability (`every_event`): each acknowledgement batch is
//! flushed to disk before the next batch is read.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use e2e_tests::mosquitto::Mosquitto;
use e2e_tests::mqtt_fixture::{sink_config, telemetry_payload, RunningSink};
use e2e_tests::mqtt_subscriber::Subscriber;
use edge_agent::spool::{Priority, SharedSpool, Spool, SpoolConfig};

struct Args {
    events: u64,
    max_inflight: u16,
    subscriber: bool,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        events: 3_600_000,
        max_inflight: 100,
        subscriber: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--events" => args.events = it.next().context("--events N")?.parse()?,
            "--max-inflight" => {
                args.max_inflight = it.next().context("--max-inflight N")?.parse()?
            }
            "--subscriber" => args.subscriber = true,
            other => {
                bail!("unknown argument {other}; use --events N, --max-inflight N, --subscriber")
            }
        }
    }
    Ok(args)
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn fill(spool: &SharedSpool, events: u64) -> Result<u64> {
    const GROUP: u64 = 10_000;
    let mut payload_bytes = 0u64;
    let mut next = 0;
    while next < events {
        let end = (next + GROUP).min(events);
        let payloads: Vec<Vec<u8>> = (next..end).map(telemetry_payload).collect();
        payload_bytes += payloads.iter().map(|p| p.len() as u64).sum::<u64>();
        let results = spool
            .run(move |s| {
                let group: Vec<(Priority, &[u8])> = payloads
                    .iter()
                    .map(|p| (Priority::Telemetry, p.as_slice()))
                    .collect();
                s.append_all(&group)
            })
            .await?;
        for result in results {
            result?;
        }
        next = end;
    }
    Ok(payload_bytes)
}

async fn run(args: Args) -> Result<()> {
    let broker = Mosquitto::start().await?;
    let dir = tempfile::Builder::new().prefix("mqtt-drain-").tempdir()?;
    let config = SpoolConfig {
        max_bytes: (args.events * 400).max(1 << 20),
        ..SpoolConfig::default()
    };
    let (spool, _) = Spool::open(&dir.path().join("spool"), config)?;
    let spool = SharedSpool::new(spool);

    let started = Instant::now();
    let payload_bytes = fill(&spool, args.events).await?;
    let fill_time = started.elapsed();
    let stats = spool.stats().await?;
    let wire_sample = edge_agent::event::wire::to_json(
        "test-gw",
        1,
        &edge_agent::event::payload::decode(&telemetry_payload(0)).context("sample decodes")?,
    );
    println!(
        "filled {} events ({:.0} payload bytes each, {:.0} record bytes each; {} bytes as wire JSON) in {:.1} s ({:.0} events/s); sled on disk {:.0} MiB",
        args.events,
        payload_bytes as f64 / args.events as f64,
        stats.pending_bytes.total() as f64 / args.events as f64,
        wire_sample.len(),
        fill_time.as_secs_f64(),
        args.events as f64 / fill_time.as_secs_f64(),
        stats.disk_bytes.unwrap_or(0) as f64 / 1048576.0
    );

    let subscriber = if args.subscriber {
        Some(Subscriber::connect(broker.port(), "drain-bench-sub", "edge/test-gw/#", true).await?)
    } else {
        None
    };
    let mut config = sink_config(broker.port());
    config.max_inflight = args.max_inflight;
    config.keep_alive = Duration::from_secs(30);
    let started = Instant::now();
    let sink = RunningSink::start(&config, &spool)?;
    let mut last_report = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = sink.stats.snapshot();
        if now.acked >= args.events {
            break;
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            last_report = Instant::now();
            println!(
                "  {:>6.1} s: {} acked ({:.0} events/s so far), reconnects {}",
                started.elapsed().as_secs_f64(),
                now.acked,
                now.acked as f64 / started.elapsed().as_secs_f64(),
                now.reconnects
            );
        }
        if started.elapsed() > Duration::from_secs(3 * 3600) {
            bail!("not drained after 3 hours: {now:?}");
        }
    }
    // The last acknowledgements reach the spool right after the last PUBACK.
    while spool.stats().await?.pending.total() > 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let drain = started.elapsed();
    let stats = sink.stats.snapshot();
    sink.stop().await?;
    let rate = args.events as f64 / drain.as_secs_f64();
    println!(
        "drained {} events to mosquitto in {:.1} s: {:.0} events/s, {:.1} MB/s of wire JSON (max_inflight {}, reconnects {}, published {})",
        args.events,
        drain.as_secs_f64(),
        rate,
        rate * wire_sample.len() as f64 / 1e6,
        args.max_inflight,
        stats.reconnects,
        stats.published
    );
    if args.events == 3_600_000 {
        println!(
            "a one-hour backlog at 1,000 events/s (measured): {:.0} s",
            drain.as_secs_f64()
        );
    } else {
        println!(
            "a one-hour backlog at 1,000 events/s (3,600,000 events), extrapolated linearly from this run, not measured: {:.0} s",
            3_600_000.0 / rate
        );
    }
    if let Some(subscriber) = subscriber {
        let deadline = Instant::now() + Duration::from_secs(60);
        while (subscriber.count() as u64) < args.events + 1 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        println!(
            "subscriber received {} messages (events and status)",
            subscriber.count()
        );
    }
    Ok(())
}
