//! The conformance suite: what every [`Store`] backend must do, as functions a backend's
//! tests call through [`conformance_suite!`](crate::conformance_suite), plus stores that
//! inject faults for testing the layers above.
//!
//! ```ignore
//! struct Mine(tempfile::TempDir);
//! impl gridmq_store::conformance::Subject for Mine { /* ... */ }
//! gridmq_store::conformance_suite!(Mine);
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use gridmq_engine::persist::{
    Change, EntryState, Snapshot, StoredEntry, StoredMessage, StoredSession, StoredSubscription,
    StoredWill, WallTime,
};
use parking_lot::{Condvar, Mutex};

use crate::{Store, StoreError};

/// A backend under test, at one location.
pub trait Subject: Sized {
    /// The backend.
    type Store: Store;
    /// Whether data survives closing and opening the location again.
    const PERSISTENT: bool;
    /// A new, empty location.
    fn create() -> Self;
    /// Opens the store at this location; the previous handle is dropped first.
    fn open(&self) -> Self::Store;
    /// Makes the next `apply` fail once `changes` of its changes are applied.
    fn fail_after(store: &Self::Store, changes: u64);
    /// Reclaims the space of deleted data, as far as the backend can on demand.
    fn reclaim(_store: &Self::Store) {}
}

/// Generates one `#[test]` per conformance check for a [`Subject`].
#[macro_export]
macro_rules! conformance_suite {
    ($subject:ty) => {
        $crate::conformance_suite!(@tests $subject;
            round_trip_of_every_change_kind,
            batches_are_atomic,
            messages_are_counted_and_collected,
            entry_updates_do_not_double_count,
            entries_come_back_in_seq_order,
            delete_session_cascades,
            retained_messages_are_replaced_and_deleted,
            resources_are_replaced_and_deleted,
            entries_without_their_message_are_skipped,
            reopening_keeps_everything,
            disk_usage_is_accounted,
        );
    };
    (@tests $subject:ty; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::conformance::$name::<$subject>();
            }
        )*
    };
}

fn apply(store: &impl Store, batch: &[Change]) {
    if let Err(e) = store.apply(batch, true) {
        panic!("apply failed: {e}");
    }
}

fn load(store: &impl Store) -> Snapshot {
    match store.load() {
        Ok(snapshot) => normalized(snapshot),
        Err(e) => panic!("load failed: {e}"),
    }
}

/// The snapshot with every list in a canonical order, except entries, whose order the
/// contract fixes.
pub fn normalized(mut snapshot: Snapshot) -> Snapshot {
    snapshot
        .sessions
        .sort_by(|a, b| a.client_id.cmp(&b.client_id));
    snapshot.messages.sort_by_key(|(id, _)| *id);
    snapshot.inbound_qos2.sort_unstable();
    snapshot.retained.sort_by(|a, b| a.topic.cmp(&b.topic));
    snapshot.resources.sort();
    snapshot
}

/// A message with every field set.
pub fn message(topic: &str, payload: &[u8]) -> StoredMessage {
    StoredMessage {
        topic: topic.into(),
        payload: payload.to_vec(),
        qos: 1,
        retain: false,
        payload_format_indicator: Some(true),
        content_type: Some("text/plain".into()),
        response_topic: Some("reply/here".into()),
        correlation_data: Some(vec![1, 2, 3]),
        user_properties: vec![("k".into(), "v".into()), ("k".into(), "w".into())],
        expires_at: Some(WallTime(1_700_000_000_000)),
    }
}

/// A session with a subscription and a will.
pub fn session(client_id: &str, session_id: u64) -> StoredSession {
    StoredSession {
        client_id: client_id.into(),
        session_id,
        owner: Some("owner".into()),
        expiry_interval: 3600,
        subscriptions: vec![StoredSubscription {
            filter: "$share/g/a/+".into(),
            qos: 2,
            no_local: true,
            retain_as_published: true,
            retain_handling: 1,
            id: Some(7),
        }],
        disconnected_at: Some(WallTime(1_700_000_000_500)),
        will: Some(StoredWill {
            message: message("will/topic", b"bye"),
            message_expiry_interval: Some(60),
            due: WallTime(1_700_000_060_000),
        }),
    }
}

/// An entry for `message_id`.
pub fn entry(message_id: u64, state: EntryState) -> StoredEntry {
    StoredEntry {
        message_id,
        qos: 1,
        retain: false,
        subscription_ids: vec![3, 4],
        shared: Some(("g".into(), "a/+".into())),
        state,
    }
}

fn put_entry(session_id: u64, seq: u64, entry: StoredEntry) -> Change {
    Change::PutEntry {
        session_id,
        seq,
        entry,
    }
}

fn put_message(id: u64, topic: &str) -> Change {
    Change::PutMessage {
        id,
        message: message(topic, topic.as_bytes()),
    }
}

/// Every change kind survives apply + load with every field intact.
pub fn round_trip_of_every_change_kind<S: Subject>() {
    let location = S::create();
    let store = location.open();
    assert_eq!(load(&store), Snapshot::default());
    let states = [
        EntryState::Queued,
        EntryState::AwaitingPubAck(1),
        EntryState::AwaitingPubRec(65535),
        EntryState::AwaitingPubComp(9),
    ];
    let mut batch = vec![
        Change::PutSession(session("c1", 10)),
        put_message(100, "a/b"),
        Change::PutInboundQos2 {
            session_id: 10,
            packet_id: 5,
        },
        Change::PutRetained(message("r/1", b"kept")),
        Change::PutResource {
            kind: "clients".into(),
            name: "dev-1".into(),
            json: r#"{"authenticationName":"dev-1"}"#.into(),
        },
    ];
    for (seq, state) in states.iter().enumerate() {
        batch.push(put_entry(10, seq as u64 + 1, entry(100, *state)));
    }
    apply(&store, &batch);
    let expected = Snapshot {
        sessions: vec![session("c1", 10)],
        entries: states
            .iter()
            .enumerate()
            .map(|(seq, state)| (10, seq as u64 + 1, entry(100, *state)))
            .collect(),
        messages: vec![(100, message("a/b", b"a/b"))],
        inbound_qos2: vec![(10, 5)],
        retained: vec![message("r/1", b"kept")],
        resources: vec![(
            "clients".into(),
            "dev-1".into(),
            r#"{"authenticationName":"dev-1"}"#.into(),
        )],
    };
    assert_eq!(load(&store), expected);
    apply(
        &store,
        &[
            Change::DeleteInboundQos2 {
                session_id: 10,
                packet_id: 5,
            },
            Change::DeleteEntry {
                session_id: 10,
                seq: 1,
            },
        ],
    );
    let after = load(&store);
    assert!(after.inbound_qos2.is_empty());
    assert_eq!(after.entries.len(), 3);
    assert_eq!(after.entries[0].1, 2);
}

/// A batch that fails at any point leaves nothing of itself behind.
pub fn batches_are_atomic<S: Subject>() {
    let location = S::create();
    let store = location.open();
    apply(
        &store,
        &[
            Change::PutSession(session("c1", 1)),
            put_message(5, "old"),
            put_entry(1, 1, entry(5, EntryState::Queued)),
            Change::PutRetained(message("r", b"old")),
        ],
    );
    let before = load(&store);
    let batch = vec![
        Change::PutSession(session("c2", 2)),
        put_message(6, "new"),
        put_entry(2, 1, entry(6, EntryState::Queued)),
        Change::DeleteEntry {
            session_id: 1,
            seq: 1,
        },
        Change::PutRetained(message("r", b"new")),
        Change::DeleteSession {
            client_id: "c1".into(),
            session_id: 1,
        },
        Change::PutResource {
            kind: "k".into(),
            name: "n".into(),
            json: "{}".into(),
        },
    ];
    for after in 0..=batch.len() as u64 {
        S::fail_after(&store, after);
        assert!(
            store.apply(&batch, true).is_err(),
            "injected failure after {after} changes"
        );
        assert_eq!(load(&store), before, "failure after {after} changes");
    }
    apply(&store, &batch);
    assert_eq!(load(&store).sessions, vec![session("c2", 2)]);
}

/// A message stays while an entry refers to it and goes with the last one, even when the
/// references move within a batch.
pub fn messages_are_counted_and_collected<S: Subject>() {
    let location = S::create();
    let store = location.open();
    apply(
        &store,
        &[
            put_message(1, "m"),
            put_entry(10, 1, entry(1, EntryState::Queued)),
            put_entry(11, 1, entry(1, EntryState::Queued)),
            // Stored without any entry: collected at the end of its batch.
            put_message(2, "orphan"),
        ],
    );
    assert_eq!(message_ids(&store), vec![1]);
    apply(
        &store,
        &[Change::DeleteEntry {
            session_id: 10,
            seq: 1,
        }],
    );
    assert_eq!(message_ids(&store), vec![1]);
    // Moving the last reference to another session within one batch keeps the message.
    apply(
        &store,
        &[
            Change::DeleteEntry {
                session_id: 11,
                seq: 1,
            },
            put_entry(12, 4, entry(1, EntryState::Queued)),
        ],
    );
    assert_eq!(message_ids(&store), vec![1]);
    apply(
        &store,
        &[Change::DeleteEntry {
            session_id: 12,
            seq: 4,
        }],
    );
    assert_eq!(load(&store), Snapshot::default());
    // Deleting what is not there changes nothing.
    apply(
        &store,
        &[Change::DeleteEntry {
            session_id: 12,
            seq: 4,
        }],
    );
    assert_eq!(load(&store), Snapshot::default());
}

fn message_ids(store: &impl Store) -> Vec<u64> {
    load(store).messages.iter().map(|(id, _)| *id).collect()
}

/// Updating an entry's state, or re-pointing it, keeps the counts right.
pub fn entry_updates_do_not_double_count<S: Subject>() {
    let location = S::create();
    let store = location.open();
    apply(
        &store,
        &[
            put_message(1, "m1"),
            put_entry(10, 1, entry(1, EntryState::Queued)),
        ],
    );
    for id in 1..=3 {
        apply(
            &store,
            &[put_entry(10, 1, entry(1, EntryState::AwaitingPubAck(id)))],
        );
    }
    assert_eq!(
        load(&store).entries,
        vec![(10, 1, entry(1, EntryState::AwaitingPubAck(3)))]
    );
    // Re-pointing the entry at another message releases the first.
    apply(
        &store,
        &[
            put_message(2, "m2"),
            put_entry(10, 1, entry(2, EntryState::Queued)),
        ],
    );
    assert_eq!(message_ids(&store), vec![2]);
    apply(
        &store,
        &[Change::DeleteEntry {
            session_id: 10,
            seq: 1,
        }],
    );
    assert_eq!(load(&store), Snapshot::default());
}

/// Entries come back grouped by session and ordered by seq, whatever the insertion order.
pub fn entries_come_back_in_seq_order<S: Subject>() {
    let location = S::create();
    let store = location.open();
    let seqs = [
        300,
        1,
        u64::MAX,
        256,
        255,
        1 << 32,
        (1 << 32) - 1,
        2,
        1 << 63,
    ];
    let mut batch = vec![put_message(1, "m")];
    for (i, seq) in seqs.iter().enumerate() {
        let session = if i % 2 == 0 { 7 } else { 256 };
        batch.push(put_entry(session, *seq, entry(1, EntryState::Queued)));
    }
    apply(&store, &batch);
    let loaded: Vec<(u64, u64)> = load(&store)
        .entries
        .iter()
        .map(|(s, q, _)| (*s, *q))
        .collect();
    let mut expected: Vec<(u64, u64)> = seqs
        .iter()
        .enumerate()
        .map(|(i, seq)| (if i % 2 == 0 { 7 } else { 256 }, *seq))
        .collect();
    expected.sort_unstable();
    assert_eq!(loaded, expected);
}

/// Deleting a session takes its entries, inbound QoS 2 ids and unshared messages with it,
/// and nothing of other sessions; a late delete of an old session spares a newer one.
pub fn delete_session_cascades<S: Subject>() {
    let location = S::create();
    let store = location.open();
    apply(
        &store,
        &[
            Change::PutSession(session("a", 1)),
            Change::PutSession(session("b", 2)),
            put_message(10, "only-a"),
            put_message(11, "shared"),
            put_entry(1, 1, entry(10, EntryState::Queued)),
            put_entry(1, 2, entry(11, EntryState::AwaitingPubAck(4))),
            put_entry(2, 1, entry(11, EntryState::Queued)),
            Change::PutInboundQos2 {
                session_id: 1,
                packet_id: 9,
            },
            Change::PutInboundQos2 {
                session_id: 2,
                packet_id: 9,
            },
        ],
    );
    apply(
        &store,
        &[Change::DeleteSession {
            client_id: "a".into(),
            session_id: 1,
        }],
    );
    let after = load(&store);
    assert_eq!(after.sessions, vec![session("b", 2)]);
    assert_eq!(after.entries, vec![(2, 1, entry(11, EntryState::Queued))]);
    assert_eq!(after.inbound_qos2, vec![(2, 9)]);
    assert_eq!(message_ids(&store), vec![11]);

    // Client "b" reconnects with a new session 3; the old session 2 is deleted afterwards.
    apply(&store, &[Change::PutSession(session("b", 3))]);
    apply(
        &store,
        &[Change::DeleteSession {
            client_id: "b".into(),
            session_id: 2,
        }],
    );
    let after = load(&store);
    assert_eq!(after.sessions, vec![session("b", 3)]);
    assert!(after.entries.is_empty() && after.inbound_qos2.is_empty());
    assert!(after.messages.is_empty());
}

/// Retained messages are per topic: replaced by a later put, removed by a delete.
pub fn retained_messages_are_replaced_and_deleted<S: Subject>() {
    let location = S::create();
    let store = location.open();
    apply(
        &store,
        &[
            Change::PutRetained(message("a", b"1")),
            Change::PutRetained(message("a/b", b"2")),
        ],
    );
    apply(&store, &[Change::PutRetained(message("a", b"3"))]);
    assert_eq!(
        load(&store).retained,
        vec![message("a", b"3"), message("a/b", b"2")]
    );
    apply(
        &store,
        &[
            Change::DeleteRetained { topic: "a".into() },
            Change::DeleteRetained {
                topic: "missing".into(),
            },
        ],
    );
    assert_eq!(load(&store).retained, vec![message("a/b", b"2")]);
}

/// Resources are keyed by (kind, name) without collisions between the parts.
pub fn resources_are_replaced_and_deleted<S: Subject>() {
    let location = S::create();
    let store = location.open();
    let put = |kind: &str, name: &str, json: &str| Change::PutResource {
        kind: kind.into(),
        name: name.into(),
        json: json.into(),
    };
    apply(
        &store,
        &[
            put("a", "bc", "1"),
            put("ab", "c", "2"),
            put("clients", "x", "3"),
        ],
    );
    apply(&store, &[put("clients", "x", "4")]);
    let triple = |k: &str, n: &str, j: &str| (k.to_string(), n.to_string(), j.to_string());
    assert_eq!(
        load(&store).resources,
        vec![
            triple("a", "bc", "1"),
            triple("ab", "c", "2"),
            triple("clients", "x", "4")
        ]
    );
    apply(
        &store,
        &[Change::DeleteResource {
            kind: "a".into(),
            name: "bc".into(),
        }],
    );
    assert_eq!(
        load(&store).resources,
        vec![triple("ab", "c", "2"), triple("clients", "x", "4")]
    );
}

/// An entry naming a message that was never stored (its batch failed) is not stored, and
/// replaces nothing.
pub fn entries_without_their_message_are_skipped<S: Subject>() {
    let location = S::create();
    let store = location.open();
    apply(
        &store,
        &[
            put_entry(1, 1, entry(404, EntryState::Queued)),
            Change::PutSession(session("c", 1)),
        ],
    );
    let after = load(&store);
    assert!(after.entries.is_empty());
    assert_eq!(after.sessions.len(), 1);
    // Re-pointing a stored entry at a missing message removes the entry.
    apply(
        &store,
        &[
            put_message(1, "m"),
            put_entry(1, 2, entry(1, EntryState::Queued)),
        ],
    );
    apply(&store, &[put_entry(1, 2, entry(405, EntryState::Queued))]);
    let after = load(&store);
    assert!(after.entries.is_empty() && after.messages.is_empty());
}

/// Everything applied, synced or not, is there after closing and opening again.
pub fn reopening_keeps_everything<S: Subject>() {
    if !S::PERSISTENT {
        return;
    }
    let location = S::create();
    let expected = {
        let store = location.open();
        apply(
            &store,
            &[
                Change::PutSession(session("c", 1)),
                put_message(1, "m"),
                put_entry(1, 1, entry(1, EntryState::AwaitingPubRec(3))),
                Change::PutInboundQos2 {
                    session_id: 1,
                    packet_id: 2,
                },
                Change::PutRetained(message("r", b"x")),
                Change::PutResource {
                    kind: "k".into(),
                    name: "n".into(),
                    json: "{}".into(),
                },
            ],
        );
        if let Err(e) = store.apply(&[Change::PutRetained(message("unsynced", b"y"))], false) {
            panic!("apply failed: {e}");
        }
        load(&store)
    };
    assert_eq!(expected.retained.len(), 2);
    let store = location.open();
    assert_eq!(load(&store), expected);
    // And it keeps working after the reopen.
    apply(
        &store,
        &[Change::DeleteSession {
            client_id: "c".into(),
            session_id: 1,
        }],
    );
    assert!(load(&store).messages.is_empty());
}

/// Disk usage grows with what is stored and shrinks again once it is deleted and
/// reclaimed.
pub fn disk_usage_is_accounted<S: Subject>() {
    let location = S::create();
    let store = location.open();
    if !S::PERSISTENT {
        assert_eq!(store.disk_usage(), 0);
        return;
    }
    let empty = store.disk_usage();
    let payload = vec![0x5a_u8; 64 * 1024];
    let count = 128u64;
    for id in 1..=count {
        // Incompressible enough: every payload differs.
        let mut payload = payload.clone();
        for (i, byte) in payload.iter_mut().enumerate() {
            *byte = (id as usize * 31 + i * 7 + (i >> 8) * 13) as u8;
        }
        let mut message = message("m", b"");
        message.payload = payload;
        apply(
            &store,
            &[
                Change::PutMessage { id, message },
                put_entry(1, id, entry(id, EntryState::Queued)),
            ],
        );
    }
    let full = store.disk_usage();
    let stored = count * payload.len() as u64;
    assert!(
        full >= empty + stored / 2,
        "usage {full} after storing {stored} bytes (empty: {empty})"
    );
    for seq in 1..=count {
        apply(&store, &[Change::DeleteEntry { session_id: 1, seq }]);
    }
    S::reclaim(&store);
    let reclaimed = store.disk_usage();
    assert!(
        reclaimed < full - stored / 2,
        "usage {reclaimed} after deleting everything (peak {full})"
    );
}

const PANIC: u64 = u64::MAX;

/// A store that fails chosen applies with a chosen error (e.g. a full disk), then works
/// again: for testing what sits above a store.
#[derive(Debug)]
pub struct FlakyStore<S> {
    inner: S,
    failures: AtomicU64,
}

impl<S: Store> FlakyStore<S> {
    /// Wraps `inner`, failing nothing yet.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            failures: AtomicU64::new(0),
        }
    }

    /// Makes the next `count` applies fail with [`StoreError::DiskFull`], applying nothing.
    pub fn fail_next(&self, count: u64) {
        self.failures.store(count, Ordering::SeqCst);
    }

    /// Makes the next apply panic, as a buggy backend might.
    pub fn panic_next(&self) {
        self.failures.store(PANIC, Ordering::SeqCst);
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S: Store> Store for FlakyStore<S> {
    fn load(&self) -> Result<Snapshot, StoreError> {
        self.inner.load()
    }

    fn apply(&self, batch: &[Change], sync: bool) -> Result<(), StoreError> {
        if self
            .failures
            .compare_exchange(PANIC, 0, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            panic!("FlakyStore: injected panic");
        }
        let failing = self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return Err(StoreError::DiskFull);
        }
        self.inner.apply(batch, sync)
    }

    fn disk_usage(&self) -> u64 {
        self.inner.disk_usage()
    }
}

/// A store whose applies wait at a gate the test opens, and which records every batch it
/// was given: for testing batching and bounds without timing.
#[derive(Debug, Default)]
pub struct GatedStore {
    inner: crate::MemoryStore,
    gate: Mutex<Gate>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct Gate {
    closed: bool,
    waiting: usize,
    batches: Vec<Vec<Change>>,
}

impl GatedStore {
    /// A store whose gate is closed: applies wait until [`GatedStore::open_gate`] (at most
    /// a minute).
    pub fn closed() -> Arc<Self> {
        let store = Self::default();
        store.gate.lock().closed = true;
        Arc::new(store)
    }

    /// Lets every waiting and future apply through.
    pub fn open_gate(&self) {
        self.gate.lock().closed = false;
        self.changed.notify_all();
    }

    /// Blocks until an apply waits at the gate (bounded by `limit` wake-ups of 10 ms).
    pub fn wait_for_waiter(&self, limit: u32) -> bool {
        let mut gate = self.gate.lock();
        for _ in 0..limit {
            if gate.waiting > 0 {
                return true;
            }
            self.changed
                .wait_for(&mut gate, std::time::Duration::from_millis(10));
        }
        gate.waiting > 0
    }

    /// The batches applied so far, as the store received them.
    pub fn batches(&self) -> Vec<Vec<Change>> {
        self.gate.lock().batches.clone()
    }

    /// The wrapped store.
    pub fn inner(&self) -> &crate::MemoryStore {
        &self.inner
    }
}

impl Store for GatedStore {
    fn load(&self) -> Result<Snapshot, StoreError> {
        self.inner.load()
    }

    fn apply(&self, batch: &[Change], sync: bool) -> Result<(), StoreError> {
        let mut gate = self.gate.lock();
        gate.waiting += 1;
        self.changed.notify_all();
        // Bounded, so that a test failing before it opens the gate still ends (after a
        // minute) instead of hanging in the writer's shutdown.
        for _ in 0..6000 {
            if !gate.closed {
                break;
            }
            self.changed
                .wait_for(&mut gate, std::time::Duration::from_millis(10));
        }
        gate.waiting -= 1;
        gate.batches.push(batch.to_vec());
        drop(gate);
        self.inner.apply(batch, sync)
    }

    fn disk_usage(&self) -> u64 {
        0
    }
}
