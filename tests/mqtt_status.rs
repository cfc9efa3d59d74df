//! The status topic against a real Mosquitto: the retained birth message
//! `online`, the last will `offline` when the sink's connection dies without a
//! DISCONNECT, and `offline` published by the sink itself on a clean shutdown.

use std::time::Duration;

use anyhow::Result;
use e2e_tests::mqtt_fixture::{Plant, RunningSink};
use e2e_tests::mqtt_subscriber::{Received, Subscriber};

const STATUS: &str = "edge/test-gw/status";
const WAIT: Duration = Duration::from_secs(15);

/// The status messages received, in order.
fn statuses(received: &[Received]) -> Vec<String> {
    received
        .iter()
        .filter(|m| m.topic == STATUS)
        .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
        .collect()
}

/// The retained status as a new subscriber sees it.
async fn retained_status(plant: &Plant, client_id: &str) -> Result<Received> {
    let fresh = Subscriber::connect(plant.broker.port(), client_id, STATUS, true).await?;
    fresh
        .wait_until("the retained status", WAIT, |r| !r.is_empty())
        .await?;
    let status = fresh.received().remove(0);
    fresh.disconnect().await;
    Ok(status)
}

/// Starts the sink and waits until its birth message was acknowledged.
async fn started(plant: &Plant) -> Result<RunningSink> {
    let sink = RunningSink::start(&plant.sink_config(), &plant.spool)?;
    sink.wait_until("birth acknowledged", WAIT, |s| {
        s.connected && s.inflight == 0
    })
    .await?;
    Ok(sink)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_birth_message_is_retained_online() -> Result<()> {
    let plant = Plant::start("birth-watcher", false).await?;
    let sink = started(&plant).await?;
    let status = retained_status(&plant, "birth-check").await?;
    assert_eq!(status.payload, b"online");
    assert!(status.retain, "the birth message is retained");
    sink.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_will_says_offline_when_the_sink_dies_without_disconnecting() -> Result<()> {
    let plant = Plant::start("will-watcher", false).await?;
    let sink = started(&plant).await?;
    plant
        .subscriber
        .wait_until("online", WAIT, |r| statuses(r) == ["online"])
        .await?;

    // The task is dropped: its socket closes without an MQTT DISCONNECT, as
    // when the agent is killed.
    sink.abort().await;
    plant
        .subscriber
        .wait_until("the will", WAIT, |r| statuses(r) == ["online", "offline"])
        .await?;
    let status = retained_status(&plant, "will-check").await?;
    assert_eq!(status.payload, b"offline");
    assert!(status.retain, "the will is retained");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_connection_publishes_the_will_and_the_reconnect_says_online_again() -> Result<()> {
    let plant = Plant::start("cut-watcher", true).await?;
    let sink = started(&plant).await?;

    // Cut the network and keep it cut: the broker sees a dead client.
    plant.proxy().refuse(true);
    plant.proxy().sever();
    sink.wait_until("failed reconnects", WAIT, |s| s.connection_errors >= 2)
        .await?;
    let status = retained_status(&plant, "cut-check").await?;
    assert_eq!(status.payload, b"offline", "the broker published the will");

    plant.proxy().refuse(false);
    sink.wait_until("reconnected", WAIT, |s| {
        s.connected && s.reconnects >= 1 && s.inflight == 0
    })
    .await?;
    let status = retained_status(&plant, "back-check").await?;
    assert_eq!(status.payload, b"online");
    sink.stop().await?;
    assert_eq!(
        statuses(&plant.subscriber.received())[..3],
        ["online", "offline", "online"]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_shutdown_publishes_offline_once_and_no_will() -> Result<()> {
    let plant = Plant::start("stop-watcher", false).await?;
    let sink = started(&plant).await?;
    sink.stop().await?;
    plant
        .subscriber
        .wait_until("offline", WAIT, |r| {
            statuses(r).contains(&"offline".to_owned())
        })
        .await?;
    // A will would follow the explicit `offline` at once; this bounded wait
    // is what checking for its absence costs.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        statuses(&plant.subscriber.received()),
        ["online", "offline"]
    );
    let status = retained_status(&plant, "stop-check").await?;
    assert_eq!(status.payload, b"offline");
    Ok(())
}
