//! The spool's error type: one enum for the spool's boundary, each variant with
//! the path (and where it matters the seq or class) it is about.

use std::path::PathBuf;

use super::record::Priority;

/// Everything that can go wrong in the spool.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The configuration is invalid.
    #[error("invalid spool configuration: {0}")]
    Config(String),

    /// Another process (or another `Spool` in this process) has held the spool
    /// open for the whole of the 3 s that `open` waits for it.
    #[error("spool {path} is in use by another process (is an agent running?)")]
    Locked {
        /// The spool directory.
        path: PathBuf,
    },

    /// sled failed. During `open`, an error that means the files are unreadable
    /// leads to the spool being moved aside instead of this error.
    #[error("spool {path}: storage error while {op}: {source}")]
    Storage {
        /// The spool directory.
        path: PathBuf,
        /// What the spool was doing ("appending seq 42", "acknowledging", ...).
        op: String,
        /// sled's error.
        #[source]
        source: sled::Error,
    },

    /// A file-system operation of the spool's own failed.
    #[error("spool {path}: {op}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// `FullPolicy::Reject`: the record does not fit. Nothing was stored or
    /// dropped; the caller keeps the event and retries after acknowledgements.
    #[error(
        "spool full: {class} record of {needed} bytes does not fit \
         ({pending_bytes} of {max_bytes} bytes used)"
    )]
    Full {
        /// Class of the refused record.
        class: Priority,
        /// Bytes the record would take.
        needed: u64,
        /// Record bytes pending.
        pending_bytes: u64,
        /// The configured limit.
        max_bytes: u64,
    },

    /// The record alone is larger than `max_bytes`; no policy can store it.
    #[error("{class} record of {needed} bytes exceeds the spool's max_bytes of {max_bytes}")]
    TooLarge {
        /// Class of the refused record.
        class: Priority,
        /// Bytes the record would take.
        needed: u64,
        /// The configured limit.
        max_bytes: u64,
    },

    /// The seq counter would overflow `u64` (not reachable in practice).
    #[error("spool {path}: seq counter exhausted")]
    SeqExhausted {
        /// The spool directory.
        path: PathBuf,
    },

    /// A record could not be encoded (postcard refused it).
    #[error("spool {path}: cannot encode seq {seq}: {source}")]
    Encode {
        /// The spool directory.
        path: PathBuf,
        /// The seq the record would have had.
        seq: u64,
        /// postcard's error.
        #[source]
        source: postcard::Error,
    },

    /// The spool could not be opened, and could not be moved aside either.
    #[error("spool {from} is unreadable ({reason}) and moving it to {to} failed: {source}")]
    MoveAside {
        /// The unreadable spool directory.
        from: PathBuf,
        /// Where it should have gone.
        to: PathBuf,
        /// Why it could not be opened.
        reason: String,
        /// The rename error.
        #[source]
        source: std::io::Error,
    },

    /// A freshly created spool could not be opened either (sled broken, or a
    /// file system that loses writes).
    #[error("spool {path}: a fresh spool is unreadable too: {reason}")]
    Unreadable {
        /// The spool directory.
        path: PathBuf,
        /// What failed.
        reason: String,
    },

    /// The spool task is gone (async wrapper only): a panic in a blocking task.
    #[error("spool task failed: {0}")]
    Task(String),
}
