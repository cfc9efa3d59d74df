//! An async-friendly handle: the spool behind a mutex, every call on tokio's
//! blocking pool, so that sled's disk I/O never runs on an async worker.

use std::sync::{Arc, Mutex};

use super::error::SpoolError;
use super::record::{Priority, Record};
use super::stats::{Appended, SpoolStats};
use super::store::Spool;

/// A cloneable handle to one [`Spool`], for async tasks (sources and sink).
#[derive(Debug, Clone)]
pub struct SharedSpool {
    inner: Arc<Mutex<Spool>>,
}

impl SharedSpool {
    /// Wraps an open spool.
    pub fn new(spool: Spool) -> Self {
        SharedSpool {
            inner: Arc::new(Mutex::new(spool)),
        }
    }

    /// Runs `f` on the spool in `tokio::task::spawn_blocking`.
    pub async fn run<T, F>(&self, f: F) -> Result<T, SpoolError>
    where
        F: FnOnce(&mut Spool) -> Result<T, SpoolError> + Send + 'static,
        T: Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let mut spool = inner
                .lock()
                .map_err(|_| SpoolError::Task("spool mutex poisoned by a panic".to_owned()))?;
            f(&mut spool)
        })
        .await
        .map_err(|e| SpoolError::Task(e.to_string()))?
    }

    /// [`Spool::append`] off the async workers.
    pub async fn append(&self, class: Priority, payload: Vec<u8>) -> Result<Appended, SpoolError> {
        self.run(move |s| s.append(class, &payload)).await
    }

    /// [`Spool::next_batch`] off the async workers.
    pub async fn next_batch(&self, max: usize) -> Result<Vec<Record>, SpoolError> {
        self.run(move |s| s.next_batch(max)).await
    }

    /// [`Spool::ack`] off the async workers.
    pub async fn ack(&self, seqs: Vec<u64>) -> Result<usize, SpoolError> {
        self.run(move |s| s.ack(&seqs)).await
    }

    /// [`Spool::rewind_unacked`] off the async workers.
    pub async fn rewind_unacked(&self) -> Result<(), SpoolError> {
        self.run(|s| {
            s.rewind_unacked();
            Ok(())
        })
        .await
    }

    /// [`Spool::stats`] off the async workers.
    pub async fn stats(&self) -> Result<SpoolStats, SpoolError> {
        self.run(|s| s.stats()).await
    }

    /// [`Spool::flush`] off the async workers.
    pub async fn flush(&self) -> Result<(), SpoolError> {
        self.run(|s| s.flush()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::SpoolConfig;

    #[tokio::test]
    async fn the_async_handle_appends_reads_and_acknowledges() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (spool, _) =
            Spool::open(&dir.path().join("spool"), SpoolConfig::default()).expect("open");
        let shared = SharedSpool::new(spool);
        let appended = shared
            .append(Priority::Telemetry, b"reading".to_vec())
            .await
            .expect("append");
        let batch = shared.next_batch(10).await.expect("batch");
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].seq, appended.seq);
        assert_eq!(shared.ack(vec![appended.seq]).await.expect("ack"), 1);
        assert_eq!(shared.stats().await.expect("stats").pending.total(), 0);
    }
}
