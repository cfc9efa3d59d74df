//! # firmware-sim: a plant in a box
//!
//! Simulated vibration and temperature devices that speak real Modbus TCP, Modbus RTU (on a
//! pseudo-terminal) and serial framing, on machines that develop faults on a script, with the
//! ground truth of when each fault began.
//!
//! Layers, from the inside out:
//! - [`scenario`]: the TOML scenario, parsed and validated once;
//! - [`physics`] and [`Plant`]: what every sensor reads at a plant time, as a pure function
//!   of (scenario, seed, plant time); [`SimClock`] maps wall time to plant time;
//! - [`registers`] and [`protocol`]: values to registers and bytes, without I/O;
//! - the device tasks and [`Simulator`]: sockets and pseudo-terminals, started and stopped
//!   together.
//!
//! ## Use from a test
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use firmware_sim::{Plant, Scenario, SimClock, Simulator, StartOptions, Signal};
//!
//! let scenario = Scenario::load(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/demo.toml"))?;
//! let plant = Plant::from_scenario(scenario, None);
//! // A manual clock stands still: what a master reads is exactly `plant.reading(.., t)`.
//! let clock = SimClock::manual(600.0);
//! let mut sim = Simulator::new(plant, clock.clone());
//! for endpoint in sim.start_all(&StartOptions::default()).await? {
//!     println!("{endpoint}"); // e.g. "endpoint gateway modbus_tcp 127.0.0.1:40321"
//! }
//! let temp = sim.plant().reading("motor-1", Signal::Temperature, clock.now());
//! assert!(matches!(temp, Some(Ok(t)) if t > 20.0));
//! sim.shutdown().await?;
//! # Ok(()) }
//! ```

pub mod clock;
mod devices;
pub mod error;
pub mod physics;
pub mod plant;
pub mod protocol;
pub mod registers;
pub mod scenario;
pub mod signal;
mod sim;
pub mod timeline;
mod truth;

pub use clock::SimClock;
pub use devices::StreamStats;
pub use error::{ScenarioError, SimError};
pub use plant::{Condition, Plant, SensorDropout};
pub use scenario::Scenario;
pub use signal::{Sensor, Signal};
pub use sim::{Address, Endpoint, Simulator, StartOptions};
pub use timeline::FaultInterval;

/// Frame `k` of an `accel_stream` device as it goes on the wire (faults included), as a pure
/// function of the plant and the time scale: the same seed gives the same bytes. `None` if
/// the device is not an accelerometer of the scenario or its sensor has dropped out then.
pub fn accel_frame_bytes(plant: &Plant, device: &str, k: u64, speed: f64) -> Option<Vec<u8>> {
    match plant.scenario().device(device)? {
        scenario::DeviceConfig::AccelStream(cfg) => {
            devices::accel::frame_bytes(plant, cfg, k, speed, None).map(|(_, bytes)| bytes)
        }
        _ => None,
    }
}

/// Line `k` of a `text_line` device as it goes on the wire, as a pure function of the plant
/// and the time scale. `None` if there is no such device or its sensor has dropped out then.
pub fn text_line_bytes(plant: &Plant, device: &str, k: u64, speed: f64) -> Option<Vec<u8>> {
    match plant.scenario().device(device)? {
        scenario::DeviceConfig::TextLine(cfg) => {
            devices::text::line_bytes(plant, cfg, k, speed, None)
        }
        _ => None,
    }
}
