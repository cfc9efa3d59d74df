//! The agent's local HTTP listener: `/metrics` (Prometheus text format), `/healthz` (the
//! process answers), `/readyz` (sources started, spool open, sink connected or buffering
//! within bounds) and the gateway's status page (see [`page`]).
//!
//! - It binds to 127.0.0.1 by default ([`HttpConfig`]); on any other address the config must
//!   name a token file, and every request but `/healthz` must carry the token.
//! - It only reads the [`Observer`]: a slow or stuck client never slows the data path.
//! - It stops when its token is cancelled; open event streams end with it.

mod config;
mod page;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

pub use config::{HttpConfig, HttpConfigError, DEFAULT_LISTEN};

use crate::observe::{metrics, Observer};

/// Why the listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot read the token file {}: {source}", path.display())]
    TokenFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the token file {} is empty", path.display())]
    EmptyToken { path: PathBuf },
}

/// A bound listener, not yet serving.
#[derive(Debug)]
pub struct Bound {
    listener: TcpListener,
    token: Option<Arc<str>>,
}

/// Binds the listener of `config`, or `None` when it is disabled.
pub async fn bind(config: &HttpConfig) -> Result<Option<Bound>, HttpError> {
    if !config.enabled {
        return Ok(None);
    }
    let token = match &config.token_file {
        None => None,
        Some(path) => Some(read_token(path)?),
    };
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| HttpError::Bind {
            addr: config.listen,
            source,
        })?;
    Ok(Some(Bound { listener, token }))
}

fn read_token(path: &std::path::Path) -> Result<Arc<str>, HttpError> {
    let text = std::fs::read_to_string(path).map_err(|source| HttpError::TokenFile {
        path: path.to_path_buf(),
        source,
    })?;
    let token = text.lines().next().unwrap_or("").trim();
    if token.is_empty() {
        return Err(HttpError::EmptyToken {
            path: path.to_path_buf(),
        });
    }
    Ok(Arc::from(token))
}

impl Bound {
    /// The address actually bound (the port is chosen by the system for port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `stop` is cancelled.
    pub async fn serve(self, observer: Observer, stop: CancellationToken) {
        let addr = self.local_addr().ok();
        let app = router(observer, self.token, stop.clone());
        if let Some(addr) = addr {
            info!(url = %format!("http://{addr}/"), metrics = %format!("http://{addr}/metrics"), "status page and metrics listening");
        }
        let served = axum::serve(self.listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await;
        if let Err(e) = served {
            error!(error = %e, "the HTTP listener failed");
        }
    }
}

#[derive(Clone)]
struct AppState {
    observer: Observer,
    token: Option<Arc<str>>,
    /// Ends the open event streams, so that a graceful shutdown does not wait for them.
    stop: CancellationToken,
}

fn router(observer: Observer, token: Option<Arc<str>>, stop: CancellationToken) -> Router {
    let state = AppState {
        observer,
        token,
        stop,
    };
    let guarded = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/readyz", get(readyz))
        .merge(page::routes())
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .merge(guarded)
        .with_state(state)
}

/// Lets a request through if no token is configured, or if it carries the token in an
/// `Authorization: Bearer` header or a `token` query parameter.
async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(token) = &state.token else {
        return next.run(request).await;
    };
    let from_header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let from_query = request
        .uri()
        .query()
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("token="));
    let presented = from_header.or(from_query).unwrap_or("");
    if same(presented.as_bytes(), token.as_bytes()) {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a token is required: Authorization: Bearer TOKEN, or ?token=TOKEN\n",
        )
            .into_response()
    }
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    match metrics::render(&state.observer).await {
        Ok(text) => ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response(),
        Err(e) => {
            error!(error = %e, "cannot render the metrics");
            (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response()
        }
    }
}

async fn readyz(State(state): State<AppState>) -> Response {
    let readiness = state.observer.readiness().await;
    let code = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, format!("{}\n", readiness.detail)).into_response()
}

#[cfg(test)]
mod tests {
    use super::same;

    #[test]
    fn tokens_compare_by_every_byte() {
        assert!(same(b"secret", b"secret"));
        assert!(!same(b"secret", b"secreT"));
        assert!(!same(b"secret", b"secre"));
        assert!(!same(b"", b"x"));
    }
}
