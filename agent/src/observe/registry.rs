//! The sources' live counters, registered where they are created and read by the metrics
//! endpoint, so that nothing is counted twice.
//!
//! Each device's [`DeviceCounters`] and each serial stream's [`StreamCounters`] are registered
//! under the device or stream id when its source is built ([`DeviceHealth::new`],
//! [`StreamSource::new`]). The registry is process-wide because the sources are built deep
//! in the wiring, and holds weak references: a source that is dropped (at shutdown, or
//! replaced on a reload) disappears from the metrics, and a new source with the same id
//! replaces the old entry. One agent runs per process; tests that build several sources with
//! the same id in one process see the latest.
//!
//! [`DeviceHealth::new`]: crate::sources::health::DeviceHealth::new
//! [`StreamSource::new`]: crate::sources::serial::StreamSource::new

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

use crate::sources::health::DeviceCounters;
use crate::sources::serial::StreamCounters;

#[derive(Debug, Default)]
struct Entries {
    devices: BTreeMap<String, Weak<DeviceCounters>>,
    streams: BTreeMap<String, Weak<StreamCounters>>,
}

fn entries() -> std::sync::MutexGuard<'static, Entries> {
    static REGISTRY: OnceLock<Mutex<Entries>> = OnceLock::new();
    REGISTRY
        .get_or_init(Mutex::default)
        .lock()
        // The critical sections below only insert and clone; a poisoned map is still whole.
        .unwrap_or_else(PoisonError::into_inner)
}

/// Registers the counters of device `id` (replacing any earlier device of that id).
pub fn register_device(id: &str, counters: &Arc<DeviceCounters>) {
    let mut entries = entries();
    entries.devices.retain(|_, c| c.strong_count() > 0);
    entries
        .devices
        .insert(id.to_owned(), Arc::downgrade(counters));
}

/// Registers the counters of serial stream `id` (replacing any earlier stream of that id).
pub fn register_stream(id: &str, counters: &Arc<StreamCounters>) {
    let mut entries = entries();
    entries.streams.retain(|_, c| c.strong_count() > 0);
    entries
        .streams
        .insert(id.to_owned(), Arc::downgrade(counters));
}

/// The devices whose sources are alive, by id.
pub fn devices() -> Vec<(String, Arc<DeviceCounters>)> {
    let entries = entries();
    entries
        .devices
        .iter()
        .filter_map(|(id, c)| Some((id.clone(), c.upgrade()?)))
        .collect()
}

/// The serial streams whose sources are alive, by id.
pub fn streams() -> Vec<(String, Arc<StreamCounters>)> {
    let entries = entries();
    entries
        .streams
        .iter()
        .filter_map(|(id, c)| Some((id.clone(), c.upgrade()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_source_leaves_the_registry_and_a_new_one_replaces_the_old() {
        let first = Arc::new(DeviceCounters::default());
        register_device("registry-test-device", &first);
        assert!(devices()
            .iter()
            .any(|(id, c)| id == "registry-test-device" && Arc::ptr_eq(c, &first)));
        let second = Arc::new(DeviceCounters::default());
        register_device("registry-test-device", &second);
        assert!(devices()
            .iter()
            .any(|(id, c)| id == "registry-test-device" && Arc::ptr_eq(c, &second)));
        drop(second);
        assert!(!devices().iter().any(|(id, _)| id == "registry-test-device"));
    }
}
