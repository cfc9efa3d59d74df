//! A real crash: this test binary re-executes itself as a writer that appends
//! and acknowledges records, printing each seq once the call has returned,
//! and the parent kills it with SIGKILL in mid-flight. Then the parent reopens
//! the spool and checks what survived.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use edge_agent::spool::{Durability, Priority, Spool, SpoolConfig};

const CHILD_DIR: &str = "SPOOL_CRASH_CHILD_DIR";
const CHILD_INTERVAL_MS: &str = "SPOOL_CRASH_CHILD_INTERVAL_MS";

/// What the writer reported before it died.
#[derive(Debug, Default)]
struct Log {
    /// Appends that returned `Ok`.
    appended: BTreeSet<u64>,
    /// Seqs about to be acknowledged (the ack may or may not have happened).
    acking: BTreeSet<u64>,
    /// Acknowledgements that returned `Ok`.
    acked: BTreeSet<u64>,
}

/// Not a test on its own: the body of the child process. Without the
/// environment variable it returns at once.
#[test]
fn child_writer() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let durability = match std::env::var(CHILD_INTERVAL_MS) {
        Ok(ms) => Durability::IntervalMs(ms.parse().expect("interval in ms")),
        Err(_) => Durability::EveryEvent,
    };
    let config = SpoolConfig {
        durability,
        ..SpoolConfig::default()
    };
    let (mut spool, _) = Spool::open(Path::new(&dir), config).expect("child opens the spool");
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let payload = [0x5au8; 150];
    for i in 0u64.. {
        let class = if i % 7 == 0 {
            Priority::Alert
        } else {
            Priority::Telemetry
        };
        let appended = spool.append(class, &payload).expect("append");
        writeln!(out, "A {}", appended.seq).expect("print");
        out.flush().expect("flush stdout");
        if i % 10 == 9 {
            // Acknowledge every other record of a batch, as PUBACKs would.
            let batch = spool.next_batch(6).expect("next_batch");
            let seqs: Vec<u64> = batch.iter().map(|r| r.seq).step_by(2).collect();
            let list = seqs
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(" ");
            writeln!(out, "k {list}").expect("print");
            out.flush().expect("flush stdout");
            spool.ack(&seqs).expect("ack");
            writeln!(out, "K {list}").expect("print");
            out.flush().expect("flush stdout");
        }
    }
}

/// Runs the writer until it has reported `appends` appends, then SIGKILLs it.
fn run_and_kill(dir: &Path, appends: usize, interval_ms: Option<u64>) -> Log {
    let exe = std::env::current_exe().expect("test binary path");
    let mut command = Command::new(exe);
    command
        .args(["--exact", "child_writer", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(ms) = interval_ms {
        command.env(CHILD_INTERVAL_MS, ms.to_string());
    }
    let mut child = command.spawn().expect("spawn the writer");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut log = Log::default();
    let mut killed = false;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read a line");
        let mut words = line.split_whitespace();
        let set = match words.next() {
            Some("A") => &mut log.appended,
            Some("k") => &mut log.acking,
            Some("K") => &mut log.acked,
            _ => continue,
        };
        set.extend(words.map(|w| w.parse::<u64>().expect("a seq")));
        if !killed && log.appended.len() >= appends {
            child.kill().expect("SIGKILL the writer");
            killed = true;
        }
    }
    let status = child.wait().expect("wait for the writer");
    assert!(killed, "the writer stopped by itself: {status}");
    log
}

fn pending_after_reopen(dir: &Path) -> (BTreeSet<u64>, Spool) {
    let (mut spool, report) =
        Spool::open(dir, SpoolConfig::default()).expect("reopen after the kill");
    assert!(report.moved_aside.is_none(), "{report:?}");
    assert_eq!(report.clean_shutdown, Some(false));
    let pending: BTreeSet<u64> = spool
        .next_batch(usize::MAX)
        .expect("read everything")
        .into_iter()
        .map(|r| r.seq)
        .collect();
    (pending, spool)
}

#[test]
fn after_sigkill_every_returned_append_is_there_and_no_acknowledged_record_comes_back() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("spool");
    let mut all = Log::default();
    // Three writers in turn on the same spool, killed at different points.
    for kill_after in [57, 400, 233] {
        let log = run_and_kill(&dir, kill_after, None);
        all.appended.extend(&log.appended);
        all.acking.extend(&log.acking);
        all.acked.extend(&log.acked);
        let (pending, mut spool) = pending_after_reopen(&dir);

        let maybe_acked: BTreeSet<u64> = all.acking.difference(&all.acked).copied().collect();
        let must_be_there: BTreeSet<u64> = all
            .appended
            .iter()
            .filter(|s| !all.acked.contains(s) && !maybe_acked.contains(s))
            .copied()
            .collect();
        let missing: Vec<_> = must_be_there.difference(&pending).collect();
        assert!(
            missing.is_empty(),
            "appended, not acknowledged, lost: {missing:?}"
        );
        let resurrected: Vec<_> = all.acked.intersection(&pending).collect();
        assert!(
            resurrected.is_empty(),
            "acknowledged, came back: {resurrected:?}"
        );
        // At most the one append in flight at the kill can be there unreported.
        let last_reported = log.appended.last().copied().unwrap_or(0);
        let unreported: Vec<_> = pending.iter().filter(|&&s| s > last_reported).collect();
        assert!(unreported.len() <= 1, "{unreported:?}");
        // The counter continues past everything handed out.
        let next = spool.append(Priority::Alert, b"after").expect("append").seq;
        assert!(next > last_reported);
        all.appended.insert(next);
    }
}
