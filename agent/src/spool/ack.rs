//! Acknowledgement: removal of the records whose PUBACK came.

use std::collections::BTreeSet;

use sled::Batch;
use tracing::debug;

use super::error::SpoolError;
use super::record::{self, Priority, KEY_LEN};
use super::store::Spool;

impl Spool {
    /// Removes exactly the records with these seqs (the ones whose PUBACK
    /// came). Seqs that are not pending (already acknowledged, dropped, never
    /// assigned) are ignored. Returns how many records were removed. Under
    /// `Durability::EveryEvent` the removal is durable when this returns.
    pub fn ack(&mut self, seqs: &[u64]) -> Result<usize, SpoolError> {
        let seqs: BTreeSet<u64> = seqs.iter().copied().collect();
        let mut batch = Batch::default();
        let mut removed: Vec<(Priority, u64)> = Vec::new();
        for &seq in &seqs {
            for class in Priority::ALL {
                let key = record::key(class, seq);
                let found = self
                    .tree
                    .get(key)
                    .map_err(self.storage(format!("acknowledging seq {seq}")))?;
                if let Some(value) = found {
                    batch.remove(&key);
                    removed.push((class, (KEY_LEN + value.len()) as u64));
                    break;
                }
            }
        }
        self.remove_acknowledged(batch, &removed)
    }

    /// Removes every record handed out since open or rewind whose seq is at most
    /// `seq`, class by class. Records not handed out are never removed, so
    /// this is safe despite alerts being sent before older telemetry.
    pub fn ack_up_to(&mut self, seq: u64) -> Result<usize, SpoolError> {
        let mut batch = Batch::default();
        let mut removed = Vec::new();
        for class in Priority::ALL {
            let Some(cursor) = *self.cursor.get(class) else {
                continue;
            };
            let upper = cursor.min(seq);
            for item in self
                .tree
                .range(record::key(class, 0)..=record::key(class, upper))
            {
                let (key, value) =
                    item.map_err(self.storage(format!("acknowledging up to seq {seq}")))?;
                removed.push((class, (key.len() + value.len()) as u64));
                batch.remove(key);
            }
        }
        self.remove_acknowledged(batch, &removed)
    }

    fn remove_acknowledged(
        &mut self,
        batch: Batch,
        removed: &[(Priority, u64)],
    ) -> Result<usize, SpoolError> {
        if removed.is_empty() {
            return Ok(0);
        }
        self.tree
            .apply_batch(batch)
            .map_err(self.storage("acknowledging"))?;
        for &(class, bytes) in removed {
            *self.pending.get_mut(class) -= 1;
            *self.pending_bytes.get_mut(class) -= bytes;
        }
        self.flush_if_every_event("acknowledging")?;
        debug!(spool = %self.dir.display(), removed = removed.len(), "acknowledged");
        Ok(removed.len())
    }
}
