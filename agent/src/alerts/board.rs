//! The maintenance board: one page (`board.html`, embedded) and a small JSON API, served by
//! the alert service from the store.
//!
//! - `GET /`: the page, with the board's data in it. Open alerts across the fleet by severity and asset, each asset's
//!   history, gateway liveness; it reloads its data on every server-sent event.
//! - `GET /api/board`: `{ open: [episode], gateways: [gateway] }`.
//! - `GET /api/assets/{asset}`: the asset's last 50 episodes, newest first.
//! - Each episode carries `trend`: `[[ts_ms, value], ...]`, the feature around it, oldest
//!   first (`trend.rs`: at most a lead-up of 32 points and the newest 200 of the episode);
//!   the page draws it as an inline SVG sparkline, the raise marked.
//! - `GET /api/events`: server-sent events, one `changed` each time the store changed.
//! - `POST /api/episodes/{id}/ack`: `{ "by": NAME, "note": TEXT }`, only with
//!   `Authorization: Bearer TOKEN` (`[board] token`): no anonymous writes. Reads need no
//!   token: the board is for the plant's network.
//!
//! The server stops when its token is cancelled; open event streams end with it.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::store::{now_ms, Episode, Store};

const PAGE: &str = include_str!("board.html");

#[derive(Clone)]
struct AppState {
    store: Store,
    token: Arc<str>,
    changes: watch::Sender<u64>,
    stop: CancellationToken,
}

/// Serves the board on `listener` until `stop`.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    store: Store,
    token: Arc<str>,
    changes: watch::Sender<u64>,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let state = AppState {
        store,
        token,
        changes,
        stop: stop.clone(),
    };
    let app = Router::new()
        .route("/", get(page))
        .route("/api/board", get(board))
        .route("/api/assets/{asset}", get(asset))
        .route("/api/events", get(events))
        .route("/api/episodes/{id}/ack", post(acknowledge))
        .with_state(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
}

/// The page, with the board's data in it (`/*BOARD*/null` replaced), or without when the
/// store cannot be read (the page then fetches it).
async fn page(State(state): State<AppState>) -> Html<String> {
    let data = match board_data(&state.store).await {
        Ok(data) => data.to_string().replace("</", "<\\/"),
        Err(error) => {
            warn!(%error, "board: store read failed");
            "null".to_owned()
        }
    };
    Html(PAGE.replacen("/*BOARD*/null", &data, 1))
}

async fn board_data(store: &Store) -> Result<serde_json::Value, super::StoreError> {
    let open = with_trends(store, store.open_episodes().await?).await?;
    let gateways = store.gateways().await?;
    Ok(serde_json::json!({ "open": open, "gateways": gateways }))
}

/// The episodes as JSON, each with its `trend`.
async fn with_trends(
    store: &Store,
    episodes: Vec<Episode>,
) -> Result<Vec<serde_json::Value>, super::StoreError> {
    let mut out = Vec::with_capacity(episodes.len());
    for episode in episodes {
        let trend = store.trend(&episode.id).await?;
        let mut value = serde_json::to_value(&episode).unwrap_or_default();
        value["trend"] = serde_json::json!(trend);
        out.push(value);
    }
    Ok(out)
}

fn json(value: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

fn unavailable(error: &super::StoreError) -> Response {
    warn!(%error, "board: store read failed");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "the store is not available",
    )
        .into_response()
}

async fn board(State(state): State<AppState>) -> Response {
    match board_data(&state.store).await {
        Ok(data) => json(&data),
        Err(error) => unavailable(&error),
    }
}

async fn asset(State(state): State<AppState>, Path(asset): Path<String>) -> Response {
    let history = match state.store.asset_history(&asset, 50).await {
        Ok(history) => with_trends(&state.store, history).await,
        Err(error) => Err(error),
    };
    match history {
        Ok(history) => json(&history),
        Err(error) => unavailable(&error),
    }
}

async fn events(State(state): State<AppState>) -> impl IntoResponse {
    let changes = state.changes.subscribe();
    let stream =
        futures_util::stream::unfold((changes, state.stop), |(mut changes, stop)| async move {
            tokio::select! {
                _ = stop.cancelled() => None,
                changed = changes.changed() => {
                    changed.ok()?;
                    let event = Event::default().event("changed").data("store");
                    Some((Ok::<_, Infallible>(event), (changes, stop)))
                }
            }
        });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Ack {
    by: String,
    #[serde(default)]
    note: String,
}

/// Whether `headers` carry the board's token (compared in constant time).
fn authorised(headers: &HeaderMap, token: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

async fn acknowledge(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorised(&headers, &state.token) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a write needs the board's token",
        )
            .into_response();
    }
    let ack: Ack = match serde_json::from_slice(&body) {
        Ok(ack) => ack,
        Err(error) => return (StatusCode::BAD_REQUEST, error.to_string()).into_response(),
    };
    let by = ack.by.trim();
    if by.is_empty() || by.len() > 100 || ack.note.len() > 2000 {
        return (
            StatusCode::BAD_REQUEST,
            "`by` is required (at most 100 bytes), `note` at most 2000 bytes",
        )
            .into_response();
    }
    match state.store.acknowledge(&id, by, &ack.note, now_ms()).await {
        Ok(true) => {
            state.changes.send_modify(|n| *n = n.wrapping_add(1));
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => (StatusCode::NOT_FOUND, "no such episode").into_response(),
        Err(error) => unavailable(&error),
    }
}
