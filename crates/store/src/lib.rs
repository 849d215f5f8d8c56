//! Storage behind traits. The engine describes its durable state as
//! [`gridmq_engine::persist::Change`] batches; a [`Store`] applies them atomically and
//! reads them back as a [`Snapshot`] at startup.
//!
//! # Layout
//! - [`Store`]: the contract every backend implements (in memory, embedded disk store,
//!   later a distributed one), and [`StoreError`].

use gridmq_engine::persist::{Change, Snapshot};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The disk is full; retry when space returns. Nothing of the batch was applied.
    #[error("no space left on the device")]
    DiskFull,
    /// The data directory was written by an incompatible version of gridmq.
    #[error("incompatible store: found schema version {found}, this build reads {expected}")]
    IncompatibleSchema {
        /// Version found on disk.
        found: u32,
        /// Version this build uses.
        expected: u32,
    },
    /// Stored data failed its integrity check.
    #[error("corrupt store: {0}")]
    Corrupt(String),
    /// Any other I/O failure.
    #[error("storage I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A backend-specific failure.
    #[error("storage error: {0}")]
    Backend(String),
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
