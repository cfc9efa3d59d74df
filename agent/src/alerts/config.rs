//! The alert service's configuration file (TOML), documented key by key in
//! `deploy/alerts.example.toml`. Parsed once into validated types; every mistake is reported
//! as `FILE:LINE:COL: message` through the same [`Reporter`] that `check` uses. A file with an
//! `[alerts]` table is an alert-service configuration.
//!
//! Like the bridge's, this module has no Kafka or database dependency, so that
//! `edge-agent check` validates these files in every build, the gateway's included.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use edge_rules::lang::{Diagnostic, Reporter};
use serde::Deserialize;
use toml::Spanned;

use crate::event::Severity;
use crate::mqtt::Secret;

/// A validated configuration of `edge-agent alerts`.
#[derive(Debug, Clone)]
pub struct AlertsConfig {
    pub alerts: AlertsSection,
    pub kafka: ConsumerKafka,
    pub store: StoreConfig,
    pub alertmanager: Option<AlertmanagerConfig>,
    pub work_orders: Option<WorkOrderConfig>,
    pub board: Option<BoardConfig>,
}

/// `[alerts]`: what is the service's own.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsSection {
    /// How many leading `.`-separated parts of a sensor id name its asset, as in the bridge's
    /// `[bridge] asset_levels`. Default: 1.
    pub asset_levels: u32,
    /// The most Kafka records written to the store in one transaction. Default: 500.
    pub max_batch: usize,
    /// How long an applied event's `(gateway, seq)` is kept for dropping duplicates: longer
    /// than the alert and health topics' retention in Kafka. Default: "8d".
    #[serde(deserialize_with = "crate::mqtt::config::duration")]
    pub seen_retention: Duration,
    /// Address of the service's own `GET /metrics` (Prometheus text format). Default: none.
    pub metrics_listen: Option<SocketAddr>,
}

impl Default for AlertsSection {
    fn default() -> Self {
        AlertsSection {
            asset_levels: 1,
            max_batch: 500,
            seen_retention: Duration::from_secs(8 * 86_400),
            metrics_listen: None,
        }
    }
}

/// `[kafka]`: the cluster and the consumer group.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerKafka {
    /// `host:port` of one or more brokers, comma-separated. Required.
    pub bootstrap_servers: String,
    /// The consumer group; instances with the same group share the partitions.
    /// Default: "edge-alerts".
    #[serde(default = "defaults::group_id")]
    pub group_id: String,
    /// Extra librdkafka consumer properties, passed as they are (TLS and SASL settings, for
    /// example `"security.protocol" = "sasl_ssl"`). They cannot turn on automatic commits.
    #[serde(default)]
    pub properties: BTreeMap<String, Secret>,
    /// The topics read. Default: see [`ConsumerTopics`].
    #[serde(default)]
    pub topics: ConsumerTopics,
}

/// `[kafka.topics]`: the bridge's topic names (`deploy/bridge.example.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsumerTopics {
    /// Alert transitions. Default: "edge.alerts".
    pub alerts: String,
    /// Health events. Default: "edge.health".
    pub health: String,
    /// Each gateway's `online`/`offline`. Default: "edge.status".
    pub status: String,
    /// The bridge's telemetry topic, read for the feature trend around each alert on the
    /// board (its `features` events; readings are skipped). Default: none (not read: the
    /// trend then has only the values the alerts carry).
    pub telemetry: Option<String>,
}

impl Default for ConsumerTopics {
    fn default() -> Self {
        ConsumerTopics {
            alerts: "edge.alerts".to_owned(),
            health: "edge.health".to_owned(),
            status: "edge.status".to_owned(),
            telemetry: None,
        }
    }
}

/// `[store]`: where the alert history lives.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://PATH` (created when missing) or `postgres://USER@HOST:PORT/DB`.
    /// Default: "sqlite:///var/lib/edge-alerts/alerts.db".
    pub url: Secret,
    /// Connections in the pool. Default: 4.
    pub max_connections: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: Secret("sqlite:///var/lib/edge-alerts/alerts.db".to_owned()),
            max_connections: 4,
        }
    }
}

/// `[alertmanager]`: routing through Prometheus Alertmanager's v2 API. Without this table,
/// alerts are only stored.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// The Alertmanager's base URL, e.g. "http://127.0.0.1:9093". Required.
    pub url: String,
    /// How often every active alert is posted again (Alertmanager resolves an alert it has
    /// not heard of for its `resolve_timeout`, 5 minutes by default). Default: "60s".
    #[serde(
        default = "defaults::resend",
        deserialize_with = "crate::mqtt::config::duration"
    )]
    pub resend_interval: Duration,
    /// How long one post may take. Default: "10s".
    #[serde(
        default = "defaults::request_timeout",
        deserialize_with = "crate::mqtt::config::duration"
    )]
    pub timeout: Duration,
    /// The board's public base URL, for the `board` annotation. Default: none.
    #[serde(default)]
    pub board_url: Option<String>,
}

/// `[work_orders]`: an optional CMMS webhook, one JSON work order per alert episode of at
/// least `min_severity`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkOrderConfig {
    /// Where the work order is POSTed (http only). Required.
    pub url: String,
    /// The least severity that opens a work order. Default: "critical".
    #[serde(default = "defaults::min_severity")]
    pub min_severity: Severity,
    /// Sent as `Authorization: Bearer TOKEN`. Default: none.
    #[serde(default)]
    pub token: Option<Secret>,
}

/// `[board]`: the maintenance board. Without this table, no board is served.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardConfig {
    /// Address of the board's HTTP server. Required.
    pub listen: SocketAddr,
    /// The bearer token required to acknowledge (every write). Required, at least 16 characters.
    pub token: Secret,
}

mod defaults {
    use std::time::Duration;

    pub fn group_id() -> String {
        "edge-alerts".to_owned()
    }
    pub fn resend() -> Duration {
        Duration::from_secs(60)
    }
    pub fn request_timeout() -> Duration {
        Duration::from_secs(10)
    }
    pub fn min_severity() -> crate::event::Severity {
        crate::event::Severity::Critical
    }
}

/// librdkafka properties the service sets itself: offsets are committed only after the
/// store's writes are durable.
const RESERVED_PROPERTIES: &[&str] = &[
    "enable.auto.commit",
    "enable.auto.offset.store",
    "group.id",
    "bootstrap.servers",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDef {
    alerts: Spanned<AlertsSection>,
    kafka: Spanned<ConsumerKafka>,
    #[serde(default)]
    store: Option<Spanned<StoreConfig>>,
    #[serde(default)]
    alertmanager: Option<Spanned<AlertmanagerConfig>>,
    #[serde(default)]
    work_orders: Option<Spanned<WorkOrderConfig>>,
    #[serde(default)]
    board: Option<Spanned<BoardConfig>>,
}

/// Whether `text` looks like an alert-service configuration: it has an `[alerts]` table.
pub fn looks_like_alerts_config(text: &str) -> bool {
    text.parse::<toml::Table>()
        .is_ok_and(|t| t.contains_key("alerts"))
}

/// Reads and validates the configuration at `path`.
pub fn load(path: &std::path::Path) -> Result<AlertsConfig, Vec<Diagnostic>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![crate::rule_files::io_diagnostic(path, &e)])?;
    parse(&path.display().to_string(), &text)
}

/// Parses and validates a configuration; `label` names it in diagnostics.
pub fn parse(label: &str, text: &str) -> Result<AlertsConfig, Vec<Diagnostic>> {
    let mut report = Reporter::new(label, text);
    let def: FileDef = match toml::from_str(text) {
        Ok(def) => def,
        Err(error) => {
            report.error(error.span().unwrap_or(0..0), error.message().trim_end());
            return Err(report.finish().expect_err("an error was just reported").0);
        }
    };
    let span = def.alerts.span();
    let alerts = def.alerts.into_inner();
    if alerts.asset_levels == 0 {
        report.error(span.clone(), "[alerts] asset_levels: must be at least 1");
    }
    if alerts.max_batch == 0 {
        report.error(span.clone(), "[alerts] max_batch: must be at least 1");
    }
    if alerts.seen_retention < Duration::from_secs(3600) {
        report.error(
            span,
            "[alerts] seen_retention: must be at least 1h (longer than Kafka's retention)",
        );
    }
    let span = def.kafka.span();
    let kafka = def.kafka.into_inner();
    for problem in kafka_problems(&kafka) {
        report.error(span.clone(), format!("[kafka] {problem}"));
    }
    let store = match def.store {
        Some(store) => {
            let span = store.span();
            let store = store.into_inner();
            let url = &store.url.0;
            if !(url.starts_with("sqlite://")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://"))
            {
                report.error(
                    span.clone(),
                    "[store] url: must start with sqlite:// or postgres://",
                );
            }
            if store.max_connections == 0 {
                report.error(span, "[store] max_connections: must be at least 1");
            }
            store
        }
        None => StoreConfig::default(),
    };
    let alertmanager = def.alertmanager.map(|am| {
        if !am.get_ref().url.starts_with("http://") {
            report.error(
                am.span(),
                "[alertmanager] url: must be an http:// URL (put TLS in a local proxy)",
            );
        }
        am.into_inner()
    });
    let work_orders = def.work_orders.map(|wo| {
        if !wo.get_ref().url.starts_with("http://") {
            report.error(wo.span(), "[work_orders] url: must be an http:// URL");
        }
        wo.into_inner()
    });
    let board = def.board.map(|board| {
        if board.get_ref().token.0.chars().count() < 16 {
            report.error(
                board.span(),
                "[board] token: must be at least 16 characters (it guards every write)",
            );
        }
        board.into_inner()
    });
    report.finish().map_err(|d| d.0)?;
    Ok(AlertsConfig {
        alerts,
        kafka,
        store,
        alertmanager,
        work_orders,
        board,
    })
}

fn kafka_problems(kafka: &ConsumerKafka) -> Vec<String> {
    let mut problems = Vec::new();
    if kafka.bootstrap_servers.trim().is_empty() {
        problems.push("bootstrap_servers: must name at least one host:port".to_owned());
    }
    if kafka.group_id.trim().is_empty() {
        problems.push("group_id: must not be empty".to_owned());
    }
    for key in kafka.properties.keys() {
        if RESERVED_PROPERTIES.contains(&key.as_str()) {
            problems.push(format!(
                "properties: `{key}` is set by the service (offsets are committed only after the store's writes)"
            ));
        }
    }
    let topics = &kafka.topics;
    let names = [
        ("alerts", Some(&topics.alerts)),
        ("health", Some(&topics.health)),
        ("status", Some(&topics.status)),
        ("telemetry", topics.telemetry.as_ref()),
    ];
    for (key, name) in names.into_iter().filter_map(|(k, n)| Some((k, n?))) {
        let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if name.is_empty() || name.len() > 249 || !name.chars().all(legal) {
            problems.push(format!(
                "topics.{key}: `{name}` is not a Kafka topic name (1 to 249 of a-z A-Z 0-9 . _ -)"
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "[alerts]\n[kafka]\nbootstrap_servers = \"127.0.0.1:9092\"\n";

    fn messages(text: &str) -> Vec<String> {
        parse("alerts.toml", text)
            .expect_err("invalid")
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_minimal_file_takes_every_default() {
        let config = parse("alerts.toml", MINIMAL).expect("valid");
        assert_eq!(config.alerts, AlertsSection::default());
        assert_eq!(config.kafka.group_id, "edge-alerts");
        assert_eq!(config.kafka.topics, ConsumerTopics::default());
        assert_eq!(config.store, StoreConfig::default());
        assert!(config.alertmanager.is_none() && config.board.is_none());
        assert!(looks_like_alerts_config(MINIMAL));
    }

    #[test]
    fn mistakes_are_reported_at_file_line_col() {
        let text = format!(
            "{MINIMAL}[store]\nurl = \"mysql://x\"\n[board]\nlisten = \"127.0.0.1:0\"\ntoken = \"short\"\n"
        );
        let found = messages(&text);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0].starts_with("alerts.toml:4:1: [store] url"),
            "{found:?}"
        );
        assert!(
            found[1].starts_with("alerts.toml:6:1: [board] token"),
            "{found:?}"
        );
    }

    #[test]
    fn unknown_keys_and_reserved_properties_are_refused() {
        let found = messages(&MINIMAL.replace("[alerts]", "[alerts]\nbogus = 1"));
        assert!(found[0].starts_with("alerts.toml:2:1:"), "{found:?}");
        assert!(found[0].contains("bogus"), "{found:?}");
        let text = format!("{MINIMAL}[kafka.properties]\n\"enable.auto.commit\" = \"true\"\n");
        let found = messages(&text);
        assert!(found[0].contains("enable.auto.commit"), "{found:?}");
    }

    #[test]
    fn the_shipped_example_is_valid() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/alerts.example.toml");
        let config = load(std::path::Path::new(path)).expect("the example is valid");
        assert!(config.alertmanager.is_some());
        assert_eq!(
            config.alerts.seen_retention,
            Duration::from_secs(8 * 86_400)
        );
        assert!(config.alerts.metrics_listen.is_some());
        assert_eq!(config.kafka.topics.telemetry, None, "opt-in");
    }

    #[test]
    fn a_short_retention_and_a_bad_telemetry_topic_are_refused() {
        let text = MINIMAL.replace("[alerts]", "[alerts]\nseen_retention = \"10m\"");
        let found = messages(&text);
        assert!(found[0].contains("seen_retention"), "{found:?}");
        let text = format!("{MINIMAL}[kafka.topics]\ntelemetry = \"a topic\"\n");
        let found = messages(&text);
        assert!(found[0].contains("topics.telemetry"), "{found:?}");
        let text = format!("{MINIMAL}[kafka.topics]\ntelemetry = \"edge.telemetry\"\n");
        let config = parse("alerts.toml", &text).expect("valid");
        assert_eq!(
            config.kafka.topics.telemetry.as_deref(),
            Some("edge.telemetry")
        );
    }
}
