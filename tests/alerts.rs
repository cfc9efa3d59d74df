//! The alert service against real parts: records in a real Kafka-compatible broker (nisshi),
//! published the way the bridge publishes them; `edge-agent alerts` storing into a real
//! PostgreSQL, posting to a real Prometheus Alertmanager and to a stub CMMS that records
//! what it gets; the board read over HTTP and in headless Chromium.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use e2e_tests::alertmanager::{http_get, http_request, Alertmanager};
use e2e_tests::chromium;
use e2e_tests::nisshi::Nisshi;
use e2e_tests::paths;
use e2e_tests::postgres::Postgres;
use e2e_tests::service::{wait_for, Service};
use e2e_tests::tcp_proxy::TcpProxy;
use edge_agent::alerts::Store;
use edge_agent::event::{wire, Alert, AlertState, Event, EventBody, FeatureSet, Severity};
use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::sleep;

const ALERTS: &str = "edge.alerts";
const HEALTH: &str = "edge.health";
const STATUS: &str = "edge.status";
const TELEMETRY: &str = "edge.telemetry";
const TOKEN: &str = "board-token-0123456789";

fn alert_event(asset: &str, state: AlertState, score: f64) -> Event {
    Event {
        ts_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
        body: EventBody::Alert(Alert {
            sensor: format!("{asset}.de.velocity"),
            state,
            rule: "bearing-wear".into(),
            rule_hash: "5f1e9a0c".into(),
            severity: Severity::Critical,
            detector: "zscore".into(),
            value: 9.1,
            feature: "rms".into(),
            feature_value: 8.4,
            score,
            row: None,
            statistic: score,
            evidence: None,
            held_back: 0,
        }),
    }
}

/// Publishes records as the bridge does: key `{gateway}/{asset}`, the wire JSON as value.
struct Publisher(FutureProducer);

impl Publisher {
    fn new(kafka: &Nisshi) -> Result<Self> {
        Ok(Publisher(
            ClientConfig::new()
                .set("bootstrap.servers", kafka.bootstrap())
                .set("log_level", "3")
                .create()?,
        ))
    }

    async fn send(&self, topic: &str, key: &str, value: &str) -> Result<()> {
        let headers = OwnedHeaders::new().insert(Header {
            key: "schema",
            value: Some("1"),
        });
        let record = FutureRecord::to(topic)
            .key(key)
            .payload(value)
            .headers(headers);
        self.0
            .send(record, Duration::from_secs(20))
            .await
            .map_err(|(error, _)| error)
            .context("producing")?;
        Ok(())
    }

    /// A `features` event of `{asset}.de.velocity` on the telemetry topic, `age_ms` ago.
    async fn features(
        &self,
        gateway: &str,
        seq: u64,
        asset: &str,
        age_ms: i64,
        rms: f64,
    ) -> Result<()> {
        let mut event = alert_event(asset, AlertState::Raised, 0.0);
        event.ts_ms -= age_ms;
        event.body = EventBody::Features(FeatureSet {
            sensor: format!("{asset}.de.velocity"),
            window: 64,
            values: vec![("rms".into(), rms), ("crest".into(), 1.4)],
        });
        let json = wire::to_json(gateway, seq, &event);
        self.send(TELEMETRY, &format!("{gateway}/{asset}"), &json)
            .await
    }

    async fn alert(&self, gateway: &str, seq: u64, asset: &str, state: AlertState) -> Result<()> {
        let json = wire::to_json(gateway, seq, &alert_event(asset, state, 6.5));
        self.send(ALERTS, &format!("{gateway}/{asset}"), &json)
            .await
    }
}

/// The service's config: `alerts_keys` go in `[alerts]`, `extra` after the store.
fn config(
    dir: &Path,
    kafka: &Nisshi,
    store: &str,
    alerts_keys: &str,
    extra: &str,
) -> Result<std::path::PathBuf> {
    let text = format!(
        "[alerts]\n{alerts_keys}\n[kafka]\nbootstrap_servers = \"{}\"\ngroup_id = \"alerts-test\"\n\
         [kafka.properties]\n\"session.timeout.ms\" = \"6000\"\n\"log_level\" = \"3\"\n\n\
         [store]\nurl = \"{store}\"\n\n{extra}",
        kafka.bootstrap()
    );
    let path = dir.join(format!("alerts-{}.toml", text.len()));
    std::fs::write(&path, text)?;
    Ok(path)
}

async fn kafka_with_topics(alert_partitions: i32) -> Result<Nisshi> {
    let kafka = Nisshi::start().await?;
    kafka.create_topic(ALERTS, alert_partitions, false).await?;
    kafka.create_topic(HEALTH, 1, false).await?;
    kafka.create_topic(STATUS, 1, true).await?;
    kafka
        .create_topic(TELEMETRY, alert_partitions, false)
        .await?;
    Ok(kafka)
}

/// Firing alerts of `alertname` in Alertmanager.
async fn firing(am: &Alertmanager, alertname: &str) -> Result<Vec<serde_json::Value>> {
    Ok(am
        .alerts()
        .await?
        .into_iter()
        .filter(|a| a["labels"]["alertname"] == alertname)
        .collect())
}

/// A stub CMMS: answers 503 to its first request and 200 after, recording every body.
async fn stub_cmms() -> Result<(u16, Arc<Mutex<Vec<(u16, String)>>>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let seen: Arc<Mutex<Vec<(u16, String)>>> = Arc::default();
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // Headers, then Content-Length bytes of body.
            let body = loop {
                let Ok(n) = stream.read(&mut buf).await else {
                    break None;
                };
                if n == 0 {
                    break None;
                }
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request).into_owned();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() >= length {
                        break Some(body.to_owned());
                    }
                }
            };
            let Some(body) = body else { continue };
            let status = {
                let mut seen = record.lock().expect("not poisoned");
                let status = if seen.is_empty() { 503 } else { 200 };
                seen.push((status, body));
                status
            };
            let answer =
                format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = stream.write_all(answer.as_bytes()).await;
        }
    });
    Ok((port, seen))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_in_kafka_is_one_episode_one_firing_alert_a_work_order_and_resolves() -> Result<()>
{
    let binary = paths::edge_agent_alerts_binary();
    let dir = tempfile::tempdir()?;
    let kafka = kafka_with_topics(3).await?;
    let postgres = Postgres::start().await?;
    let am = Alertmanager::start().await?;
    // The service reaches Alertmanager through a proxy that the test can cut.
    let proxy = TcpProxy::start(am.port()).await?;
    let (cmms_port, cmms) = stub_cmms().await?;
    let board_port = e2e_tests::paths::free_port();
    let extra = format!(
        "[alertmanager]\nurl = \"{}\"\nresend_interval = \"1s\"\ntimeout = \"2s\"\nboard_url = \"http://127.0.0.1:{board_port}\"\n\n\
         [work_orders]\nurl = \"http://127.0.0.1:{cmms_port}/orders\"\nmin_severity = \"warning\"\n\n\
         [board]\nlisten = \"127.0.0.1:{board_port}\"\ntoken = \"{TOKEN}\"\n\n\
         [kafka.topics]\ntelemetry = \"{TELEMETRY}\"\n",
        format_args!("http://127.0.0.1:{}", proxy.port())
    );
    let metrics_port = e2e_tests::paths::free_port();
    let metrics_listen = format!("metrics_listen = \"127.0.0.1:{metrics_port}\"\n");
    let config = config(dir.path(), &kafka, &postgres.url(), &metrics_listen, &extra)?;
    let log = dir.path().join("alerts.log");
    let publisher = Publisher::new(&kafka)?;
    publisher.send(STATUS, "gw1", "online").await?;
    // The bearing's RMS climbs for a minute before the alert: the trend's lead-up.
    for i in 0..12u64 {
        let rms = 2.0 + (i * i) as f64 * 0.05;
        publisher
            .features("gw1", i + 1, "motor1", 60_000 - i as i64 * 5_000, rms)
            .await?;
    }
    publisher
        .alert("gw1", 10, "motor1", AlertState::Raised)
        .await?;
    publisher.send(ALERTS, "gw1/motor1", "{garbled").await?;

    let service = Service::start(
        &binary,
        ["alerts", "--config", config.to_str().context("utf-8")?],
        &log,
    )?;
    let store = Store::connect(&postgres.url(), 1, None).await?;
    wait_for("one open episode", Duration::from_secs(60), || async {
        Ok((store.counts().await? == (1, 1, 1)).then_some(()))
    })
    .await
    .with_context(|| std::fs::read_to_string(&log).unwrap_or_default())?;
    let alerts = wait_for("one firing alert", Duration::from_secs(30), || async {
        let alerts = firing(&am, edge_agent::alerts::EPISODE_ALERTNAME).await?;
        Ok((!alerts.is_empty()).then_some(alerts))
    })
    .await?;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let labels = &alerts[0]["labels"];
    assert_eq!(labels["gateway"], "gw1");
    assert_eq!(labels["asset"], "motor1");
    assert_eq!(labels["sensor"], "motor1.de.velocity");
    assert_eq!(labels["rule"], "bearing-wear");
    assert_eq!(labels["severity"], "critical");
    assert_eq!(labels["rule_hash"], "5f1e9a0c");
    assert_eq!(alerts[0]["annotations"]["episode"], "gw1:10");

    // The CMMS refused once, then took the work order; it gets no second one.
    wait_for("a work order", Duration::from_secs(30), || async {
        Ok(cmms
            .lock()
            .expect("not poisoned")
            .iter()
            .any(|(s, _)| *s == 200)
            .then_some(()))
    })
    .await?;

    // The board: reads are open, writes need the token.
    let board = wait_for(
        "the trend on the board",
        Duration::from_secs(30),
        || async {
            let (status, body) = http_get(board_port, "/api/board")?;
            assert_eq!(status, 200);
            let board: serde_json::Value = serde_json::from_str(&body)?;
            let trend = board["open"][0]["trend"].as_array().map_or(0, Vec::len);
            Ok((trend >= 13).then_some(board))
        },
    )
    .await?;
    assert_eq!(board["open"][0]["id"], "gw1:10", "{board}");
    // The twelve features, oldest first, then the raise's own value.
    let trend = board["open"][0]["trend"].as_array().context("trend")?;
    assert_eq!(trend.len(), 13, "{trend:?}");
    assert_eq!(trend[0][1], 2.0);
    assert_eq!(trend[12][1], 8.4);
    let ack = r#"{"by":"Ana","note":"bearing on order"}"#;
    let (status, _) = http_request(board_port, "POST", "/api/episodes/gw1:10/ack", &[], ack)?;
    assert_eq!(status, 401, "an anonymous write is refused");
    let bearer = format!("Bearer {TOKEN}");
    let auth = [("Authorization", bearer.as_str())];
    let (status, _) = http_request(board_port, "POST", "/api/episodes/gw1:10/ack", &auth, ack)?;
    assert_eq!(status, 204);
    let open = store.open_episodes().await?;
    assert_eq!(open[0].acked_by.as_deref(), Some("Ana"));
    assert_eq!(open[0].ack_note.as_deref(), Some("bearing on order"));
    board_in_chromium(board_port, dir.path())?;

    // kill -9; Alertmanager unreachable; the bridge's duplicates and the clear; restart.
    service.kill_9()?;
    proxy.refuse(true);
    proxy.sever();
    publisher
        .alert("gw1", 10, "motor1", AlertState::Raised)
        .await?;
    publisher
        .alert("gw1", 11, "motor1", AlertState::Cleared)
        .await?;
    publisher
        .alert("gw1", 11, "motor1", AlertState::Cleared)
        .await?;
    publisher.send(STATUS, "gw1", "offline").await?;
    let service = Service::start(
        &binary,
        ["alerts", "--config", config.to_str().context("utf-8")?],
        &log,
    )?;
    wait_for("the episode closed", Duration::from_secs(60), || async {
        Ok((store.counts().await? == (1, 0, 1)).then_some(()))
    })
    .await
    .with_context(|| std::fs::read_to_string(&log).unwrap_or_default())?;
    // Alertmanager has not heard the resolve: the alert is still active there.
    sleep(Duration::from_secs(3)).await;
    assert_eq!(
        firing(&am, edge_agent::alerts::EPISODE_ALERTNAME)
            .await?
            .len(),
        1
    );
    proxy.refuse(false);
    // The retried resolve arrives: nothing of the episode stays active; the offline gateway fires.
    wait_for("the episode resolved", Duration::from_secs(30), || async {
        Ok(firing(&am, edge_agent::alerts::EPISODE_ALERTNAME)
            .await?
            .is_empty()
            .then_some(()))
    })
    .await?;
    let offline = firing(&am, edge_agent::alerts::OFFLINE_ALERTNAME).await?;
    assert_eq!(offline.len(), 1, "{offline:?}");
    assert_eq!(offline[0]["labels"]["gateway"], "gw1");
    assert_eq!(
        store.counts().await?,
        (1, 0, 1),
        "exactly one episode, one dead letter"
    );
    let orders = cmms.lock().expect("not poisoned").clone();
    assert_eq!(
        orders.iter().filter(|(s, _)| *s == 200).count(),
        1,
        "{orders:?}"
    );
    assert!(orders
        .iter()
        .all(|(_, body)| body.contains("\"episode\":\"gw1:10\"")));
    // The restarted service's own metrics: what it did since its start.
    let metrics = wait_for(
        "the Alertmanager post counted",
        Duration::from_secs(30),
        || async {
            let (_, text) = http_get(metrics_port, "/metrics")?;
            Ok((metric(&text, "edge_alerts_alertmanager_posts_total") >= 1.0).then_some(text))
        },
    )
    .await?;
    check_metrics(&metrics)?;
    service.terminate()?;
    Ok(())
}

/// The value of the sample that starts with `name` (its first, if labelled).
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

/// The restarted service's `/metrics` passes `promtool check metrics` and counts the second
/// run: a duplicate raise, one cleared episode, the failed and then successful posts.
fn check_metrics(text: &str) -> Result<()> {
    e2e_tests::promtool::check_metrics(text)?;
    // Published while it was down: the raise again, the clear twice (and whatever of the
    // first run's records had no committed offset yet).
    assert!(
        metric(text, "edge_alerts_records_total{source=\"alerts\"}") >= 3.0,
        "{text}"
    );
    assert!(
        metric(text, "edge_alerts_duplicates_total") >= 2.0,
        "{text}"
    );
    assert_eq!(
        metric(text, "edge_alerts_episodes_opened_total"),
        0.0,
        "{text}"
    );
    assert_eq!(
        metric(text, "edge_alerts_episodes_cleared_total"),
        1.0,
        "{text}"
    );
    assert!(
        metric(text, "edge_alerts_alertmanager_failures_total") >= 1.0,
        "{text}"
    );
    assert!(
        metric(text, "edge_alerts_store_write_seconds_count") >= 1.0,
        "{text}"
    );
    for name in [
        "edge_alerts_work_orders_total",
        "edge_alerts_seen_events_pruned_total",
        "edge_alerts_consumer_lag",
    ] {
        assert!(text.contains(&format!("# TYPE {name} ")), "{name}:\n{text}");
    }
    Ok(())
}

/// The board in headless Chromium: the episode and its acknowledgement are on the page;
/// a phone-sized screenshot is kept in `target/test-artefacts/alerts-board.png`.
fn board_in_chromium(port: u16, dir: &Path) -> Result<()> {
    let url = format!("http://127.0.0.1:{port}/");
    let profile = dir.join("chromium");
    let dom = chromium::dom(&url, &profile)?;
    assert!(
        dom.contains("data-episode=\"gw1:10\""),
        "the episode is on the board:\n{dom}"
    );
    assert!(dom.contains("Acknowledged by Ana"), "{dom}");
    assert!(
        dom.contains("class=\"trend\"") && dom.contains("data-points=\"13\""),
        "the trend's sparkline is on the board:\n{dom}"
    );
    assert!(dom.contains("gw1"), "{dom}");
    let png = chromium::screenshot(&url, &profile, "alerts-board.png")?;
    println!("screenshot: {}", png.display());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_in_one_group_split_the_partitions_and_record_every_episode_once(
) -> Result<()> {
    let binary = paths::edge_agent_alerts_binary();
    let dir = tempfile::tempdir()?;
    let kafka = kafka_with_topics(4).await?;
    let postgres = Postgres::start().await?;
    let config = config(dir.path(), &kafka, &postgres.url(), "", "")?;
    let publisher = Publisher::new(&kafka)?;
    let a = Service::start(
        &binary,
        ["alerts", "--config", config.to_str().context("utf-8")?],
        &dir.path().join("a.log"),
    )?;
    let b = Service::start(
        &binary,
        ["alerts", "--config", config.to_str().context("utf-8")?],
        &dir.path().join("b.log"),
    )?;
    // Both members are in the group before the records come (each logs its assignment).
    wait_for("both members assigned", Duration::from_secs(60), || async {
        let assigned = |log: &str| {
            std::fs::read_to_string(dir.path().join(log))
                .unwrap_or_default()
                .contains("partitions assigned")
        };
        Ok((assigned("a.log") && assigned("b.log")).then_some(()))
    })
    .await?;
    let store = Store::connect(&postgres.url(), 1, None).await?;
    for _ in 0..2 {
        // Every raise twice: as the bridge re-sends after a crash.
        for asset in 0..20u64 {
            let gateway = format!("gw{}", asset % 2);
            publisher
                .alert(
                    &gateway,
                    100 + asset,
                    &format!("m{asset}"),
                    AlertState::Raised,
                )
                .await?;
        }
    }
    wait_for("20 episodes", Duration::from_secs(60), || async {
        Ok((store.counts().await? == (20, 20, 0)).then_some(()))
    })
    .await?;
    let stored = |log: &str| std::fs::read_to_string(dir.path().join(log)).unwrap_or_default();
    // Each member's last assignment holds alert partitions, and no partition is in both.
    let last_assignment = |log: &str| -> Vec<String> {
        let line = log
            .lines()
            .rev()
            .find(|l| l.contains("partitions assigned"))
            .unwrap_or_default();
        line.split(['"', '[', ']', ',', ' '])
            .filter(|p| p.starts_with("edge.alerts/"))
            .map(str::to_owned)
            .collect()
    };
    let (log_a, log_b) = (stored("a.log"), stored("b.log"));
    let (parts_a, parts_b) = (last_assignment(&log_a), last_assignment(&log_b));
    assert!(
        !parts_a.is_empty() && !parts_b.is_empty(),
        "{log_a}\n{log_b}"
    );
    assert!(
        parts_a.iter().all(|p| !parts_b.contains(p)),
        "{parts_a:?} {parts_b:?}"
    );
    assert_eq!(parts_a.len() + parts_b.len(), 4, "{parts_a:?} {parts_b:?}");
    a.terminate()?;
    b.terminate()?;
    Ok(())
}

/// Every query of the shipped Grafana dashboard runs on the store's PostgreSQL schema (with
/// Grafana's time macros replaced by numbers). Grafana itself is not installable here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grafana_dashboard_queries_run_on_the_postgres_store() -> Result<()> {
    let postgres = Postgres::start().await?;
    // Creates the schema.
    Store::connect(&postgres.url(), 1, None).await?;
    let path = paths::workspace().join("deploy/grafana/edge-alerts-dashboard.json");
    let dashboard: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let panels = dashboard["panels"].as_array().context("panels")?;
    assert!(panels.len() >= 5);
    let psql = e2e_tests::postgres::bin_dir()?.join("psql");
    for panel in panels {
        let sql = panel["targets"][0]["rawSql"].as_str().context("rawSql")?;
        let sql = sql
            .replace("$__unixEpochFrom()", "0")
            .replace("$__unixEpochTo()", "2000000000");
        let output = std::process::Command::new(&psql)
            .args([&postgres.url(), "-v", "ON_ERROR_STOP=1", "-q", "-c", &sql])
            .output()?;
        assert!(
            output.status.success(),
            "panel {}: {}",
            panel["title"],
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
