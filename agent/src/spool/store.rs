//! The spool's operations on an open sled tree: append, read, stats, close.
//! Acknowledgement is in `ack.rs`, opening and recovery in `open.rs`.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use sled::{Batch, IVec};
use tracing::warn;

use super::config::{Durability, FullPolicy, SpoolConfig};
use super::error::SpoolError;
use super::meta::{self, ShutdownState};
use super::record::{self, Priority, Record, RecordV1, KEY_LEN, QUARANTINE_PREFIX};
use super::reservation;
use super::stats::{Appended, DropCounters, DropReport, PerClass, SpoolStats};

/// The durable store-and-forward queue. See the module documentation for the
/// design, the invariants and the on-disk format.
///
/// Every method blocks on disk I/O: call it from a dedicated thread or through
/// `tokio::task::spawn_blocking` (see [`SharedSpool`](super::SharedSpool)).
#[derive(Debug)]
pub struct Spool {
    pub(crate) dir: PathBuf,
    pub(crate) config: SpoolConfig,
    pub(crate) db: sled::Db,
    pub(crate) tree: sled::Tree,
    /// The next seq to assign.
    pub(crate) next_seq: u64,
    /// Every seq handed out is at most this (persisted in `seq-reserved`).
    pub(crate) reserved: u64,
    pub(crate) pending: PerClass<u64>,
    pub(crate) pending_bytes: PerClass<u64>,
    /// Highest seq handed out by `next_batch` per class since open or rewind.
    pub(crate) cursor: PerClass<Option<u64>>,
    pub(crate) drops: DropCounters,
    pub(crate) quarantined: u64,
    pub(crate) appended_total: u64,
    /// Set once the clean-close marker is written (or deliberately skipped).
    pub(crate) closed: bool,
}

/// A record chosen for eviction.
struct Victim {
    key: IVec,
    class: Priority,
    bytes: u64,
}

pub(crate) fn now_ms() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

impl Spool {
    /// The spool directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The configuration the spool was opened with.
    pub fn config(&self) -> &SpoolConfig {
        &self.config
    }

    pub(crate) fn storage(&self, op: impl Into<String>) -> impl FnOnce(sled::Error) -> SpoolError {
        let path = self.dir.clone();
        let op = op.into();
        move |source| SpoolError::Storage { path, op, source }
    }

    /// Appends one event. When this returns `Ok` under `Durability::EveryEvent`,
    /// the event survives a process crash.
    ///
    /// Errors: [`SpoolError::Full`] under `FullPolicy::Reject`,
    /// [`SpoolError::TooLarge`] for a record larger than `max_bytes`, storage
    /// errors. A storage error from the final flush means the event is in the
    /// spool but maybe not durable; a retry stores it again under a new seq.
    pub fn append(&mut self, class: Priority, payload: &[u8]) -> Result<Appended, SpoolError> {
        let appended = self.append_unflushed(class, payload)?;
        self.flush_if_every_event("appending")?;
        Ok(appended)
    }

    /// Appends events that arrived together, with a single flush at the end
    /// (group commit): under `Durability::EveryEvent` none of them is
    /// acknowledged before all are durable. The inner results are the
    /// per-event refusals (`Full`, `TooLarge`); the outer error is a storage
    /// failure, after which some events may be stored and others not.
    #[allow(clippy::type_complexity)]
    pub fn append_all(
        &mut self,
        events: &[(Priority, &[u8])],
    ) -> Result<Vec<Result<Appended, SpoolError>>, SpoolError> {
        if let Some(results) = self.append_group_in_one_batch(events)? {
            self.flush_if_every_event("appending a group")?;
            return Ok(results);
        }
        let mut results = Vec::with_capacity(events.len());
        for &(class, payload) in events {
            match self.append_unflushed(class, payload) {
                Ok(appended) => results.push(Ok(appended)),
                Err(e @ (SpoolError::Full { .. } | SpoolError::TooLarge { .. })) => {
                    results.push(Err(e));
                }
                Err(e) => return Err(e),
            }
        }
        self.flush_if_every_event("appending a group")?;
        Ok(results)
    }

    /// The common case of [`append_all`](Self::append_all): the whole group fits without
    /// dropping anything, so it is written as one sled batch (records, next seq and the
    /// appended counter together), with exactly the outcome of appending the events one by
    /// one. sled then writes the group once instead of once per event: at 20,000 events a
    /// second that is the difference between keeping up and falling behind. `None` when the
    /// group does not fit as it is (a drop or a refusal is due): the caller appends one by one,
    /// where the full policy applies.
    #[allow(clippy::type_complexity)]
    fn append_group_in_one_batch(
        &mut self,
        events: &[(Priority, &[u8])],
    ) -> Result<Option<Vec<Result<Appended, SpoolError>>>, SpoolError> {
        if events.is_empty() {
            return Ok(None);
        }
        let first = self.next_seq;
        let after =
            first
                .checked_add(events.len() as u64)
                .ok_or_else(|| SpoolError::SeqExhausted {
                    path: self.dir.clone(),
                })?;
        let mut records = Vec::with_capacity(events.len());
        let mut total = 0u64;
        for (seq, &(class, payload)) in (first..after).zip(events) {
            let (value, bytes) = self.encode_record(seq, class, payload)?;
            total = total.saturating_add(bytes);
            records.push((class, seq, value, bytes));
        }
        if self.pending_bytes.total().saturating_add(total) > self.config.max_bytes {
            return Ok(None);
        }
        let last = after - 1;
        if last > self.reserved {
            let reserved = last.saturating_add(reservation::STEP - 1);
            reservation::write(&self.dir, reserved)?;
            self.reserved = reserved;
        }
        let mut batch = Batch::default();
        for (class, seq, value, _) in &records {
            batch.insert(&record::key(*class, *seq), value.as_slice());
        }
        batch.insert(meta::NEXT_SEQ, &meta::u64_value(after));
        batch.insert(
            meta::APPENDED,
            &meta::u64_value(self.appended_total + records.len() as u64),
        );
        self.tree
            .apply_batch(batch)
            .map_err(self.storage(format!("appending seqs {first} to {last}")))?;

        // The batch is applied: bring the in-memory state along.
        let results = records
            .into_iter()
            .map(|(class, seq, _, bytes)| {
                *self.pending.get_mut(class) += 1;
                *self.pending_bytes.get_mut(class) += bytes;
                Ok(Appended {
                    seq,
                    stored: true,
                    bytes,
                    dropped: DropReport::default(),
                })
            })
            .collect::<Vec<_>>();
        self.next_seq = after;
        self.appended_total += results.len() as u64;
        Ok(Some(results))
    }

    /// The stored value of a record (version byte and postcard), and the bytes it counts
    /// against `max_bytes` (its key included).
    fn encode_record(
        &self,
        seq: u64,
        class: Priority,
        payload: &[u8],
    ) -> Result<(Vec<u8>, u64), SpoolError> {
        let record = RecordV1 {
            seq,
            class,
            enqueued_at_ms: now_ms(),
            payload,
        };
        let value = record::encode(&record).map_err(|source| SpoolError::Encode {
            path: self.dir.clone(),
            seq,
            source,
        })?;
        let bytes = (KEY_LEN + value.len()) as u64;
        Ok((value, bytes))
    }

    fn append_unflushed(
        &mut self,
        class: Priority,
        payload: &[u8],
    ) -> Result<Appended, SpoolError> {
        let seq = self.next_seq;
        let after = seq.checked_add(1).ok_or_else(|| SpoolError::SeqExhausted {
            path: self.dir.clone(),
        })?;
        let (value, bytes) = self.encode_record(seq, class, payload)?;
        let max = self.config.max_bytes;

        if bytes > max {
            self.count_rejected(class)?;
            return Err(SpoolError::TooLarge {
                class,
                needed: bytes,
                max_bytes: max,
            });
        }

        let mut victims = Vec::new();
        let mut stored = true;
        if self.pending_bytes.total().saturating_add(bytes) > max {
            match self.config.full_policy {
                FullPolicy::Reject => {
                    self.count_rejected(class)?;
                    return Err(SpoolError::Full {
                        class,
                        needed: bytes,
                        pending_bytes: self.pending_bytes.total(),
                        max_bytes: max,
                    });
                }
                FullPolicy::DropOldestTelemetry => {
                    stored = self.choose_victims(class, bytes, &mut victims)?;
                }
            }
        }

        if seq > self.reserved {
            let reserved = seq.saturating_add(reservation::STEP - 1);
            reservation::write(&self.dir, reserved)?;
            self.reserved = reserved;
        }

        let mut report = DropReport::default();
        let mut drops = self.drops;
        let mut batch = Batch::default();
        for victim in &victims {
            batch.remove(victim.key.clone());
            *report.dropped.get_mut(victim.class) += 1;
            report.bytes += victim.bytes;
        }
        if stored {
            batch.insert(&record::key(class, seq), value);
        } else {
            *report.dropped.get_mut(class) += 1;
            report.bytes += bytes;
        }
        for class in Priority::ALL {
            let n = *report.dropped.get(class);
            if n > 0 {
                *drops.full.get_mut(class) += n;
                batch.insert(
                    meta::full_key(class),
                    &meta::u64_value(*drops.full.get(class)),
                );
            }
        }
        batch.insert(meta::NEXT_SEQ, &meta::u64_value(after));
        batch.insert(meta::APPENDED, &meta::u64_value(self.appended_total + 1));
        self.tree
            .apply_batch(batch)
            .map_err(self.storage(format!("appending seq {seq}")))?;

        // The batch is applied: bring the in-memory state along.
        for victim in &victims {
            *self.pending.get_mut(victim.class) -= 1;
            *self.pending_bytes.get_mut(victim.class) -= victim.bytes;
        }
        if stored {
            *self.pending.get_mut(class) += 1;
            *self.pending_bytes.get_mut(class) += bytes;
        }
        self.drops = drops;
        self.next_seq = after;
        self.appended_total += 1;
        if !report.is_empty() {
            warn!(
                spool = %self.dir.display(),
                seq,
                dropped_alerts = report.dropped.alert,
                dropped_telemetry = report.dropped.telemetry,
                "spool full: dropped records"
            );
        }
        Ok(Appended {
            seq,
            stored,
            bytes,
            dropped: report,
        })
    }

    /// Picks the records to evict so that `bytes` more fit. Returns whether the
    /// incoming record is stored (false: incoming telemetry that only fits by
    /// evicting alerts is dropped itself, and nothing is evicted).
    fn choose_victims(
        &self,
        class: Priority,
        bytes: u64,
        victims: &mut Vec<Victim>,
    ) -> Result<bool, SpoolError> {
        let max = self.config.max_bytes;
        if class == Priority::Telemetry && self.pending_bytes.alert.saturating_add(bytes) > max {
            return Ok(false);
        }
        let mut used = self.pending_bytes.total();
        let mut order = vec![Priority::Telemetry];
        if class == Priority::Alert {
            order.push(Priority::Alert);
        }
        for victim_class in order {
            for item in self.tree.scan_prefix(record::class_prefix(victim_class)) {
                if used.saturating_add(bytes) <= max {
                    return Ok(true);
                }
                let (key, value) = item.map_err(self.storage("choosing records to drop"))?;
                let victim_bytes = (key.len() + value.len()) as u64;
                used = used.saturating_sub(victim_bytes);
                victims.push(Victim {
                    key,
                    class: victim_class,
                    bytes: victim_bytes,
                });
            }
        }
        // Either it fits now, or the accounting disagrees with the tree; store
        // anyway rather than lose the record (max_bytes is a soft bound then).
        if used.saturating_add(bytes) > max {
            warn!(spool = %self.dir.display(), used, bytes, max, "spool accounting out of step with the tree");
        }
        Ok(true)
    }

    fn count_rejected(&mut self, class: Priority) -> Result<(), SpoolError> {
        let n = self.drops.rejected.get(class) + 1;
        self.tree
            .insert(meta::rejected_key(class), &meta::u64_value(n))
            .map_err(self.storage("counting a rejected append"))?;
        *self.drops.rejected.get_mut(class) = n;
        Ok(())
    }

    /// Returns up to `max` of the oldest records not yet handed out, all alerts
    /// before any telemetry, each class in seq order. A record handed out is
    /// not returned again until [`rewind_unacked`](Self::rewind_unacked) or a
    /// reopen. Records that cannot be decoded are moved to quarantine and
    /// counted, not returned.
    pub fn next_batch(&mut self, max: usize) -> Result<Vec<Record>, SpoolError> {
        let mut out = Vec::new();
        let mut bad = Vec::new();
        for class in Priority::ALL {
            if out.len() >= max {
                break;
            }
            let start = match *self.cursor.get(class) {
                None => 0,
                Some(seq) => match seq.checked_add(1) {
                    Some(next) => next,
                    None => continue,
                },
            };
            let range = record::key(class, start)..=record::key(class, u64::MAX);
            for item in self.tree.range(range) {
                if out.len() >= max {
                    break;
                }
                let (key, value) = item.map_err(self.storage("reading the next batch"))?;
                if let Ok((_, seq)) = record::parse_key(&key) {
                    *self.cursor.get_mut(class) = Some(seq);
                }
                match record::decode(&key, &value) {
                    Ok(record) => out.push(record),
                    Err(error) => bad.push((class, key, value, error)),
                }
            }
        }
        for (class, key, value, error) in bad {
            self.quarantine(class, key, value, &error.to_string())?;
        }
        Ok(out)
    }

    /// Up to `max` pending records (handed out or not) in sending order:
    /// alerts, then telemetry, each by seq. Reads only: hands nothing out,
    /// skips undecodable records without moving them. For inspection and tests.
    pub fn peek(&self, max: usize) -> Result<Vec<Record>, SpoolError> {
        let mut out = Vec::new();
        for class in Priority::ALL {
            for item in self.tree.scan_prefix(record::class_prefix(class)) {
                if out.len() >= max {
                    return Ok(out);
                }
                let (key, value) = item.map_err(self.storage("peeking"))?;
                if let Ok(record) = record::decode(&key, &value) {
                    out.push(record);
                }
            }
        }
        Ok(out)
    }

    fn quarantine(
        &mut self,
        class: Priority,
        key: IVec,
        value: IVec,
        error: &str,
    ) -> Result<(), SpoolError> {
        warn!(spool = %self.dir.display(), key = ?&key[..], %error, "undecodable record moved to quarantine");
        let bytes = (key.len() + value.len()) as u64;
        let mut quarantine_key = Vec::with_capacity(key.len() + 1);
        quarantine_key.push(QUARANTINE_PREFIX);
        quarantine_key.extend_from_slice(&key);
        let undecodable = self.drops.undecodable.get(class) + 1;
        let mut batch = Batch::default();
        batch.remove(key);
        batch.insert(quarantine_key, value);
        batch.insert(meta::undecodable_key(class), &meta::u64_value(undecodable));
        batch.insert(meta::QUARANTINED, &meta::u64_value(self.quarantined + 1));
        self.tree
            .apply_batch(batch)
            .map_err(self.storage("moving an undecodable record to quarantine"))?;
        *self.drops.undecodable.get_mut(class) = undecodable;
        self.quarantined += 1;
        *self.pending.get_mut(class) = self.pending.get(class).saturating_sub(1);
        *self.pending_bytes.get_mut(class) = self.pending_bytes.get(class).saturating_sub(bytes);
        Ok(())
    }

    /// Makes every pending record eligible for `next_batch` again: the sink
    /// calls this after a reconnect, so that records sent on the lost
    /// connection without a PUBACK are sent again (same seq).
    pub fn rewind_unacked(&mut self) {
        self.cursor = PerClass::default();
    }

    /// A snapshot of the spool's state.
    pub fn stats(&self) -> Result<SpoolStats, SpoolError> {
        let mut oldest: Option<i64> = None;
        for class in Priority::ALL {
            let first = self
                .tree
                .scan_prefix(record::class_prefix(class))
                .next()
                .transpose()
                .map_err(self.storage("reading the oldest record"))?;
            if let Some((key, value)) = first {
                if let Some(at) = record::decode_enqueued_at(&key, &value) {
                    oldest = Some(oldest.map_or(at, |o| o.min(at)));
                }
            }
        }
        let now = now_ms();
        Ok(SpoolStats {
            pending: self.pending,
            pending_bytes: self.pending_bytes,
            max_bytes: self.config.max_bytes,
            oldest_pending_age_ms: oldest
                .map(|at| u64::try_from(now.saturating_sub(at)).unwrap_or(0)),
            drops: self.drops,
            quarantined: self.quarantined,
            appended_total: self.appended_total,
            last_seq: self.next_seq.checked_sub(1).filter(|&s| s > 0),
            disk_bytes: self.db.size_on_disk().ok(),
        })
    }

    /// Writes everything to disk (sled `flush`: write and sync the log).
    pub fn flush(&self) -> Result<(), SpoolError> {
        self.db
            .flush()
            .map(|_| ())
            .map_err(self.storage("flushing"))
    }

    pub(crate) fn flush_if_every_event(&self, op: &str) -> Result<(), SpoolError> {
        if self.config.durability == Durability::EveryEvent {
            self.db
                .flush()
                .map_err(self.storage(format!("flushing after {op}")))?;
        }
        Ok(())
    }

    /// Flushes and marks the spool as cleanly closed. Dropping the spool does
    /// the same, logging instead of returning an error.
    pub fn close(mut self) -> Result<(), SpoolError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), SpoolError> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        self.flush()?;
        self.tree
            .insert(meta::STATE, &[ShutdownState::Clean as u8])
            .map_err(self.storage("marking a clean shutdown"))?;
        self.flush()
    }

    /// For crash tests: drops the spool without the clean-shutdown marker, as
    /// if the process had died after sled's last flush. (sled's background
    /// flusher still writes its buffer when the database is dropped, so this
    /// does not lose unflushed writes the way `kill -9` does.)
    #[doc(hidden)]
    pub fn drop_uncleanly(mut self) {
        self.closed = true;
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if let Err(error) = self.shutdown() {
            warn!(spool = %self.dir.display(), %error, "closing the spool failed");
        }
    }
}
