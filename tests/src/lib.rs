//! Shared helpers for the end-to-end tests: locating the built binaries, the shipped files
//! and the data sets, scoring the rules against labelled recordings, and a real Mosquitto
//! with what the MQTT tests need around it (a subscriber, a TCP proxy, a spool and the sink),
//! and a real Kafka-compatible broker (nisshi) with a reader for the bridge tests; a real
//! PostgreSQL and Alertmanager for the alert service's tests; promtool for `/metrics`; headless
//! Chromium for the pages.

pub mod alertmanager;
pub mod bench;
pub mod chromium;
pub mod kafka_reader;
pub mod mosquitto;
pub mod mqtt_fixture;
pub mod mqtt_subscriber;
pub mod nab;
pub mod nisshi;
pub mod paths;
pub mod postgres;
pub mod promtool;
pub mod scenarios;
pub mod service;
pub mod skab;
pub mod tcp_proxy;
