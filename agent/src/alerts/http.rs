//! A small HTTP/1.1 client for the service's two outgoing calls (Alertmanager, the CMMS
//! webhook): one JSON POST under a timeout, success meaning a 2xx answer.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Why a POST did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("POST {url}: bad request: {source}")]
    Request {
        url: String,
        source: hyper::http::Error,
    },
    #[error("POST {url}: {source}")]
    Send {
        url: String,
        source: hyper_util::client::legacy::Error,
    },
    #[error("POST {url}: no answer within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    #[error("POST {url}: answered {status}: {body}")]
    Status {
        url: String,
        status: hyper::StatusCode,
        body: String,
    },
}

/// A pooled client; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

impl Http {
    pub(crate) fn new(timeout: Duration) -> Self {
        Http {
            client: Client::builder(TokioExecutor::new()).build_http(),
            timeout,
        }
    }

    /// POSTs `body` as JSON to `url`, with `Authorization: Bearer` when `bearer` is set.
    pub(crate) async fn post_json(
        &self,
        url: &str,
        body: Vec<u8>,
        bearer: Option<&str>,
    ) -> Result<(), HttpError> {
        let mut request = hyper::Request::post(url).header(CONTENT_TYPE, "application/json");
        if let Some(token) = bearer {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|source| HttpError::Request {
                url: url.to_owned(),
                source,
            })?;
        let timed_out = || HttpError::Timeout {
            url: url.to_owned(),
            timeout: self.timeout,
        };
        let deadline = tokio::time::Instant::now() + self.timeout;
        let response = tokio::time::timeout_at(deadline, self.client.request(request))
            .await
            .map_err(|_| timed_out())?
            .map_err(|source| HttpError::Send {
                url: url.to_owned(),
                source,
            })?;
        let status = response.status();
        let body = tokio::time::timeout_at(deadline, response.into_body().collect())
            .await
            .map_err(|_| timed_out())?
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        if status.is_success() {
            Ok(())
        } else {
            let mut body = String::from_utf8_lossy(&body).into_owned();
            body.truncate(200);
            Err(HttpError::Status {
                url: url.to_owned(),
                status,
                body,
            })
        }
    }
}
