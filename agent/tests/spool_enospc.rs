//! A real full file system (ENOSPC), as opposed to a full spool. Needs a small
//! file system that the test may fill, e.g. as root:
//! `mount -t tmpfs -o size=2m tmpfs /tmp/tiny && SPOOL_ENOSPC_DIR=/tmp/tiny cargo test -p edge-agent --test spool_enospc`.
//! Without `SPOOL_ENOSPC_DIR` the test returns at once.
//!
//! What it showed with sled 0.34.7 (2 MiB tmpfs): ENOSPC after about 2,000
//! appends of 150 bytes; from then on sled refuses every write, acknowledgements
//! included, and reopening fails with ENOSPC too, until space is freed. The
//! spool returns errors (no panic) and is never moved aside for it.

use std::path::PathBuf;

use edge_agent::spool::{Priority, Spool, SpoolConfig, SpoolError};

#[test]
fn a_full_file_system_gives_errors_not_panics_and_the_spool_reopens() {
    let Ok(root) = std::env::var("SPOOL_ENOSPC_DIR") else {
        return;
    };
    let dir = PathBuf::from(root).join(format!("spool-{}", std::process::id()));
    let config = SpoolConfig {
        max_bytes: 1 << 30,
        ..SpoolConfig::default()
    };
    let (mut spool, _) = Spool::open(&dir, config.clone()).expect("open");
    let mut stored = Vec::new();
    let error = loop {
        match spool.append(Priority::Telemetry, &[7u8; 150]) {
            Ok(appended) => stored.push(appended.seq),
            Err(e) => break e,
        }
        assert!(stored.len() < 10_000_000, "the file system never filled");
    };
    println!("ENOSPC after {} appends: {error}", stored.len());
    assert!(
        matches!(error, SpoolError::Storage { .. } | SpoolError::Io { .. }),
        "{error}"
    );
    let again = spool.append(Priority::Alert, b"a");
    println!("the next append: {again:?}");
    let acked = spool.next_batch(1000).and_then(|batch| {
        let seqs: Vec<u64> = batch.iter().map(|r| r.seq).collect();
        spool.ack(&seqs)
    });
    println!("acknowledging 1000: {acked:?}");
    drop(spool);
    let reopened = Spool::open(&dir, config);
    match &reopened {
        Ok((spool, report)) => {
            println!(
                "reopened: pending {:?}, stats {:?}",
                report.pending,
                spool.stats().map(|s| s.pending)
            );
            assert!(
                report.moved_aside.is_none(),
                "a full disk is not corruption"
            );
        }
        Err(e) => println!("reopen failed: {e}"),
    }
    drop(reopened);
    assert!(dir.is_dir(), "the spool directory was not moved");
    let _ = std::fs::remove_dir_all(&dir);
}
