//! Shared helpers for the end-to-end tests: locating the built binaries, the shipped files
//! and the data sets, scoring the rules against labelled recordings, and a real Mosquitto
//! with what the MQTT tests need around it (a subscriber, a TCP proxy, a spool and the sink).

pub mod mosquitto;
pub mod mqtt_fixture;
pub mod mqtt_subscriber;
pub mod paths;
pub mod scenarios;
pub mod skab;
pub mod tcp_proxy;
