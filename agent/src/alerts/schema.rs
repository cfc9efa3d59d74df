//! The store's one schema, the same text on SQLite and PostgreSQL, applied as numbered
//! migrations. Only types and syntax both accept are used: `TEXT`, `BIGINT`,
//! `DOUBLE PRECISION`, composite primary keys, `ON CONFLICT ... DO NOTHING`. Times are Unix
//! milliseconds (`*_ms`); a NULL time means "not yet". No auto-increment (its syntax
//! differs): an episode's id is `{gateway}:{seq of its raise}`, unique by construction.
//!
//! A migration is never edited once shipped: a change is a new entry at the end of
//! [`MIGRATIONS`], applied once per database in a transaction with its row in
//! `schema_migrations`.

/// The migrations, in order; version = index + 1.
pub(crate) const MIGRATIONS: &[&[&str]] = &[
    // 1: the first schema.
    &[
        // Every event applied, by (gateway, seq): what makes replays and re-sends harmless.
        "CREATE TABLE seen_events (
        gateway TEXT NOT NULL,
        seq BIGINT NOT NULL,
        PRIMARY KEY (gateway, seq)
    )",
        // One row per alert episode: from a raise to its clear.
        "CREATE TABLE episodes (
        id TEXT PRIMARY KEY,
        gateway TEXT NOT NULL,
        asset TEXT NOT NULL,
        sensor TEXT NOT NULL,
        rule TEXT NOT NULL,
        rule_hash TEXT NOT NULL,
        severity TEXT NOT NULL,
        detector TEXT NOT NULL,
        feature TEXT NOT NULL,
        raised_ms BIGINT NOT NULL,
        raised_seq BIGINT NOT NULL,
        raised_value DOUBLE PRECISION,
        peak_score DOUBLE PRECISION,
        peak_feature_value DOUBLE PRECISION,
        acked_by TEXT,
        acked_ms BIGINT,
        ack_note TEXT,
        cleared_ms BIGINT,
        cleared_seq BIGINT,
        alertmanager_resolved_ms BIGINT,
        work_order_due BIGINT NOT NULL,
        work_order_ms BIGINT
    )",
        "CREATE INDEX episodes_by_alert ON episodes (gateway, sensor, rule, cleared_ms)",
        "CREATE INDEX episodes_by_asset ON episodes (asset, raised_ms)",
        // Liveness: the status topic's last word (online NULL: never heard) and the last event.
        "CREATE TABLE gateways (
        gateway TEXT PRIMARY KEY,
        online BIGINT,
        changed_ms BIGINT,
        last_seen_ms BIGINT,
        alertmanager_resolved_ms BIGINT
    )",
        // The last health state of each component of each gateway.
        "CREATE TABLE components (
        gateway TEXT NOT NULL,
        component TEXT NOT NULL,
        state TEXT NOT NULL,
        detail TEXT NOT NULL,
        ts_ms BIGINT NOT NULL,
        PRIMARY KEY (gateway, component)
    )",
        // What could not be applied, kept with its place in Kafka (a replay stores it once).
        "CREATE TABLE dead_letters (
        topic TEXT NOT NULL,
        kafka_partition BIGINT NOT NULL,
        kafka_offset BIGINT NOT NULL,
        record_key TEXT,
        reason_code TEXT NOT NULL,
        reason TEXT NOT NULL,
        payload TEXT NOT NULL,
        stored_ms BIGINT NOT NULL,
        PRIMARY KEY (topic, kafka_partition, kafka_offset)
    )",
    ],
    // 2: `seen_events` kept for a retention (`seen.rs`): when each was applied (rows from
    // before this version get 0, so the first pruning removes them); the feature trend.
    &[
        "ALTER TABLE seen_events ADD COLUMN seen_ms BIGINT NOT NULL DEFAULT 0",
        "CREATE INDEX seen_events_by_time ON seen_events (seen_ms)",
        // The trend of the feature around each episode (`trend.rs`), bounded per episode.
        "CREATE TABLE trend_points (
            episode_id TEXT NOT NULL,
            ts_ms BIGINT NOT NULL,
            value DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (episode_id, ts_ms)
        )",
    ],
];

/// Creates the bookkeeping table; every later statement is a migration.
pub(crate) const BOOKKEEPING: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT PRIMARY KEY,
    applied_ms BIGINT NOT NULL
)";
