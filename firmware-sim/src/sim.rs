//! The running simulator: starts device tasks, reports their endpoints, stops them.
//!
//! Every task is spawned on one [`TaskTracker`] and watches one [`CancellationToken`];
//! [`Simulator::shutdown`] cancels the token, waits for the tasks (which close their
//! sockets, remove their symlinks and write the last ground-truth lines) within a deadline,
//! and reports tasks that did not stop. Dropping a `Simulator` without `shutdown` cancels
//! the token too, so nothing outlives it for long.

use std::{
    collections::HashMap,
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    clock::SimClock,
    devices::{accel, modbus::ModbusDevice, pty::Pty, rtu, tcp, text, StreamStats},
    error::SimError,
    plant::Plant,
    scenario::DeviceConfig,
    truth::TruthWriter,
};

const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(5);

/// Where a started device can be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A TCP socket address.
    Tcp(SocketAddr),
    /// A pseudo-terminal slave path, and the symlink made to it, if any.
    Pty {
        /// E.g. `/dev/pts/3`.
        path: PathBuf,
        /// The symlink asked for with `--rtu-link` / `--serial-link`.
        link: Option<PathBuf>,
    },
}

/// A started device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Device id.
    pub device: String,
    /// `modbus_tcp`, `modbus_rtu`, `accel_stream` or `text_line`.
    pub kind: &'static str,
    /// Where to reach it.
    pub address: Address,
}

impl fmt::Display for Endpoint {
    /// `endpoint DEVICE KIND ADDRESS [LINK]`, one whitespace-separated line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "endpoint {} {} ", self.device, self.kind)?;
        match &self.address {
            Address::Tcp(addr) => write!(f, "{addr}"),
            Address::Pty { path, link: None } => write!(f, "{}", path.display()),
            Address::Pty {
                path,
                link: Some(link),
            } => {
                write!(f, "{} {}", path.display(), link.display())
            }
        }
    }
}

/// Addresses and symlinks for [`Simulator::start_all`], by device id. Modbus TCP devices
/// not named here listen where the scenario says, or on `127.0.0.1:0`.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// Listen address per Modbus TCP device.
    pub tcp: HashMap<String, SocketAddr>,
    /// Symlink per serial device (RTU bus, accelerometer, text-line sensor).
    pub links: HashMap<String, PathBuf>,
}

/// A running simulator.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use firmware_sim::{Plant, Scenario, SimClock, Simulator};
///
/// let scenario = Scenario::load(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/demo.toml"))?;
/// let plant = Plant::from_scenario(scenario, Some(7));
/// let mut sim = Simulator::new(plant, SimClock::scaled(60.0));
/// let addr = sim.start_modbus_tcp("gateway", "127.0.0.1:0".parse()?).await?;
/// let rtu = sim.start_rtu_pty("rtu-bus", None).await?;
/// let accel = sim.start_serial_pty("accel-motor", None).await?;
/// assert_ne!(addr.port(), 0);
/// assert!(rtu.starts_with("/dev/") && accel.starts_with("/dev/"));
/// sim.shutdown().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Simulator {
    plant: Arc<Plant>,
    clock: SimClock,
    cancel: CancellationToken,
    tracker: TaskTracker,
    endpoints: Vec<Endpoint>,
    stats: HashMap<String, Arc<StreamStats>>,
}

impl Simulator {
    /// A simulator of `plant` on `clock`, with no device started yet.
    pub fn new(plant: Plant, clock: SimClock) -> Self {
        Self {
            plant: Arc::new(plant),
            clock,
            cancel: CancellationToken::new(),
            tracker: TaskTracker::new(),
            endpoints: Vec::new(),
            stats: HashMap::new(),
        }
    }

    /// Starts every device of the scenario.
    pub async fn start_all(&mut self, options: &StartOptions) -> Result<&[Endpoint], SimError> {
        let devices = self.plant.scenario().devices.clone();
        for d in &devices {
            let link = options.links.get(d.id()).map(PathBuf::as_path);
            match d {
                DeviceConfig::ModbusTcp(c) => {
                    let default: SocketAddr = ([127, 0, 0, 1], 0).into();
                    let addr = options
                        .tcp
                        .get(&c.id)
                        .copied()
                        .or(c.listen)
                        .unwrap_or(default);
                    self.start_modbus_tcp(&c.id, addr).await?;
                }
                DeviceConfig::ModbusRtu(c) => {
                    self.start_rtu_pty(&c.id, link).await?;
                }
                DeviceConfig::AccelStream(_) | DeviceConfig::TextLine(_) => {
                    self.start_serial_pty(d.id(), link).await?;
                }
            }
        }
        Ok(&self.endpoints)
    }

    /// Writes the ground truth to `path` (created or truncated) until shutdown.
    pub fn write_truth(&mut self, path: &Path) -> Result<(), SimError> {
        let writer = TruthWriter::create(path)?;
        let task = writer.run(
            Arc::clone(&self.plant),
            self.clock.clone(),
            self.cancel.clone(),
        );
        self.tracker.spawn(async move {
            if let Err(error) = task.await {
                tracing::error!(%error, "ground truth writer failed");
            }
        });
        Ok(())
    }

    /// Starts the Modbus TCP device `device` on `addr` (port 0 picks a free port); returns
    /// the bound address.
    pub async fn start_modbus_tcp(
        &mut self,
        device: &str,
        addr: SocketAddr,
    ) -> Result<SocketAddr, SimError> {
        let Some(DeviceConfig::ModbusTcp(cfg)) = self.plant.scenario().device(device) else {
            return Err(no_device(device, "modbus_tcp"));
        };
        let bind_error = |source| SimError::Bind {
            device: device.to_owned(),
            addr,
            source,
        };
        let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
        let bound = listener.local_addr().map_err(bind_error)?;
        let modbus = ModbusDevice::new(
            device,
            &cfg.units,
            Arc::clone(&self.plant),
            self.clock.clone(),
        );
        self.tracker
            .spawn(tcp::run(Arc::new(modbus), listener, self.cancel.clone()));
        self.endpoints.push(Endpoint {
            device: device.to_owned(),
            kind: "modbus_tcp",
            address: Address::Tcp(bound),
        });
        Ok(bound)
    }

    /// Starts the Modbus RTU bus `device` on a new pseudo-terminal; returns the path the
    /// master should open (the slave device; `link` also points at it).
    pub async fn start_rtu_pty(
        &mut self,
        device: &str,
        link: Option<&Path>,
    ) -> Result<PathBuf, SimError> {
        let Some(DeviceConfig::ModbusRtu(cfg)) = self.plant.scenario().device(device) else {
            return Err(no_device(device, "modbus_rtu"));
        };
        let timing = rtu::BusTiming {
            baud: cfg.baud,
            bits_per_char: cfg.bits_per_char,
            pace: cfg.pace,
        };
        let modbus = ModbusDevice::new(
            device,
            &cfg.units,
            Arc::clone(&self.plant),
            self.clock.clone(),
        );
        let pty = Pty::open(device, link)?;
        let path = self.record_pty(device, "modbus_rtu", &pty);
        self.tracker
            .spawn(rtu::run(Arc::new(modbus), pty, timing, self.cancel.clone()));
        Ok(path)
    }

    /// Starts the serial sensor `device` (an `accel_stream` or `text_line` device) on a new
    /// pseudo-terminal; returns the slave path.
    pub async fn start_serial_pty(
        &mut self,
        device: &str,
        link: Option<&Path>,
    ) -> Result<PathBuf, SimError> {
        let cfg = self.plant.scenario().device(device).cloned();
        let (plant, clock, cancel) = (
            Arc::clone(&self.plant),
            self.clock.clone(),
            self.cancel.clone(),
        );
        match cfg {
            Some(DeviceConfig::AccelStream(cfg)) => {
                let pty = Pty::open(device, link)?;
                let path = self.record_pty(device, "accel_stream", &pty);
                let stats = Arc::new(StreamStats::default());
                self.stats.insert(device.to_owned(), Arc::clone(&stats));
                self.tracker
                    .spawn(accel::run(plant, clock, cfg, pty, stats, cancel));
                Ok(path)
            }
            Some(DeviceConfig::TextLine(cfg)) => {
                let pty = Pty::open(device, link)?;
                let path = self.record_pty(device, "text_line", &pty);
                self.tracker
                    .spawn(text::run(plant, clock, cfg, pty, cancel));
                Ok(path)
            }
            _ => Err(no_device(device, "accel_stream or text_line")),
        }
    }

    fn record_pty(&mut self, device: &str, kind: &'static str, pty: &Pty) -> PathBuf {
        self.endpoints.push(Endpoint {
            device: device.to_owned(),
            kind,
            address: Address::Pty {
                path: pty.path.clone(),
                link: pty.link().map(Path::to_owned),
            },
        });
        pty.path.clone()
    }

    /// The devices started so far.
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// The plant the devices report on.
    pub fn plant(&self) -> &Arc<Plant> {
        &self.plant
    }

    /// The plant clock.
    pub fn clock(&self) -> &SimClock {
        &self.clock
    }

    /// Live counters of a started `accel_stream` device.
    pub fn stream_stats(&self, device: &str) -> Option<Arc<StreamStats>> {
        self.stats.get(device).cloned()
    }

    /// Stops every device and the ground-truth writer, waiting at most 5 s.
    pub async fn shutdown(self) -> Result<(), SimError> {
        self.cancel.cancel();
        self.tracker.close();
        if tokio::time::timeout(SHUTDOWN_DEADLINE, self.tracker.wait())
            .await
            .is_err()
        {
            return Err(SimError::ShutdownTimeout(self.tracker.len()));
        }
        Ok(())
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

fn no_device(device: &str, kind: &str) -> SimError {
    SimError::Device {
        device: device.to_owned(),
        message: format!("no {kind} device of that id in the scenario"),
    }
}
