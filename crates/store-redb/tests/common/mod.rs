//! Helpers shared by the redb backend's tests.

#![allow(dead_code, unreachable_pub)]

use std::path::Path;

use gridmq_engine::persist::{Change, EntryState, Snapshot};
use gridmq_store::conformance::{entry, message, normalized, session};
use gridmq_store::disk::OpenOptions;
use gridmq_store::{MemoryStore, Store, StoreError};
use gridmq_store_redb::RedbStore;

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("temporary directory: {e}"))
}

pub fn open(dir: &Path) -> RedbStore {
    try_open(dir, false).unwrap_or_else(|e| panic!("open {}: {e}", dir.display()))
}

pub fn try_open(dir: &Path, salvage: bool) -> Result<RedbStore, StoreError> {
    RedbStore::open(dir, OpenOptions { salvage })
}

pub fn apply(store: &impl Store, batch: &[Change]) {
    store
        .apply(batch, true)
        .unwrap_or_else(|e| panic!("apply: {e}"));
}

pub fn load(store: &impl Store) -> Snapshot {
    normalized(store.load().unwrap_or_else(|e| panic!("load: {e}")))
}

/// A little of everything: two sessions, queued and in-flight entries sharing messages,
/// inbound QoS 2 ids, retained messages and resources.
pub fn sample_batches() -> Vec<Vec<Change>> {
    vec![
        vec![
            Change::PutSession(session("device-1", 1)),
            Change::PutSession(session("device-2", 2)),
            Change::PutMessage {
                id: 10,
                message: message("devices/1/cmd", b"reboot"),
            },
            Change::PutMessage {
                id: 11,
                message: message("devices/all/cmd", b"update"),
            },
            Change::PutEntry {
                session_id: 1,
                seq: 1,
                entry: entry(10, EntryState::Queued),
            },
            Change::PutEntry {
                session_id: 1,
                seq: 2,
                entry: entry(11, EntryState::AwaitingPubAck(7)),
            },
            Change::PutEntry {
                session_id: 2,
                seq: 1,
                entry: entry(11, EntryState::AwaitingPubComp(3)),
            },
            Change::PutInboundQos2 {
                session_id: 2,
                packet_id: 42,
            },
        ],
        vec![
            Change::PutRetained(message("status/1", b"online")),
            Change::PutRetained(message("status/2", b"offline")),
            Change::PutResource {
                kind: "clients".into(),
                name: "device-1".into(),
                json: r#"{"authenticationName":"device-1","state":"Enabled"}"#.into(),
            },
            Change::PutResource {
                kind: "topicSpaces".into(),
                name: "devices".into(),
                json: r#"{"topicTemplates":["devices/${client.authenticationName}/#"]}"#.into(),
            },
        ],
    ]
}

/// What [`sample_batches`] leave behind, computed by the in-memory reference.
pub fn sample_snapshot() -> Snapshot {
    let reference = MemoryStore::new();
    for batch in sample_batches() {
        apply(&reference, &batch);
    }
    load(&reference)
}
