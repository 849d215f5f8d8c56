//! Durable state on disk: opening the data directory, reading back what it holds at
//! start, group-committing changes while serving, and flushing at shutdown.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gridmq_engine::persist::{Persistence, Snapshot};
use gridmq_store::disk::OpenOptions;
use gridmq_store::{CommitConfig, CommitQueue, Store, StoreError};
use gridmq_store_redb::RedbStore;
use tracing::{info, warn};

use crate::config::{FsyncMode, StorageConfig};

/// The open store and what it held at start.
pub(crate) struct Opened {
    /// The writer the engine submits to; `None` in memory.
    pub(crate) queue: Option<Arc<CommitQueue>>,
    /// The store, for size reports.
    pub(crate) store: Option<Arc<RedbStore>>,
    /// What was read back.
    pub(crate) snapshot: Snapshot,
    /// Records skipped by `--salvage`.
    pub(crate) salvaged: usize,
    /// How long opening and reading took.
    pub(crate) took: Duration,
}

impl Opened {
    /// The engine's view of the writer.
    pub(crate) fn persistence(&self) -> Option<Arc<dyn Persistence>> {
        self.queue
            .clone()
            .map(|queue| queue as Arc<dyn Persistence>)
    }
}

/// Opens the data directory (creating it on first start) and reads it back. Blocking:
/// call it off the async workers.
pub(crate) fn open(config: &StorageConfig) -> Result<Opened, StoreError> {
    let started = Instant::now();
    if config.in_memory {
        return Ok(Opened {
            queue: None,
            store: None,
            snapshot: Snapshot::default(),
            salvaged: 0,
            took: started.elapsed(),
        });
    }
    let options = OpenOptions {
        salvage: config.salvage,
    };
    let store = Arc::new(RedbStore::open(&config.data_dir, options)?);
    let (snapshot, report) = store.load_with_report()?;
    let commit = CommitConfig {
        interval: config.commit_interval,
        fsync: match config.fsync {
            FsyncMode::Always => gridmq_store::FsyncPolicy::Always,
            FsyncMode::Batch => gridmq_store::FsyncPolicy::Batch,
            FsyncMode::Os => gridmq_store::FsyncPolicy::Os,
        },
        ..CommitConfig::default()
    };
    let queue = CommitQueue::start(store.clone() as Arc<dyn Store>, commit)?;
    Ok(Opened {
        queue: Some(Arc::new(queue)),
        store: Some(store),
        snapshot,
        salvaged: report.skipped(),
        took: started.elapsed(),
    })
}

/// Writes out everything submitted and stops the writer. Blocking.
pub(crate) fn close(queue: &CommitQueue, store: Option<&RedbStore>, dir: &Path) {
    queue.flush();
    queue.close();
    if let Some(error) = queue.last_error() {
        warn!(data_dir = %dir.display(), "the last write to the store failed: {error}");
    }
    if let Some(store) = store {
        info!(data_dir = %dir.display(), bytes = store.disk_usage(), "durable state flushed");
    }
}

/// Logs what was restored and how big the data directory is.
pub(crate) fn log_restored(dir: &Path, opened: &Opened, report: &gridmq_engine::RestoreReport) {
    info!(
        data_dir = %dir.display(),
        sessions = report.sessions,
        expired_sessions = report.expired,
        messages = report.messages,
        retained = report.retained,
        skipped = report.skipped + opened.salvaged,
        took_ms = opened.took.as_millis() as u64,
        bytes = opened.store.as_ref().map_or(0, |s| s.disk_usage()),
        "restored durable state"
    );
}
