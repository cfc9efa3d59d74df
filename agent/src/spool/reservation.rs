//! The seq reservation: a small text file beside sled, `<dir>/seq-reserved`,
//! holding the highest seq the spool may hand out before writing the file again.
//!
//! It exists for the two cases where sled's own counter cannot be trusted:
//! a spool moved aside as unreadable (sled's counter is in the unreadable
//! files) and an unclean shutdown in `Durability::IntervalMs` (sled may have
//! lost the last counter updates while their seqs were already sent). In both
//! cases counting resumes after the reservation: a gap, never a reuse.
//!
//! Written with write-to-temporary, `fsync`, rename, `fsync` of the directory,
//! so it is either the old or the new value after a crash.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::error::SpoolError;

/// File name of the reservation, inside the spool directory.
pub(crate) const FILE_NAME: &str = "seq-reserved";

/// How many seqs one write of the file reserves. A larger step means fewer
/// file writes (one per `STEP` appends) and a larger gap after a crash.
pub(crate) const STEP: u64 = 10_000;

fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// Reads the reservation; `Ok(None)` if the file does not exist or does not
/// hold a number.
pub(crate) fn read(dir: &Path) -> Option<u64> {
    let text = fs::read_to_string(path(dir)).ok()?;
    text.trim().parse().ok()
}

/// Durably replaces the reservation with `value`.
pub(crate) fn write(dir: &Path, value: u64) -> Result<(), SpoolError> {
    let target = path(dir);
    let tmp = dir.join(format!("{FILE_NAME}.tmp"));
    let io = |op: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| SpoolError::Io { path, op, source }
    };
    let mut file = fs::File::create(&tmp).map_err(io("creating the seq reservation", &tmp))?;
    file.write_all(format!("{value}\n").as_bytes())
        .map_err(io("writing the seq reservation", &tmp))?;
    file.sync_all()
        .map_err(io("syncing the seq reservation", &tmp))?;
    drop(file);
    fs::rename(&tmp, &target).map_err(io("renaming the seq reservation", &target))?;
    sync_dir(dir)
}

/// `fsync` of a directory, so that a rename in it is durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    let io = |source| SpoolError::Io {
        path: dir.to_path_buf(),
        op: "syncing the directory",
        source,
    };
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_reservation_reads_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(read(dir.path()), None);
        write(dir.path(), 20_000).expect("write");
        assert_eq!(read(dir.path()), Some(20_000));
        write(dir.path(), 30_000).expect("write");
        assert_eq!(read(dir.path()), Some(30_000));
    }

    #[test]
    fn a_garbled_reservation_reads_as_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(path(dir.path()), b"\xff\x00garbage").expect("write");
        assert_eq!(read(dir.path()), None);
    }
}
