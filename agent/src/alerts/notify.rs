//! What leaves the service: alerts to Prometheus Alertmanager's v2 API, work orders to a CMMS.
//!
//! # Invariants
//!
//! 1. **Everything is read from the store** (see the store's invariant 4), so a post that
//!    failed is simply made again at the next round: an Alertmanager outage or a restart
//!    loses nothing.
//! 2. **Every round posts every active alert** (open episodes, offline gateways): this is
//!    the re-post Alertmanager expects. Firing alerts carry no `endsAt`, so Alertmanager
//!    keeps them for its `resolve_timeout` (5 minutes by default), longer than
//!    `resend_interval` (60 s by default).
//! 3. **A resolve is posted until Alertmanager took it**, with `endsAt` = the clear (or now,
//!    if the gateway's clock is ahead), then marked in the store. Labels are the same as
//!    when firing, so Alertmanager matches them.
//! 4. **A work order is posted until the CMMS answered 2xx**, then marked: at least once per
//!    episode; the episode id in the body lets the CMMS drop a repeat after a crash between
//!    its answer and the mark.
//!
//! A round runs after each batch the consumer applied, and every `resend_interval`; after a
//! failure, again after a capped backoff.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::config::{AlertmanagerConfig, WorkOrderConfig};
use super::http::{Http, HttpError};
use super::metrics::Metrics;
use super::store::{now_ms, Delivered, Episode, Gateway, Store, StoreError};
use crate::event::wire::format_ts;
use prometheus::IntCounter;

/// Why a round failed; the next round tries again.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("Alertmanager: {0}")]
    Alertmanager(HttpError),
    #[error("work order: {0}")]
    WorkOrder(HttpError),
}

/// The alert name of episodes and of offline gateways.
pub const EPISODE_ALERTNAME: &str = "EdgeAgentAlert";
pub const OFFLINE_ALERTNAME: &str = "EdgeGatewayOffline";

fn episode_labels(e: &Episode) -> Value {
    json!({
        "alertname": EPISODE_ALERTNAME,
        "gateway": e.gateway,
        "asset": e.asset,
        "sensor": e.sensor,
        "rule": e.rule,
        "severity": e.severity,
        "rule_hash": e.rule_hash,
    })
}

fn number(value: Option<f64>) -> String {
    value.map_or_else(|| "none".to_owned(), |v| format!("{v:.3}"))
}

/// The Alertmanager alert of one episode; resolved when it is cleared.
pub(crate) fn episode_alert(e: &Episode, board_url: Option<&str>, now: i64) -> Value {
    let mut annotations = json!({
        "summary": format!("{} on {} ({}) at {}", e.rule, e.sensor, e.severity, e.gateway),
        "detector": e.detector,
        "feature": e.feature,
        "peak_score": number(e.peak_score),
        "peak_feature_value": number(e.peak_feature_value),
        "episode": e.id,
    });
    if let Some(board) = board_url {
        annotations["board"] = json!(format!(
            "{}/#asset={}",
            board.trim_end_matches('/'),
            e.asset
        ));
    }
    let mut alert = json!({
        "labels": episode_labels(e),
        "annotations": annotations,
        "startsAt": format_ts(e.raised_ms.min(now)),
    });
    if let Some(cleared) = e.cleared_ms {
        alert["endsAt"] = json!(format_ts(cleared.clamp(e.raised_ms.min(now), now)));
    }
    if let Some(board) = board_url {
        alert["generatorURL"] = json!(board);
    }
    alert
}

/// The alert of a gateway that went offline; resolved once it is back.
pub(crate) fn offline_alert(g: &Gateway, now: i64) -> Value {
    let since = g.changed_ms.unwrap_or(now).min(now);
    let mut alert = json!({
        "labels": {
            "alertname": OFFLINE_ALERTNAME,
            "gateway": g.gateway,
            "severity": "critical",
        },
        "annotations": {
            "summary": format!("gateway {} is offline (its MQTT status)", g.gateway),
        },
        "startsAt": format_ts(since),
    });
    if g.online == Some(true) {
        alert["endsAt"] = json!(format_ts(since));
    }
    alert
}

/// The JSON work order of one episode.
pub(crate) fn work_order(e: &Episode) -> Value {
    json!({
        "episode": e.id,
        "gateway": e.gateway,
        "asset": e.asset,
        "sensor": e.sensor,
        "rule": e.rule,
        "rule_hash": e.rule_hash,
        "severity": e.severity,
        "raised": format_ts(e.raised_ms),
        "peak_score": e.peak_score,
        "peak_feature_value": e.peak_feature_value,
        "title": format!("{}: {} on {}", e.asset, e.rule, e.sensor),
    })
}

/// Counts a post in `ok` or `failed`.
fn count(posted: &Result<(), HttpError>, ok: &IntCounter, failed: &IntCounter) {
    match posted {
        Ok(()) => ok.inc(),
        Err(_) => failed.inc(),
    }
}

/// The notifier task.
#[derive(Debug)]
pub(crate) struct Notifier {
    pub store: Store,
    pub alertmanager: Option<AlertmanagerConfig>,
    pub work_orders: Option<WorkOrderConfig>,
    pub wake: std::sync::Arc<Notify>,
    pub metrics: Metrics,
}

impl Notifier {
    /// Runs rounds until `shutdown`; never fails (a failed round is retried).
    pub(crate) async fn run(self, shutdown: CancellationToken) {
        if self.alertmanager.is_none() && self.work_orders.is_none() {
            return;
        }
        let resend = self
            .alertmanager
            .as_ref()
            .map_or(Duration::from_secs(60), |am| am.resend_interval);
        let timeout = self
            .alertmanager
            .as_ref()
            .map_or(Duration::from_secs(10), |am| am.timeout);
        let http = Http::new(timeout);
        let mut backoff = Duration::from_millis(500);
        let mut failing = false;
        let mut wait = Duration::ZERO;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
            match self.round(&http).await {
                Ok(()) => {
                    if failing {
                        info!("notifications delivered again");
                    }
                    failing = false;
                    backoff = Duration::from_millis(500);
                    wait = resend;
                }
                Err(error) => {
                    if failing {
                        debug!(%error, "notification round failed again");
                    } else {
                        warn!(%error, "notification round failed: retrying with backoff (further failures at debug)");
                    }
                    failing = true;
                    wait = backoff.min(resend);
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    /// One round: every active alert and pending resolve, then every due work order.
    pub(crate) async fn round(&self, http: &Http) -> Result<(), NotifyError> {
        if let Some(am) = &self.alertmanager {
            self.alertmanager_round(http, am).await?;
        }
        if let Some(wo) = &self.work_orders {
            for episode in self.store.due_work_orders().await? {
                let body = work_order(&episode).to_string().into_bytes();
                let token = wo.token.as_ref().map(|t| t.0.as_str());
                let posted = http.post_json(&wo.url, body, token).await;
                count(
                    &posted,
                    &self.metrics.work_orders,
                    &self.metrics.work_order_failures,
                );
                posted.map_err(NotifyError::WorkOrder)?;
                self.store
                    .mark_delivered(Delivered::WorkOrder, &[episode.id], now_ms())
                    .await?;
            }
        }
        Ok(())
    }

    async fn alertmanager_round(
        &self,
        http: &Http,
        am: &AlertmanagerConfig,
    ) -> Result<(), NotifyError> {
        let now = now_ms();
        let board = am.board_url.as_deref();
        let open = self.store.open_episodes().await?;
        let resolves = self.store.unsent_resolves().await?;
        let offline: Vec<Gateway> = self
            .store
            .gateways()
            .await?
            .into_iter()
            .filter(|g| g.online == Some(false))
            .collect();
        let back = self.store.unsent_gateway_resolves().await?;
        let alerts: Vec<Value> = open
            .iter()
            .chain(&resolves)
            .map(|e| episode_alert(e, board, now))
            .chain(offline.iter().chain(&back).map(|g| offline_alert(g, now)))
            .collect();
        if alerts.is_empty() {
            return Ok(());
        }
        let url = format!("{}/api/v2/alerts", am.url.trim_end_matches('/'));
        let body = serde_json::to_vec(&alerts).expect("JSON values always serialise");
        let posted = http.post_json(&url, body, None).await;
        let m = &self.metrics;
        count(&posted, &m.alertmanager_posts, &m.alertmanager_failures);
        posted.map_err(NotifyError::Alertmanager)?;
        debug!(
            firing = open.len() + offline.len(),
            resolved = resolves.len() + back.len(),
            "posted to Alertmanager"
        );
        let at = now_ms();
        let ids: Vec<String> = resolves.into_iter().map(|e| e.id).collect();
        self.store
            .mark_delivered(Delivered::Resolve, &ids, at)
            .await?;
        let gateways: Vec<String> = back.into_iter().map(|g| g.gateway).collect();
        self.store
            .mark_delivered(Delivered::GatewayResolve, &gateways, at)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn episode(cleared_ms: Option<i64>) -> Episode {
        Episode {
            id: "gw1:7".into(),
            gateway: "gw1".into(),
            asset: "motor1".into(),
            sensor: "motor1.de.velocity".into(),
            rule: "bearing".into(),
            rule_hash: "abc".into(),
            severity: "critical".into(),
            detector: "zscore".into(),
            feature: "rms".into(),
            raised_ms: 1_000,
            peak_score: Some(5.5),
            peak_feature_value: None,
            acked_by: None,
            acked_ms: None,
            ack_note: None,
            cleared_ms,
        }
    }

    #[test]
    fn a_firing_episode_has_the_labels_and_no_end() {
        let alert = episode_alert(&episode(None), Some("http://board/"), 5_000);
        assert_eq!(alert["labels"]["gateway"], "gw1");
        assert_eq!(alert["labels"]["rule_hash"], "abc");
        assert_eq!(alert["labels"]["severity"], "critical");
        assert_eq!(alert["annotations"]["board"], "http://board/#asset=motor1");
        assert_eq!(alert["annotations"]["peak_score"], "5.500");
        assert!(alert.get("endsAt").is_none());
    }

    #[test]
    fn a_cleared_episode_keeps_its_labels_and_ends_no_later_than_now() {
        let firing = episode_alert(&episode(None), None, 5_000);
        let resolved = episode_alert(&episode(Some(9_000)), None, 5_000);
        assert_eq!(firing["labels"], resolved["labels"]);
        assert_eq!(resolved["endsAt"], format_ts(5_000));
        let resolved = episode_alert(&episode(Some(2_000)), None, 5_000);
        assert_eq!(resolved["endsAt"], format_ts(2_000));
    }

    #[test]
    fn an_offline_gateway_fires_until_it_is_back() {
        let mut g = Gateway {
            gateway: "gw1".into(),
            online: Some(false),
            changed_ms: Some(1_000),
            last_seen_ms: None,
        };
        assert!(offline_alert(&g, 2_000).get("endsAt").is_none());
        g.online = Some(true);
        assert_eq!(offline_alert(&g, 2_000)["endsAt"], format_ts(1_000));
        assert_eq!(
            offline_alert(&g, 2_000)["labels"]["alertname"],
            OFFLINE_ALERTNAME
        );
    }
}
