//! The fjall adapter used only for this comparison (the broker ships the redb store; see
//! docs/STORAGE.md). It passed the conformance suite except the size check: deleted data
//! stays in fjall's journal until the journal rotates at 64 MB.
//!
//! The embedded store on fjall: every table of [`gridmq_store::kv`] is a keyspace of one
//! fjall database, and each batch is one single-writer transaction written to fjall's
//! journal (synced with `fdatasync` when asked, handed to the OS otherwise).
//!
//! [`FjallStore`] opens (data directory checks, marker, schema version), loads (with
//! salvage), applies, and reopens after a failed write (fjall refuses writes after one).

use std::path::{Path, PathBuf};

use fjall::{
    KeyspaceCreateOptions, PersistMode, Readable, SingleWriterTxDatabase, SingleWriterTxKeyspace,
    SingleWriterWriteTx,
};
use gridmq_engine::persist::{Change, Snapshot};
use gridmq_store::disk::{self, OpenOptions};
use gridmq_store::kv::{self, Faults, KvRead, KvWrite, LoadReport, Table, Visit};
use gridmq_store::{Store, StoreError};
use parking_lot::{Mutex, RwLock};

/// The backend's name in the data directory's marker.
pub const BACKEND: &str = "fjall";

/// The embedded on-disk store; see the crate docs.
pub struct FjallStore {
    dir: PathBuf,
    options: OpenOptions,
    /// `None` after a failed write, until the next operation reopens the database.
    db: RwLock<Option<Db>>,
    faults: Faults,
    report: Mutex<LoadReport>,
}

impl std::fmt::Debug for FjallStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FjallStore")
            .field("dir", &self.dir)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

struct Db {
    db: SingleWriterTxDatabase,
    tables: Vec<SingleWriterTxKeyspace>,
}

fn map_err(error: fjall::Error) -> StoreError {
    match error {
        fjall::Error::Io(io) | fjall::Error::Storage(fjall::LsmError::Io(io)) => {
            StoreError::from_io(io)
        }
        fjall::Error::Locked => {
            StoreError::Backend("the data directory is in use by another process".into())
        }
        fjall::Error::Poisoned => {
            StoreError::Backend("a previous write failed; the store reopens on the next".into())
        }
        fjall::Error::InvalidVersion(version) => StoreError::Backend(format!(
            "the data directory was written by an incompatible fjall format {version:?}"
        )),
        other => StoreError::Corrupt(format!("{other:?}")),
    }
}

impl Db {
    fn open(dir: &Path) -> Result<Self, StoreError> {
        let db = SingleWriterTxDatabase::builder(dir)
            .open()
            .map_err(map_err)?;
        let tables = Table::ALL
            .iter()
            .map(|t| db.keyspace(t.name(), KeyspaceCreateOptions::default))
            .collect::<Result<Vec<_>, _>>()
            .map_err(map_err)?;
        Ok(Self { db, tables })
    }
}

impl FjallStore {
    /// Opens (creating if needed) the store in `dir`, checking its schema version.
    pub fn open(dir: impl AsRef<Path>, options: OpenOptions) -> Result<Self, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        disk::claim_dir(&dir, BACKEND)?;
        let db = Db::open(&dir)?;
        let store = Self {
            dir,
            options,
            db: RwLock::new(Some(db)),
            faults: Faults::default(),
            report: Mutex::new(LoadReport::default()),
        };
        store.with_db(|db| {
            let fresh = kv::check_schema(&mut ReadView::new(db))?;
            if fresh {
                let mut tx = TxView::new(db, true);
                kv::write_schema(&mut tx)?;
                tx.tx.commit().map_err(map_err)?;
            }
            Ok(())
        })?;
        Ok(store)
    }

    /// Reads the state, and with salvage drops what was corrupt so that the next open is
    /// clean; returns what was skipped.
    pub fn load_with_report(&self) -> Result<(Snapshot, LoadReport), StoreError> {
        let salvage = self.options.salvage;
        let (snapshot, report) = self.with_db(|db| {
            let (mut snapshot, report) = kv::load_snapshot(&mut ReadView::new(db), salvage)?;
            if !report.is_clean() {
                let mut tx = TxView::new(db, true);
                kv::repair(&mut tx, &report, &mut snapshot)?;
                tx.tx.commit().map_err(map_err)?;
            }
            Ok((snapshot, report))
        })?;
        *self.report.lock() = report.clone();
        Ok((snapshot, report))
    }

    /// Runs `f` on the open database, reopening it first if a failed write closed it; a
    /// failure closes it again so the next call starts from what is durable.
    fn with_db<T>(&self, f: impl FnOnce(&Db) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let guard = self.db.read();
        if let Some(db) = guard.as_ref() {
            let result = f(db);
            drop(guard);
            return self.checked(result);
        }
        drop(guard);
        let mut guard = self.db.write();
        if guard.is_none() {
            tracing::info!(dir = %self.dir.display(), "reopening the store after a failed write");
            *guard = Some(Db::open(&self.dir)?);
        }
        let result = match guard.as_ref() {
            Some(db) => f(db),
            None => Err(StoreError::Backend("store closed".into())),
        };
        drop(guard);
        self.checked(result)
    }

    fn checked<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(e) = &result {
            if !kv::is_injected(e) {
                // fjall poisons itself after a failed journal or flush write; start again
                // from the journal on the next call.
                *self.db.write() = None;
            }
        }
        result
    }
}

impl Store for FjallStore {
    fn load(&self) -> Result<Snapshot, StoreError> {
        let (snapshot, report) = self.load_with_report()?;
        if !report.is_clean() {
            tracing::warn!(
                corrupt = report.corrupt.len(),
                dangling = report.dangling.len(),
                "salvaged the store: skipped and removed corrupt records"
            );
        }
        Ok(snapshot)
    }

    fn apply(&self, batch: &[Change], sync: bool) -> Result<(), StoreError> {
        self.with_db(|db| {
            let mut tx = TxView::new(db, sync);
            kv::apply_batch(&mut tx, batch, &self.faults)?;
            tx.tx.commit().map_err(map_err)
        })
    }

    fn disk_usage(&self) -> u64 {
        disk::dir_usage(&self.dir)
    }
}

struct ReadView<'a> {
    snapshot: fjall::Snapshot,
    tables: &'a [SingleWriterTxKeyspace],
}

impl<'a> ReadView<'a> {
    fn new(db: &'a Db) -> Self {
        Self {
            snapshot: db.db.read_tx(),
            tables: &db.tables,
        }
    }
}

fn scan(
    readable: &impl Readable,
    keyspace: &SingleWriterTxKeyspace,
    prefix: &[u8],
    visit: &mut Visit<'_>,
) -> Result<(), StoreError> {
    for guard in readable.prefix(keyspace, prefix) {
        let (key, value) = guard.into_inner().map_err(map_err)?;
        visit(&key, &value)?;
    }
    Ok(())
}

impl KvRead for ReadView<'_> {
    fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let value = self
            .snapshot
            .get(&self.tables[table.index()], key)
            .map_err(map_err)?;
        Ok(value.map(|v| v.to_vec()))
    }

    fn scan(
        &mut self,
        table: Table,
        prefix: &[u8],
        visit: &mut Visit<'_>,
    ) -> Result<(), StoreError> {
        scan(&self.snapshot, &self.tables[table.index()], prefix, visit)
    }
}

struct TxView<'a> {
    tx: SingleWriterWriteTx<'a>,
    tables: &'a [SingleWriterTxKeyspace],
}

impl<'a> TxView<'a> {
    fn new(db: &'a Db, sync: bool) -> Self {
        let mode = if sync {
            PersistMode::SyncData
        } else {
            PersistMode::Buffer
        };
        Self {
            tx: db.db.write_tx().durability(Some(mode)),
            tables: &db.tables,
        }
    }
}

impl KvRead for TxView<'_> {
    fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let value = self
            .tx
            .get(&self.tables[table.index()], key)
            .map_err(map_err)?;
        Ok(value.map(|v| v.to_vec()))
    }

    fn scan(
        &mut self,
        table: Table,
        prefix: &[u8],
        visit: &mut Visit<'_>,
    ) -> Result<(), StoreError> {
        scan(&self.tx, &self.tables[table.index()], prefix, visit)
    }
}

impl KvWrite for TxView<'_> {
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.tx
            .insert(&self.tables[table.index()], key.to_vec(), value.to_vec());
        Ok(())
    }

    fn delete(&mut self, table: Table, key: &[u8]) -> Result<(), StoreError> {
        self.tx.remove(&self.tables[table.index()], key.to_vec());
        Ok(())
    }
}
