//! The edge agent: sources → rules → spool → sink (MQTT).
//!
//! The library holds every stage so that tests and benchmarks can drive them; the binary
//! (`src/main.rs`) only parses the command line. The modules follow the data path:
//! [`sources`] → [`rules_stage`] → [`spool_writer`] → [`spool`] → [`sinks`] (with the MQTT
//! protocol in [`mqtt`]); [`pipeline`] wires them together and supervises them; [`event`]
//! holds the messages they pass; [`config`] and [`rule_files`] what they are built from.

pub mod backoff;
pub mod check;
pub mod config;
pub mod event;
pub mod http;
pub mod mqtt;
pub mod observe;
pub mod pipeline;
pub mod replay;
pub mod rule_files;
pub mod rules_stage;
pub mod sinks;
pub mod sources;
pub mod spool;
pub mod spool_writer;
pub mod stats;
