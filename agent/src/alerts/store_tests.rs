//! The store against a real SQLite file (PostgreSQL is covered by `tests/alerts.rs`).

use super::*;
use crate::alerts::record::tests::alert_event;
use crate::alerts::record::{decode, Source};
use crate::event::{wire, Event};

fn item(offset: i64, source: Source, key: &str, payload: &str) -> Item {
    Item {
        at: Position {
            topic: format!("{source:?}"),
            partition: 0,
            offset,
            key: Some(key.to_owned()),
        },
        payload: payload.as_bytes().to_vec(),
        decoded: decode(source, Some(key.as_bytes()), payload.as_bytes(), 1, 99),
    }
}

fn alert(offset: i64, seq: u64, state: AlertState, score: f64) -> Item {
    let json = wire::to_json("gw1", seq, &alert_event(state, score));
    item(offset, Source::Alerts, "gw1/motor1", &json)
}

async fn store(dir: &tempfile::TempDir) -> Store {
    let url = format!("sqlite://{}", dir.path().join("alerts.db").display());
    Store::connect(&url, 2, Some(Severity::Warning))
        .await
        .expect("store opens")
}

#[tokio::test]
async fn a_raise_and_its_clear_are_one_episode_and_replays_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(&dir).await;
    let batch = vec![
        alert(0, 1, AlertState::Raised, 3.0),
        alert(1, 2, AlertState::Raised, 5.0),
    ];
    let applied = store.apply(&batch).await.expect("applied");
    assert_eq!((applied.raised, applied.duplicates), (2, 0));
    let open = store.open_episodes().await.expect("read");
    assert_eq!(open.len(), 1, "a raise while open is the same episode");
    assert_eq!(open[0].id, "gw1:1");
    assert_eq!(open[0].peak_score, Some(5.0));
    assert_eq!(open[0].peak_feature_value, Some(10.0));
    let replay = store.apply(&batch).await.expect("applied");
    assert_eq!((replay.raised, replay.duplicates), (0, 2));
    store
        .apply(&[alert(2, 3, AlertState::Cleared, 0.5)])
        .await
        .expect("applied");
    assert!(store.open_episodes().await.expect("read").is_empty());
    let resolves = store.unsent_resolves().await.expect("read");
    assert_eq!(resolves.len(), 1);
    assert_eq!(resolves[0].cleared_ms, Some(1_764_500_000_123));
    store
        .mark_delivered(Delivered::Resolve, &["gw1:1".to_owned()], 5)
        .await
        .expect("marked");
    assert!(store.unsent_resolves().await.expect("read").is_empty());
    assert_eq!(store.counts().await.expect("counts"), (1, 0, 0));
    // Reopening the file keeps everything and migrates nothing twice.
    drop(store);
    let store = self::store(&dir).await;
    assert_eq!(store.counts().await.expect("counts"), (1, 0, 0));
}

#[tokio::test]
async fn bad_records_and_a_clear_without_its_raise_are_dead_letters_stored_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(&dir).await;
    let batch = vec![
        item(0, Source::Alerts, "gw1/motor1", "{garbled"),
        alert(1, 9, AlertState::Cleared, 0.0),
        item(2, Source::Status, "gw1", "sideways"),
        alert(3, 10, AlertState::Raised, 1.0),
    ];
    let applied = store.apply(&batch).await.expect("applied");
    assert_eq!(applied.dead_letters, 3);
    assert_eq!(
        applied.dead_reasons,
        vec!["not_json", "clear_without_raise", "bad_field"]
    );
    assert_eq!(applied.raised, 1, "what follows a bad record is applied");
    // The replayed batch stores no dead letter twice (the clear is now a duplicate seq).
    let again = store.apply(&batch).await.expect("applied");
    assert_eq!(again.dead_letters, 0);
    assert_eq!(store.counts().await.expect("counts"), (1, 1, 3));
}

#[tokio::test]
async fn status_and_health_keep_gateway_liveness() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(&dir).await;
    let health = wire::to_json(
        "gw1",
        4,
        &Event::health(1_000, "spool", HealthState::Degraded, "slow disk"),
    );
    let batch = vec![
        item(0, Source::Status, "gw1", "offline"),
        item(1, Source::Health, "gw1", &health),
    ];
    store.apply(&batch).await.expect("applied");
    let gateways = store.gateways().await.expect("read");
    assert_eq!(gateways.len(), 1);
    assert_eq!(gateways[0].online, Some(false));
    assert_eq!(gateways[0].changed_ms, Some(99));
    assert_eq!(gateways[0].last_seen_ms, Some(1_000));
    assert!(store
        .unsent_gateway_resolves()
        .await
        .expect("read")
        .is_empty());
    store
        .apply(&[item(2, Source::Status, "gw1", "online")])
        .await
        .expect("applied");
    let back = store.unsent_gateway_resolves().await.expect("read");
    assert_eq!(back.len(), 1);
    store
        .mark_delivered(Delivered::GatewayResolve, &["gw1".to_owned()], 5)
        .await
        .expect("marked");
    // A repeated `online` does not re-arm the resolve.
    store
        .apply(&[item(3, Source::Status, "gw1", "online")])
        .await
        .expect("applied");
    assert!(store
        .unsent_gateway_resolves()
        .await
        .expect("read")
        .is_empty());
}

#[tokio::test]
async fn work_orders_are_due_from_the_configured_severity_and_acks_are_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(&dir).await;
    let info = wire::to_json("gw2", 1, &alert_event(AlertState::Raised, 1.0))
        .replace("\"critical\"", "\"info\"");
    store
        .apply(&[
            alert(0, 1, AlertState::Raised, 1.0),
            item(1, Source::Alerts, "gw2/motor1", &info),
        ])
        .await
        .expect("applied");
    let due = store.due_work_orders().await.expect("read");
    assert_eq!(
        due.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["gw1:1"]
    );
    assert!(store
        .acknowledge("gw1:1", "Ana", "bearing ordered", 7)
        .await
        .expect("ack"));
    assert!(!store.acknowledge("nope", "Ana", "", 7).await.expect("ack"));
    let history = store.asset_history("motor1", 10).await.expect("read");
    let acked = history.iter().find(|e| e.id == "gw1:1").expect("there");
    assert_eq!(acked.acked_by.as_deref(), Some("Ana"));
    assert_eq!(acked.ack_note.as_deref(), Some("bearing ordered"));
}

async fn seen_rows(store: &Store) -> i64 {
    let row = sqlx::query("SELECT COUNT(*) FROM seen_events")
        .fetch_one(&store.pool)
        .await
        .expect("count");
    row.try_get(0).expect("a count")
}

#[tokio::test]
async fn seen_events_are_pruned_after_the_retention_and_replays_still_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(&dir).await;
    let raise = alert(0, 1, AlertState::Raised, 3.0);
    store
        .apply(std::slice::from_ref(&raise))
        .await
        .expect("applied");
    // Within the retention: the redelivered raise is dropped by its (gateway, seq).
    let again = store
        .apply(std::slice::from_ref(&raise))
        .await
        .expect("applied");
    assert_eq!((again.raised, again.duplicates), (0, 1));
    assert_eq!(seen_rows(&store).await, 1);
    // A cutoff before the row was applied keeps it.
    assert_eq!(
        store.prune_seen(now_ms() - 60_000).await.expect("pruned"),
        0
    );
    assert_eq!(seen_rows(&store).await, 1);

    // Many events later, everything applied before the cutoff is forgotten: the table holds
    // only what came after it.
    let batch: Vec<Item> = (0..50)
        .map(|i| {
            let health = Event::health(1_000 + i, "spool", HealthState::Online, "ok");
            let json = wire::to_json("gw1", 100 + i as u64, &health);
            item(10 + i, Source::Health, "gw1", &json)
        })
        .collect();
    store.apply(&batch).await.expect("applied");
    assert_eq!(seen_rows(&store).await, 51);
    let cutoff = now_ms() + 1;
    assert_eq!(store.prune_seen(cutoff).await.expect("pruned"), 51);
    assert_eq!(seen_rows(&store).await, 0);

    // Past the retention the raise comes back: its episode recognises it.
    let replay = store
        .apply(std::slice::from_ref(&raise))
        .await
        .expect("applied");
    assert_eq!((replay.raised, replay.duplicates), (0, 1));
    assert_eq!(store.counts().await.expect("counts"), (1, 1, 0));
    // Its clear, then a new episode of the same rule; an old raise and clear replayed past
    // the retention touch neither.
    let clear = alert(1, 2, AlertState::Cleared, 0.1);
    store
        .apply(std::slice::from_ref(&clear))
        .await
        .expect("applied");
    store
        .apply(&[alert(2, 3, AlertState::Raised, 4.0)])
        .await
        .expect("applied");
    store.prune_seen(now_ms() + 1).await.expect("pruned");
    let stale = store
        .apply(&[raise, clear, alert(3, 1, AlertState::Raised, 9.0)])
        .await
        .expect("applied");
    assert_eq!((stale.raised, stale.cleared, stale.duplicates), (0, 0, 3));
    let open = store.open_episodes().await.expect("read");
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].id, "gw1:3");
    assert_eq!(
        open[0].peak_score,
        Some(4.0),
        "the stale raise kept no peak"
    );
    assert_eq!(store.counts().await.expect("counts"), (2, 1, 0));
}

fn features(offset: i64, seq: u64, ts_ms: i64, rms: f64) -> Item {
    let event = Event {
        ts_ms,
        body: crate::event::EventBody::Features(crate::event::FeatureSet {
            sensor: "motor1.de.velocity".into(),
            window: 10,
            values: vec![("rms".into(), rms), ("mean".into(), 0.5)],
        }),
    };
    item(
        offset,
        Source::Telemetry,
        "gw1/motor1",
        &wire::to_json("gw1", seq, &event),
    )
}

#[tokio::test]
async fn an_episode_keeps_the_feature_trend_around_it_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(&dir).await;
    let raised_ms = 1_764_500_000_123;
    // The lead-up: more points than the ring keeps.
    let before: Vec<Item> = (0..40)
        .map(|i| {
            features(
                i,
                100 + i as u64,
                raised_ms - 40_000 + i * 1_000,
                1.0 + i as f64,
            )
        })
        .collect();
    store.apply(&before).await.expect("applied");
    // The raise carries rms = score * 2 = 6.
    store
        .apply(&[alert(50, 200, AlertState::Raised, 3.0)])
        .await
        .expect("applied");
    let trend = store.trend("gw1:200").await.expect("read");
    assert_eq!(trend.len(), trend::RING_POINTS + 1, "{trend:?}");
    assert_eq!(
        trend[0],
        (raised_ms - 32_000, 9.0),
        "the ring's oldest kept"
    );
    assert_eq!(*trend.last().expect("points"), (raised_ms, 6.0));

    // During the episode: every point, and only the newest of a long episode; a replay
    // writes nothing twice.
    let during: Vec<Item> = (0..250)
        .map(|i| features(60 + i, 300 + i as u64, raised_ms + 1 + i * 1_000, 7.0))
        .collect();
    store.apply(&during).await.expect("applied");
    store.apply(&during[200..]).await.expect("applied");
    let trend = store.trend("gw1:200").await.expect("read");
    let after_raise = trend.iter().filter(|(ts, _)| *ts > raised_ms).count() as i64;
    assert_eq!(after_raise, trend::EPISODE_POINTS);
    assert_eq!(
        trend.len() as i64,
        trend::RING_POINTS as i64 + 1 + trend::EPISODE_POINTS
    );
    assert_eq!(trend.last().expect("points").0, raised_ms + 1 + 249 * 1_000);

    // After the clear, no more points.
    let clear = wire::to_json("gw1", 600, &alert_event(AlertState::Cleared, 0.1)).replace(
        "\"ts\":\"2025-11-30T10:53:20.123Z\"",
        "\"ts\":\"2025-11-30T11:00:00.000Z\"",
    );
    store
        .apply(&[item(400, Source::Alerts, "gw1/motor1", &clear)])
        .await
        .expect("applied");
    assert!(store.open_episodes().await.expect("read").is_empty());
    let closed = store.trend("gw1:200").await.expect("read").len();
    store
        .apply(&[features(500, 700, raised_ms + 900_000, 1.0)])
        .await
        .expect("applied");
    assert_eq!(store.trend("gw1:200").await.expect("read").len(), closed);
}
