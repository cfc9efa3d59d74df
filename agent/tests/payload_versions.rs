//! An agent upgraded over a backlog reads it: the spool in `fixtures/spool-v1` was written
//! before payloads carried a version (see `fixtures/README.md`), and today's agent decodes
//! every record of it to the events that were spooled, in order, and keeps appending after it.

use std::path::Path;

use edge_agent::event::{payload, wire, Event, EventBody, HealthState, Quality};
use edge_agent::spool::{Priority, Spool, SpoolConfig};

/// Copies the fixture into a scratch folder (opening a spool writes to it).
fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

#[test]
fn a_backlog_written_before_payload_versions_decodes_to_the_events_spooled() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let dir = scratch.path().join("spool");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/spool-v1");
    copy_dir(&fixture, &dir).expect("copy the fixture");

    let (mut spool, report) = Spool::open(&dir, SpoolConfig::default()).expect("opens");
    assert!(report.moved_aside.is_none(), "{report:?}");
    let records = spool.next_batch(100).expect("read");
    // Alerts first (seqs 4, 5), then telemetry (1, 2, 3).
    let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [4, 5, 1, 2, 3]);
    let events: Vec<Event> = records
        .iter()
        .map(|r| payload::decode(&r.payload).expect("an old payload decodes"))
        .collect();
    for (record, event) in records.iter().zip(&events) {
        assert_eq!(
            event.ts_ms,
            1_764_500_000_000 + 1000 * (record.seq as i64 - 1)
        );
    }
    let EventBody::Reading(good) = &events[2].body else {
        panic!("seq 1 is a reading: {:?}", events[2]);
    };
    assert_eq!(
        (good.sensor.as_str(), good.value),
        ("pump1.de.velocity", 2.75)
    );
    assert_eq!(
        (good.unit.as_deref(), good.quality),
        (Some("mm/s"), Quality::Good)
    );
    let EventBody::Reading(bad) = &events[3].body else {
        panic!("seq 2 is a reading: {:?}", events[3]);
    };
    assert!(bad.value.is_nan() && bad.quality == Quality::Bad);
    let EventBody::Features(features) = &events[4].body else {
        panic!("seq 3 is a feature set: {:?}", events[4]);
    };
    assert_eq!(features.window, 60);
    assert_eq!(
        features.values,
        [("mean".to_owned(), 2.5), ("rms".to_owned(), 2.6)]
    );
    let EventBody::Alert(alert) = &events[0].body else {
        panic!("seq 4 is an alert: {:?}", events[0]);
    };
    assert_eq!(
        (
            alert.rule.as_str(),
            alert.rule_hash.as_str(),
            alert.feature_value
        ),
        ("iso10816_zone_c", "sha256:abc123", 7.4)
    );
    assert!(alert.score.is_nan() && alert.row.is_none());
    let EventBody::Health(health) = &events[1].body else {
        panic!("seq 5 is a health event: {:?}", events[1]);
    };
    assert_eq!(health.state, HealthState::Degraded);
    assert_eq!(health.component, "device:gw");

    // Appending after the old backlog: new seqs, new payloads, both readable.
    let new = Event::health(1_764_600_000_000, "spool", HealthState::Online, "upgraded");
    let appended = spool
        .append(Priority::Alert, &payload::encode(&new))
        .expect("append");
    assert_eq!(appended.seq, 6);
    let next = spool.next_batch(10).expect("read");
    assert_eq!(next.len(), 1);
    let back = payload::decode(&next[0].payload).expect("decodes");
    assert_eq!(wire::to_json("g", 6, &back), wire::to_json("g", 6, &new));
}
