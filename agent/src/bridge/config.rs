//! The bridge's configuration file (TOML), documented key by key in
//! `deploy/bridge.example.toml`. Parsed once into validated types; every mistake is reported
//! as `FILE:LINE:COL: message`, through the same [`Reporter`] that `check` uses for the
//! agent's files. A file with a `[kafka]` table is a bridge configuration.
//!
//! This module has no Kafka dependency, so that `edge-agent check` validates bridge configs
//! in every build, the gateway's included.
//!
//! The `[mqtt]` section is the agent's own (`crate::mqtt::MqttConfig`, `deploy/mqtt.md`):
//! the bridge uses its broker, credentials, TLS, keep-alive, connection timeout, reconnect
//! backoff, `max_inflight` (the most MQTT messages received and not yet acknowledged),
//! `shutdown_grace` and `topics.prefix`. Its `client_id` is required here: the persistent
//! session lives under it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use edge_rules::lang::{Diagnostic, Reporter};
use serde::Deserialize;
use toml::Spanned;

use crate::mqtt::{MqttConfig, Secret};

/// A validated bridge configuration.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    pub bridge: BridgeSection,
    pub mqtt: MqttConfig,
    pub kafka: KafkaConfig,
}

/// `[bridge]`: what is the bridge's own.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BridgeSection {
    /// Scale-out: this instance's number, 0 to `instances - 1`. Default: 0.
    pub instance: u32,
    /// Scale-out: how many instances share the stream. Each forwards the records whose key
    /// hashes to its number and acknowledges the others unforwarded (see
    /// `deploy/bridge.md`). Default: 1.
    pub instances: u32,
    /// How many leading `.`-separated parts of a sensor id name its asset (the machine):
    /// with 1, `motor1.de.velocity` belongs to `motor1`. Default: 1.
    pub asset_levels: u32,
    /// What becomes of a batch of readings (wire version 2): `split` produces one Kafka
    /// record per reading, exactly the record its single message would have made; `whole`
    /// produces the batch as one record keyed by the gateway. Default: `split`.
    pub batches: BatchMode,
    /// Where the Prometheus metrics are served (`GET /metrics`). Default: none.
    pub metrics_listen: Option<SocketAddr>,
}

impl Default for BridgeSection {
    fn default() -> Self {
        BridgeSection {
            instance: 0,
            instances: 1,
            asset_levels: 1,
            batches: BatchMode::Split,
            metrics_listen: None,
        }
    }
}

/// `[bridge] batches`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchMode {
    /// One record per reading.
    Split,
    /// One record per batch.
    Whole,
}

/// `[kafka]`: the cluster and the producer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// `host:port` of one or more brokers, comma-separated. Required.
    pub bootstrap_servers: String,
    /// `plaintext` (default), `ssl`, `sasl_plaintext` or `sasl_ssl`.
    #[serde(default)]
    pub security_protocol: SecurityProtocol,
    /// With `sasl_*`: `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`. Default: `SCRAM-SHA-512`.
    #[serde(default)]
    pub sasl_mechanism: SaslMechanism,
    /// With `sasl_*`: the user name. Required there.
    #[serde(default)]
    pub sasl_username: Option<String>,
    /// With `sasl_*`: the password, inline. Prefer `sasl_password_file`.
    #[serde(default)]
    pub sasl_password: Option<Secret>,
    /// With `sasl_*`: a file whose content (without a trailing newline) is the password.
    #[serde(default)]
    pub sasl_password_file: Option<PathBuf>,
    /// With `ssl`/`sasl_ssl`: PEM file of the CA(s) of the brokers' certificates.
    /// Default: the system's CAs.
    #[serde(default)]
    pub ssl_ca_file: Option<PathBuf>,
    /// With `ssl`/`sasl_ssl`: PEM client certificate, for brokers that require one.
    #[serde(default)]
    pub ssl_certificate_file: Option<PathBuf>,
    /// PEM private key of `ssl_certificate_file`.
    #[serde(default)]
    pub ssl_key_file: Option<PathBuf>,
    /// `none`, `gzip`, `snappy` or `lz4` (default).
    #[serde(default)]
    pub compression: Compression,
    /// How long the producer waits to fill a batch. Default: "5ms".
    #[serde(
        default = "defaults::linger",
        deserialize_with = "crate::mqtt::config::duration"
    )]
    pub linger: Duration,
    /// Cap of the delay between two attempts to produce a record Kafka refused (the
    /// producer's own retries of an unreachable cluster never give up, see the module
    /// documentation of `bridge`). Default: "10s".
    #[serde(
        default = "defaults::retry_max",
        deserialize_with = "crate::mqtt::config::duration"
    )]
    pub retry_max: Duration,
    /// Extra librdkafka producer properties, passed as they are (for example
    /// `"client.id" = "bridge-1"`). They cannot turn off `acks=all` or idempotence.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// Kafka topics by kind of event. Default: see [`KafkaTopics`].
    #[serde(default)]
    pub topics: KafkaTopics,
}

/// `[kafka.topics]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaTopics {
    /// Readings and feature sets. Default: "edge.telemetry".
    pub telemetry: String,
    /// Alert transitions. Default: "edge.alerts".
    pub alerts: String,
    /// Health events. Default: "edge.health".
    pub health: String,
    /// Each gateway's `online`/`offline`, keyed by gateway: create it compacted
    /// (`cleanup.policy=compact`). Default: "edge.status".
    pub status: String,
    /// What is not a valid event, with `reason` and `source_topic` headers.
    /// Default: "edge.dead-letter".
    pub dead_letter: String,
}

impl Default for KafkaTopics {
    fn default() -> Self {
        KafkaTopics {
            telemetry: "edge.telemetry".to_owned(),
            alerts: "edge.alerts".to_owned(),
            health: "edge.health".to_owned(),
            status: "edge.status".to_owned(),
            dead_letter: "edge.dead-letter".to_owned(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityProtocol {
    #[default]
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    /// librdkafka's `security.protocol`.
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "plaintext",
            SecurityProtocol::Ssl => "ssl",
            SecurityProtocol::SaslPlaintext => "sasl_plaintext",
            SecurityProtocol::SaslSsl => "sasl_ssl",
        }
    }
    pub fn sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
    pub fn tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum SaslMechanism {
    #[serde(rename = "PLAIN")]
    Plain,
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    #[default]
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

impl SaslMechanism {
    /// librdkafka's `sasl.mechanism`.
    pub fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    #[default]
    Lz4,
}

impl Compression {
    /// librdkafka's `compression.type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
        }
    }
}

mod defaults {
    use std::time::Duration;

    pub fn linger() -> Duration {
        Duration::from_millis(5)
    }
    pub fn retry_max() -> Duration {
        Duration::from_secs(10)
    }
}

/// librdkafka properties the bridge sets itself: its guarantees depend on them.
const RESERVED_PROPERTIES: &[&str] = &[
    "acks",
    "request.required.acks",
    "enable.idempotence",
    "message.timeout.ms",
    "delivery.timeout.ms",
    "bootstrap.servers",
];

/// The file as written, with spans for the checks serde cannot make.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDef {
    #[serde(default)]
    bridge: Option<Spanned<BridgeSection>>,
    mqtt: Spanned<toml::Table>,
    kafka: Spanned<KafkaConfig>,
}

/// Whether `text` looks like a bridge configuration: it has a `[kafka]` table.
pub fn looks_like_bridge_config(text: &str) -> bool {
    text.parse::<toml::Table>()
        .is_ok_and(|t| t.contains_key("kafka"))
}

/// Reads and validates the bridge configuration at `path`.
pub fn load(path: &Path) -> Result<BridgeConfig, Vec<Diagnostic>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![crate::rule_files::io_diagnostic(path, &e)])?;
    parse(&path.display().to_string(), &text)
}

/// Parses and validates a bridge configuration; `label` names it in diagnostics.
pub fn parse(label: &str, text: &str) -> Result<BridgeConfig, Vec<Diagnostic>> {
    let mut report = Reporter::new(label, text);
    let def: FileDef = match toml::from_str(text) {
        Ok(def) => def,
        Err(error) => {
            report.error(error.span().unwrap_or(0..0), error.message().trim_end());
            return Err(report.finish().expect_err("an error was just reported").0);
        }
    };
    let (bridge_span, bridge) = match def.bridge {
        Some(section) => (section.span(), section.into_inner()),
        None => (0..0, BridgeSection::default()),
    };
    if bridge.instances == 0 || bridge.instance >= bridge.instances {
        report.error(
            bridge_span.clone(),
            format!(
                "[bridge]: instance must be 0 to instances - 1 (instance = {}, instances = {})",
                bridge.instance, bridge.instances
            ),
        );
    }
    if bridge.asset_levels == 0 {
        report.error(bridge_span, "[bridge]: asset_levels must be at least 1");
    }
    let mqtt_span = def.mqtt.span();
    let mqtt = match MqttConfig::from_table(def.mqtt.into_inner()) {
        Ok(mqtt) => {
            if mqtt.client_id.is_none() {
                report.error(
                    mqtt_span,
                    "[mqtt] client_id: the bridge needs a fixed client id (its persistent session lives under it)",
                );
            }
            Some(mqtt)
        }
        Err(error) => {
            report.error(mqtt_span, error.to_string());
            None
        }
    };
    let kafka_span = def.kafka.span();
    let kafka = def.kafka.into_inner();
    for problem in kafka_problems(&kafka) {
        report.error(kafka_span.clone(), format!("[kafka] {problem}"));
    }
    report.finish().map_err(|d| d.0)?;
    Ok(BridgeConfig {
        bridge,
        mqtt: mqtt.expect("an invalid [mqtt] was reported"),
        kafka,
    })
}

/// What serde cannot check in `[kafka]`.
fn kafka_problems(kafka: &KafkaConfig) -> Vec<String> {
    let mut problems = Vec::new();
    if kafka.bootstrap_servers.trim().is_empty() {
        problems.push("bootstrap_servers: must name at least one host:port".to_owned());
    }
    let sasl = kafka.security_protocol.sasl();
    if sasl && kafka.sasl_username.is_none() {
        problems.push(format!(
            "sasl_username: security_protocol = \"{}\" needs it",
            kafka.security_protocol.as_str()
        ));
    }
    if kafka.sasl_password.is_some() && kafka.sasl_password_file.is_some() {
        problems.push(
            "sasl_password_file: set either sasl_password or sasl_password_file, not both"
                .to_owned(),
        );
    }
    if !sasl && (kafka.sasl_username.is_some() || kafka.sasl_password.is_some()) {
        problems.push(
            "sasl_username: SASL credentials need security_protocol = \"sasl_plaintext\" or \"sasl_ssl\""
                .to_owned(),
        );
    }
    let tls_files = kafka.ssl_ca_file.is_some() || kafka.ssl_certificate_file.is_some();
    if tls_files && !kafka.security_protocol.tls() {
        problems.push(
            "ssl_ca_file: TLS files need security_protocol = \"ssl\" or \"sasl_ssl\"".to_owned(),
        );
    }
    if kafka.ssl_certificate_file.is_some() != kafka.ssl_key_file.is_some() {
        problems.push("ssl_key_file: ssl_certificate_file and ssl_key_file go together".to_owned());
    }
    for key in kafka.properties.keys() {
        if RESERVED_PROPERTIES.contains(&key.as_str()) || key.starts_with("sasl.") {
            problems.push(format!(
                "properties: `{key}` is set by the bridge (its guarantees or its own keys depend on it)"
            ));
        }
    }
    let topics = &kafka.topics;
    for (key, name) in [
        ("telemetry", &topics.telemetry),
        ("alerts", &topics.alerts),
        ("health", &topics.health),
        ("status", &topics.status),
        ("dead_letter", &topics.dead_letter),
    ] {
        let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if name.is_empty() || name.len() > 249 || !name.chars().all(legal) {
            problems.push(format!(
                "topics.{key}: `{name}` is not a Kafka topic name (1 to 249 of a-z A-Z 0-9 . _ -)"
            ));
        }
    }
    if topics.status == topics.telemetry
        || topics.status == topics.alerts
        || topics.status == topics.health
    {
        problems.push(
            "topics.status: the status topic is compacted by gateway, so it must be a topic of its own"
                .to_owned(),
        );
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[mqtt]
host = "127.0.0.1"
client_id = "bridge-a"

[kafka]
bootstrap_servers = "127.0.0.1:9092"
"#;

    fn messages(text: &str) -> Vec<String> {
        parse("bridge.toml", text)
            .expect_err("invalid")
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_minimal_file_takes_every_default() {
        let config = parse("bridge.toml", MINIMAL).expect("valid");
        assert_eq!(config.bridge, BridgeSection::default());
        assert_eq!(config.kafka.topics, KafkaTopics::default());
        assert_eq!(config.kafka.compression, Compression::Lz4);
        assert_eq!(config.kafka.linger, Duration::from_millis(5));
        assert_eq!(config.mqtt.topics.prefix, "edge");
        assert!(looks_like_bridge_config(MINIMAL));
    }

    #[test]
    fn an_unknown_key_is_reported_at_its_line_and_column() {
        let text = MINIMAL.replace("bootstrap_servers", "bootstrap_server");
        let found = messages(&text);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("bridge.toml:7:1: "), "{found:?}");
        assert!(found[0].contains("bootstrap_server"), "{found:?}");
    }

    #[test]
    fn a_bad_duration_points_at_its_value() {
        let text = format!("{MINIMAL}linger = \"soon\"\n");
        let found = messages(&text);
        assert!(found[0].starts_with("bridge.toml:8:10: "), "{found:?}");
    }

    #[test]
    fn the_bridge_needs_a_fixed_client_id() {
        let text = MINIMAL.replace("client_id = \"bridge-a\"\n", "");
        let found = messages(&text);
        assert!(found[0].contains("client_id"), "{found:?}");
        assert!(found[0].starts_with("bridge.toml:2:1: "), "{found:?}");
    }

    #[test]
    fn mistakes_of_meaning_name_the_section_and_the_key() {
        let text = format!(
            "[bridge]\ninstance = 2\ninstances = 2\n{MINIMAL}security_protocol = \"sasl_ssl\"\nproperties = {{ acks = \"1\" }}\n"
        );
        let found = messages(&text);
        assert!(
            found.iter().any(|m| m.starts_with("bridge.toml:1:1: ")
                && m.contains("instance must be 0 to instances - 1")),
            "{found:?}"
        );
        assert!(
            found.iter().any(|m| m.contains("[kafka] sasl_username")),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|m| m.contains("`acks` is set by the bridge")),
            "{found:?}"
        );
    }

    #[test]
    fn the_status_topic_must_be_its_own() {
        let text = format!("{MINIMAL}[kafka.topics]\nstatus = \"edge.telemetry\"\n");
        let found = messages(&text);
        assert!(found[0].contains("topics.status"), "{found:?}");
        let text = format!("{MINIMAL}[kafka.topics]\nalerts = \"has space\"\n");
        assert!(messages(&text)[0].contains("topics.alerts"));
    }

    #[test]
    fn the_shipped_example_is_valid_and_says_what_it_shows() {
        let text = include_str!("../../../deploy/bridge.example.toml");
        let config = parse("deploy/bridge.example.toml", text).expect("the example is valid");
        assert_eq!(config.mqtt.client_id.as_deref(), Some("edge-bridge-0"));
        assert_eq!(config.mqtt.max_inflight, 1000);
        assert_eq!(config.kafka.topics, KafkaTopics::default());
        assert_eq!(
            config.bridge.metrics_listen,
            Some(SocketAddr::from(([127, 0, 0, 1], 9466)))
        );
    }
}
