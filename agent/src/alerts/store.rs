//! The alert store: SQLite (an embedded file, the default) or PostgreSQL, through sqlx's
//! `Any` driver, so that one schema ([`super::schema`]) and one set of queries serve both.
//!
//! # Invariants
//!
//! 1. **A batch is one transaction.** [`Store::apply`] writes a batch of records (events,
//!    statuses, dead letters) and commits; only then does the consumer commit the batch's
//!    Kafka offsets. A crash before the commit loses nothing (Kafka sends the batch again),
//!    a crash after it and before the offsets commit replays records already applied.
//! 2. **Exactly once over at least once.** Every event's `(gateway, seq)` goes into
//!    `seen_events` in the same transaction as its effect; one already there is a duplicate
//!    and changes nothing. Those rows are kept for a retention (`seen.rs`); past it, the
//!    episodes recognise a replay themselves (an episode's id is its raise's
//!    `{gateway}:{seq}`, and an alert older than its open episode's raise is stale).
//!    Statuses carry no seq and are idempotent instead (a repeated `offline` changes
//!    nothing). Dead letters are keyed by their place in Kafka.
//! 3. **One open episode per (gateway, sensor, rule).** A raise while one is open (an agent
//!    restarted mid-alert) updates its peak; a clear closes it; a clear with none open is a
//!    dead letter (`clear_without_raise`).
//! 4. **The store drives the notifications.** What Alertmanager and the CMMS must hear is
//!    read from the tables (open episodes, clears not yet delivered, work orders due), and
//!    marked only once delivered, so a restart or an Alertmanager outage loses nothing.

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

use super::record::{AlertRecord, DeadReason, Input};
use super::schema::{BOOKKEEPING, MIGRATIONS};
use super::seen;
use super::trend::{self, BatchTrend, TrendRing};
use crate::event::{AlertState, HealthState, Severity};
use std::sync::{Arc, Mutex};

/// A failure of the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {url}: cannot connect: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("store: migration {version} failed: {source}")]
    Migrate { version: usize, source: sqlx::Error },
    #[error("store: {operation}: {source}")]
    Query {
        operation: &'static str,
        source: sqlx::Error,
    },
}

pub(crate) fn query_error(operation: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Query { operation, source }
}

/// One record of a batch: where it was in Kafka, its value, and what it decoded to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Item {
    pub at: Position,
    pub payload: Vec<u8>,
    pub decoded: Result<Input, DeadReason>,
}

/// A record's place in Kafka.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Position {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
}

/// What one batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Raises applied, and of those, the ones that opened an episode.
    pub raised: u64,
    pub opened: u64,
    pub cleared: u64,
    pub duplicates: u64,
    /// Dead letters stored (new ones; a replayed dead letter is not counted again), and the
    /// reason code of each, in order, for the consumer's log-once and its metrics.
    pub dead_letters: u64,
    pub dead_reasons: Vec<&'static str>,
}

/// An episode as the notifiers and the board read it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Episode {
    pub id: String,
    pub gateway: String,
    pub asset: String,
    pub sensor: String,
    pub rule: String,
    pub rule_hash: String,
    pub severity: String,
    pub detector: String,
    pub feature: String,
    pub raised_ms: i64,
    pub peak_score: Option<f64>,
    pub peak_feature_value: Option<f64>,
    pub acked_by: Option<String>,
    pub acked_ms: Option<i64>,
    pub ack_note: Option<String>,
    pub cleared_ms: Option<i64>,
}

/// A gateway's liveness.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Gateway {
    pub gateway: String,
    pub online: Option<bool>,
    pub changed_ms: Option<i64>,
    pub last_seen_ms: Option<i64>,
}

const EPISODE_COLUMNS: &str = "id, gateway, asset, sensor, rule, rule_hash, severity, detector, \
    feature, raised_ms, peak_score, peak_feature_value, acked_by, acked_ms, ack_note, cleared_ms";

fn episode(row: &AnyRow) -> Result<Episode, sqlx::Error> {
    Ok(Episode {
        id: row.try_get(0)?,
        gateway: row.try_get(1)?,
        asset: row.try_get(2)?,
        sensor: row.try_get(3)?,
        rule: row.try_get(4)?,
        rule_hash: row.try_get(5)?,
        severity: row.try_get(6)?,
        detector: row.try_get(7)?,
        feature: row.try_get(8)?,
        raised_ms: row.try_get(9)?,
        peak_score: row.try_get(10)?,
        peak_feature_value: row.try_get(11)?,
        acked_by: row.try_get(12)?,
        acked_ms: row.try_get(13)?,
        ack_note: row.try_get(14)?,
        cleared_ms: row.try_get(15)?,
    })
}

pub(crate) fn severity_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Critical => "critical",
    }
}

fn health_name(state: HealthState) -> &'static str {
    match state {
        HealthState::Online => "online",
        HealthState::Degraded => "degraded",
        HealthState::Offline => "offline",
    }
}

/// The store; cheap to clone (a pool).
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    work_order_min: Option<Severity>,
    /// The lead-up of each series, for the trend of an episode that opens (`trend.rs`).
    trends: Arc<Mutex<TrendRing>>,
}

pub(crate) type Tx = sqlx::Transaction<'static, sqlx::Any>;

impl Store {
    /// Connects to `url` (`sqlite://PATH`, created when missing, or `postgres://...`) and
    /// brings the schema up to date. `work_order_min`: the least severity that opens a work
    /// order, if the CMMS webhook is configured.
    pub async fn connect(
        url: &str,
        max_connections: u32,
        work_order_min: Option<Severity>,
    ) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        let url = if sqlite && !url.contains('?') {
            format!("{url}?mode=rwc")
        } else {
            url.to_owned()
        };
        let shown = url.split('@').next_back().unwrap_or_default().to_owned();
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .connect(&url)
            .await
            .map_err(|source| StoreError::Connect { url: shown, source })?;
        if sqlite {
            // Readers (the board) beside the writer; persistent in the file.
            sqlx::query("PRAGMA journal_mode=WAL")
                .execute(&pool)
                .await
                .map_err(query_error("journal mode"))?;
        }
        let store = Store {
            pool,
            work_order_min,
            trends: Arc::default(),
        };
        // Two instances starting together race on the first CREATE TABLE (PostgreSQL's
        // IF NOT EXISTS is not atomic); the loser finds the work done on a second try.
        let mut attempt = 0;
        loop {
            match store.migrate().await {
                Ok(()) => return Ok(store),
                Err(error) if attempt < 3 => {
                    tracing::debug!(%error, attempt, "migration raced another instance; again");
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(100 * attempt)).await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    async fn applied_version(&self) -> Result<usize, sqlx::Error> {
        sqlx::query(BOOKKEEPING).execute(&self.pool).await?;
        let row = sqlx::query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
            .fetch_one(&self.pool)
            .await?;
        Ok(usize::try_from(row.try_get::<i64, _>(0)?).unwrap_or(0))
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let applied = self
            .applied_version()
            .await
            .map_err(|source| StoreError::Migrate { version: 0, source })?;
        for (index, statements) in MIGRATIONS.iter().enumerate().skip(applied) {
            let version = index + 1;
            let result: Result<(), sqlx::Error> = async {
                let mut tx = self.pool.begin().await?;
                for statement in *statements {
                    sqlx::query(statement).execute(&mut *tx).await?;
                }
                sqlx::query("INSERT INTO schema_migrations (version, applied_ms) VALUES ($1, $2)")
                    .bind(version as i64)
                    .bind(now_ms())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await
            }
            .await;
            if let Err(source) = result {
                // Another instance may have applied it at the same moment.
                let now = self.applied_version().await.unwrap_or(0);
                if now < version {
                    return Err(StoreError::Migrate { version, source });
                }
            }
        }
        Ok(())
    }

    /// Applies one batch in one transaction (invariants 1 to 3).
    pub(crate) async fn apply(&self, batch: &[Item]) -> Result<Applied, StoreError> {
        let mut applied = Applied::default();
        let mut trends = BatchTrend::default();
        let mut tx = self.pool.begin().await.map_err(query_error("begin"))?;
        for item in batch {
            let dead = match &item.decoded {
                Err(reason) => Some(reason.clone()),
                Ok(input) => {
                    self.apply_input(&mut tx, input, &mut applied, &mut trends)
                        .await?
                }
            };
            if let Some(reason) = dead {
                if store_dead_letter(&mut tx, item, &reason).await? {
                    applied.dead_letters += 1;
                    applied.dead_reasons.push(reason.code);
                }
            }
        }
        trend::cap(&mut tx, &trends.touched).await?;
        tx.commit().await.map_err(query_error("commit"))?;
        Ok(applied)
    }

    /// Applies one decoded record; a clear without its raise comes back as a dead letter.
    async fn apply_input(
        &self,
        tx: &mut Tx,
        input: &Input,
        applied: &mut Applied,
        trends: &mut BatchTrend,
    ) -> Result<Option<DeadReason>, StoreError> {
        if let Some((gateway, seq)) = input.event_id() {
            if !seen::first_time(tx, gateway, seq, now_ms()).await? {
                applied.duplicates += 1;
                return Ok(None);
            }
        }
        match input {
            Input::Alert(alert) => {
                touch_gateway(tx, &alert.gateway, alert.ts_ms).await?;
                let open = open_episode(tx, alert).await?;
                if open.as_ref().is_some_and(|o| alert.seq <= o.raised_seq) {
                    // Not after the open episode's raise: a replay past the retention.
                    applied.duplicates += 1;
                    return Ok(None);
                }
                let point = alert.feature_value.map(|v| (alert.ts_ms, v));
                match (alert.state, open) {
                    (AlertState::Raised, Some(open)) => {
                        raise_again(tx, &open.id, alert).await?;
                        trend::transition(tx, trends, &open.id, point, false).await?;
                        applied.raised += 1;
                    }
                    (AlertState::Raised, None) => {
                        if self.raise(tx, alert).await? {
                            let id = format!("{}:{}", alert.gateway, alert.seq);
                            let key = (
                                alert.gateway.clone(),
                                alert.sensor.clone(),
                                alert.feature.clone(),
                            );
                            trend::opened(tx, &self.trends, trends, &id, key, point).await?;
                            applied.raised += 1;
                            applied.opened += 1;
                        } else {
                            applied.duplicates += 1;
                        }
                    }
                    (AlertState::Cleared, Some(open)) => {
                        clear(tx, &open.id, alert).await?;
                        trend::transition(tx, trends, &open.id, point, true).await?;
                        applied.cleared += 1;
                    }
                    (AlertState::Cleared, None) => {
                        return Ok(Some(clear_without_raise(alert)));
                    }
                }
            }
            Input::Health {
                gateway,
                ts_ms,
                component,
                state,
                detail,
                ..
            } => {
                touch_gateway(tx, gateway, *ts_ms).await?;
                sqlx::query(
                    "INSERT INTO components (gateway, component, state, detail, ts_ms)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (gateway, component) DO UPDATE
                     SET state = excluded.state, detail = excluded.detail, ts_ms = excluded.ts_ms
                     WHERE components.ts_ms <= excluded.ts_ms",
                )
                .bind(gateway.as_str())
                .bind(component.as_str())
                .bind(health_name(*state))
                .bind(detail.as_str())
                .bind(*ts_ms)
                .execute(&mut **tx)
                .await
                .map_err(query_error("component health"))?;
            }
            Input::Status {
                gateway,
                online,
                ts_ms,
            } => set_status(tx, gateway, *online, *ts_ms).await?,
            Input::Features {
                gateway,
                sensor,
                ts_ms,
                values,
            } => {
                let at = (gateway.as_str(), sensor.as_str(), *ts_ms);
                trend::features(tx, &self.trends, trends, at, values).await?;
            }
            Input::Ignored => {}
        }
        Ok(None)
    }

    /// Opens the episode of a raise; false when it exists already (a replay of its raise
    /// past the dedup's retention: its id is the raise's `(gateway, seq)`).
    async fn raise(&self, tx: &mut Tx, alert: &AlertRecord) -> Result<bool, StoreError> {
        let due = self.work_order_min.is_some_and(|min| alert.severity >= min);
        let done = sqlx::query(
            "INSERT INTO episodes (id, gateway, asset, sensor, rule, rule_hash, severity,
               detector, feature, raised_ms, raised_seq, raised_value, peak_score,
               peak_feature_value, work_order_due)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(format!("{}:{}", alert.gateway, alert.seq))
        .bind(alert.gateway.as_str())
        .bind(alert.asset.as_str())
        .bind(alert.sensor.as_str())
        .bind(alert.rule.as_str())
        .bind(alert.rule_hash.as_str())
        .bind(severity_name(alert.severity))
        .bind(alert.detector.as_str())
        .bind(alert.feature.as_str())
        .bind(alert.ts_ms)
        .bind(alert.seq as i64)
        .bind(alert.value)
        .bind(alert.score)
        .bind(alert.feature_value)
        .bind(i64::from(due))
        .execute(&mut **tx)
        .await
        .map_err(query_error("raise"))?;
        Ok(done.rows_affected() == 1)
    }

    /// The trend points of episode `id`, oldest first (`trend.rs`).
    pub async fn trend(&self, id: &str) -> Result<Vec<(i64, f64)>, StoreError> {
        trend::of_episode(&self.pool, id).await
    }

    /// Forgets the `(gateway, seq)` of events applied before `cutoff_ms` (see `seen.rs`);
    /// returns the rows removed.
    pub async fn prune_seen(&self, cutoff_ms: i64) -> Result<u64, StoreError> {
        seen::prune(&self.pool, cutoff_ms).await
    }

    /// Open episodes, most severe and oldest first.
    pub async fn open_episodes(&self) -> Result<Vec<Episode>, StoreError> {
        self.episodes(&format!(
            "SELECT {EPISODE_COLUMNS} FROM episodes WHERE cleared_ms IS NULL ORDER BY raised_ms"
        ))
        .await
    }

    /// Cleared episodes whose resolve Alertmanager has not taken yet.
    pub(crate) async fn unsent_resolves(&self) -> Result<Vec<Episode>, StoreError> {
        self.episodes(&format!(
            "SELECT {EPISODE_COLUMNS} FROM episodes
             WHERE cleared_ms IS NOT NULL AND alertmanager_resolved_ms IS NULL"
        ))
        .await
    }

    /// Episodes whose work order is due and not yet taken by the CMMS.
    pub(crate) async fn due_work_orders(&self) -> Result<Vec<Episode>, StoreError> {
        self.episodes(&format!(
            "SELECT {EPISODE_COLUMNS} FROM episodes
             WHERE work_order_due = 1 AND work_order_ms IS NULL ORDER BY raised_ms"
        ))
        .await
    }

    /// Every episode of `asset`, newest first, at most `limit`.
    pub async fn asset_history(&self, asset: &str, limit: i64) -> Result<Vec<Episode>, StoreError> {
        let sql = format!(
            "SELECT {EPISODE_COLUMNS} FROM episodes WHERE asset = $1
             ORDER BY raised_ms DESC LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(asset)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(query_error("asset history"))?;
        rows.iter()
            .map(episode)
            .collect::<Result<_, _>>()
            .map_err(query_error("asset history"))
    }

    async fn episodes(&self, sql: &str) -> Result<Vec<Episode>, StoreError> {
        let rows = sqlx::query(sql)
            .fetch_all(&self.pool)
            .await
            .map_err(query_error("read episodes"))?;
        rows.iter()
            .map(episode)
            .collect::<Result<_, _>>()
            .map_err(query_error("read episodes"))
    }

    /// Marks these episodes' resolves (or work orders) as delivered at `at_ms`.
    pub(crate) async fn mark_delivered(
        &self,
        what: Delivered,
        ids: &[String],
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let sql = match what {
            Delivered::Resolve => "UPDATE episodes SET alertmanager_resolved_ms = $1 WHERE id = $2",
            Delivered::WorkOrder => "UPDATE episodes SET work_order_ms = $1 WHERE id = $2",
            Delivered::GatewayResolve => {
                "UPDATE gateways SET alertmanager_resolved_ms = $1 WHERE gateway = $2"
            }
        };
        let mut tx = self.pool.begin().await.map_err(query_error("begin"))?;
        for id in ids {
            sqlx::query(sql)
                .bind(at_ms)
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(query_error("mark delivered"))?;
        }
        tx.commit().await.map_err(query_error("commit"))
    }

    /// Every gateway heard of.
    pub async fn gateways(&self) -> Result<Vec<Gateway>, StoreError> {
        self.gateway_rows(
            "SELECT gateway, online, changed_ms, last_seen_ms FROM gateways ORDER BY gateway",
        )
        .await
    }

    /// Gateways back online whose offline alert Alertmanager has not seen resolved.
    pub(crate) async fn unsent_gateway_resolves(&self) -> Result<Vec<Gateway>, StoreError> {
        self.gateway_rows(
            "SELECT gateway, online, changed_ms, last_seen_ms FROM gateways
             WHERE online = 1 AND alertmanager_resolved_ms IS NULL AND changed_ms IS NOT NULL",
        )
        .await
    }

    async fn gateway_rows(&self, sql: &str) -> Result<Vec<Gateway>, StoreError> {
        let rows = sqlx::query(sql)
            .fetch_all(&self.pool)
            .await
            .map_err(query_error("read gateways"))?;
        rows.iter()
            .map(|row| {
                Ok(Gateway {
                    gateway: row.try_get(0)?,
                    online: row.try_get::<Option<i64>, _>(1)?.map(|o| o != 0),
                    changed_ms: row.try_get(2)?,
                    last_seen_ms: row.try_get(3)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(query_error("read gateways"))
    }

    /// Acknowledges an episode; false when there is no such episode.
    pub async fn acknowledge(
        &self,
        id: &str,
        by: &str,
        note: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE episodes SET acked_by = $1, ack_note = $2, acked_ms = $3 WHERE id = $4",
        )
        .bind(by)
        .bind(note)
        .bind(at_ms)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(query_error("acknowledge"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Counts of rows, for tests and the benchmark: (episodes, open episodes, dead letters).
    pub async fn counts(&self) -> Result<(i64, i64, i64), StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM episodes),
                    (SELECT COUNT(*) FROM episodes WHERE cleared_ms IS NULL),
                    (SELECT COUNT(*) FROM dead_letters)",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(query_error("count"))?;
        let get = |i| row.try_get::<i64, _>(i).map_err(query_error("count"));
        Ok((get(0)?, get(1)?, get(2)?))
    }
}

/// What [`Store::mark_delivered`] marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivered {
    Resolve,
    WorkOrder,
    GatewayResolve,
}

/// The open episode of an alert's (gateway, sensor, rule): its id and the seq of its raise.
struct Open {
    id: String,
    raised_seq: u64,
}

async fn open_episode(tx: &mut Tx, alert: &AlertRecord) -> Result<Option<Open>, StoreError> {
    let row = sqlx::query(
        "SELECT id, raised_seq FROM episodes WHERE gateway = $1 AND sensor = $2 AND rule = $3
         AND cleared_ms IS NULL",
    )
    .bind(alert.gateway.as_str())
    .bind(alert.sensor.as_str())
    .bind(alert.rule.as_str())
    .fetch_optional(&mut **tx)
    .await
    .map_err(query_error("find open episode"))?;
    row.map(|row| {
        Ok(Open {
            id: row.try_get(0)?,
            raised_seq: u64::try_from(row.try_get::<i64, _>(1)?).unwrap_or(0),
        })
    })
    .transpose()
    .map_err(query_error("find open episode"))
}

/// Raised again while open (an agent restarted mid-alert): the same episode, its peak kept.
async fn raise_again(tx: &mut Tx, id: &str, alert: &AlertRecord) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE episodes SET
           peak_feature_value = CASE WHEN peak_score IS NULL OR $2 > peak_score
             THEN $3 ELSE peak_feature_value END,
           peak_score = CASE WHEN peak_score IS NULL OR $2 > peak_score
             THEN $2 ELSE peak_score END
         WHERE id = $1",
    )
    .bind(id)
    .bind(alert.score)
    .bind(alert.feature_value)
    .execute(&mut **tx)
    .await
    .map_err(query_error("raise again"))?;
    Ok(())
}

/// Closes the open episode `id` with `alert`, its clear.
async fn clear(tx: &mut Tx, id: &str, alert: &AlertRecord) -> Result<(), StoreError> {
    sqlx::query("UPDATE episodes SET cleared_ms = $1, cleared_seq = $2 WHERE id = $3")
        .bind(alert.ts_ms)
        .bind(alert.seq as i64)
        .bind(id)
        .execute(&mut **tx)
        .await
        .map_err(query_error("clear"))?;
    Ok(())
}

fn clear_without_raise(alert: &AlertRecord) -> DeadReason {
    DeadReason::new(
        "clear_without_raise",
        format!(
            "a clear of rule `{}` on `{}` with no open episode",
            alert.rule, alert.sensor
        ),
    )
}

/// Stores a dead letter once; true when it is new.
async fn store_dead_letter(
    tx: &mut Tx,
    item: &Item,
    reason: &DeadReason,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO dead_letters (topic, kafka_partition, kafka_offset, record_key,
           reason_code, reason, payload, stored_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
    )
    .bind(item.at.topic.as_str())
    .bind(i64::from(item.at.partition))
    .bind(item.at.offset)
    .bind(item.at.key.clone())
    .bind(reason.code)
    .bind(reason.detail.as_str())
    .bind(String::from_utf8_lossy(&item.payload).into_owned())
    .bind(now_ms())
    .execute(&mut **tx)
    .await
    .map_err(query_error("dead letter"))?;
    Ok(done.rows_affected() == 1)
}

async fn touch_gateway(tx: &mut Tx, gateway: &str, ts_ms: i64) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO gateways (gateway, last_seen_ms) VALUES ($1, $2)
         ON CONFLICT (gateway) DO UPDATE SET last_seen_ms = excluded.last_seen_ms
         WHERE gateways.last_seen_ms IS NULL OR gateways.last_seen_ms < excluded.last_seen_ms",
    )
    .bind(gateway)
    .bind(ts_ms)
    .execute(&mut **tx)
    .await
    .map_err(query_error("gateway last seen"))?;
    Ok(())
}

/// A change of status: a repeated one changes nothing; going offline re-arms the resolve.
async fn set_status(
    tx: &mut Tx,
    gateway: &str,
    online: bool,
    ts_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO gateways (gateway, online, changed_ms) VALUES ($1, $2, $3)
         ON CONFLICT (gateway) DO UPDATE
         SET online = excluded.online, changed_ms = excluded.changed_ms,
             alertmanager_resolved_ms = NULL
         WHERE gateways.online IS NULL OR gateways.online <> excluded.online",
    )
    .bind(gateway)
    .bind(i64::from(online))
    .bind(ts_ms)
    .execute(&mut **tx)
    .await
    .map_err(query_error("gateway status"))?;
    Ok(())
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
