//! The `[http]` section of the agent's config file: the local listener of `/metrics`,
//! `/healthz`, `/readyz` and the status page.
//!
//! ```toml
//! [http]
//! enabled = true               # default: true
//! listen = "127.0.0.1:9180"    # default: loopback only
//! token_file = "/etc/edge-agent/http-token"   # required unless `listen` is a loopback address
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

/// Where the listener binds when the file does not say.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9180";

/// See the module docs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Whether the listener runs at all.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The address and port to bind; port 0 picks a free one (logged at start).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// A file whose first line is the access token. Every request but `/healthz` must then
    /// carry it, as `Authorization: Bearer TOKEN` or `?token=TOKEN`.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
}

fn yes() -> bool {
    true
}

fn default_listen() -> SocketAddr {
    DEFAULT_LISTEN
        .parse()
        .expect("the default listen address is a valid socket address")
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: default_listen(),
            token_file: None,
        }
    }
}

/// What is wrong with an `[http]` section.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HttpConfigError {
    #[error("[http] listen = \"{0}\" is not a loopback address: set token_file, so that the status page and metrics need a token")]
    TokenRequired(SocketAddr),
}

impl HttpConfig {
    /// Checks what serde cannot: a listener reachable from the network needs a token.
    pub fn validate(&self) -> Result<(), HttpConfigError> {
        if self.enabled && !self.listen.ip().is_loopback() && self.token_file.is_none() {
            return Err(HttpConfigError::TokenRequired(self.listen));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_binds_to_loopback_and_needs_no_token() {
        let config: HttpConfig = toml::from_str("").expect("empty section");
        assert_eq!(config, HttpConfig::default());
        assert!(config.listen.ip().is_loopback());
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn a_listener_on_the_network_without_a_token_is_refused() {
        let config: HttpConfig = toml::from_str("listen = \"0.0.0.0:9180\"").expect("parses");
        assert!(matches!(
            config.validate(),
            Err(HttpConfigError::TokenRequired(_))
        ));
        let config: HttpConfig =
            toml::from_str("listen = \"0.0.0.0:9180\"\ntoken_file = \"/etc/t\"").expect("parses");
        assert_eq!(config.validate(), Ok(()));
        let config: HttpConfig =
            toml::from_str("listen = \"0.0.0.0:9180\"\nenabled = false").expect("parses");
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<HttpConfig>("port = 80").is_err());
    }
}
