//! The trend of the feature around an alert, for the board: bounded, and kept in the store.
//!
//! Points come from two places: the alert records themselves (each raise, raise-again and
//! clear carries the feature's value), and, when `[kafka.topics] telemetry` is set, the
//! agent's `features` events on the telemetry topic (one per sensor and window).
//!
//! # Invariants
//!
//! 1. **Bounded in memory**: a [`TrendRing`] keeps the last [`RING_POINTS`] points of each
//!    `(gateway, sensor, feature)` series, for at most [`MAX_SERIES`] series; a series
//!    beyond that is not kept (counted in `dropped_series`).
//! 2. **Bounded in the store, per episode**: when an episode opens, the ring's points of its
//!    series (the lead-up) are written to `trend_points` with the raise; while it is open,
//!    each new point of its series too. Of the points after the raise, only the newest
//!    [`EPISODE_POINTS`] are kept. A cleared episode gets no more points.
//! 3. **Idempotent**: a point is keyed by `(episode_id, ts_ms)`, so a replay writes nothing
//!    twice, and `features` events need no dedup row.
//! 4. **Which instance sees the lead-up**: the ring is in this process. The telemetry and
//!    alert topics are keyed alike (`{gateway}/{asset}`), so with equal partition counts
//!    Kafka's default (range) assignment gives one asset's partitions of both topics to the
//!    same instance. Points during an episode are written by whichever instance reads them
//!    (open episodes are read from the store).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use sqlx::{AnyPool, Row};

use super::store::{query_error, StoreError, Tx};

/// Points kept per series in memory: the lead-up of an alert.
pub(crate) const RING_POINTS: usize = 32;
/// Series kept in memory at most.
pub(crate) const MAX_SERIES: usize = 20_000;
/// Points after the raise kept per episode in the store (the newest).
pub(crate) const EPISODE_POINTS: i64 = 200;

/// `(gateway, sensor, feature)`.
pub(crate) type SeriesKey = (String, String, String);

/// The last points of every series seen (invariant 1).
#[derive(Debug)]
pub(crate) struct TrendRing {
    series: HashMap<SeriesKey, VecDeque<(i64, f64)>>,
    points: usize,
    max_series: usize,
    pub dropped_series: u64,
}

impl Default for TrendRing {
    fn default() -> Self {
        TrendRing::new(RING_POINTS, MAX_SERIES)
    }
}

impl TrendRing {
    pub(crate) fn new(points: usize, max_series: usize) -> Self {
        TrendRing {
            series: HashMap::new(),
            points: points.max(1),
            max_series,
            dropped_series: 0,
        }
    }

    pub(crate) fn push(&mut self, key: &SeriesKey, ts_ms: i64, value: f64) {
        if !self.series.contains_key(key) && self.series.len() >= self.max_series {
            self.dropped_series += 1;
            return;
        }
        let ring = self.series.entry(key.clone()).or_default();
        if ring.len() == self.points {
            ring.pop_front();
        }
        ring.push_back((ts_ms, value));
    }

    /// The series' points, oldest first.
    pub(crate) fn points(&self, key: &SeriesKey) -> Vec<(i64, f64)> {
        let mut points: Vec<(i64, f64)> = self
            .series
            .get(key)
            .map(|ring| ring.iter().copied().collect())
            .unwrap_or_default();
        points.sort_by_key(|(ts, _)| *ts);
        points
    }
}

/// Open episodes by series, read once per batch that has telemetry (invariant 4).
pub(crate) type OpenSeries = HashMap<SeriesKey, Vec<String>>;

/// What one batch did to the trends: the open series once read, the episodes written to.
#[derive(Debug, Default)]
pub(crate) struct BatchTrend {
    open: Option<OpenSeries>,
    pub touched: BTreeSet<String>,
}

fn lock(ring: &Mutex<TrendRing>) -> std::sync::MutexGuard<'_, TrendRing> {
    // The ring holds plain values: one left by a panicking holder is still consistent.
    ring.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A `features` event: into the ring, and into the store for its open episodes.
pub(crate) async fn features(
    tx: &mut Tx,
    ring: &Mutex<TrendRing>,
    batch: &mut BatchTrend,
    (gateway, sensor, ts_ms): (&str, &str, i64),
    values: &[(String, f64)],
) -> Result<(), StoreError> {
    if batch.open.is_none() {
        batch.open = Some(open_series(tx).await?);
    }
    let open = batch.open.as_ref().expect("read just above");
    let mut writes = Vec::new();
    {
        let mut ring = lock(ring);
        for (name, value) in values {
            let key = (gateway.to_owned(), sensor.to_owned(), name.clone());
            ring.push(&key, ts_ms, *value);
            for id in open.get(&key).into_iter().flatten() {
                writes.push((id.clone(), *value));
            }
        }
    }
    for (id, value) in writes {
        insert(tx, &id, &[(ts_ms, value)]).await?;
        batch.touched.insert(id);
    }
    Ok(())
}

/// An episode opened: its lead-up from the ring and the raise's own point.
pub(crate) async fn opened(
    tx: &mut Tx,
    ring: &Mutex<TrendRing>,
    batch: &mut BatchTrend,
    id: &str,
    key: SeriesKey,
    point: Option<(i64, f64)>,
) -> Result<(), StoreError> {
    let mut points = lock(ring).points(&key);
    points.extend(point);
    insert(tx, id, &points).await?;
    if let Some(open) = batch.open.as_mut() {
        open.entry(key).or_default().push(id.to_owned());
    }
    batch.touched.insert(id.to_owned());
    Ok(())
}

/// A raise again or a clear of episode `id`: its point; a clear ends the episode's series.
pub(crate) async fn transition(
    tx: &mut Tx,
    batch: &mut BatchTrend,
    id: &str,
    point: Option<(i64, f64)>,
    cleared: bool,
) -> Result<(), StoreError> {
    insert(tx, id, point.as_slice()).await?;
    if cleared {
        if let Some(open) = batch.open.as_mut() {
            for ids in open.values_mut() {
                ids.retain(|open_id| open_id != id);
            }
        }
    }
    batch.touched.insert(id.to_owned());
    Ok(())
}

async fn open_series(tx: &mut Tx) -> Result<OpenSeries, StoreError> {
    let rows =
        sqlx::query("SELECT id, gateway, sensor, feature FROM episodes WHERE cleared_ms IS NULL")
            .fetch_all(&mut **tx)
            .await
            .map_err(query_error("open series"))?;
    let mut open = OpenSeries::new();
    for row in rows {
        let get = |i| {
            row.try_get::<String, _>(i)
                .map_err(query_error("open series"))
        };
        open.entry((get(1)?, get(2)?, get(3)?))
            .or_default()
            .push(get(0)?);
    }
    Ok(open)
}

/// Writes points of episode `id` (a replayed point is already there).
pub(crate) async fn insert(tx: &mut Tx, id: &str, points: &[(i64, f64)]) -> Result<(), StoreError> {
    for (ts_ms, value) in points {
        sqlx::query(
            "INSERT INTO trend_points (episode_id, ts_ms, value) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(*ts_ms)
        .bind(*value)
        .execute(&mut **tx)
        .await
        .map_err(query_error("trend point"))?;
    }
    Ok(())
}

/// Keeps the newest [`EPISODE_POINTS`] points after the raise of each episode in `touched`
/// (invariant 2).
pub(crate) async fn cap(tx: &mut Tx, touched: &BTreeSet<String>) -> Result<(), StoreError> {
    for id in touched {
        sqlx::query(
            "DELETE FROM trend_points WHERE episode_id = $1
               AND ts_ms > (SELECT raised_ms FROM episodes WHERE id = $1)
               AND ts_ms < (SELECT ts_ms FROM trend_points WHERE episode_id = $1
                            ORDER BY ts_ms DESC LIMIT 1 OFFSET $2)",
        )
        .bind(id.as_str())
        .bind(EPISODE_POINTS - 1)
        .execute(&mut **tx)
        .await
        .map_err(query_error("trend cap"))?;
    }
    Ok(())
}

/// The points of episode `id`, oldest first.
pub(crate) async fn of_episode(pool: &AnyPool, id: &str) -> Result<Vec<(i64, f64)>, StoreError> {
    let rows =
        sqlx::query("SELECT ts_ms, value FROM trend_points WHERE episode_id = $1 ORDER BY ts_ms")
            .bind(id)
            .fetch_all(pool)
            .await
            .map_err(query_error("trend"))?;
    rows.iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(query_error("trend"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(sensor: &str) -> SeriesKey {
        ("gw1".into(), sensor.into(), "rms".into())
    }

    #[test]
    fn the_ring_keeps_the_last_points_of_a_bounded_number_of_series() {
        let mut ring = TrendRing::new(3, 2);
        for ts in [5, 1, 2, 3, 4] {
            ring.push(&key("a"), ts, ts as f64);
        }
        assert_eq!(ring.points(&key("a")), [(2, 2.0), (3, 3.0), (4, 4.0)]);
        ring.push(&key("b"), 1, 1.0);
        ring.push(&key("c"), 1, 1.0);
        assert_eq!(ring.dropped_series, 1);
        assert!(ring.points(&key("c")).is_empty());
        ring.push(&key("b"), 2, 2.0);
        assert_eq!(ring.points(&key("b")).len(), 2);
    }
}
