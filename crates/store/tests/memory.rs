//! The in-memory backend passes the conformance suite.

use gridmq_store::MemoryStore;
use gridmq_store::conformance::Subject;

struct Memory(MemoryStore);

impl Subject for Memory {
    type Store = MemoryStore;
    const PERSISTENT: bool = false;

    fn create() -> Self {
        Self(MemoryStore::new())
    }

    fn open(&self) -> MemoryStore {
        self.0.clone()
    }

    fn fail_after(store: &MemoryStore, changes: u64) {
        store.faults().fail_after(changes);
    }
}

gridmq_store::conformance_suite!(Memory);
