//! The MQTT sink against a real Mosquitto that each test starts on a free
//! port: draining the spool with no gap, the in-flight bound, alerts
//! overtaking a backlog, a clean shutdown half-way through a drain, dead letters.

use std::time::Duration;

use anyhow::Result;
use e2e_tests::mqtt_fixture::{append, Plant, RunningSink, SeqReport};
use edge_agent::spool::Priority;

const DRAIN: Duration = Duration::from_secs(60);

/// Waits until everything queued is written and fewer than half of `bound`
/// publishes could be added: no read of the spool runs or starts before
/// PUBACKs come back (the sink refills at half the window).
async fn frozen_window(sink: &RunningSink, bound: u16) -> Result<()> {
    sink.wait_until("a frozen window", Duration::from_secs(10), |s| {
        let unacked = s.published.saturating_sub(s.acked);
        s.inflight as u64 == unacked && unacked > u64::from(bound / 2)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sink_drains_a_spool_to_a_persistent_subscriber_with_no_gap() -> Result<()> {
    let plant = Plant::start("drain-sub", false).await?;
    let seqs = append(&plant.spool, Priority::Telemetry, 5_000).await?;
    assert_eq!(
        seqs,
        (1..=5_000).collect::<Vec<u64>>(),
        "the spool numbers from 1"
    );

    let sink = RunningSink::start(&plant.sink_config(), &plant.spool)?;
    let (report, stats) = plant.finish(sink, &seqs, DRAIN).await?;
    println!("drain: {report:?}\nsink: {stats:?}");
    assert_eq!(
        report.duplicates, 0,
        "one connection, no outage: no re-send"
    );
    let order = plant.arrival_order();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "oldest first");
    assert_eq!(
        (stats.acked, stats.published, stats.connections),
        (5_000, 5_000, 1)
    );
    let received = plant.subscriber.received();
    let first = received.iter().find(|m| m.seq().is_some()).expect("events");
    assert_eq!(
        first.topic,
        "edge/test-gw/features/line1.motor0.drive-end.velocity"
    );
    assert_eq!(first.json().expect("json")["gateway"], "test-gw");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_flight_bound_holds_while_the_broker_acknowledges_nothing() -> Result<()> {
    const BOUND: u16 = 16;
    let plant = Plant::start("bound-sub", true).await?;
    let mut config = plant.sink_config();
    config.max_inflight = BOUND;
    let sink = RunningSink::start(&config, &plant.spool)?;
    sink.wait_until(
        "connected, birth acknowledged",
        Duration::from_secs(10),
        |s| s.connected && s.inflight == 0,
    )
    .await?;

    // From now on the sink's publishes reach the broker, but no PUBACK comes back.
    plant.proxy().hold_replies(true);
    let seqs = append(&plant.spool, Priority::Telemetry, 2_000).await?;
    sink.waker.notify_one();
    sink.wait_until("a full window written", Duration::from_secs(10), |s| {
        s.published == u64::from(BOUND)
    })
    .await?;
    let events = |plant: &Plant| plant.arrival_order().len();
    plant
        .subscriber
        .wait_until(
            "the window at the subscriber",
            Duration::from_secs(10),
            |r| r.iter().map(|m| m.seqs().len()).sum::<usize>() >= usize::from(BOUND),
        )
        .await?;
    // A sink that ignored the bound would go on publishing: give it the time
    // to (this bounded wait is what a negative check costs).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        events(&plant),
        usize::from(BOUND),
        "exactly one window without PUBACKs"
    );
    assert_eq!(sink.stats.snapshot().published, u64::from(BOUND));

    plant.proxy().hold_replies(false);
    let (_, stats) = plant.finish(sink, &seqs, DRAIN).await?;
    println!("bound {BOUND}: {stats:?}");
    assert!(stats.inflight_high_water <= usize::from(BOUND), "{stats:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_alert_overtakes_the_telemetry_backlog_within_one_window() -> Result<()> {
    const BOUND: u16 = 32;
    let plant = Plant::start("overtake-sub", true).await?;
    let mut expected = append(&plant.spool, Priority::Telemetry, 3_000).await?;
    let mut config = plant.sink_config();
    config.max_inflight = BOUND;
    let sink = RunningSink::start(&config, &plant.spool)?;
    sink.wait_until("draining", Duration::from_secs(10), |s| s.acked >= 500)
        .await?;

    // Freeze the drain, add an alert, let it go.
    plant.proxy().hold_replies(true);
    frozen_window(&sink, BOUND).await?;
    let published_before = sink.stats.snapshot().published;
    let alert = append(&plant.spool, Priority::Alert, 1).await?;
    plant.proxy().hold_replies(false);

    expected.extend(&alert);
    plant.finish(sink, &expected, DRAIN).await?;
    let order = plant.arrival_order();
    let position = order
        .iter()
        .position(|&s| s == alert[0])
        .expect("alert received");
    println!(
        "alert seq {} arrived after {position} telemetry events, {} after it; \
         {published_before} had been published when it was appended",
        alert[0],
        order.len() - position - 1
    );
    assert_eq!(
        position as u64, published_before,
        "the alert is the next publish after the window"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_shutdown_mid_drain_keeps_the_rest_for_the_next_sink() -> Result<()> {
    let plant = Plant::start("restart-sub", false).await?;
    let seqs = append(&plant.spool, Priority::Telemetry, 10_000).await?;

    let first = RunningSink::start(&plant.sink_config(), &plant.spool)?;
    first
        .wait_until("part of the drain", DRAIN, |s| s.acked >= 1_000)
        .await?;
    first.stop().await?;
    let left = plant.spool.stats().await?.pending.total();
    println!("first sink stopped with {left} records left");

    let second = RunningSink::start(&plant.sink_config(), &plant.spool)?;
    let (report, _) = plant.finish(second, &seqs, DRAIN).await?;
    println!("two sinks: {report:?}");
    assert_eq!(
        report.duplicates, 0,
        "a clean shutdown waits for its PUBACKs"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_record_goes_to_the_dead_letter_topic_and_leaves_the_spool() -> Result<()> {
    let plant = Plant::start("dlq-sub", false).await?;
    let mut expected = append(&plant.spool, Priority::Telemetry, 10).await?;
    let bad = plant
        .spool
        .append(Priority::Telemetry, vec![0xff, 0xff, 0xff])
        .await?
        .seq;
    expected.push(bad);
    let sink = RunningSink::start(&plant.sink_config(), &plant.spool)?;
    let (_, stats) = plant.finish(sink, &expected, DRAIN).await?;
    let received = plant.subscriber.received();
    let letter = received
        .iter()
        .find(|m| m.topic == "edge/test-gw/dead-letter")
        .expect("dead letter");
    assert_eq!(letter.seq(), Some(bad));
    assert_eq!(letter.json().expect("json")["payload_hex"], "ffffff");
    assert_eq!(stats.dead_lettered, 1);
    assert_eq!(SeqReport::of(&received, &expected).duplicates, 0);
    Ok(())
}
