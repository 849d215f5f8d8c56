//! [`MemoryStore`]: the tables in process memory, for `--in-memory` and for tests.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use gridmq_engine::persist::{Change, Snapshot};
use parking_lot::Mutex;

use crate::kv::{self, Faults, KvRead, KvWrite, Table, Visit};
use crate::{Store, StoreError};

pub(crate) type Tables = [BTreeMap<Vec<u8>, Vec<u8>>; Table::ALL.len()];

/// Keeps the state in memory with the same semantics and encoding as the disk backends.
/// Clones share the state, so a "reopened" clone sees everything applied before.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    tables: Arc<Mutex<Tables>>,
    faults: Arc<Faults>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Failure injection for tests of atomicity.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }
}

impl Store for MemoryStore {
    fn load(&self) -> Result<Snapshot, StoreError> {
        let tables = self.tables.lock();
        let mut view = Overlay::new(&tables);
        kv::load_snapshot(&mut view, false).map(|(snapshot, _)| snapshot)
    }

    fn apply(&self, batch: &[Change], _sync: bool) -> Result<(), StoreError> {
        let mut tables = self.tables.lock();
        let writes = {
            let mut txn = Overlay::new(&tables);
            kv::apply_batch(&mut txn, batch, &self.faults)?;
            txn.writes
        };
        for ((table, key), value) in writes {
            let table = &mut tables[table.index()];
            match value {
                Some(value) => table.insert(key, value),
                None => table.remove(&key),
            };
        }
        Ok(())
    }

    fn disk_usage(&self) -> u64 {
        0
    }
}

/// A transaction over in-memory tables: writes are buffered until commit, reads see them.
pub(crate) struct Overlay<'a> {
    base: &'a Tables,
    writes: BTreeMap<(Table, Vec<u8>), Option<Vec<u8>>>,
}

impl<'a> Overlay<'a> {
    pub(crate) fn new(base: &'a Tables) -> Self {
        Self {
            base,
            writes: BTreeMap::new(),
        }
    }
}

impl KvRead for Overlay<'_> {
    fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self.writes.get(&(table, key.to_vec())) {
            Some(value) => Ok(value.clone()),
            None => Ok(self.base[table.index()].get(key).cloned()),
        }
    }

    fn scan(
        &mut self,
        table: Table,
        prefix: &[u8],
        visit: &mut Visit<'_>,
    ) -> Result<(), StoreError> {
        let mut merged: BTreeMap<&[u8], &[u8]> = self.base[table.index()]
            .range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
            .collect();
        let from = (table, prefix.to_vec());
        for ((t, k), v) in self.writes.range(from..) {
            if *t != table || !k.starts_with(prefix) {
                break;
            }
            match v {
                Some(v) => merged.insert(k, v),
                None => merged.remove(k.as_slice()),
            };
        }
        for (k, v) in merged {
            visit(k, v)?;
        }
        Ok(())
    }
}

impl KvWrite for Overlay<'_> {
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.writes
            .insert((table, key.to_vec()), Some(value.to_vec()));
        Ok(())
    }

    fn delete(&mut self, table: Table, key: &[u8]) -> Result<(), StoreError> {
        self.writes.insert((table, key.to_vec()), None);
        Ok(())
    }
}
