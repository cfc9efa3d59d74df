//! The sink's configuration: the `[mqtt]` section of the agent's config file.
//! Every key, its default and its meaning are below and in `deploy/mqtt.md`;
//! unknown keys are refused.
//!
//! ```toml
//! [mqtt]
//! host = "broker.plant.example"      # required
//! port = 8883                        # default 1883, or 8883 with [mqtt.tls]
//! client_id = "edge-agent-line1-gw01" # default "edge-agent-{gateway}"
//! username = "line1-gw01"            # default: none
//! password_file = "/etc/edge-agent/mqtt.password" # or password = "..."; default: none
//! keep_alive = "30s"
//! connect_timeout = "10s"
//! max_inflight = 100
//! max_packet_size = 262144
//! reconnect_min = "500ms"
//! reconnect_max = "60s"
//! reconnect_probe = "250ms"
//! shutdown_grace = "5s"
//! idle_poll = "200ms"
//!
//! [mqtt.batch]
//! readings = true
//! max_events = 500
//! max_bytes = 65536
//! linger = "20ms"
//!
//! [mqtt.tls]
//! ca_file = "/etc/edge-agent/plant-ca.crt"   # required in [mqtt.tls]
//! client_cert = "/etc/edge-agent/gw.crt"     # optional, with client_key
//! client_key = "/etc/edge-agent/gw.key"
//!
//! [mqtt.topics]
//! prefix = "edge"
//! reading = "{gateway}/{kind}/{sensor}"
//! features = "{gateway}/{kind}/{sensor}"
//! alert = "{gateway}/{kind}/{sensor}"
//! health = "{gateway}/{kind}/{sensor}"
//! readings = "{gateway}/{kind}"
//! status = "{gateway}/status"
//! dead_letter = "{gateway}/dead-letter"
//! ```

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

pub use super::batching::BatchConfig;
use super::error::MqttError;
use super::topics::TopicLayout;

/// The `[mqtt]` section. The agent's config parses it once with serde (see
/// `config::schema`); [`MqttConfig::from_toml`] parses it alone. Then
/// [`MqttConfig::validate`] checks what serde cannot (files are read only when
/// the sink is built, by [`MqttSink::new`](super::MqttSink::new)).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// Broker host name or IP address. Required. With TLS, the broker's
    /// certificate must be valid for this name (or IP address).
    pub host: String,
    /// Broker port. Default: 1883, or 8883 when `[mqtt.tls]` is present.
    #[serde(default)]
    pub port: Option<u16>,
    /// MQTT client id; must be unique per broker. Default: `edge-agent-{gateway}`.
    #[serde(default)]
    pub client_id: Option<String>,
    /// User name for the broker. Default: none (anonymous).
    #[serde(default)]
    pub username: Option<String>,
    /// Password, in the config file. Default: none. Prefer `password_file`.
    #[serde(default)]
    pub password: Option<Secret>,
    /// File whose content (without a trailing newline) is the password;
    /// read when the sink starts. Default: none. Not together with `password`.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// TLS to the broker. Default: none (plain TCP).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// MQTT keep-alive: the client pings after this long without traffic and
    /// declares the connection dead when a ping is still unanswered one
    /// keep-alive later. Whole seconds, 1 s to 65535 s. Default: "30s".
    #[serde(default = "defaults::keep_alive", deserialize_with = "duration")]
    pub keep_alive: Duration,
    /// Bound of one connection attempt: TCP connect, TLS handshake and CONNACK;
    /// also of every write to the socket. Rounded up to whole seconds. Default: "10s".
    #[serde(default = "defaults::connect_timeout", deserialize_with = "duration")]
    pub connect_timeout: Duration,
    /// Most QoS 1 publishes sent and not yet acknowledged (PUBACK), status
    /// messages included; 1 to 65535. Default: 100.
    #[serde(default = "defaults::max_inflight")]
    pub max_inflight: u16,
    /// Largest MQTT packet sent, in bytes. An event whose packet would be larger
    /// goes to the dead-letter topic without its payload. Default: 262144.
    #[serde(default = "defaults::max_packet_size")]
    pub max_packet_size: u32,
    /// Delay before the first reconnection attempt; it doubles per failed
    /// attempt up to `reconnect_max`, and each delay is drawn at random between
    /// half and all of it (jitter). Default: "500ms".
    #[serde(default = "defaults::reconnect_min", deserialize_with = "duration")]
    pub reconnect_min: Duration,
    /// Cap of the reconnection delay. Default: "60s".
    #[serde(default = "defaults::reconnect_max", deserialize_with = "duration")]
    pub reconnect_max: Duration,
    /// While waiting to reconnect, how often the broker's TCP port is probed (a connect
    /// and close, nothing more); when it opens after having been closed, the sink
    /// reconnects at once rather than at the end of its backoff delay. "0s" turns the
    /// probe off. Default: "250ms".
    #[serde(default = "defaults::reconnect_probe", deserialize_with = "duration")]
    pub reconnect_probe: Duration,
    /// On shutdown, how long the sink waits for the PUBACKs of what is in
    /// flight before it publishes `offline` and disconnects. What is not
    /// acknowledged by then stays in the spool. Default: "5s".
    #[serde(default = "defaults::shutdown_grace", deserialize_with = "duration")]
    pub shutdown_grace: Duration,
    /// How often an idle sink looks at the spool for new events, when the
    /// agent does not wake it ([`MqttSink::waker`](super::MqttSink::waker)). Default: "200ms".
    #[serde(default = "defaults::idle_poll", deserialize_with = "duration")]
    pub idle_poll: Duration,
    /// Batched readings. Default: see [`BatchConfig`].
    #[serde(default)]
    pub batch: BatchConfig,
    /// The topic layout. Default: see [`TopicConfig`].
    #[serde(default)]
    pub topics: TopicConfig,
}

/// `[mqtt.tls]`: TLS with a private CA, and optionally a client certificate.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file of the CA certificate(s) that signed the broker's certificate.
    /// Required. The system's CAs are not used.
    pub ca_file: PathBuf,
    /// PEM file of this gateway's certificate (chain), for brokers that require
    /// client certificates. Default: none. Requires `client_key`.
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    /// PEM file of the private key of `client_cert` (PKCS#8, PKCS#1 or SEC1).
    /// Default: none. Requires `client_cert`.
    #[serde(default)]
    pub client_key: Option<PathBuf>,
}

/// `[mqtt.topics]`: where each kind of event is published. Every topic is
/// `{prefix}/{template}` (just the template when `prefix` is empty). Templates
/// may use `{gateway}`, `{kind}` (`reading`, `features`, `alert`, `health`)
/// and `{sensor}` (the sensor, or for health events the component, such as
/// `device:motor1`); `status` and `dead_letter` only `{gateway}`. In values,
/// `/`, `+`, `#` and NUL are replaced by `_`, so a value is one topic level.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TopicConfig {
    /// Prepended to every topic. Default: "edge".
    pub prefix: String,
    /// Readings. Default: "{gateway}/{kind}/{sensor}".
    pub reading: String,
    /// Feature sets. Default: "{gateway}/{kind}/{sensor}".
    pub features: String,
    /// Alert transitions. Default: "{gateway}/{kind}/{sensor}".
    pub alert: String,
    /// Health events. Default: "{gateway}/{kind}/{sensor}".
    pub health: String,
    /// Batches of readings (`[mqtt.batch]`); `{kind}` is `readings` here and `{sensor}` the
    /// first reading's sensor. Default: "{gateway}/{kind}".
    pub readings: String,
    /// Retained `online` / `offline` of this gateway (birth and last will).
    /// Default: "{gateway}/status".
    pub status: String,
    /// Events the sink cannot send as JSON (undecodable, too large).
    /// Default: "{gateway}/dead-letter".
    pub dead_letter: String,
}

impl Default for TopicConfig {
    fn default() -> Self {
        let per_kind = "{gateway}/{kind}/{sensor}".to_owned();
        TopicConfig {
            prefix: "edge".to_owned(),
            reading: per_kind.clone(),
            features: per_kind.clone(),
            alert: per_kind.clone(),
            health: per_kind,
            readings: "{gateway}/{kind}".to_owned(),
            status: "{gateway}/status".to_owned(),
            dead_letter: "{gateway}/dead-letter".to_owned(),
        }
    }
}

/// A password: never printed by `Debug`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

mod defaults {
    use std::time::Duration;

    pub fn keep_alive() -> Duration {
        Duration::from_secs(30)
    }
    pub fn connect_timeout() -> Duration {
        Duration::from_secs(10)
    }
    pub fn max_inflight() -> u16 {
        100
    }
    pub fn max_packet_size() -> u32 {
        256 * 1024
    }
    pub fn reconnect_min() -> Duration {
        Duration::from_millis(500)
    }
    pub fn reconnect_max() -> Duration {
        Duration::from_secs(60)
    }
    pub fn reconnect_probe() -> Duration {
        Duration::from_millis(250)
    }
    pub fn shutdown_grace() -> Duration {
        Duration::from_secs(5)
    }
    pub fn idle_poll() -> Duration {
        Duration::from_millis(200)
    }
}

/// Durations as in the rest of the agent's config: "500ms", "30s", "1m30s".
pub(crate) fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    let ms = edge_rules::lang::parse_duration_ms(&text).map_err(serde::de::Error::custom)?;
    u64::try_from(ms)
        .map(Duration::from_millis)
        .map_err(|_| serde::de::Error::custom(format!("`{text}` is negative")))
}

impl MqttConfig {
    /// A configuration with every default, for the broker at `host`.
    pub fn new(host: impl Into<String>) -> Self {
        MqttConfig {
            host: host.into(),
            port: None,
            client_id: None,
            username: None,
            password: None,
            password_file: None,
            tls: None,
            keep_alive: defaults::keep_alive(),
            connect_timeout: defaults::connect_timeout(),
            max_inflight: defaults::max_inflight(),
            max_packet_size: defaults::max_packet_size(),
            reconnect_min: defaults::reconnect_min(),
            reconnect_max: defaults::reconnect_max(),
            reconnect_probe: defaults::reconnect_probe(),
            shutdown_grace: defaults::shutdown_grace(),
            idle_poll: defaults::idle_poll(),
            batch: BatchConfig::default(),
            topics: TopicConfig::default(),
        }
    }

    /// Parses and validates the `[mqtt]` table of the agent's config.
    pub fn from_table(table: toml::Table) -> Result<Self, MqttError> {
        let config: MqttConfig = table.try_into()?;
        config.validate()?;
        Ok(config)
    }

    /// Parses and validates the body of an `[mqtt]` section given as TOML text.
    pub fn from_toml(text: &str) -> Result<Self, MqttError> {
        let config: MqttConfig = toml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    /// The port to connect to: `port`, else 8883 with TLS and 1883 without.
    pub fn effective_port(&self) -> u16 {
        self.port
            .unwrap_or(if self.tls.is_some() { 8883 } else { 1883 })
    }

    /// The client id for `gateway`: `client_id`, else `edge-agent-{gateway}`.
    pub fn effective_client_id(&self, gateway: &str) -> String {
        self.client_id
            .clone()
            .unwrap_or_else(|| format!("edge-agent-{gateway}"))
    }

    /// Checks what serde cannot: ranges, pairs of keys, topic templates.
    pub fn validate(&self) -> Result<(), MqttError> {
        if self.host.trim().is_empty() {
            return Err(MqttError::config("host", "must not be empty"));
        }
        check_host(&self.host)?;
        if self.port == Some(0) {
            return Err(MqttError::config("port", "must be 1 to 65535"));
        }
        if let Some(id) = &self.client_id {
            if id.is_empty() || id.len() > 65535 {
                return Err(MqttError::config("client_id", "must be 1 to 65535 bytes"));
            }
        }
        if self.password.is_some() && self.password_file.is_some() {
            return Err(MqttError::config(
                "password_file",
                "set either password or password_file, not both",
            ));
        }
        if (self.password.is_some() || self.password_file.is_some()) && self.username.is_none() {
            return Err(MqttError::config(
                "username",
                "a password needs a username (MQTT 3.1.1)",
            ));
        }
        if let Some(tls) = &self.tls {
            if tls.client_cert.is_some() != tls.client_key.is_some() {
                return Err(MqttError::config(
                    "tls.client_key",
                    "client_cert and client_key go together",
                ));
            }
        }
        let keep_alive = self.keep_alive;
        if keep_alive < Duration::from_secs(1)
            || keep_alive > Duration::from_secs(65535)
            || keep_alive.subsec_nanos() != 0
        {
            return Err(MqttError::config(
                "keep_alive",
                "must be whole seconds from 1s to 65535s",
            ));
        }
        if self.connect_timeout.is_zero() {
            return Err(MqttError::config(
                "connect_timeout",
                "must be longer than 0",
            ));
        }
        if self.max_inflight == 0 {
            return Err(MqttError::config("max_inflight", "must be at least 1"));
        }
        if self.max_packet_size < 1024 {
            return Err(MqttError::config(
                "max_packet_size",
                "must be at least 1024",
            ));
        }
        if self.reconnect_min.is_zero() {
            return Err(MqttError::config("reconnect_min", "must be longer than 0"));
        }
        if self.reconnect_max < self.reconnect_min {
            return Err(MqttError::config(
                "reconnect_max",
                "must not be shorter than reconnect_min",
            ));
        }
        if self.idle_poll.is_zero() {
            return Err(MqttError::config("idle_poll", "must be longer than 0"));
        }
        self.batch.validate()?;
        TopicLayout::parse(&self.topics).map(|_| ())
    }
}

/// Refuses a `host` that no resolver will ever find: a URL, a `host:port`, a path, spaces.
/// (A well-formed name that does not resolve yet is retried by the sink: DNS may come later.)
fn check_host(host: &str) -> Result<(), MqttError> {
    if let Some((scheme, rest)) = host.split_once("://") {
        let bare = rest.split(['/', ':']).next().unwrap_or(rest);
        return Err(MqttError::config(
            "host",
            format!("`{host}` is a URL: give the broker's name or address only (host = \"{bare}\"), the port in `port`, TLS in [mqtt.tls] (`{scheme}://` is not understood)"),
        ));
    }
    if host.parse::<std::net::Ipv6Addr>().is_ok() {
        return Ok(());
    }
    if let Some((name, port)) = host.rsplit_once(':') {
        return Err(MqttError::config(
            "host",
            format!("`{host}` has a port in it: write host = \"{name}\" and port = {port}"),
        ));
    }
    if let Some(bad) = host
        .chars()
        .find(|c| c.is_whitespace() || matches!(c, '/' | '@' | '?' | '#' | '[' | ']'))
    {
        return Err(MqttError::config(
            "host",
            format!("`{host}` is not a host name or address (it contains {bad:?})"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<MqttConfig, MqttError> {
        MqttConfig::from_toml(text)
    }

    #[test]
    fn a_url_or_a_port_in_host_is_refused_with_what_to_write() {
        let error = MqttConfig::from_toml("host = \"mqtt://127.0.0.1\"").expect_err("a URL");
        assert!(
            error.to_string().contains("host = \"127.0.0.1\""),
            "{error}"
        );
        let error = MqttConfig::from_toml("host = \"broker:1883\"").expect_err("a port");
        assert!(error.to_string().contains("port = 1883"), "{error}");
        assert!(MqttConfig::from_toml("host = \"broker plant\"").is_err());
        for good in ["127.0.0.1", "::1", "broker.plant.example", "broker-1"] {
            let config = format!("host = \"{good}\"");
            assert!(MqttConfig::from_toml(&config).is_ok(), "{good}");
        }
    }

    #[test]
    fn a_host_alone_gives_the_documented_defaults() {
        let config = parse("host = \"broker\"\n").expect("parses");
        assert_eq!(config, MqttConfig::new("broker"));
        assert_eq!(config.effective_port(), 1883);
        assert_eq!(config.effective_client_id("gw1"), "edge-agent-gw1");
        assert_eq!(config.keep_alive, Duration::from_secs(30));
        assert_eq!(config.connect_timeout, Duration::from_secs(10));
        assert_eq!(config.max_inflight, 100);
        assert_eq!(config.max_packet_size, 262_144);
        assert_eq!(config.reconnect_min, Duration::from_millis(500));
        assert_eq!(config.reconnect_max, Duration::from_secs(60));
        assert_eq!(config.shutdown_grace, Duration::from_secs(5));
        assert_eq!(config.idle_poll, Duration::from_millis(200));
        assert_eq!(config.topics.prefix, "edge");
        assert_eq!(config.topics.alert, "{gateway}/{kind}/{sensor}");
        assert_eq!(config.topics.status, "{gateway}/status");
    }

    #[test]
    fn every_key_can_be_set() {
        let config = parse(
            r#"
            host = "broker.plant"
            port = 18883
            client_id = "gw-1"
            username = "gw"
            password_file = "/etc/edge-agent/pw"
            keep_alive = "1m"
            connect_timeout = "3s"
            max_inflight = 7
            max_packet_size = 4096
            reconnect_min = "100ms"
            reconnect_max = "2s"
            shutdown_grace = "1s"
            idle_poll = "50ms"
            [batch]
            readings = false
            max_events = 20
            max_bytes = 2048
            linger = "5ms"
            [tls]
            ca_file = "/etc/ca.crt"
            client_cert = "/etc/gw.crt"
            client_key = "/etc/gw.key"
            [topics]
            prefix = ""
            reading = "plant/{gateway}/r/{sensor}"
            features = "plant/{gateway}/f/{sensor}"
            alert = "plant/{gateway}/a/{sensor}"
            health = "plant/{gateway}/h"
            readings = "plant/{gateway}/rs"
            status = "plant/{gateway}/up"
            dead_letter = "plant/{gateway}/dlq"
            "#,
        )
        .expect("parses");
        assert_eq!(config.effective_port(), 18883);
        assert_eq!(config.effective_client_id("x"), "gw-1");
        assert_eq!(config.keep_alive, Duration::from_secs(60));
        assert_eq!(config.max_inflight, 7);
        let tls = config.tls.as_ref().expect("tls");
        assert_eq!(tls.client_key.as_deref(), Some("/etc/gw.key".as_ref()));
        assert_eq!(config.topics.health, "plant/{gateway}/h");
        assert_eq!(config.topics.readings, "plant/{gateway}/rs");
        assert!(!config.batch.readings);
        assert_eq!(
            (config.batch.max_events, config.batch.max_bytes),
            (20, 2048)
        );
    }

    #[test]
    fn tls_changes_the_default_port() {
        let config = parse("host = \"b\"\n[tls]\nca_file = \"ca.pem\"\n").expect("parses");
        assert_eq!(config.effective_port(), 8883);
    }

    #[test]
    fn unknown_keys_and_a_missing_host_are_refused() {
        assert!(matches!(
            parse("host = \"b\"\nqos = 2\n"),
            Err(MqttError::Parse(_))
        ));
        assert!(matches!(parse("port = 1883\n"), Err(MqttError::Parse(_))));
        assert!(matches!(
            parse("host = \"b\"\n[tls]\nca_file = \"x\"\ncafile = \"y\"\n"),
            Err(MqttError::Parse(_))
        ));
        assert!(matches!(
            parse("host = \"b\"\n[topics]\nalerts = \"x\"\n"),
            Err(MqttError::Parse(_))
        ));
    }

    #[test]
    fn bad_durations_say_what_is_wrong() {
        let error = parse("host = \"b\"\nkeep_alive = \"soon\"\n").expect_err("refused");
        assert!(error.to_string().contains("not a duration"), "{error}");
        let error = parse("host = \"b\"\nkeep_alive = \"1500ms\"\n").expect_err("refused");
        assert!(error.to_string().contains("keep_alive"), "{error}");
    }

    #[test]
    fn validation_refuses_inconsistent_values() {
        let cases = [
            ("host = \" \"\n", "host"),
            ("host = \"b\"\nport = 0\n", "port"),
            ("host = \"b\"\nmax_inflight = 0\n", "max_inflight"),
            ("host = \"b\"\npassword = \"p\"\n", "username"),
            (
                "host = \"b\"\nusername = \"u\"\npassword = \"p\"\npassword_file = \"f\"\n",
                "password_file",
            ),
            (
                "host = \"b\"\nreconnect_min = \"2s\"\nreconnect_max = \"1s\"\n",
                "reconnect_max",
            ),
            (
                "host = \"b\"\n[tls]\nca_file = \"c\"\nclient_cert = \"x\"\n",
                "tls.client_key",
            ),
            ("host = \"b\"\n[topics]\nalert = \"a/#\"\n", "topics.alert"),
        ];
        for (text, key) in cases {
            match parse(text) {
                Err(MqttError::Config { key: got, .. }) => assert_eq!(got, key, "{text}"),
                other => panic!("{text}: expected a config error on {key}, got {other:?}"),
            }
        }
    }

    #[test]
    fn the_shipped_example_parses_and_every_key_in_it_is_documented() {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            mqtt: toml::Table,
        }
        let text = include_str!("../../../deploy/mqtt.example.toml");
        let file: File = toml::from_str(text).expect("deploy/mqtt.example.toml parses");
        let config = MqttConfig::from_table(file.mqtt).expect("and validates");
        assert_eq!(config.host, "broker.plant.example");
        assert!(config.tls.is_some());
        assert_eq!(
            config.topics,
            TopicConfig::default(),
            "the example shows the defaults"
        );
        let defaults = MqttConfig::new("x");
        assert_eq!(config.keep_alive, defaults.keep_alive);
        assert_eq!(config.max_inflight, defaults.max_inflight);
        assert_eq!(config.reconnect_max, defaults.reconnect_max);
        assert_eq!(config.batch, defaults.batch);
    }

    #[test]
    fn the_password_is_not_printed() {
        let config =
            parse("host = \"b\"\nusername = \"u\"\npassword = \"hunter2\"\n").expect("parses");
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
