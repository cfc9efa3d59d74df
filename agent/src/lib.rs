//! The edge agent: sources → rules → spool → MQTT.
//!
//! The library holds every stage so that tests and benchmarks can drive them; the binary
//! (`src/main.rs`) only parses the command line and wires them together.

pub mod bridge;
pub mod config;
pub mod event;
pub mod mqtt;
pub mod pipeline;
pub mod replay;
pub mod rule_files;
pub mod sources;
pub mod spool;
