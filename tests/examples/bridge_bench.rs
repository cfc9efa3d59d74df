//! The bridge's benchmark (a documented harness, not a test): a local Mosquitto, a local nisshi
//! and the release `edge-agent bridge` on 127.0.0.1.
//!
//! ```sh
//! cargo run --release -p e2e-tests --example bridge_bench                  # 200,000 events, then 30 s at 2,000/s
//! cargo run --release -p e2e-tests --example bridge_bench -- --events 50000 --rate 2000 --seconds 10
//! cargo run --release -p e2e-tests --example bridge_bench -- --batch 100       # batches of 100 readings
//! ```
//!
//! `--batch N` (default 1) puts N readings in each MQTT message, as a batch of wire version 2
//! (what the agents send by default, one per poll cycle of a device); the bridge splits it into
//! N Kafka records. Events are counted as Kafka records either way.
//!
//! 1. **Sustained events/s**: the bridge's session is created, the bridge stopped, and
//!    `--events` readings are queued in Mosquitto for it. The bridge is started and timed
//!    until Kafka has acknowledged every one (`edge_bridge_produced_total`); its CPU time over
//!    that drain gives events per CPU-second.
//! 2. **Latency** at a steady `--rate` for `--seconds`: each event is published with its
//!    timestamp; a Kafka consumer in this process (rdkafka, `fetch.wait.max.ms = 5`) notes
//!    when it arrives. The consumer reads the topic from the beginning and must have read the
//!    drain's records before the phase starts (it once started at `Offset::End` and received
//!    nothing from nisshi); its errors are printed, not skipped. p50/p99 of arrival − timestamp, so the figure includes Mosquitto,
//!    the bridge, the broker's append and the consumer's fetch. The bridge's RSS and CPU over
//!    this phase are read from /proc.
//!
//! The bridge is built with `cargo build --release -p edge-agent --features bridge` (in
//! `CARGO_TARGET_DIR` when set).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use e2e_tests::bench::cpu_and_rss;
use e2e_tests::mosquitto::{free_port, running_as_root, Mosquitto};
use e2e_tests::nisshi::Nisshi;
use e2e_tests::service::Service;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

const TOPIC: &str = "edge.telemetry";
const PARTITIONS: i32 = 3;

struct Args {
    events: u64,
    /// Readings per MQTT message: 1 sends single events (wire version 1), more sends
    /// batches of readings (wire version 2), as the agents do by default.
    batch: u64,
    rate: u64,
    seconds: u64,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        events: 200_000,
        rate: 2_000,
        seconds: 30,
        batch: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || -> Result<u64> { Ok(it.next().context("a number")?.parse()?) };
        match arg.as_str() {
            "--events" => args.events = value()?,
            "--rate" => args.rate = value()?,
            "--seconds" => args.seconds = value()?,
            "--batch" => args.batch = value()?.max(1),
            other => {
                bail!("unknown argument {other}; use --events N, --rate N, --seconds N, --batch N")
            }
        }
    }
    Ok(args)
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

fn bridge_binary() -> Result<PathBuf> {
    e2e_tests::bench::release_edge_agent("bridge")
}

/// One reading in the wire shape, with `ts` now.
fn payload(seq: u64) -> Vec<u8> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let ts = edge_agent::event::wire::format_ts(now_ms);
    format!(
        r#"{{"v":1,"gateway":"bench","seq":{seq},"kind":"reading","ts":"{ts}","sensor":"m{}.r{}","value":{}.5,"unit":"mm/s","quality":"good"}}"#,
        seq % 100,
        seq % 20,
        seq % 1000
    )
    .into_bytes()
}

fn topic_of(seq: u64) -> String {
    format!("edge/bench/reading/m{}.r{}", seq % 100, seq % 20)
}

/// The readings `first..first + n` as one batch (wire version 2), with `ts` now.
fn batch_payload(first: u64, n: u64) -> Vec<u8> {
    use edge_agent::event::batch::BatchBuilder;
    use edge_agent::event::{Quality, Reading};
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut builder = BatchBuilder::new("bench", now_ms);
    for seq in first..first + n {
        let reading = Reading {
            sensor: format!("m{}.r{}", seq % 100, seq % 20),
            value: (seq % 1000) as f64 + 0.5,
            unit: Some("mm/s".to_owned()),
            quality: Quality::Good,
        };
        builder.push(seq, &BatchBuilder::entry(seq, &reading));
    }
    builder.finish().0
}

/// A QoS 1 publisher with a wide window; returns once the broker acknowledged `count`.
struct Publisher {
    client: AsyncClient,
    acked: Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Publisher {
    async fn connect(port: u16) -> Self {
        let mut options = MqttOptions::new("bench-publisher", "127.0.0.1", port);
        options.set_inflight(1000);
        options.set_keep_alive(Duration::from_secs(30));
        let (client, mut eventloop) = AsyncClient::new(options, 20_000);
        let acked = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = acked.clone();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(error) => {
                        eprintln!("bench publisher: {error}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        Publisher {
            client,
            acked,
            task,
        }
    }

    /// Publishes the events `seq..seq + n`: one message, a batch when `n` > 1.
    async fn publish(&self, seq: u64, n: u64) -> Result<()> {
        let (topic, payload) = if n > 1 {
            ("edge/bench/readings".to_owned(), batch_payload(seq, n))
        } else {
            (topic_of(seq), payload(seq))
        };
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await?;
        Ok(())
    }

    async fn wait_acked(&self, count: u64) {
        while self.acked.load(std::sync::atomic::Ordering::Relaxed) < count {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn scrape(port: u16) -> String {
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ =
        stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    text
}

fn metric(port: u16, name: &str) -> f64 {
    scrape(port)
        .lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn bridge_config(mqtt_port: u16, bootstrap: &str, metrics_port: u16) -> String {
    format!(
        "[bridge]\nmetrics_listen = \"127.0.0.1:{metrics_port}\"\n\n\
         [mqtt]\nhost = \"127.0.0.1\"\nport = {mqtt_port}\nclient_id = \"bench-bridge\"\n\
         max_inflight = 1000\nreconnect_min = \"100ms\"\nreconnect_max = \"1s\"\n\n\
         [kafka]\nbootstrap_servers = \"{bootstrap}\"\nlinger = \"5ms\"\n"
    )
}

async fn run(args: Args) -> Result<()> {
    let binary = bridge_binary()?;
    let dir = tempfile::tempdir()?;
    eprintln!("bench: starting nisshi and Mosquitto");
    let kafka = Nisshi::start().await?;
    kafka.create_topic(TOPIC, PARTITIONS, false).await?;
    let mosquitto = Mosquitto::start_custom(false, |dir, port, _| {
        Ok(format!(
            "per_listener_settings false\nallow_anonymous true\npersistence true\n\
             persistence_location {}/\nmax_queued_messages 0\nmax_queued_bytes 0\n\
             max_inflight_messages 1000\nlog_dest file {}\n{}listener {port} 127.0.0.1\n",
            dir.join("data").display(),
            dir.join("mosquitto.log").display(),
            if running_as_root() { "user root\n" } else { "" },
        ))
    })
    .await?;
    let metrics_port = free_port()?;
    let config = dir.path().join("bridge.toml");
    std::fs::write(
        &config,
        bridge_config(mosquitto.port(), &kafka.bootstrap(), metrics_port),
    )?;
    let log = dir.path().join("bridge.log");
    let start = || {
        Service::start(
            &binary,
            ["bridge".as_ref(), "--config".as_ref(), config.as_os_str()],
            &log,
        )
    };
    let publisher = Publisher::connect(mosquitto.port()).await;

    // The session exists from here on; the bridge goes away and the backlog builds up.
    let bridge = start()?;
    let mut probe = 0;
    while metric(metrics_port, "edge_bridge_mqtt_connections_total") < 1.0 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        probe += 1;
        if probe > 300 {
            bail!("the bridge did not connect:\n{}", bridge.log());
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    bridge.kill_9()?;

    eprintln!(
        "bench: queueing {} events in Mosquitto for the bridge",
        args.events
    );
    let mut messages = 0;
    for seq in (1..=args.events).step_by(args.batch as usize) {
        publisher
            .publish(seq, args.batch.min(args.events + 1 - seq))
            .await?;
        messages += 1;
    }
    publisher.wait_acked(messages).await;

    eprintln!("bench: draining them to Kafka");
    let started = Instant::now();
    let bridge = start()?;
    let pid = bridge.pid();
    let mut last_report = Instant::now();
    let mut cpu_end = 0.0;
    loop {
        let produced = metric(metrics_port, "edge_bridge_produced_total") as u64;
        let (cpu, _) = cpu_and_rss(pid);
        if produced >= args.events {
            cpu_end = cpu.max(cpu_end);
            break;
        }
        cpu_end = cpu;
        if last_report.elapsed() > Duration::from_secs(5) {
            eprintln!("bench: {produced} of {} produced", args.events);
            last_report = Instant::now();
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("not drained in 10 minutes:\n{}", bridge.log());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let wall = started.elapsed().as_secs_f64();
    let (_, rss_drain) = cpu_and_rss(pid);
    println!(
        "drain (events per message: {}): {} events in {wall:.2} s = {:.0} events/s; bridge CPU {cpu_end:.2} s = {:.0} events per CPU-second; RSS {} KiB",
        args.batch,
        args.events,
        args.events as f64 / wall,
        args.events as f64 / cpu_end.max(0.001),
        rss_drain
    );

    // Latency at a steady rate.
    let arrivals: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap())
        .set("group.id", "bench-latency")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "5")
        .set("fetch.error.backoff.ms", "10")
        .create()?;
    // From the beginning: the drain's records first (a check that the consumer reads at all),
    // then the steady phase's.
    let mut assignment = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        assignment.add_partition_offset(TOPIC, partition, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let noted = arrivals.clone();
    let reader = tokio::spawn(async move {
        let mut errors = 0u64;
        loop {
            let message = match consumer.recv().await {
                Ok(message) => message,
                Err(error) => {
                    errors += 1;
                    if errors.is_power_of_two() {
                        eprintln!("bench consumer: error {errors}: {error}");
                    }
                    continue;
                }
            };
            let seq = message
                .headers()
                .and_then(|h| {
                    use rdkafka::message::Headers;
                    h.iter().find(|h| h.key == "seq").and_then(|h| h.value)
                })
                .and_then(|v| std::str::from_utf8(v).ok()?.parse::<u64>().ok());
            if let Some(seq) = seq {
                noted
                    .lock()
                    .expect("not poisoned")
                    .entry(seq)
                    .or_insert_with(Instant::now);
            }
        }
    });
    let caught_up = Instant::now();
    loop {
        let read = arrivals.lock().expect("not poisoned").len() as u64;
        if read >= args.events {
            break;
        }
        if caught_up.elapsed() > Duration::from_secs(300) {
            bail!(
                "the bench's consumer read {read} of the drain's {} records in 5 minutes",
                args.events
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "bench: the consumer read the drain's {} records in {:.1} s",
        args.events,
        caught_up.elapsed().as_secs_f64()
    );

    eprintln!("bench: {} events/s for {} s", args.rate, args.seconds);
    let first = args.events + 1;
    let total = args.rate * args.seconds;
    let mut sent: HashMap<u64, Instant> = HashMap::with_capacity(total as usize);
    let (cpu_before, _) = cpu_and_rss(pid);
    let steady_start = Instant::now();
    let mut rss_max = 0;
    // Every tick (10 ms, or longer for large batches), whole messages of `--batch` events,
    // rate × tick events in all.
    let tick_every = Duration::from_secs_f64((args.batch as f64 / args.rate as f64).max(0.01));
    let per_tick = ((args.rate as f64 * tick_every.as_secs_f64()).round() as u64)
        .div_ceil(args.batch)
        .max(1)
        * args.batch;
    let mut tick = tokio::time::interval(tick_every);
    let mut seq = first;
    while seq < first + total {
        tick.tick().await;
        for _ in 0..per_tick / args.batch {
            let now = Instant::now();
            for s in seq..seq + args.batch {
                sent.insert(s, now);
            }
            publisher.publish(seq, args.batch).await?;
            seq += args.batch;
        }
        if seq % 1000 < per_tick {
            rss_max = rss_max.max(cpu_and_rss(pid).1);
        }
    }
    let steady = steady_start.elapsed().as_secs_f64();
    let (cpu_after, rss_end) = cpu_and_rss(pid);
    tokio::time::sleep(Duration::from_secs(3)).await;
    reader.abort();
    let arrivals = arrivals.lock().expect("not poisoned");
    let mut latencies: Vec<f64> = sent
        .iter()
        .filter_map(|(seq, at)| Some(arrivals.get(seq)?.duration_since(*at).as_secs_f64() * 1000.0))
        .collect();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!(
        "steady (events per message: {}): {} events at {} /s over {steady:.1} s, {} arrived; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; bridge CPU {:.1} % of a core; RSS {} KiB (max {} KiB)",
        args.batch,
        total,
        args.rate,
        latencies.len(),
        pct(0.5),
        pct(0.99),
        latencies.last().copied().unwrap_or(f64::NAN),
        (cpu_after - cpu_before) / steady * 100.0,
        rss_end,
        rss_max.max(rss_end)
    );
    publisher.task.abort();
    bridge.terminate()?;
    Ok(())
}
