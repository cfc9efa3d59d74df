//! The gateway's status page: `GET /` and its assets, all embedded in the binary (uPlot is
//! vendored under `agent/assets/vendor/uplot`, no CDN), and the JSON it reads:
//!
//! - `/api/sensors`: each sensor's asset, device, unit, drawn levels and ISO scale (changes
//!   only when the rules or the configuration do; `rule_hash` in the status says when);
//! - `/api/status`: live values, alerts, device health, spool and link;
//! - `/api/trend?sensor=ID`: the sensor's trend (3-second means of the last minutes);
//! - `/api/events`: server-sent events, one `status` event (the `/api/status` document) at
//!   most once a second, when something changed, and at least every 5 s.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::stream::{self, Stream};
use serde::{Deserialize, Serialize};

use super::AppState;
use crate::event::{HealthState, Quality};
use crate::observe::model::{AlertView, HealthView};
use crate::observe::{Observer, SinkKind};

const INDEX_HTML: &str = include_str!("../../assets/status/index.html");
const APP_JS: &str = include_str!("../../assets/status/app.js");
const STYLE_CSS: &str = include_str!("../../assets/status/style.css");
const UPLOT_JS: &str = include_str!("../../assets/vendor/uplot/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../../assets/vendor/uplot/uPlot.min.css");
const UPLOT_LICENSE: &str = include_str!("../../assets/vendor/uplot/LICENSE");

/// How often the event stream looks for changes, and the longest it stays silent.
const TICK: Duration = Duration::from_secs(1);
const HEARTBEAT_TICKS: u32 = 5;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| asset("text/html; charset=utf-8", INDEX_HTML)))
        .route(
            "/assets/app.js",
            get(|| asset("text/javascript; charset=utf-8", APP_JS)),
        )
        .route(
            "/assets/style.css",
            get(|| asset("text/css; charset=utf-8", STYLE_CSS)),
        )
        .route(
            "/assets/uPlot.iife.min.js",
            get(|| asset("text/javascript; charset=utf-8", UPLOT_JS)),
        )
        .route(
            "/assets/uPlot.min.css",
            get(|| asset("text/css; charset=utf-8", UPLOT_CSS)),
        )
        .route(
            "/assets/uPlot.LICENSE.txt",
            get(|| asset("text/plain; charset=utf-8", UPLOT_LICENSE)),
        )
        .route("/api/sensors", get(sensors))
        .route("/api/status", get(status))
        .route("/api/trend", get(trend))
        .route("/api/events", get(events))
}

async fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn sensors(State(state): State<AppState>) -> Response {
    let model = state.observer.model();
    Json(&model.catalog.sensors).into_response()
}

/// One sensor's live state.
#[derive(Debug, Serialize)]
struct SensorNow {
    id: String,
    value: Option<f64>,
    ts_ms: Option<i64>,
    quality: Option<Quality>,
    /// The ISO 10816 zone of the value, for sensors judged by ISO zones.
    zone: Option<char>,
}

#[derive(Debug, Serialize)]
struct DeviceNow {
    id: String,
    state: Option<HealthState>,
    detail: Option<String>,
    reads_ok: u64,
    exceptions: u64,
    timeouts: u64,
    transport_errors: u64,
    decode_errors: u64,
}

#[derive(Debug, Serialize)]
struct SpoolNow {
    pending: u64,
    pending_bytes: u64,
    max_bytes: u64,
    oldest_age_s: Option<f64>,
    dropped: u64,
}

#[derive(Debug, Serialize)]
struct LinkNow {
    kind: &'static str,
    connected: bool,
    inflight: usize,
    reconnects: u64,
    last_error: Option<String>,
}

/// The `/api/status` document.
#[derive(Debug, Serialize)]
struct StatusNow {
    gateway: String,
    version: &'static str,
    now_ms: i64,
    uptime_s: f64,
    ready: bool,
    ready_detail: String,
    rule_hash: String,
    sensors: Vec<SensorNow>,
    active_alerts: Vec<AlertView>,
    recent_alerts: Vec<AlertView>,
    devices: Vec<DeviceNow>,
    components: BTreeMap<String, HealthView>,
    spool: Option<SpoolNow>,
    link: Option<LinkNow>,
}

async fn snapshot(observer: &Observer) -> StatusNow {
    let readiness = observer.readiness().await;
    let spool = observer.spool_stats().await.map(|s| SpoolNow {
        pending: s.pending.total(),
        pending_bytes: s.pending_bytes.total(),
        max_bytes: s.max_bytes,
        oldest_age_s: s.oldest_pending_age_ms.map(|ms| ms as f64 / 1000.0),
        dropped: s.drops.full.total() + s.drops.rejected.total() + s.drops.undecodable.total(),
    });
    let link = observer.sink().map(|sink| match sink {
        SinkKind::Stdout => LinkNow {
            kind: "stdout",
            connected: true,
            inflight: 0,
            reconnects: 0,
            last_error: None,
        },
        SinkKind::Mqtt(handle) => {
            let s = handle.snapshot();
            LinkNow {
                kind: "mqtt",
                connected: s.connected,
                inflight: s.inflight,
                reconnects: s.reconnects,
                last_error: s.last_error,
            }
        }
    });
    let counters = observer.stats().devices();
    let model = observer.model();
    let sensors = model
        .catalog
        .sensors
        .iter()
        .zip(&model.sensors)
        .map(|(info, state)| SensorNow {
            id: info.id.clone(),
            value: state.last.map(|l| l.1),
            ts_ms: state.last.map(|l| l.0),
            quality: state.last.map(|l| l.2),
            zone: info
                .iso
                .zip(state.last)
                .filter(|(_, l)| l.2 != Quality::Bad)
                .map(|(iso, l)| iso.zone(l.1)),
        })
        .collect();
    let devices = counters
        .iter()
        .map(|(id, c)| {
            use std::sync::atomic::Ordering::Relaxed;
            let health = model.health.get(&format!("device:{id}"));
            DeviceNow {
                id: id.clone(),
                state: health.map(|h| h.state),
                detail: health.map(|h| h.detail.clone()),
                reads_ok: c.reads_ok.load(Relaxed),
                exceptions: c.exceptions.load(Relaxed),
                timeouts: c.timeouts.load(Relaxed),
                transport_errors: c.transport_errors.load(Relaxed),
                decode_errors: c.decode_errors.load(Relaxed),
            }
        })
        .collect();
    StatusNow {
        gateway: observer.gateway().to_owned(),
        version: env!("CARGO_PKG_VERSION"),
        now_ms: crate::sources::now_ms(),
        uptime_s: observer.uptime_s(),
        ready: readiness.ready,
        ready_detail: readiness.detail,
        rule_hash: observer.rule_hash(),
        sensors,
        active_alerts: model.active.values().cloned().collect(),
        recent_alerts: model.recent.iter().cloned().collect(),
        devices,
        components: model
            .health
            .iter()
            .filter(|(c, _)| !c.starts_with("device:"))
            .map(|(c, h)| (c.clone(), h.clone()))
            .collect(),
        spool,
        link,
    }
}

async fn status(State(state): State<AppState>) -> Response {
    Json(snapshot(&state.observer).await).into_response()
}

#[derive(Debug, Deserialize)]
struct TrendQuery {
    sensor: String,
}

async fn trend(State(state): State<AppState>, Query(query): Query<TrendQuery>) -> Response {
    let model = state.observer.model();
    let Some(index) = model.catalog.index_of(&query.sensor) else {
        return (StatusCode::NOT_FOUND, "no such sensor\n").into_response();
    };
    let points = model.sensors[index].trend.points();
    Json(serde_json::json!({
        "sensor": query.sensor,
        "bucket_ms": crate::observe::model::TREND_BUCKET_MS,
        "points": points,
    }))
    .into_response()
}

async fn events(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let (observer, stop) = (state.observer, state.stop);
    // (observer, model version last sent, ticks since the last event)
    let stream = stream::unfold(
        (observer, stop, None::<u64>, 0u32),
        |(observer, stop, sent, mut quiet)| async move {
            loop {
                if sent.is_some() {
                    tokio::select! {
                        _ = stop.cancelled() => return None,
                        _ = tokio::time::sleep(TICK) => {}
                    }
                }
                let version = observer.model().version;
                quiet += 1;
                if sent != Some(version) || quiet >= HEARTBEAT_TICKS {
                    let body = serde_json::to_string(&snapshot(&observer).await)
                        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
                    let event = SseEvent::default().event("status").data(body);
                    return Some((Ok(event), (observer, stop, Some(version), 0)));
                }
            }
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}
