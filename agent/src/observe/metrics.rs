//! `/metrics`: the agent's state in the Prometheus text exposition format 0.0.4 (the
//! `prometheus` crate's classic text encoder), every name prefixed `edge_agent_`.
//!
//! The families are built afresh at each scrape from the live counters (the sources' in
//! [`AgentStats`](crate::stats::AgentStats), the spool's stats, the sink's stats, the status model), so
//! the agent keeps no second copy of any counter. Counters end in `_total`, as promtool's lint
//! asks.
//!
//! | family | labels |
//! |---|---|
//! | `edge_agent_info` | `gateway`, `version` |
//! | `edge_agent_uptime_seconds` | |
//! | `edge_agent_device_reads_total` | `device`, `result` (`ok`, `exception`, `timeout`, `transport`, `decode`) |
//! | `edge_agent_device_connects_total`, `edge_agent_device_poll_overruns_total` | `device` |
//! | `edge_agent_device_readings_total` | `device`, `quality` |
//! | `edge_agent_device_state` | `device`, `state` (1 for the current one) |
//! | `edge_agent_modbus_exceptions_total` | `device`, `code` (`0` for codes outside the specification) |
//! | `edge_agent_serial_frames_total` | `stream` (frames or lines that passed every check) |
//! | `edge_agent_serial_dropped_total` | `stream`, `cause` |
//! | `edge_agent_serial_bytes_total` | `stream` |
//! | `edge_agent_alerts_raised_total`, `edge_agent_alerts_held_back_total`, `edge_agent_alerts_active` | `severity` |
//! | `edge_agent_spool_pending_records`, `edge_agent_spool_pending_bytes` | `class` |
//! | `edge_agent_spool_max_bytes`, `edge_agent_spool_oldest_age_seconds`, `edge_agent_spool_appended_total`, `edge_agent_spool_quarantined_total` | |
//! | `edge_agent_spool_dropped_total` | `reason` (`full`, `undecodable`, `rejected`), `class` |
//! | `edge_agent_mqtt_connected`, `edge_agent_mqtt_inflight` | |
//! | `edge_agent_mqtt_reconnects_total`, `edge_agent_mqtt_connection_errors_total`, `edge_agent_mqtt_messages_total`, `edge_agent_mqtt_published_total`, `edge_agent_mqtt_acked_total`, `edge_agent_mqtt_dead_lettered_total` | |
//! | `edge_agent_rules_reloads_total` | |
//! | `edge_agent_rules_info` | `rule_hash` |

use std::sync::atomic::Ordering;

use prometheus::{
    Encoder, Gauge, GaugeVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder,
};

use super::{Observer, SinkKind};
use crate::event::HealthState;
use crate::spool::{PerClass, SpoolStats};

/// The content type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Families of one scrape.
struct Families(Registry);

impl Families {
    fn counter(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
    ) -> prometheus::Result<IntCounterVec> {
        let family = IntCounterVec::new(Opts::new(name, help), labels)?;
        self.0.register(Box::new(family.clone()))?;
        Ok(family)
    }

    fn gauge(&self, name: &str, help: &str, labels: &[&str]) -> prometheus::Result<GaugeVec> {
        let family = GaugeVec::new(Opts::new(name, help), labels)?;
        self.0.register(Box::new(family.clone()))?;
        Ok(family)
    }

    /// A counter without labels, at `value`.
    fn counter_at(&self, name: &str, help: &str, value: u64) -> prometheus::Result<()> {
        let counter = IntCounter::new(name, help)?;
        counter.inc_by(value);
        self.0.register(Box::new(counter))
    }

    /// A gauge without labels, at `value`.
    fn gauge_at(&self, name: &str, help: &str, value: f64) -> prometheus::Result<()> {
        let gauge = Gauge::new(name, help)?;
        gauge.set(value);
        self.0.register(Box::new(gauge))
    }
}

/// The text of one scrape.
pub async fn render(observer: &Observer) -> prometheus::Result<String> {
    let spool = observer.spool_stats().await;
    let f = Families(Registry::new());

    f.gauge(
        "edge_agent_info",
        "The agent's gateway id and version",
        &["gateway", "version"],
    )?
    .with_label_values(&[observer.gateway(), env!("CARGO_PKG_VERSION")])
    .set(1.0);
    f.gauge_at(
        "edge_agent_uptime_seconds",
        "Seconds since the agent started",
        observer.uptime_s(),
    )?;

    sources(&f, observer)?;
    alerts_and_rules(&f, observer)?;
    if let Some(stats) = &spool {
        spool_families(&f, stats)?;
    }
    if let Some(SinkKind::Mqtt(handle)) = observer.sink() {
        mqtt(&f, &handle.snapshot())?;
    }

    let mut text = Vec::new();
    TextEncoder::new().encode(&f.0.gather(), &mut text)?;
    String::from_utf8(text).map_err(|e| prometheus::Error::Msg(e.to_string()))
}

fn sources(f: &Families, observer: &Observer) -> prometheus::Result<()> {
    let reads = f.counter(
        "edge_agent_device_reads_total",
        "Reads of each device, by result",
        &["device", "result"],
    )?;
    let connects = f.counter(
        "edge_agent_device_connects_total",
        "Connections made to each device",
        &["device"],
    )?;
    let overruns = f.counter(
        "edge_agent_device_poll_overruns_total",
        "Polls that started later than their interval asked",
        &["device"],
    )?;
    let exceptions = f.counter(
        "edge_agent_modbus_exceptions_total",
        "Modbus exception answers, by exception code (0: a code outside the specification)",
        &["device", "code"],
    )?;
    for (device, c) in observer.stats().devices() {
        let d = device.as_str();
        for (result, counter) in [
            ("ok", &c.reads_ok),
            ("exception", &c.exceptions),
            ("timeout", &c.timeouts),
            ("transport", &c.transport_errors),
            ("decode", &c.decode_errors),
        ] {
            reads
                .with_label_values(&[d, result])
                .inc_by(counter.load(Ordering::Relaxed));
        }
        connects
            .with_label_values(&[d])
            .inc_by(c.connects.load(Ordering::Relaxed));
        overruns
            .with_label_values(&[d])
            .inc_by(c.overruns.load(Ordering::Relaxed));
        for (code, counter) in c.exception_codes.iter().enumerate() {
            let n = counter.load(Ordering::Relaxed);
            if n > 0 {
                exceptions
                    .with_label_values(&[d, &code.to_string()])
                    .inc_by(n);
            }
        }
    }

    let frames = f.counter(
        "edge_agent_serial_frames_total",
        "Serial frames or lines that passed every check",
        &["stream"],
    )?;
    let dropped = f.counter(
        "edge_agent_serial_dropped_total",
        "Serial frames or lines dropped, by cause",
        &["stream", "cause"],
    )?;
    let bytes = f.counter(
        "edge_agent_serial_bytes_total",
        "Bytes read from each serial stream",
        &["stream"],
    )?;
    for (stream, c) in observer.stats().streams() {
        let s = c.snapshot();
        let id = stream.as_str();
        frames
            .with_label_values(&[id])
            .inc_by(s.frames_ok + s.lines_ok);
        bytes.with_label_values(&[id]).inc_by(s.bytes);
        for (cause, n) in [
            ("oversize", s.frames_oversize),
            ("bad_cobs", s.frames_bad_cobs),
            ("bad_crc", s.frames_bad_crc),
            ("bad_version", s.frames_bad_version),
            ("malformed", s.frames_malformed),
            ("lost", s.frames_lost),
            ("line_overlong", s.lines_overlong),
            ("line_not_text", s.lines_not_text),
            ("line_bad_checksum", s.lines_bad_checksum),
            ("line_no_match", s.lines_no_match),
            ("line_bad_number", s.lines_bad_number),
            ("partial_at_open", s.partial_at_open),
        ] {
            dropped.with_label_values(&[id, cause]).inc_by(n);
        }
    }

    let model = observer.model();
    let readings = f.counter(
        "edge_agent_device_readings_total",
        "Readings of each device's sensors that reached the rules, by quality",
        &["device", "quality"],
    )?;
    for (device, counts) in model.readings_by_device() {
        for (quality, n) in ["good", "uncertain", "bad"].into_iter().zip(counts) {
            readings.with_label_values(&[device, quality]).inc_by(n);
        }
    }
    let state = f.gauge(
        "edge_agent_device_state",
        "The state of each device or stream (1 for the current state)",
        &["device", "state"],
    )?;
    for (component, health) in &model.health {
        let Some(device) = component.strip_prefix("device:") else {
            continue;
        };
        for (name, s) in [
            ("online", HealthState::Online),
            ("degraded", HealthState::Degraded),
            ("offline", HealthState::Offline),
        ] {
            let value = if health.state == s { 1.0 } else { 0.0 };
            state.with_label_values(&[device, name]).set(value);
        }
    }
    Ok(())
}

fn alerts_and_rules(f: &Families, observer: &Observer) -> prometheus::Result<()> {
    let (raised_counts, held_back_counts, active_counts) = {
        let model = observer.model();
        (model.raised, model.held_back, model.active_by_severity())
    };
    let raised = f.counter(
        "edge_agent_alerts_raised_total",
        "Alerts raised, by severity",
        &["severity"],
    )?;
    let held_back = f.counter(
        "edge_agent_alerts_held_back_total",
        "Raises not sent because their rule had cleared or raised too recently (hold-off, min_interval), by severity",
        &["severity"],
    )?;
    let active = f.gauge(
        "edge_agent_alerts_active",
        "Alerts raised and not cleared, by severity",
        &["severity"],
    )?;
    for (i, severity) in ["info", "warning", "critical"].into_iter().enumerate() {
        raised
            .with_label_values(&[severity])
            .inc_by(raised_counts[i]);
        held_back
            .with_label_values(&[severity])
            .inc_by(held_back_counts[i]);
        active
            .with_label_values(&[severity])
            .set(active_counts[i] as f64);
    }
    f.counter_at(
        "edge_agent_rules_reloads_total",
        "Times the rules were reloaded",
        observer.reloads(),
    )?;
    f.gauge(
        "edge_agent_rules_info",
        "The combined content hash of the rules in force",
        &["rule_hash"],
    )?
    .with_label_values(&[&observer.rule_hash()])
    .set(1.0);
    Ok(())
}

fn per_class(family: &GaugeVec, values: &PerClass<u64>) {
    family
        .with_label_values(&["alert"])
        .set(values.alert as f64);
    family
        .with_label_values(&["telemetry"])
        .set(values.telemetry as f64);
}

fn spool_families(f: &Families, s: &SpoolStats) -> prometheus::Result<()> {
    per_class(
        &f.gauge(
            "edge_agent_spool_pending_records",
            "Records in the spool not yet acknowledged",
            &["class"],
        )?,
        &s.pending,
    );
    per_class(
        &f.gauge(
            "edge_agent_spool_pending_bytes",
            "Record bytes in the spool not yet acknowledged",
            &["class"],
        )?,
        &s.pending_bytes,
    );
    f.gauge_at(
        "edge_agent_spool_max_bytes",
        "The spool's bound on record bytes",
        s.max_bytes as f64,
    )?;
    f.gauge_at(
        "edge_agent_spool_oldest_age_seconds",
        "Age of the oldest record not yet acknowledged (0 when empty)",
        s.oldest_pending_age_ms.unwrap_or(0) as f64 / 1000.0,
    )?;
    f.counter_at(
        "edge_agent_spool_appended_total",
        "Events appended over the spool's lifetime",
        s.appended_total,
    )?;
    f.counter_at(
        "edge_agent_spool_quarantined_total",
        "Records moved to quarantine as undecodable",
        s.quarantined,
    )?;
    let dropped = f.counter(
        "edge_agent_spool_dropped_total",
        "Records dropped or refused over the spool's lifetime, by reason and class",
        &["reason", "class"],
    )?;
    for (reason, counts) in [
        ("full", s.drops.full),
        ("undecodable", s.drops.undecodable),
        ("rejected", s.drops.rejected),
    ] {
        dropped
            .with_label_values(&[reason, "alert"])
            .inc_by(counts.alert);
        dropped
            .with_label_values(&[reason, "telemetry"])
            .inc_by(counts.telemetry);
    }
    Ok(())
}

fn mqtt(f: &Families, s: &crate::mqtt::SinkStats) -> prometheus::Result<()> {
    f.gauge_at(
        "edge_agent_mqtt_connected",
        "1 while the MQTT sink has a working connection",
        if s.connected { 1.0 } else { 0.0 },
    )?;
    f.gauge_at(
        "edge_agent_mqtt_inflight",
        "Publishes in flight now",
        s.inflight as f64,
    )?;
    for (name, help, value) in [
        (
            "edge_agent_mqtt_reconnects_total",
            "CONNACKs after the first",
            s.reconnects,
        ),
        (
            "edge_agent_mqtt_connection_errors_total",
            "Failed connection attempts and broken connections",
            s.connection_errors,
        ),
        (
            "edge_agent_mqtt_messages_total",
            "Publishes of records written to the network (a batch of readings is one), re-sends included",
            s.messages,
        ),
        (
            "edge_agent_mqtt_published_total",
            "Records in those publishes, re-sends included",
            s.published,
        ),
        (
            "edge_agent_mqtt_acked_total",
            "Records whose publish the broker acknowledged",
            s.acked,
        ),
        (
            "edge_agent_mqtt_dead_lettered_total",
            "Records sent to the dead-letter topic",
            s.dead_lettered,
        ),
    ] {
        f.counter_at(name, help, value)?;
    }
    Ok(())
}
