//! Rule language and streaming detection engine of the edge agent.
//!
//! The engine core (`window`, `features`, `detect`, `adaptive`, `alert`, `states`, `engine`) is `no_std` and does
//! not allocate: it can run on a sensor's own microcontroller. The `std` feature (on by
//! default) adds the rule language: TOML rule files parsed, validated with `file:line:col`
//! errors, and compiled into engine specs.
#![cfg_attr(not(feature = "std"), no_std)]

pub mod adaptive;
pub mod alert;
pub mod detect;
pub mod engine;
pub mod features;
pub mod iso10816;
#[cfg(feature = "std")]
pub mod lang;
#[cfg(feature = "std")]
pub mod siblings;
pub mod states;
#[cfg(test)]
mod test_noise;
pub mod unusual;
pub mod window;

pub use adaptive::{AdaptiveSpec, Evidence, Horizon};
pub use alert::{AlertState, Severity, Step, Timing};
pub use detect::{DetectorKind, DetectorSpec};
pub use engine::{Combine, RuleSpec, SensorEngine, SensorSpec, Transition};
pub use features::Feature;
pub use window::Window;
