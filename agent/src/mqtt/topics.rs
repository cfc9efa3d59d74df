//! The topic layout: `[mqtt.topics]` templates parsed once into parts, then
//! rendered per event without allocation beyond the topic string itself.
//!
//! Invariants of every rendered topic: it is not empty, it contains no `+`,
//! `#` or NUL (so it is a valid MQTT topic name), and each placeholder fills
//! exactly one topic level (values have `/` replaced by `_`).

use crate::event::EventBody;

use super::config::TopicConfig;
use super::error::MqttError;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Gateway,
    Kind,
    Sensor,
}

/// A parsed topic template, the prefix included.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Template {
    parts: Vec<Part>,
}

/// Which placeholders a template may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Allowed {
    /// `{gateway}`, `{kind}`, `{sensor}`.
    Event,
    /// `{gateway}` only.
    GatewayOnly,
}

impl Template {
    fn parse(
        key: &'static str,
        prefix: &str,
        text: &str,
        allowed: Allowed,
    ) -> Result<Self, MqttError> {
        if text.is_empty() {
            return Err(MqttError::config(key, "must not be empty"));
        }
        if let Some(bad) = prefix
            .chars()
            .find(|c| matches!(c, '+' | '#' | '\0' | '{' | '}'))
        {
            return Err(MqttError::config(
                "topics.prefix",
                format!("must not contain `{}`", bad.escape_default()),
            ));
        }
        let mut parts = Vec::new();
        if !prefix.is_empty() {
            parts.push(Part::Text(format!("{prefix}/")));
        }
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(bad) = rest.chars().find(|c| matches!(c, '+' | '#' | '\0')) {
                return Err(MqttError::config(
                    key,
                    format!(
                        "`{text}`: topics must not contain `{}` (wildcards are for subscribers)",
                        bad.escape_default()
                    ),
                ));
            }
            match rest.find('{') {
                None => {
                    if rest.contains('}') {
                        return Err(MqttError::config(key, format!("`{text}`: unmatched `}}`")));
                    }
                    parts.push(Part::Text(rest.to_owned()));
                    rest = "";
                }
                Some(open) => {
                    let literal = &rest[..open];
                    if literal.contains('}') {
                        return Err(MqttError::config(key, format!("`{text}`: unmatched `}}`")));
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Text(literal.to_owned()));
                    }
                    let after = &rest[open + 1..];
                    let close = after.find('}').ok_or_else(|| {
                        MqttError::config(key, format!("`{text}`: unmatched `{{`"))
                    })?;
                    let name = &after[..close];
                    let part = match (name, allowed) {
                        ("gateway", _) => Part::Gateway,
                        ("kind", Allowed::Event) => Part::Kind,
                        ("sensor", Allowed::Event) => Part::Sensor,
                        _ => {
                            let known = match allowed {
                                Allowed::Event => "{gateway}, {kind} and {sensor}",
                                Allowed::GatewayOnly => "{gateway}",
                            };
                            return Err(MqttError::config(
                                key,
                                format!("`{text}`: unknown placeholder {{{name}}}; this topic knows {known}"),
                            ));
                        }
                    };
                    parts.push(part);
                    rest = &after[close + 1..];
                }
            }
        }
        Ok(Template { parts })
    }

    fn render(&self, gateway: &str, kind: &str, sensor: &str) -> String {
        let mut topic = String::with_capacity(64);
        for part in &self.parts {
            match part {
                Part::Text(text) => topic.push_str(text),
                Part::Gateway => push_level(&mut topic, gateway),
                Part::Kind => push_level(&mut topic, kind),
                Part::Sensor => push_level(&mut topic, sensor),
            }
        }
        topic
    }
}

/// Appends `value` as one topic level: `/`, `+`, `#` and NUL become `_`, and
/// an empty value becomes `_`.
fn push_level(topic: &mut String, value: &str) {
    if value.is_empty() {
        topic.push('_');
        return;
    }
    topic.extend(value.chars().map(|c| match c {
        '/' | '+' | '#' | '\0' => '_',
        c => c,
    }));
}

/// The parsed `[mqtt.topics]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopicLayout {
    reading: Template,
    features: Template,
    alert: Template,
    health: Template,
    readings: Template,
    status: Template,
    dead_letter: Template,
}

impl TopicLayout {
    /// Parses every template; errors name the key.
    pub(crate) fn parse(config: &TopicConfig) -> Result<Self, MqttError> {
        let prefix = config.prefix.trim_end_matches('/');
        let event = |key, text: &str| Template::parse(key, prefix, text, Allowed::Event);
        let fixed = |key, text: &str| Template::parse(key, prefix, text, Allowed::GatewayOnly);
        Ok(TopicLayout {
            reading: event("topics.reading", &config.reading)?,
            features: event("topics.features", &config.features)?,
            alert: event("topics.alert", &config.alert)?,
            health: event("topics.health", &config.health)?,
            readings: event("topics.readings", &config.readings)?,
            status: fixed("topics.status", &config.status)?,
            dead_letter: fixed("topics.dead_letter", &config.dead_letter)?,
        })
    }

    /// The topic of an event of `gateway`.
    pub(crate) fn event_topic(&self, gateway: &str, body: &EventBody) -> String {
        let (template, sensor) = match body {
            EventBody::Reading(r) => (&self.reading, r.sensor.as_str()),
            EventBody::Features(f) => (&self.features, f.sensor.as_str()),
            EventBody::Alert(a) => (&self.alert, a.sensor.as_str()),
            EventBody::Health(h) => (&self.health, h.component.as_str()),
        };
        template.render(gateway, body.kind(), sensor)
    }

    /// The topic of a batch of readings whose first reading is of `sensor`.
    pub(crate) fn readings_topic(&self, gateway: &str, sensor: &str) -> String {
        self.readings
            .render(gateway, crate::event::batch::BATCH_KIND, sensor)
    }

    /// The retained status topic of `gateway` (birth and last will).
    pub(crate) fn status_topic(&self, gateway: &str) -> String {
        self.status.render(gateway, "", "")
    }

    /// Where events that cannot be sent as JSON go.
    pub(crate) fn dead_letter_topic(&self, gateway: &str) -> String {
        self.dead_letter.render(gateway, "", "")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Health, HealthState, Quality, Reading};

    fn reading(sensor: &str) -> EventBody {
        EventBody::Reading(Reading {
            sensor: sensor.to_owned(),
            value: 1.0,
            unit: None,
            quality: Quality::Good,
        })
    }

    fn layout(edit: impl FnOnce(&mut TopicConfig)) -> Result<TopicLayout, MqttError> {
        let mut config = TopicConfig::default();
        edit(&mut config);
        TopicLayout::parse(&config)
    }

    #[test]
    fn the_default_layout_puts_gateway_kind_and_sensor_under_edge() {
        let topics = layout(|_| {}).expect("default parses");
        assert_eq!(
            topics.event_topic("gw1", &reading("motor1.de.velocity")),
            "edge/gw1/reading/motor1.de.velocity"
        );
        let health = EventBody::Health(Health {
            component: "device:motor1".to_owned(),
            state: HealthState::Offline,
            detail: String::new(),
        });
        assert_eq!(
            topics.event_topic("gw1", &health),
            "edge/gw1/health/device:motor1"
        );
        assert_eq!(topics.status_topic("gw1"), "edge/gw1/status");
        assert_eq!(topics.readings_topic("gw1", "m1.x"), "edge/gw1/readings");
        assert_eq!(topics.dead_letter_topic("gw1"), "edge/gw1/dead-letter");
    }

    #[test]
    fn an_empty_prefix_adds_no_leading_slash() {
        let topics = layout(|c| {
            c.prefix = String::new();
            c.reading = "plant/{gateway}/{sensor}/value".to_owned();
        })
        .expect("parses");
        assert_eq!(
            topics.event_topic("gw", &reading("s1")),
            "plant/gw/s1/value"
        );
    }

    #[test]
    fn a_prefix_with_a_trailing_slash_does_not_double_it() {
        let topics = layout(|c| c.prefix = "site/a/".to_owned()).expect("parses");
        assert_eq!(topics.status_topic("gw"), "site/a/gw/status");
    }

    #[test]
    fn values_are_one_topic_level_without_wildcards() {
        let topics = layout(|_| {}).expect("parses");
        assert_eq!(
            topics.event_topic("gw", &reading("a/b+c#d")),
            "edge/gw/reading/a_b_c_d"
        );
        assert_eq!(topics.event_topic("gw", &reading("")), "edge/gw/reading/_");
    }

    #[test]
    fn wildcards_unknown_placeholders_and_unmatched_braces_are_refused() {
        for bad in [
            "a/+/b",
            "a/#",
            "{gateway}/{device}",
            "{gateway",
            "gateway}",
            "",
        ] {
            let result = layout(|c| c.alert = bad.to_owned());
            assert!(
                matches!(
                    result,
                    Err(MqttError::Config {
                        key: "topics.alert",
                        ..
                    })
                ),
                "{bad:?} gave {result:?}"
            );
        }
        assert!(layout(|c| c.prefix = "a/#".to_owned()).is_err());
    }

    #[test]
    fn status_and_dead_letter_topics_only_know_the_gateway() {
        let result = layout(|c| c.status = "{gateway}/{sensor}".to_owned());
        assert!(matches!(
            result,
            Err(MqttError::Config {
                key: "topics.status",
                ..
            })
        ));
        let result = layout(|c| c.dead_letter = "{kind}".to_owned());
        assert!(result.is_err());
    }
}
