//! The spool's configuration: the `[spool]` section of the agent's config file.
//!
//! ```toml
//! [spool]
//! max_bytes = 33554432                 # default: 32 MiB of record bytes
//! full_policy = "drop_oldest_telemetry" # or "reject"
//! durability = "every_event"           # or { interval_ms = 500 }
//! ```

use serde::Deserialize;

use super::error::SpoolError;

/// When the spool makes an append (or an acknowledgement) durable.
///
/// What sled does, read from its 0.34.7 source and checked by the SIGKILL test
/// (`agent/tests/spool_crash.rs`): a write goes into an IO buffer *inside the
/// process*. The buffer reaches the file (`pwrite` then `sync_file_range`) only
/// when it is full, when `flush()` is called, or when sled's background
/// flusher runs (every `flush_every_ms`, which also calls `fsync`). Data that
/// is still in that buffer is **lost by a process crash (`kill -9`, OOM kill,
/// panic=abort)** exactly as by a power cut: there is no window in which a
/// write survives a process crash but not a power cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Durability {
    /// Flush (write + `sync_file_range`) after every append and every
    /// acknowledgement, before the call returns. An append that returned
    /// `Ok` survives a process crash; an acknowledged record never comes back.
    ///
    /// Power cut: also survives, as far as the storage honours
    /// `sync_file_range`; sled's background thread additionally calls
    /// `fsync` every second so file metadata follows. An SD card or eMMC with a
    /// volatile write cache and no power-loss protection can still lose the
    /// last writes it claimed to have written; no software setting fixes that.
    ///
    /// Cost: one synchronous disk flush per append (see the spool benchmark);
    /// use [`Spool::append_all`](super::Spool::append_all) to share one flush
    /// between the events that arrived together.
    ///
    /// This is the default: it is the only mode in which no event that the
    /// spool acknowledged to its source is lost by a process crash.
    #[default]
    EveryEvent,
    /// sled's background thread flushes and `fsync`s every `n` milliseconds;
    /// appends return as soon as the record is in sled's in-process buffer.
    ///
    /// A process crash **or** a power cut can lose the appends (and
    /// acknowledgements) of the last `n` ms, plus the duration of a flush in
    /// progress. Lost acknowledgements only cause duplicates (same seq).
    /// Observed: with `IntervalMs(10_000)`, a writer SIGKILLed after 118
    /// returned appends had lost 84 of them on reopen (measured once with the
    /// SIGKILL harness of `tests/spool_crash.rs`; the count depends on timing,
    /// so it is not a test).
    ///
    /// After an unclean shutdown in this mode the seq counter jumps past its
    /// reservation (see the module doc), so that a seq that was handed out but
    /// lost is never given to a different event.
    IntervalMs(u64),
}

/// What an append does when the spool has reached `max_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FullPolicy {
    /// Make room by dropping the oldest telemetry records first, keeping
    /// alerts. An incoming alert that still does not fit drops the oldest
    /// alerts (counted separately). An incoming telemetry record never evicts
    /// an alert: if it cannot fit by dropping telemetry, it is itself dropped
    /// (it still consumes a seq, so the receiver sees the gap). Every drop is
    /// counted in persisted counters and reported in the append's result.
    /// The default: the agent keeps running and alerts survive.
    #[default]
    DropOldestTelemetry,
    /// Refuse the append with [`SpoolError::Full`](super::SpoolError::Full)
    /// and drop nothing. The source applies backpressure: it keeps the
    /// event, stops reading or waits, and retries after the sink has
    /// acknowledged records. Refusals are counted as `rejected`.
    Reject,
}

/// The spool's configuration. Every field has a default; unknown keys are refused.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpoolConfig {
    /// Upper bound of the spool's *record bytes*: for each pending record,
    /// its key (9 bytes) plus its encoded value (version byte, seq, class,
    /// timestamp, payload). It does not count sled's own overhead: sled is
    /// log-structured: with 150-byte payloads its files measured about 6 times
    /// the record bytes, and up to 13 times right after half the records were
    /// acknowledged, before its segment cleaner reclaims the space (see the
    /// spool benchmark's footprint line and `disk_bytes` in the stats). Budget
    /// the disk accordingly: the 32 MiB default can take a few hundred MiB.
    /// Default: 32 MiB (about 190,000 records of 150 bytes).
    pub max_bytes: u64,
    /// What to do when an append does not fit. Default: `drop_oldest_telemetry`.
    pub full_policy: FullPolicy,
    /// When appends are made durable. Default: `every_event`.
    pub durability: Durability,
}

/// Default `max_bytes`: 32 MiB of record bytes.
pub const DEFAULT_MAX_BYTES: u64 = 32 * 1024 * 1024;

/// The smallest `max_bytes` accepted: room for a few records.
pub const MIN_MAX_BYTES: u64 = 1024;

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig {
            max_bytes: DEFAULT_MAX_BYTES,
            full_policy: FullPolicy::default(),
            durability: Durability::default(),
        }
    }
}

impl SpoolConfig {
    /// Checks the values that serde cannot.
    pub fn validate(&self) -> Result<(), SpoolError> {
        if self.max_bytes < MIN_MAX_BYTES {
            return Err(SpoolError::Config(format!(
                "max_bytes = {} is below the minimum of {MIN_MAX_BYTES}",
                self.max_bytes
            )));
        }
        if self.durability == Durability::IntervalMs(0) {
            return Err(SpoolError::Config(
                "durability interval_ms must be at least 1 (use every_event to flush on each append)"
                    .to_owned(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Wrapper {
        spool: SpoolConfig,
    }

    fn parse(text: &str) -> Result<SpoolConfig, toml::de::Error> {
        toml::from_str::<Wrapper>(text).map(|w| w.spool)
    }

    #[test]
    fn an_empty_section_gives_the_documented_defaults() {
        let config = parse("[spool]\n").expect("empty section parses");
        assert_eq!(config, SpoolConfig::default());
        assert_eq!(config.max_bytes, 32 * 1024 * 1024);
        assert_eq!(config.durability, Durability::EveryEvent);
        assert_eq!(config.full_policy, FullPolicy::DropOldestTelemetry);
    }

    #[test]
    fn every_field_can_be_set() {
        let config = parse(
            "[spool]\nmax_bytes = 4096\nfull_policy = \"reject\"\ndurability = { interval_ms = 250 }\n",
        )
        .expect("full section parses");
        assert_eq!(config.max_bytes, 4096);
        assert_eq!(config.full_policy, FullPolicy::Reject);
        assert_eq!(config.durability, Durability::IntervalMs(250));
        config.validate().expect("valid");
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(parse("[spool]\nmax_byte = 4096\n").is_err());
        assert!(parse("[spool]\ndurability = \"sometimes\"\n").is_err());
    }

    #[test]
    fn validation_refuses_a_tiny_limit_and_a_zero_interval() {
        let tiny = SpoolConfig {
            max_bytes: 10,
            ..SpoolConfig::default()
        };
        assert!(tiny.validate().is_err());
        let zero = SpoolConfig {
            durability: Durability::IntervalMs(0),
            ..SpoolConfig::default()
        };
        assert!(zero.validate().is_err());
    }
}
