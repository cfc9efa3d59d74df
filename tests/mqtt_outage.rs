//! Outages against a real Mosquitto: the broker stopped and restarted several
//! times while the sink publishes and events keep arriving, connections cut
//! under the sink, and the order of a backlog after an outage. A subscriber
//! with a persistent session must receive every seq from the first to the
//! last; duplicates are allowed only as re-sends of the same seq (identical
//! payload), and each test prints how many there were.

use std::time::Duration;

use anyhow::Result;
use e2e_tests::mqtt_fixture::{append, Plant, RunningSink};
use edge_agent::spool::Priority;

const DRAIN: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restarts_lose_no_seq_and_duplicate_only_re_sends() -> Result<()> {
    const OUTAGES: usize = 4;
    let mut plant = Plant::start("outage-sub", false).await?;
    let mut expected = append(&plant.spool, Priority::Telemetry, 4_000).await?;
    expected.extend(append(&plant.spool, Priority::Alert, 50).await?);

    let sink = RunningSink::start(&plant.sink_config(), &plant.spool)?;
    // Events keep arriving during the outages: 40 groups of 150 telemetry
    // and one alert each, every 25 ms.
    let producer = {
        let spool = plant.spool.clone();
        let waker = sink.waker.clone();
        tokio::spawn(async move {
            let mut seqs = Vec::new();
            for _ in 0..40 {
                seqs.extend(append(&spool, Priority::Telemetry, 150).await?);
                seqs.extend(append(&spool, Priority::Alert, 1).await?);
                waker.notify_one();
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            anyhow::Ok(seqs)
        })
    };

    for outage in 1..=OUTAGES {
        let target = outage * 1_500;
        plant
            .subscriber
            .wait_until("progress before the outage", DRAIN, |r| {
                r.iter().map(|m| m.seqs().len()).sum::<usize>() >= target
            })
            .await?;
        plant.broker.stop().await?;
        let errors = sink.stats.snapshot().connection_errors;
        // Down until the sink has failed to reconnect at least twice.
        sink.wait_until("failed reconnects", Duration::from_secs(30), |s| {
            !s.connected && s.connection_errors >= errors + 2
        })
        .await?;
        let during = sink.stats.snapshot();
        println!(
            "outage {outage}: broker stopped at {} events received; backlog {:?}, oldest unacked {:?} ms",
            plant.arrival_order().len(),
            during.backlog,
            during.oldest_unacked_age_ms
        );
        plant.broker.restart().await?;
    }

    expected.extend(producer.await??);
    let (report, stats) = plant.finish(sink, &expected, DRAIN).await?;
    let max = expected.iter().max().copied().unwrap_or(0);
    println!(
        "{OUTAGES} broker restarts: {} events for seqs 1 to {max}, {} duplicates (re-sends of the same seq)\nsink: {stats:?}",
        report.messages, report.duplicates
    );
    assert_eq!(
        report.distinct as u64, max,
        "every seq from 1 to {max}, no gap"
    );
    assert!(stats.reconnects >= OUTAGES as u64, "{stats:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_connections_lose_no_seq_and_duplicate_only_re_sends() -> Result<()> {
    const CUTS: u64 = 6;
    let plant = Plant::start("cut-sub", true).await?;
    let expected = append(&plant.spool, Priority::Telemetry, 12_000).await?;

    let sink = RunningSink::start(&plant.sink_config(), &plant.spool)?;
    for cut in 1..=CUTS {
        sink.wait_until("progress before the cut", DRAIN, |s| {
            s.connected && s.acked >= cut * 1_500
        })
        .await?;
        // Mid-drain: publishes are in flight, some PUBACKs are on the wire.
        plant.proxy().sever();
        sink.wait_until("reconnected", Duration::from_secs(30), |s| {
            s.connected && s.reconnects >= cut
        })
        .await?;
    }
    let (report, stats) = plant.finish(sink, &expected, DRAIN).await?;
    println!(
        "{CUTS} cut connections: {} events for {} seqs, {} duplicates (re-sends of the same seq); published {} acked {}",
        report.messages, report.distinct, report.duplicates, stats.published, stats.acked
    );
    assert!(stats.acked >= 12_000);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_outage_alerts_go_before_the_telemetry_backlog() -> Result<()> {
    let mut plant = Plant::start("order-sub", false).await?;
    plant.broker.stop().await?;

    // The outage: the sink cannot connect while events pile up, telemetry
    // first and the alerts last.
    let sink = RunningSink::start(&plant.sink_config(), &plant.spool)?;
    let telemetry = append(&plant.spool, Priority::Telemetry, 2_000).await?;
    let alerts = append(&plant.spool, Priority::Alert, 20).await?;
    sink.wait_until("failed connection attempts", Duration::from_secs(30), |s| {
        s.connection_errors >= 2
    })
    .await?;
    sink.wait_until("the backlog metric", Duration::from_secs(5), |s| {
        s.backlog.total() == 2_020
    })
    .await?;
    let during = sink.stats.snapshot();
    println!(
        "during the outage: backlog {:?}, oldest unacked {:?} ms",
        during.backlog, during.oldest_unacked_age_ms
    );
    assert_eq!(during.backlog.alert, 20);
    assert!(during.oldest_unacked_age_ms.is_some());
    plant.broker.restart().await?;

    let expected = [telemetry.clone(), alerts.clone()].concat();
    plant.finish(sink, &expected, DRAIN).await?;
    let order = plant.arrival_order();
    assert_eq!(
        &order[..alerts.len()],
        &alerts[..],
        "the alerts first, oldest first"
    );
    assert_eq!(
        &order[alerts.len()..],
        &telemetry[..],
        "then the backlog, oldest first"
    );
    Ok(())
}

/// The broker returns after an outage while the sink's backoff has grown to 20-40 s (a
/// `reconnect_min` and `reconnect_max` of 40 s stand for a long outage's grown delay): the
/// probe of the broker's port is what brings the sink back, within a second, not the
/// backoff (the probe at its default, 250 ms). Each outage's resume time is printed: this test is the harness for the README's
/// figure (`cargo test -p e2e-tests --test mqtt_outage resume -- --nocapture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sink_resumes_as_soon_as_the_broker_returns_whatever_its_backoff() -> Result<()> {
    const OUTAGES: u64 = 5;
    let mut plant = Plant::start("resume-sub", false).await?;
    let mut config = plant.sink_config();
    config.reconnect_min = Duration::from_secs(40);
    config.reconnect_max = Duration::from_secs(40);
    let sink = RunningSink::start(&config, &plant.spool)?;
    let mut expected = Vec::new();
    let mut resumes = Vec::new();
    for outage in 1..=OUTAGES {
        expected.extend(append(&plant.spool, Priority::Telemetry, 100).await?);
        sink.waker.notify_one();
        sink.wait_until("connected", Duration::from_secs(30), |s| s.connected)
            .await?;
        let errors = sink.stats.snapshot().connection_errors;
        plant.broker.stop().await?;
        sink.wait_until("the outage seen", Duration::from_secs(30), |s| {
            !s.connected && s.connection_errors > errors
        })
        .await?;
        // Events keep coming while the broker is away.
        expected.extend(append(&plant.spool, Priority::Alert, 10).await?);
        tokio::time::sleep(Duration::from_secs(2)).await;
        plant.broker.restart().await?;
        let back = tokio::time::Instant::now();
        // Without the probe the next attempt is 20-40 s away.
        sink.wait_until("reconnected by the probe", Duration::from_secs(10), |s| {
            s.connected
        })
        .await?;
        let resumed = back.elapsed();
        println!("outage {outage}: delivery resumed {resumed:?} after the broker listened again");
        resumes.push(resumed);
        assert_eq!(sink.stats.snapshot().probe_reconnects, outage);
    }
    resumes.sort();
    println!(
        "resume after the broker's return over {OUTAGES} outages: min {:?}, median {:?}, max {:?}",
        resumes[0],
        resumes[resumes.len() / 2],
        resumes[resumes.len() - 1]
    );
    let (report, _) = plant.finish(sink, &expected, DRAIN).await?;
    report.assert_complete();
    Ok(())
}

/// The broker stays down for 65 s, longer than the default backoff's 60 s cap, with the
/// shipped reconnect settings (500 ms doubling to 60 s, the probe every 250 ms). By then the
/// next attempt may be up to a minute away; the sink must be back within seconds of the broker's
/// return, through the probe, and deliver what was spooled before and during the outage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_outage_longer_than_the_backoff_cap_the_sink_is_back_within_seconds() -> Result<()>
{
    const OUTAGE: Duration = Duration::from_secs(65);
    let mut plant = Plant::start("long-outage-sub", false).await?;
    let mut config = plant.sink_config();
    let shipped = edge_agent::mqtt::MqttConfig::new("127.0.0.1");
    config.reconnect_min = shipped.reconnect_min;
    config.reconnect_max = shipped.reconnect_max;
    config.reconnect_probe = shipped.reconnect_probe;
    assert!(
        OUTAGE > config.reconnect_max,
        "the outage must outlast the backoff cap"
    );
    let sink = RunningSink::start(&config, &plant.spool)?;
    let mut expected = append(&plant.spool, Priority::Telemetry, 200).await?;
    sink.waker.notify_one();
    sink.wait_until("connected", Duration::from_secs(30), |s| s.connected)
        .await?;

    plant.broker.stop().await?;
    let down = tokio::time::Instant::now();
    let errors = sink.stats.snapshot().connection_errors;
    sink.wait_until("the outage seen", Duration::from_secs(30), |s| {
        !s.connected && s.connection_errors > errors
    })
    .await?;
    expected.extend(append(&plant.spool, Priority::Alert, 20).await?);
    expected.extend(append(&plant.spool, Priority::Telemetry, 200).await?);
    tokio::time::sleep(OUTAGE.saturating_sub(down.elapsed())).await;
    let during = sink.stats.snapshot();
    plant.broker.restart().await?;
    let back = tokio::time::Instant::now();
    // The backoff alone could wait up to the full 60 s cap from here; 10 s is far below it.
    sink.wait_until(
        "reconnected after the long outage",
        Duration::from_secs(10),
        |s| s.connected,
    )
    .await?;
    println!(
        "outage of {:?}: {} failed attempts while down; delivery resumed {:?} after the broker listened again",
        OUTAGE,
        during.connection_errors - errors,
        back.elapsed()
    );
    let (report, _) = plant.finish(sink, &expected, DRAIN).await?;
    report.assert_complete();
    Ok(())
}
