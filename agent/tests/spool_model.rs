//! Model-based property test of the spool: random sequences of append, read
//! (next_batch), acknowledge (exact seqs and up-to), rewind, and close or
//! crash followed by reopen, run against the real spool and against a simple
//! in-memory model, with a small `max_bytes` so that the full policy acts.
//! After every step the pending records (content and order), the seqs, the
//! byte accounting and the counters must be equal.
//!
//! "Crash" here drops the spool without its clean-shutdown marker. sled still
//! writes its buffers when dropped, so this checks the recovery logic (counter,
//! cursors, counters, accounting, the seq skip after an unclean `IntervalMs`
//! shutdown), not lost writes: those are the SIGKILL test's job.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use edge_agent::spool::{
    Durability, FullPolicy, Priority, Record, SeqContinuity, Spool, SpoolConfig, SpoolError,
    RECORD_KEY_BYTES,
};
use proptest::prelude::*;
use proptest::sample::Index;

#[derive(Debug, Clone)]
enum Op {
    Append { alert: bool, size: usize },
    AppendAll(Vec<(bool, usize)>),
    NextBatch(usize),
    Ack(Vec<Index>),
    AckUpTo(Index),
    Rewind,
    Reopen { clean: bool },
}

fn op() -> impl Strategy<Value = Op> {
    // Sizes around the realistic 100-200 bytes, some tiny, a few too large
    // for the smallest spools.
    let size = prop_oneof![8 => 0usize..250, 1 => 250usize..1200];
    prop_oneof![
        10 => (any::<bool>(), size.clone()).prop_map(|(alert, size)| Op::Append { alert, size }),
        2 => proptest::collection::vec((any::<bool>(), size), 1..5).prop_map(Op::AppendAll),
        5 => (1usize..8).prop_map(Op::NextBatch),
        4 => proptest::collection::vec(any::<Index>(), 0..6).prop_map(Op::Ack),
        1 => any::<Index>().prop_map(Op::AckUpTo),
        1 => Just(Op::Rewind),
        1 => any::<bool>().prop_map(|clean| Op::Reopen { clean }),
    ]
}

fn config() -> impl Strategy<Value = SpoolConfig> {
    (
        1024u64..4096,
        prop_oneof![
            Just(FullPolicy::DropOldestTelemetry),
            Just(FullPolicy::Reject)
        ],
        prop_oneof![
            Just(Durability::EveryEvent),
            Just(Durability::IntervalMs(20))
        ],
    )
        .prop_map(|(max_bytes, full_policy, durability)| SpoolConfig {
            max_bytes,
            full_policy,
            durability,
        })
}

fn class_of(alert: bool) -> Priority {
    if alert {
        Priority::Alert
    } else {
        Priority::Telemetry
    }
}

fn varint_len(mut n: u64) -> u64 {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// The record bytes the spool counts: key, version byte, postcard of
/// `{seq, class, enqueued_at_ms, payload}`.
fn record_bytes(seq: u64, payload_len: usize, now_ms: i64) -> u64 {
    let zigzag = ((now_ms << 1) ^ (now_ms >> 63)) as u64;
    RECORD_KEY_BYTES
        + 1
        + varint_len(seq)
        + 1
        + varint_len(zigzag)
        + varint_len(payload_len as u64)
        + payload_len as u64
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A payload that names where it came from, so that mix-ups show.
fn payload(step: usize, size: usize) -> Vec<u8> {
    (0..size).map(|i| (step * 31 + i) as u8).collect()
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    alert: u64,
    telemetry: u64,
}

impl Counts {
    fn add(&mut self, class: Priority, n: u64) {
        match class {
            Priority::Alert => self.alert += n,
            Priority::Telemetry => self.telemetry += n,
        }
    }
}

/// The in-memory model: what the spool should hold.
#[derive(Debug)]
struct Model {
    max_bytes: u64,
    policy: FullPolicy,
    /// Pending records by (class, seq): sending order. Value: payload, bytes.
    records: BTreeMap<(Priority, u64), (Vec<u8>, u64)>,
    /// Seqs handed out since open or rewind.
    handed: BTreeSet<u64>,
    next_seq: u64,
    appended: u64,
    full: Counts,
    rejected: Counts,
}

/// What the model expects of one append.
#[derive(Debug, PartialEq, Eq)]
enum Expect {
    TooLarge,
    Full,
    Stored { seq: u64, dropped: Counts },
    DroppedItself { seq: u64 },
}

impl Model {
    fn bytes(&self, class: Option<Priority>) -> u64 {
        self.records
            .iter()
            .filter(|((c, _), _)| class.is_none_or(|k| k == *c))
            .map(|(_, (_, b))| b)
            .sum()
    }

    fn count(&self, class: Priority) -> u64 {
        self.records.keys().filter(|(c, _)| *c == class).count() as u64
    }

    fn append(&mut self, class: Priority, payload: Vec<u8>, now: i64) -> Expect {
        let seq = self.next_seq;
        let bytes = record_bytes(seq, payload.len(), now);
        if bytes > self.max_bytes {
            self.rejected.add(class, 1);
            return Expect::TooLarge;
        }
        let mut dropped = Counts::default();
        if self.bytes(None) + bytes > self.max_bytes {
            match self.policy {
                FullPolicy::Reject => {
                    self.rejected.add(class, 1);
                    return Expect::Full;
                }
                FullPolicy::DropOldestTelemetry => {
                    if class == Priority::Telemetry
                        && self.bytes(Some(Priority::Alert)) + bytes > self.max_bytes
                    {
                        self.next_seq += 1;
                        self.appended += 1;
                        self.full.add(class, 1);
                        return Expect::DroppedItself { seq };
                    }
                    let victims: Vec<Priority> = if class == Priority::Alert {
                        vec![Priority::Telemetry, Priority::Alert]
                    } else {
                        vec![Priority::Telemetry]
                    };
                    for victim in victims {
                        while self.bytes(None) + bytes > self.max_bytes {
                            let Some(&key) = self.records.keys().find(|(c, _)| *c == victim) else {
                                break;
                            };
                            self.records.remove(&key);
                            dropped.add(victim, 1);
                        }
                    }
                    self.full.alert += dropped.alert;
                    self.full.telemetry += dropped.telemetry;
                }
            }
        }
        self.records.insert((class, seq), (payload, bytes));
        self.next_seq += 1;
        self.appended += 1;
        Expect::Stored { seq, dropped }
    }

    fn next_batch(&mut self, max: usize) -> Vec<(Priority, u64, Vec<u8>)> {
        let batch: Vec<_> = self
            .records
            .iter()
            .filter(|((_, seq), _)| !self.handed.contains(seq))
            .take(max)
            .map(|((c, s), (p, _))| (*c, *s, p.clone()))
            .collect();
        self.handed.extend(batch.iter().map(|(_, s, _)| *s));
        batch
    }

    fn ack(&mut self, seqs: &[u64]) -> usize {
        let unique: BTreeSet<u64> = seqs.iter().copied().collect();
        let before = self.records.len();
        self.records.retain(|(_, seq), _| !unique.contains(seq));
        before - self.records.len()
    }

    fn ack_up_to(&mut self, up_to: u64) -> usize {
        let before = self.records.len();
        let handed = &self.handed;
        self.records
            .retain(|(_, seq), _| !(*seq <= up_to && handed.contains(seq)));
        before - self.records.len()
    }
}

fn check_append(
    result: Result<edge_agent::spool::Appended, SpoolError>,
    expect: Expect,
) -> Result<(), TestCaseError> {
    match (result, expect) {
        (Err(SpoolError::TooLarge { .. }), Expect::TooLarge)
        | (Err(SpoolError::Full { .. }), Expect::Full) => Ok(()),
        (Ok(a), Expect::Stored { seq, dropped }) => {
            prop_assert_eq!(a.seq, seq);
            prop_assert!(a.stored);
            prop_assert_eq!(a.dropped.dropped.alert, dropped.alert);
            prop_assert_eq!(a.dropped.dropped.telemetry, dropped.telemetry);
            Ok(())
        }
        (Ok(a), Expect::DroppedItself { seq }) => {
            prop_assert_eq!(a.seq, seq);
            prop_assert!(!a.stored);
            prop_assert_eq!(a.dropped.dropped.telemetry, 1);
            Ok(())
        }
        (result, expect) => Err(TestCaseError::fail(format!(
            "append gave {result:?}, model expects {expect:?}"
        ))),
    }
}

fn check_state(spool: &Spool, model: &Model) -> Result<(), TestCaseError> {
    let got: Vec<(Priority, u64, Vec<u8>)> = spool
        .peek(usize::MAX)
        .map_err(|e| TestCaseError::fail(e.to_string()))?
        .into_iter()
        .map(|r: Record| (r.class, r.seq, r.payload))
        .collect();
    let want: Vec<(Priority, u64, Vec<u8>)> = model
        .records
        .iter()
        .map(|((c, s), (p, _))| (*c, *s, p.clone()))
        .collect();
    prop_assert_eq!(got, want, "pending records differ");
    let stats = spool
        .stats()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(stats.pending.alert, model.count(Priority::Alert));
    prop_assert_eq!(stats.pending.telemetry, model.count(Priority::Telemetry));
    prop_assert_eq!(
        stats.pending_bytes.alert,
        model.bytes(Some(Priority::Alert))
    );
    prop_assert_eq!(
        stats.pending_bytes.telemetry,
        model.bytes(Some(Priority::Telemetry))
    );
    prop_assert!(stats.pending_bytes.total() <= model.max_bytes);
    prop_assert_eq!(stats.drops.full.alert, model.full.alert);
    prop_assert_eq!(stats.drops.full.telemetry, model.full.telemetry);
    prop_assert_eq!(stats.drops.rejected.alert, model.rejected.alert);
    prop_assert_eq!(stats.drops.rejected.telemetry, model.rejected.telemetry);
    prop_assert_eq!(stats.drops.undecodable.total(), 0);
    prop_assert_eq!(stats.appended_total, model.appended);
    prop_assert_eq!(
        stats.last_seq,
        model.next_seq.checked_sub(1).filter(|&s| s > 0)
    );
    Ok(())
}

fn open(
    dir: &Path,
    config: &SpoolConfig,
) -> Result<(Spool, edge_agent::spool::OpenReport), TestCaseError> {
    Spool::open(dir, config.clone()).map_err(|e| TestCaseError::fail(format!("open: {e}")))
}

fn run(config: SpoolConfig, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let tmp = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let dir = tmp.path().join("spool");
    let (mut spool, _) = open(&dir, &config)?;
    let mut model = Model {
        max_bytes: config.max_bytes,
        policy: config.full_policy,
        records: BTreeMap::new(),
        handed: BTreeSet::new(),
        next_seq: 1,
        appended: 0,
        full: Counts::default(),
        rejected: Counts::default(),
    };
    for (step, op) in ops.into_iter().enumerate() {
        match op {
            Op::Append { alert, size } => {
                let class = class_of(alert);
                let data = payload(step, size);
                let expect = model.append(class, data.clone(), now_ms());
                check_append(spool.append(class, &data), expect)?;
            }
            Op::AppendAll(events) => {
                let datas: Vec<(Priority, Vec<u8>)> = events
                    .iter()
                    .enumerate()
                    .map(|(i, &(alert, size))| (class_of(alert), payload(step * 8 + i, size)))
                    .collect();
                let borrowed: Vec<(Priority, &[u8])> =
                    datas.iter().map(|(c, p)| (*c, p.as_slice())).collect();
                let results = spool
                    .append_all(&borrowed)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(results.len(), datas.len());
                for (result, (class, data)) in results.into_iter().zip(datas) {
                    let expect = model.append(class, data, now_ms());
                    check_append(result, expect)?;
                }
            }
            Op::NextBatch(max) => {
                let got: Vec<(Priority, u64, Vec<u8>)> = spool
                    .next_batch(max)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?
                    .into_iter()
                    .map(|r| (r.class, r.seq, r.payload))
                    .collect();
                prop_assert_eq!(got, model.next_batch(max), "next_batch differs");
            }
            Op::Ack(picks) => {
                let handed: Vec<u64> = model.handed.iter().copied().collect();
                let seqs: Vec<u64> = if handed.is_empty() {
                    Vec::new()
                } else {
                    picks.iter().map(|i| *i.get(&handed)).collect()
                };
                let removed = spool
                    .ack(&seqs)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(removed, model.ack(&seqs));
            }
            Op::AckUpTo(pick) => {
                let up_to = pick.index(model.next_seq as usize + 1) as u64;
                let removed = spool
                    .ack_up_to(up_to)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(removed, model.ack_up_to(up_to));
            }
            Op::Rewind => {
                spool.rewind_unacked();
                model.handed.clear();
            }
            Op::Reopen { clean } => {
                if clean {
                    spool
                        .close()
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                } else {
                    spool.drop_uncleanly();
                }
                let (reopened, report) = open(&dir, &config)?;
                spool = reopened;
                prop_assert!(report.moved_aside.is_none());
                prop_assert_eq!(report.clean_shutdown, Some(clean));
                match (clean, config.durability, report.seq) {
                    (
                        false,
                        Durability::IntervalMs(_),
                        SeqContinuity::SkippedReservation {
                            persisted_next,
                            next,
                        },
                    ) => {
                        prop_assert_eq!(persisted_next, model.next_seq);
                        prop_assert!(next > model.next_seq);
                        model.next_seq = next;
                    }
                    (_, _, SeqContinuity::Exact)
                        if clean || config.durability == Durability::EveryEvent => {}
                    (_, _, other) => {
                        return Err(TestCaseError::fail(format!(
                            "reopen (clean: {clean}, {:?}) gave seq continuity {other:?}",
                            config.durability
                        )))
                    }
                }
                model.handed.clear();
            }
        }
        check_state(&spool, &model)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn the_spool_behaves_like_the_model(config in config(), ops in proptest::collection::vec(op(), 1..80)) {
        run(config, ops)?;
    }
}
