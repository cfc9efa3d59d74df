//! Which spooled records each QoS 1 publish carries: pure state, no I/O, tested
//! synchronously (like rumqttc's `state.rs`). A publish carries one record, or a
//! batch of readings (`batching.rs`) carries several: one entry here either way,
//! and its PUBACK acknowledges all of its records at once.
//!
//! rumqttc's `AsyncClient::publish` only puts a request into a channel; the
//! packet id is chosen later, when the event loop writes the packet, and is
//! reported as `Event::Outgoing(Outgoing::Publish(pkid))`. The event loop takes
//! requests from the channel in order and reports one such event per QoS 1
//! publish, in that order (a packet-id collision delays the event but keeps
//! the order: no other request is taken until it is resolved). So:
//!
//! 1. [`Inflight::queue`] is called *before* each publish request, in the same
//!    order: the queue mirrors the request channel.
//! 2. [`Inflight::on_outgoing`] pairs the packet id with the oldest queued
//!    publication.
//! 3. [`Inflight::on_puback`] returns the publication of exactly that packet
//!    id; only then may its record be removed from the spool.
//! 4. [`Inflight::reset`] forgets everything when the connection is lost: the
//!    sink re-sends from the spool, so nothing here needs to survive.
//!
//! Invariant: `len() <= bound` at all times; `queue` refuses beyond it.

use std::collections::{HashMap, VecDeque};

/// What one QoS 1 publish carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Carried {
    /// Spooled records, by seq: one (an event, or its dead letter) or a batch of
    /// readings. Never empty.
    Records(Vec<u64>),
    /// The retained `online`/`offline` status message.
    Status,
}

/// Inconsistencies between what was queued and what the event loop reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TrackError {
    /// Nothing can be queued: `bound` publications are in flight.
    #[error("in-flight bound of {bound} publishes reached")]
    Full { bound: usize },
    /// The event loop wrote a publish that was never queued.
    #[error("the event loop sent packet id {pkid} but no publish was waiting for one")]
    UnexpectedPublish { pkid: u16 },
    /// The event loop reused a packet id that has not been acknowledged.
    #[error("packet id {pkid} was sent again before its PUBACK")]
    PkidInUse { pkid: u16 },
    /// A PUBACK for a packet id that is not in flight (for instance one that
    /// belongs to a connection that was already given up).
    #[error("PUBACK for packet id {pkid}, which is not in flight")]
    UnknownAck { pkid: u16 },
}

/// The publications between `publish()` and PUBACK, at most `bound` of them.
#[derive(Debug)]
pub(crate) struct Inflight {
    bound: usize,
    /// Requested, no packet id yet (in rumqttc's request channel), oldest first.
    queued: VecDeque<Carried>,
    /// Written to the connection under a packet id, waiting for its PUBACK.
    sent: HashMap<u16, Carried>,
    /// The most publications ever in flight at once.
    high_water: usize,
}

impl Inflight {
    /// An empty tracker that admits at most `bound` publications (at least 1).
    pub(crate) fn new(bound: usize) -> Self {
        let bound = bound.max(1);
        Inflight {
            bound,
            queued: VecDeque::with_capacity(bound),
            sent: HashMap::with_capacity(bound),
            high_water: 0,
        }
    }

    /// Publications in flight (queued or sent).
    pub(crate) fn len(&self) -> usize {
        self.queued.len() + self.sent.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many more may be queued.
    pub(crate) fn room(&self) -> usize {
        self.bound - self.len()
    }

    /// The most that were ever in flight at once.
    pub(crate) fn high_water(&self) -> usize {
        self.high_water
    }

    /// Registers a publication about to be requested. Call it before the
    /// request, in request order.
    pub(crate) fn queue(&mut self, carried: Carried) -> Result<(), TrackError> {
        if self.len() >= self.bound {
            return Err(TrackError::Full { bound: self.bound });
        }
        self.queued.push_back(carried);
        self.high_water = self.high_water.max(self.len());
        Ok(())
    }

    /// Takes back the publication queued last, whose request could not be
    /// made.
    pub(crate) fn unqueue_last(&mut self) -> Option<Carried> {
        self.queued.pop_back()
    }

    /// The event loop wrote a QoS 1 publish under `pkid`: it is the oldest
    /// queued one.
    pub(crate) fn on_outgoing(&mut self, pkid: u16) -> Result<Carried, TrackError> {
        if self.sent.contains_key(&pkid) {
            return Err(TrackError::PkidInUse { pkid });
        }
        let carried = self
            .queued
            .pop_front()
            .ok_or(TrackError::UnexpectedPublish { pkid })?;
        self.sent.insert(pkid, carried.clone());
        Ok(carried)
    }

    /// The broker acknowledged `pkid`: what that publish carried.
    pub(crate) fn on_puback(&mut self, pkid: u16) -> Result<Carried, TrackError> {
        self.sent
            .remove(&pkid)
            .ok_or(TrackError::UnknownAck { pkid })
    }

    /// The connection is gone: forget everything in flight. Returns how many
    /// publications were forgotten (they are still in the spool).
    pub(crate) fn reset(&mut self) -> usize {
        let forgotten = self.len();
        self.queued.clear();
        self.sent.clear();
        forgotten
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_puback_returns_the_record_whose_publish_got_that_packet_id() {
        let mut inflight = Inflight::new(10);
        for seq in [7, 8, 9] {
            inflight.queue(Carried::Records(vec![seq])).expect("room");
        }
        assert_eq!(inflight.on_outgoing(1), Ok(Carried::Records(vec![7])));
        assert_eq!(inflight.on_outgoing(2), Ok(Carried::Records(vec![8])));
        assert_eq!(inflight.on_outgoing(3), Ok(Carried::Records(vec![9])));
        assert_eq!(inflight.on_puback(2), Ok(Carried::Records(vec![8])));
        assert_eq!(inflight.on_puback(1), Ok(Carried::Records(vec![7])));
        assert_eq!(inflight.on_puback(3), Ok(Carried::Records(vec![9])));
        assert!(inflight.is_empty());
    }

    #[test]
    fn packet_ids_pair_with_publishes_in_request_order_even_when_acks_interleave() {
        let mut inflight = Inflight::new(10);
        inflight.queue(Carried::Status).expect("room");
        inflight.queue(Carried::Records(vec![1])).expect("room");
        assert_eq!(inflight.on_outgoing(5), Ok(Carried::Status));
        assert_eq!(inflight.on_puback(5), Ok(Carried::Status));
        inflight.queue(Carried::Records(vec![2])).expect("room");
        assert_eq!(inflight.on_outgoing(6), Ok(Carried::Records(vec![1])));
        // pkid 5 is free again and is reused for the next publish.
        assert_eq!(inflight.on_outgoing(5), Ok(Carried::Records(vec![2])));
        assert_eq!(inflight.on_puback(5), Ok(Carried::Records(vec![2])));
        assert_eq!(inflight.on_puback(6), Ok(Carried::Records(vec![1])));
    }

    #[test]
    fn a_puback_for_an_unknown_packet_id_is_reported_and_changes_nothing() {
        let mut inflight = Inflight::new(4);
        inflight.queue(Carried::Records(vec![1])).expect("room");
        inflight.on_outgoing(1).expect("queued");
        assert_eq!(
            inflight.on_puback(2),
            Err(TrackError::UnknownAck { pkid: 2 })
        );
        assert_eq!(inflight.len(), 1);
        assert_eq!(inflight.on_puback(1), Ok(Carried::Records(vec![1])));
        assert_eq!(
            inflight.on_puback(1),
            Err(TrackError::UnknownAck { pkid: 1 })
        );
    }

    #[test]
    fn a_publish_that_was_never_queued_is_an_error() {
        let mut inflight = Inflight::new(4);
        assert_eq!(
            inflight.on_outgoing(1),
            Err(TrackError::UnexpectedPublish { pkid: 1 })
        );
    }

    #[test]
    fn a_packet_id_reused_before_its_puback_is_an_error() {
        let mut inflight = Inflight::new(4);
        inflight.queue(Carried::Records(vec![1])).expect("room");
        inflight.queue(Carried::Records(vec![2])).expect("room");
        inflight.on_outgoing(1).expect("queued");
        assert_eq!(
            inflight.on_outgoing(1),
            Err(TrackError::PkidInUse { pkid: 1 })
        );
        // The queued record was not consumed by the bad event.
        assert_eq!(inflight.on_outgoing(2), Ok(Carried::Records(vec![2])));
    }

    #[test]
    fn the_bound_counts_queued_and_sent_publications() {
        let mut inflight = Inflight::new(2);
        inflight.queue(Carried::Records(vec![1])).expect("room");
        inflight.on_outgoing(1).expect("queued");
        inflight.queue(Carried::Records(vec![2])).expect("room");
        assert_eq!(inflight.room(), 0);
        assert_eq!(
            inflight.queue(Carried::Records(vec![3])),
            Err(TrackError::Full { bound: 2 })
        );
        inflight.on_puback(1).expect("sent");
        assert_eq!(inflight.room(), 1);
        inflight
            .queue(Carried::Records(vec![3]))
            .expect("room again");
        assert_eq!(inflight.high_water(), 2);
    }

    #[test]
    fn a_request_that_could_not_be_made_is_taken_back() {
        let mut inflight = Inflight::new(3);
        inflight.queue(Carried::Records(vec![1])).expect("room");
        inflight.queue(Carried::Records(vec![2])).expect("room");
        assert_eq!(inflight.unqueue_last(), Some(Carried::Records(vec![2])));
        assert_eq!(inflight.on_outgoing(9), Ok(Carried::Records(vec![1])));
        assert_eq!(
            inflight.on_outgoing(10),
            Err(TrackError::UnexpectedPublish { pkid: 10 })
        );
    }

    #[test]
    fn a_reset_forgets_everything_and_packet_ids_start_over() {
        let mut inflight = Inflight::new(3);
        inflight.queue(Carried::Records(vec![1])).expect("room");
        inflight.queue(Carried::Records(vec![2])).expect("room");
        inflight.on_outgoing(1).expect("queued");
        assert_eq!(inflight.reset(), 2);
        assert!(inflight.is_empty());
        assert_eq!(
            inflight.on_puback(1),
            Err(TrackError::UnknownAck { pkid: 1 })
        );
        inflight.queue(Carried::Records(vec![1])).expect("room");
        assert_eq!(inflight.on_outgoing(1), Ok(Carried::Records(vec![1])));
    }

    #[test]
    fn the_puback_of_a_batch_acknowledges_all_of_its_records_and_no_other() {
        let mut inflight = Inflight::new(3);
        inflight
            .queue(Carried::Records(vec![10, 11, 13]))
            .expect("room");
        inflight.queue(Carried::Records(vec![12])).expect("room");
        assert_eq!(inflight.room(), 1, "a batch takes one place in the window");
        inflight.on_outgoing(1).expect("queued");
        inflight.on_outgoing(2).expect("queued");
        assert_eq!(inflight.on_puback(2), Ok(Carried::Records(vec![12])));
        assert_eq!(
            inflight.on_puback(1),
            Ok(Carried::Records(vec![10, 11, 13]))
        );
        assert!(inflight.is_empty());
        // A batch lost with its connection is forgotten whole: its records are re-sent.
        inflight
            .queue(Carried::Records(vec![20, 21]))
            .expect("room");
        inflight.on_outgoing(3).expect("queued");
        assert_eq!(inflight.reset(), 1);
        assert_eq!(
            inflight.on_puback(3),
            Err(TrackError::UnknownAck { pkid: 3 })
        );
    }

    #[test]
    fn a_bound_of_zero_is_treated_as_one() {
        let mut inflight = Inflight::new(0);
        inflight.queue(Carried::Status).expect("room for one");
        assert!(inflight.queue(Carried::Status).is_err());
    }
}
