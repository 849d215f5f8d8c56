//! An embedded store on [redb]: every table of [`gridmq_store::kv`] is a redb table in one
//! file, `state.redb`, and each batch is one durable write transaction, synced with
//! `fdatasync` when asked and only written to the OS otherwise (see `file`).
//!
//! # Layout
//! - [`RedbStore`]: open (data directory checks, marker, schema version), load (with
//!   salvage), apply, disk usage, compaction, and reopening after a failed write (redb
//!   refuses writes after an I/O error until reopened).
//! - `file`: the file backend under redb with a switch for syncing.

mod file;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use gridmq_engine::persist::{Change, Snapshot};
use gridmq_store::disk::{self, OpenOptions};
use gridmq_store::kv::{self, Faults, KvRead, KvWrite, LoadReport, Table, Visit};
use gridmq_store::{Store, StoreError};
use parking_lot::{Mutex, RwLock};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

/// The backend's name in the data directory's marker.
pub const BACKEND: &str = "redb";

/// The database file inside the data directory.
pub const FILE: &str = "state.redb";

type Def = TableDefinition<'static, &'static [u8], &'static [u8]>;

const DEFS: [Def; 8] = [
    TableDefinition::new("meta"),
    TableDefinition::new("sessions"),
    TableDefinition::new("entries"),
    TableDefinition::new("messages"),
    TableDefinition::new("refs"),
    TableDefinition::new("inbound"),
    TableDefinition::new("retained"),
    TableDefinition::new("resources"),
];

/// The embedded on-disk store on redb; see the crate docs.
pub struct RedbStore {
    dir: PathBuf,
    options: OpenOptions,
    /// `None` after a failed write, until the next operation reopens the database.
    db: RwLock<Option<Database>>,
    /// Whether the file's `sync_data` reaches the device (set per transaction).
    sync: Arc<AtomicBool>,
    faults: Faults,
    report: Mutex<LoadReport>,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore")
            .field("dir", &self.dir)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

fn map_err(error: impl Into<redb::Error>) -> StoreError {
    match error.into() {
        redb::Error::Io(io) => StoreError::from_io(io),
        redb::Error::Corrupted(what) => StoreError::Corrupt(what),
        redb::Error::DatabaseAlreadyOpen => {
            StoreError::Backend("the data directory is in use by another process".into())
        }
        redb::Error::UpgradeRequired(version) => StoreError::Backend(format!(
            "the data directory was written by an incompatible redb file format {version}"
        )),
        other => StoreError::Backend(other.to_string()),
    }
}

fn open_db(dir: &Path, sync: &Arc<AtomicBool>) -> Result<Database, StoreError> {
    let path = dir.join(FILE);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|source| StoreError::Inaccessible { path, source })?;
    let backend = redb::backends::FileBackend::new(file).map_err(map_err)?;
    sync.store(true, Ordering::Release);
    Database::builder()
        // Corruption from outside redb is reported as an error rather than trusted.
        .set_check_integrity_on_open(true)
        .create_with_backend(file::SwitchedFile::new(backend, sync.clone()))
        .map_err(map_err)
}

/// Refuses an incompatible schema before the file is opened for writing, so that such a
/// file is never modified. A file that needs repair after a crash cannot be opened
/// read-only; its schema is checked after the repair instead.
///
/// redb trusts a cleanly closed file when opening it read-only and may panic on one that
/// was damaged outside redb; such a panic is caught here and reported as corruption
/// (the full integrity check of the read-write open runs only for files that pass).
fn precheck_schema(path: &Path) -> Result<(), StoreError> {
    if !path.exists() {
        return Ok(());
    }
    let check = || {
        let Ok(db) = Database::builder().open_read_only(path) else {
            return Ok(());
        };
        let txn = db.begin_read().map_err(map_err)?;
        kv::check_schema(&mut ReadView::new(&txn)?).map(|_| ())
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)).unwrap_or_else(|_| {
        Err(StoreError::Corrupt(format!(
            "{} failed redb's structural checks",
            path.display()
        )))
    })
}

impl RedbStore {
    /// Opens (creating if needed) the store in `dir`, checking its schema version.
    pub fn open(dir: impl AsRef<Path>, options: OpenOptions) -> Result<Self, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        disk::claim_dir(&dir, BACKEND)?;
        precheck_schema(&dir.join(FILE))?;
        let sync = Arc::new(AtomicBool::new(true));
        let db = open_db(&dir, &sync)?;
        let store = Self {
            dir,
            options,
            db: RwLock::new(Some(db)),
            sync,
            faults: Faults::default(),
            report: Mutex::new(LoadReport::default()),
        };
        store.with_db(|db| {
            let fresh = {
                let txn = db.begin_read().map_err(map_err)?;
                kv::check_schema(&mut ReadView::new(&txn)?)?
            };
            if fresh {
                store.write(db, true, |tx| kv::write_schema(tx))?;
            }
            Ok(())
        })?;
        Ok(store)
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Failure injection for tests of atomicity.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// What the last [`Store::load`] skipped (always empty without salvage).
    pub fn last_load_report(&self) -> LoadReport {
        self.report.lock().clone()
    }

    /// Reads the state, and with salvage drops what was corrupt so that the next open is
    /// clean; returns what was skipped.
    pub fn load_with_report(&self) -> Result<(Snapshot, LoadReport), StoreError> {
        let salvage = self.options.salvage;
        let (snapshot, report) = self.with_db(|db| {
            let (mut snapshot, report) = {
                let txn = db.begin_read().map_err(map_err)?;
                kv::load_snapshot(&mut ReadView::new(&txn)?, salvage)?
            };
            if !report.is_clean() {
                self.write(db, true, |tx| kv::repair(tx, &report, &mut snapshot))?;
            }
            Ok((snapshot, report))
        })?;
        *self.report.lock() = report.clone();
        Ok((snapshot, report))
    }

    /// Compacts the file so that the space of deleted data returns to the file system.
    pub fn compact(&self) -> Result<(), StoreError> {
        let mut guard = self.db.write();
        if let Some(db) = guard.as_mut() {
            db.compact().map_err(map_err)?;
        }
        Ok(())
    }

    fn with_db<T>(
        &self,
        f: impl FnOnce(&Database) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
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
            *guard = Some(open_db(&self.dir, &self.sync)?);
        }
        let result = match guard.as_ref() {
            Some(db) => f(db),
            None => Err(StoreError::Backend("store closed".into())),
        };
        drop(guard);
        self.checked(result)
    }

    fn checked<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(e) = &result
            && !kv::is_injected(e)
        {
            // redb refuses further writes after an I/O error (PreviousIo); reopening
            // repairs the file from its last durable commit.
            *self.db.write() = None;
        }
        result
    }
}

impl RedbStore {
    /// Runs `f` in a write transaction and commits it, or aborts it if `f` fails.
    fn write(
        &self,
        db: &Database,
        sync: bool,
        f: impl FnOnce(&mut TxView<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut txn = db.begin_write().map_err(map_err)?;
        txn.set_durability(Durability::Immediate).map_err(map_err)?;
        // Write transactions are exclusive, so the switch holds for this commit only.
        self.sync.store(sync, Ordering::Release);
        let result = {
            let mut view = TxView::new(&txn)?;
            f(&mut view)
        };
        let result = match result {
            Ok(()) => txn.commit().map_err(map_err),
            Err(e) => txn.abort().map_err(map_err).and(Err(e)),
        };
        self.sync.store(true, Ordering::Release);
        result
    }
}

impl Store for RedbStore {
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
        self.with_db(|db| self.write(db, sync, |tx| kv::apply_batch(tx, batch, &self.faults)))
    }

    fn disk_usage(&self) -> u64 {
        disk::dir_usage(&self.dir)
    }
}

fn scan_range(
    table: &impl ReadableTable<&'static [u8], &'static [u8]>,
    prefix: &[u8],
    visit: &mut Visit<'_>,
) -> Result<(), StoreError> {
    for item in table.range::<&[u8]>(prefix..).map_err(map_err)? {
        let (key, value) = item.map_err(map_err)?;
        if !key.value().starts_with(prefix) {
            break;
        }
        visit(key.value(), value.value())?;
    }
    Ok(())
}

struct ReadView {
    /// `None` for a table not created yet (a new store).
    tables: Vec<Option<redb::ReadOnlyTable<&'static [u8], &'static [u8]>>>,
}

impl ReadView {
    fn new(txn: &redb::ReadTransaction) -> Result<Self, StoreError> {
        let mut tables = Vec::with_capacity(DEFS.len());
        for def in DEFS {
            match txn.open_table(def) {
                Ok(table) => tables.push(Some(table)),
                Err(redb::TableError::TableDoesNotExist(_)) => tables.push(None),
                Err(e) => return Err(map_err(e)),
            }
        }
        Ok(Self { tables })
    }
}

impl KvRead for ReadView {
    fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(table) = &self.tables[table.index()] else {
            return Ok(None);
        };
        Ok(table.get(key).map_err(map_err)?.map(|v| v.value().to_vec()))
    }

    fn scan(
        &mut self,
        table: Table,
        prefix: &[u8],
        visit: &mut Visit<'_>,
    ) -> Result<(), StoreError> {
        match &self.tables[table.index()] {
            Some(table) => scan_range(table, prefix, visit),
            None => Ok(()),
        }
    }
}

struct TxView<'t> {
    tables: Vec<redb::Table<'t, &'static [u8], &'static [u8]>>,
}

impl<'t> TxView<'t> {
    fn new(txn: &'t redb::WriteTransaction) -> Result<Self, StoreError> {
        let tables = DEFS
            .iter()
            .map(|def| txn.open_table(*def).map_err(map_err))
            .collect::<Result<_, _>>()?;
        Ok(Self { tables })
    }
}

impl KvRead for TxView<'_> {
    fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tables[table.index()]
            .get(key)
            .map_err(map_err)?
            .map(|v| v.value().to_vec()))
    }

    fn scan(
        &mut self,
        table: Table,
        prefix: &[u8],
        visit: &mut Visit<'_>,
    ) -> Result<(), StoreError> {
        scan_range(&self.tables[table.index()], prefix, visit)
    }
}

impl KvWrite for TxView<'_> {
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.tables[table.index()]
            .insert(key, value)
            .map_err(map_err)?;
        Ok(())
    }

    fn delete(&mut self, table: Table, key: &[u8]) -> Result<(), StoreError> {
        self.tables[table.index()].remove(key).map_err(map_err)?;
        Ok(())
    }
}
