//! Which MQTT messages may be acknowledged: pure bookkeeping, no I/O, tested synchronously
//! (like `mqtt/inflight.rs` on the agent's side).
//!
//! # Invariants
//!
//! 1. **A message is acknowledged only after Kafka acknowledged what it became** (its record,
//!    or its dead letter): [`AckQueue::complete`] marks it, and only marked messages leave.
//! 2. **PUBACKs go out in the order the PUBLISHes came in** (MQTT 3.1.1, 4.6): only the
//!    completed prefix of the queue leaves ([`AckQueue::ackable`]). A message completed
//!    behind an older one that is still on its way to Kafka waits for it.
//! 3. **No packet id is pending twice.** The broker reuses an id only after our PUBACK; a
//!    second PUBLISH with a pending id means the bookkeeping and the broker disagree, and the
//!    caller drops the connection ([`AckError::PacketIdInUse`]): the broker then sends
//!    again whatever we did not acknowledge — duplicates, never a wrong acknowledgement.
//! 4. **A connection's entries die with it.** [`AckQueue::clear`] forgets everything when a
//!    connection is lost (a PUBACK of the old connection must never reach the new one).
//!    Entry ids are never reused, so a completion that arrives later for a forgotten entry
//!    matches nothing.
//! 5. **Bounded**: at most `capacity` entries; [`AckQueue::is_full`] tells the caller to stop
//!    reading the broker until some leave.

use std::collections::{HashSet, VecDeque};

/// The id of one received message in the queue, unique for the life of the queue.
pub(crate) type EntryId = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    id: EntryId,
    /// The packet id to acknowledge; `None` for QoS 0 (nothing to acknowledge).
    pkid: Option<u16>,
    received_ms: u64,
    done: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AckError {
    #[error("the broker sent packet id {0} again before it was acknowledged")]
    PacketIdInUse(u16),
}

/// The messages of one connection between receipt and PUBACK, oldest first.
#[derive(Debug)]
pub(crate) struct AckQueue {
    entries: VecDeque<Entry>,
    pending_pkids: HashSet<u16>,
    next_id: EntryId,
    capacity: usize,
}

impl AckQueue {
    pub(crate) fn new(capacity: usize) -> Self {
        AckQueue {
            entries: VecDeque::with_capacity(capacity.min(4096)),
            pending_pkids: HashSet::new(),
            next_id: 0,
            capacity: capacity.max(1),
        }
    }

    /// Records a received message; `pkid` is `None` for QoS 0.
    pub(crate) fn push(&mut self, pkid: Option<u16>, now_ms: u64) -> Result<EntryId, AckError> {
        if let Some(pkid) = pkid {
            if !self.pending_pkids.insert(pkid) {
                return Err(AckError::PacketIdInUse(pkid));
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        self.entries.push_back(Entry {
            id,
            pkid,
            received_ms: now_ms,
            done: false,
        });
        Ok(id)
    }

    /// Kafka acknowledged what entry `id` became. False if the entry is unknown (it belonged
    /// to a lost connection, or was completed already).
    pub(crate) fn complete(&mut self, id: EntryId) -> bool {
        let Some(front) = self.entries.front() else {
            return false;
        };
        // Ids are contiguous from the front: entries leave only from the front.
        let Some(index) = id.checked_sub(front.id) else {
            return false;
        };
        match self.entries.get_mut(index as usize) {
            Some(entry) if entry.id == id && !entry.done => {
                entry.done = true;
                true
            }
            _ => false,
        }
    }

    /// Removes the completed prefix and returns the packet ids to acknowledge, in order.
    pub(crate) fn ackable(&mut self) -> Vec<u16> {
        let mut pkids = Vec::new();
        while self.entries.front().is_some_and(|e| e.done) {
            let entry = self.entries.pop_front().expect("front exists");
            if let Some(pkid) = entry.pkid {
                self.pending_pkids.remove(&pkid);
                pkids.push(pkid);
            }
        }
        pkids
    }

    /// Forgets every entry (the connection is gone); returns how many there were.
    pub(crate) fn clear(&mut self) -> usize {
        let n = self.entries.len();
        self.entries.clear();
        self.pending_pkids.clear();
        n
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn is_full(&self) -> bool {
        self.entries.len() >= self.capacity
    }

    /// When the oldest unacknowledged message arrived.
    pub(crate) fn oldest_ms(&self) -> Option<u64> {
        self.entries.front().map(|e| e.received_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_acknowledged_before_kafka_acknowledged_it() {
        let mut q = AckQueue::new(10);
        q.push(Some(1), 0).expect("push");
        assert!(q.ackable().is_empty());
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn acknowledgements_leave_in_the_order_messages_came_in() {
        let mut q = AckQueue::new(10);
        let a = q.push(Some(7), 0).expect("push");
        let b = q.push(Some(3), 1).expect("push");
        let c = q.push(Some(9), 2).expect("push");
        assert!(q.complete(c));
        assert!(q.complete(b));
        assert!(q.ackable().is_empty(), "the oldest is still on its way");
        assert!(q.complete(a));
        assert_eq!(q.ackable(), vec![7, 3, 9]);
        assert!(q.is_empty());
    }

    #[test]
    fn a_packet_id_pending_twice_is_refused_and_free_again_after_its_ack() {
        let mut q = AckQueue::new(10);
        let a = q.push(Some(5), 0).expect("push");
        assert_eq!(q.push(Some(5), 1), Err(AckError::PacketIdInUse(5)));
        q.complete(a);
        assert_eq!(q.ackable(), vec![5]);
        assert!(q.push(Some(5), 2).is_ok());
    }

    #[test]
    fn qos0_messages_keep_their_place_but_send_no_ack() {
        let mut q = AckQueue::new(10);
        let a = q.push(None, 0).expect("push");
        let b = q.push(Some(1), 0).expect("push");
        q.complete(b);
        assert!(q.ackable().is_empty());
        q.complete(a);
        assert_eq!(q.ackable(), vec![1]);
    }

    #[test]
    fn completions_of_a_lost_connection_match_nothing_on_the_next() {
        let mut q = AckQueue::new(10);
        let old = q.push(Some(1), 0).expect("push");
        assert_eq!(q.clear(), 1);
        let new = q.push(Some(1), 5).expect("the id is free after the clear");
        assert_ne!(old, new);
        assert!(!q.complete(old), "a stale completion");
        assert!(q.ackable().is_empty());
        assert!(q.complete(new));
        assert!(!q.complete(new), "completed once");
        assert_eq!(q.ackable(), vec![1]);
    }

    #[test]
    fn the_queue_is_bounded_and_knows_its_oldest_message() {
        let mut q = AckQueue::new(2);
        assert_eq!(q.oldest_ms(), None);
        let a = q.push(Some(1), 100).expect("push");
        q.push(Some(2), 200).expect("push");
        assert!(q.is_full());
        assert_eq!(q.oldest_ms(), Some(100));
        q.complete(a);
        q.ackable();
        assert!(!q.is_full());
        assert_eq!(q.oldest_ms(), Some(200));
    }
}
