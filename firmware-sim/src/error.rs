//! Error types of the library: one enum per boundary.
//!
//! [`ScenarioError`] is everything that can be wrong with a scenario file before anything
//! runs; [`SimError`] is everything that can fail while starting or stopping devices. Each
//! variant names the file, device or address it is about, so that a message read in a test
//! log says where to look.

use std::{io, net::SocketAddr, path::PathBuf};

/// A scenario that cannot be loaded or does not make sense.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The scenario file could not be read.
    #[error("cannot read scenario {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The file is not valid TOML or does not match the scenario schema.
    #[error("invalid scenario {origin}: {source}")]
    Parse {
        /// The file, or `<string>` for text given directly.
        origin: String,
        /// The parser's message, with line and column.
        source: Box<toml::de::Error>,
    },
    /// The file parsed but says something inconsistent.
    #[error("invalid scenario {origin}: {message}")]
    Invalid {
        /// The file, or `<string>` for text given directly.
        origin: String,
        /// What is wrong, naming the machine, device, register or fault.
        message: String,
    },
}

/// A device that cannot be started, or a simulator that cannot be stopped cleanly.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// No device of that id (and of the kind asked for) is in the scenario.
    #[error("device {device}: {message}")]
    Device {
        /// The device id.
        device: String,
        /// What is wrong.
        message: String,
    },
    /// The Modbus TCP listener could not be bound.
    #[error("device {device}: cannot listen on {addr}: {source}")]
    Bind {
        /// The device id.
        device: String,
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The pseudo-terminal pair could not be created.
    #[error("device {device}: cannot open a pseudo-terminal: {source}")]
    Pty {
        /// The device id.
        device: String,
        /// Why.
        source: io::Error,
    },
    /// The symlink to the pseudo-terminal could not be created.
    #[error("device {device}: cannot link {link} to the pseudo-terminal: {source}")]
    Link {
        /// The device id.
        device: String,
        /// The symlink asked for.
        link: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The ground-truth file could not be created or written.
    #[error("ground truth {path}: {source}")]
    Truth {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Device tasks did not stop within the shutdown deadline.
    #[error("{0} device task(s) did not stop within the shutdown deadline")]
    ShutdownTimeout(usize),
}
