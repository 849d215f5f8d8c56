//! The redb backend passes the conformance suite.

use gridmq_store::conformance::Subject;
use gridmq_store::disk::OpenOptions;
use gridmq_store_redb::RedbStore;

struct OnDisk(tempfile::TempDir);

impl Subject for OnDisk {
    type Store = RedbStore;
    const PERSISTENT: bool = true;

    fn create() -> Self {
        match tempfile::tempdir() {
            Ok(dir) => Self(dir),
            Err(e) => panic!("temporary directory: {e}"),
        }
    }

    fn open(&self) -> RedbStore {
        match RedbStore::open(self.0.path().join("data"), OpenOptions::default()) {
            Ok(store) => store,
            Err(e) => panic!("open: {e}"),
        }
    }

    fn fail_after(store: &RedbStore, changes: u64) {
        store.faults().fail_after(changes);
    }

    fn reclaim(store: &RedbStore) {
        if let Err(e) = store.compact() {
            panic!("compact: {e}");
        }
    }
}

gridmq_store::conformance_suite!(OnDisk);
