//! The MQTT sink's error type: one enum for the sink's boundary. Configuration
//! mistakes name the key (and the file, when one was read); spool failures say
//! what the sink was doing. Broker and network failures are not errors of the
//! sink: it reconnects and counts them in [`SinkStats`](super::SinkStats).

use std::path::PathBuf;

use crate::spool::SpoolError;

/// Everything that stops the sink from being built or from running.
#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    /// A value of the `[mqtt]` section is invalid.
    #[error("[mqtt] {key}: {reason}")]
    Config {
        /// The key, as written in the file (`tls.ca_file`, `topics.alert`, ...).
        key: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// The `[mqtt]` section does not parse (unknown key, wrong type, missing `host`).
    #[error("[mqtt]: {0}")]
    Parse(#[from] toml::de::Error),

    /// A file named by the configuration could not be read.
    #[error("[mqtt] {key}: cannot read {path}: {source}")]
    ReadFile {
        /// The key that names the file.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// A certificate or key file was read but is not usable.
    #[error("[mqtt] {key}: {path}: {reason}")]
    Tls {
        /// The key that names the file.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with its content.
        reason: String,
    },

    /// The spool failed while the sink was using it. The sink stops: records
    /// stay in the spool and are sent after a restart.
    #[error("MQTT sink: spool failed while {op}: {source}")]
    Spool {
        /// What the sink was doing ("acknowledging and reading the next batch").
        op: &'static str,
        /// The spool's error.
        #[source]
        source: SpoolError,
    },
}

impl MqttError {
    pub(crate) fn config(key: &'static str, reason: impl Into<String>) -> Self {
        MqttError::Config {
            key,
            reason: reason.into(),
        }
    }
}
