//! Storage behind traits. The engine describes its durable state as
//! [`gridmq_engine::persist::Change`] batches; a [`Store`] applies them atomically and
//! reads them back as a [`Snapshot`] at startup; a [`CommitQueue`] group-commits the
//! engine's submissions into a store on a dedicated thread.
//!
//! # Layout
//! - [`Store`]: the contract every backend implements (in memory, embedded disk store,
//!   later a distributed one), and [`StoreError`].
//! - [`kv`]: the tables of durable state and the change semantics over them, shared by
//!   every key-value backend (reference counting of messages, cascades, salvage).
//! - [`disk`]: open options, data directory checks and disk usage for on-disk backends.
//! - [`record`]: the checksummed, versioned postcard envelope of every stored value.
//! - [`memory`]: the in-memory backend, [`MemoryStore`], for `--in-memory` and tests.
//! - [`commit`]: [`CommitQueue`], the group-commit writer, with [`FsyncPolicy`].
//! - [`coalesce`]: dropping changes made moot within a batch.
//! - [`wait`]: blocking on a [`Ticket`](gridmq_engine::persist::Ticket) outside async code.
//! - `conformance` (feature `conformance`): the suite every backend's tests run, and
//!   fault-injecting stores.

use std::path::PathBuf;

use gridmq_engine::persist::{Change, Snapshot};

pub mod coalesce;
pub mod commit;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod disk;
pub mod kv;
pub mod memory;
pub mod record;
pub mod wait;

pub use commit::{CommitConfig, CommitQueue, CommitStats, FsyncPolicy};
pub use memory::MemoryStore;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The disk is full; retry when space returns. Nothing of the batch was applied.
    #[error("no space left on the device")]
    DiskFull,
    /// The data directory was written by an incompatible version of gridmq.
    #[error(
        "incompatible store: found schema version {found}, this build reads {expected}; \
         the data directory is left untouched"
    )]
    IncompatibleSchema {
        /// Version found on disk (0: not a gridmq store, or one without a version).
        found: u32,
        /// Version this build uses.
        expected: u32,
    },
    /// Stored data failed its integrity check.
    #[error("corrupt store: {0}")]
    Corrupt(String),
    /// The data directory cannot be created, read or written.
    #[error("cannot use data directory {}: {source}", path.display())]
    Inaccessible {
        /// The directory or file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Any other I/O failure.
    #[error("storage I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A backend-specific failure.
    #[error("storage error: {0}")]
    Backend(String),
}

impl StoreError {
    /// Classifies an I/O error: a full disk or exhausted quota becomes [`StoreError::DiskFull`].
    pub fn from_io(error: std::io::Error) -> Self {
        use std::io::ErrorKind;
        match error.kind() {
            ErrorKind::StorageFull | ErrorKind::QuotaExceeded => StoreError::DiskFull,
            _ => StoreError::Io(error),
        }
    }
}

/// A durable home for the engine's state.
///
/// Calls block; the broker makes them from a dedicated thread, never from async workers.
pub trait Store: Send + Sync + 'static {
    /// Reads the whole durable state; called once at startup.
    fn load(&self) -> Result<Snapshot, StoreError>;

    /// Applies `batch` atomically: all of it or none. With `sync`, the batch is on stable
    /// storage when this returns; without, it survives a crash of the process (but not
    /// necessarily of the machine).
    fn apply(&self, batch: &[Change], sync: bool) -> Result<(), StoreError>;

    /// Bytes the store occupies on disk (0 in memory).
    fn disk_usage(&self) -> u64;
}
