//! A real full file system (ENOSPC), as opposed to a full spool. The test mounts a 2 MiB
//! tmpfs of its own (which needs root, as CI and `scripts/test.sh` run here), or fills the
//! small file system named by `SPOOL_ENOSPC_DIR`. It fails, never skips, when it has neither.
//!
//! What it showed with sled 0.34.7 (2 MiB tmpfs): ENOSPC after about 2,000
//! appends of 150 bytes; from then on sled refuses every write, acknowledgements
//! included, and reopening fails with ENOSPC too, until space is freed. The
//! spool returns errors (no panic) and is never moved aside for it.

use std::path::{Path, PathBuf};
use std::process::Command;

use edge_agent::spool::{Priority, Spool, SpoolConfig, SpoolError};

#[test]
fn a_full_file_system_gives_errors_not_panics_and_the_spool_reopens() {
    let _tiny;
    let root = match std::env::var_os("SPOOL_ENOSPC_DIR") {
        Some(root) => PathBuf::from(root),
        None => {
            _tiny = TinyTmpfs::mount();
            _tiny.path().to_path_buf()
        }
    };
    let dir = root.join(format!("spool-{}", std::process::id()));
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

/// A 2 MiB tmpfs mounted on a temporary directory, unmounted on drop.
struct TinyTmpfs(tempfile::TempDir);

impl TinyTmpfs {
    fn mount() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "cannot mount a small tmpfs (needs root): run as root, or set SPOOL_ENOSPC_DIR to a small file system the test may fill"
        );
        Self(dir)
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for TinyTmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}
