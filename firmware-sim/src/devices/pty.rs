//! Pseudo-terminal pairs: the simulator holds the master side, the agent opens the slave
//! path (or a symlink to it), as it would open `/dev/ttyUSB0`.
//!
//! Made with `tokio_serial::SerialStream::pair()` (serialport's `posix_openpt`, `grantpt`,
//! `unlockpt`), which also puts the slave in raw mode; no unsafe code here. The simulator
//! keeps its own handle on the slave open for the pair's lifetime: on Linux a master read
//! fails with EIO whenever no slave handle is open, so without it the device would see an
//! error each time the agent closed and reopened the port. The slave handle is never read.
//!
//! Invariant: the symlink, if any, is removed when the [`Pty`] is dropped, and only if it
//! still points at this pair's slave.

use std::{
    io,
    path::{Path, PathBuf},
};

use tokio_serial::{SerialPort, SerialStream};

use crate::error::SimError;

/// A pseudo-terminal pair.
#[derive(Debug)]
pub(crate) struct Pty {
    /// The simulator's side.
    pub master: SerialStream,
    _slave: SerialStream,
    /// Path of the slave device, e.g. `/dev/pts/3`.
    pub path: PathBuf,
    link: Option<PathBuf>,
}

impl Pty {
    /// Opens a pair and, when asked, points `link` at its slave.
    pub fn open(device: &str, link: Option<&Path>) -> Result<Self, SimError> {
        let pty_error = |source: io::Error| SimError::Pty {
            device: device.to_owned(),
            source,
        };
        // The slave handle takes neither TIOCEXCL nor a flock (`pair()` sets neither; do not
        // call `set_exclusive(false)`, which takes a shared flock and so makes an agent's
        // exclusive open fail), so the agent can open the slave while we hold it.
        let (master, slave) = SerialStream::pair().map_err(|e| pty_error(e.into()))?;
        let path = slave
            .name()
            .map(PathBuf::from)
            .ok_or_else(|| pty_error(io::Error::other("the pseudo-terminal has no name")))?;
        if let Some(link) = link {
            make_link(&path, link).map_err(|source| SimError::Link {
                device: device.to_owned(),
                link: link.to_owned(),
                source,
            })?;
        }
        Ok(Self {
            master,
            _slave: slave,
            path,
            link: link.map(Path::to_owned),
        })
    }

    /// The symlink made for this pair, if any.
    pub fn link(&self) -> Option<&Path> {
        self.link.as_deref()
    }
}

/// Replaces a symlink at `link` (never a regular file) with one to `target`.
fn make_link(target: &Path, link: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(link) {
        Ok(meta) if meta.file_type().is_symlink() => std::fs::remove_file(link)?,
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "exists and is not a symlink; not replacing it",
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::os::unix::fs::symlink(target, link)
}

impl Drop for Pty {
    fn drop(&mut self) {
        if let Some(link) = &self.link {
            if std::fs::read_link(link).is_ok_and(|target| target == self.path) {
                if let Err(error) = std::fs::remove_file(link) {
                    tracing::warn!(link = %link.display(), %error, "cannot remove pty symlink");
                }
            }
        }
    }
}
