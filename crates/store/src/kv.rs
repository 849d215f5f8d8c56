//! Durable state laid out as ordered key-value tables, and the one implementation of the
//! [`Change`] semantics over them that every key-value backend shares (the in-memory
//! store and the embedded disk store), so backends differ only in how they keep bytes.
//!
//! # Tables
//!
//! | table | key | value |
//! |---|---|---|
//! | `meta` | `schema` | schema version, `u32` little endian, no envelope |
//! | `sessions` | client id (UTF-8) | [`StoredSession`] |
//! | `entries` | session id (u64 BE) ++ seq (u64 BE) | [`StoredEntry`] |
//! | `messages` | message id (u64 BE) | [`StoredMessage`] |
//! | `refs` | message id (u64 BE) | number of entries referring to the message (`u64`) |
//! | `inbound` | session id (u64 BE) ++ packet id (u16 BE) | empty |
//! | `retained` | topic (UTF-8) | [`StoredMessage`] |
//! | `resources` | kind length (u16 BE) ++ kind ++ name | the resource's JSON (`String`) |
//!
//! Values other than `meta` and `inbound` are [`crate::record`] envelopes, each
//! with its own checksum. Big-endian ids make the byte order of keys the numeric order, so
//! a session's entries come back ordered by `seq`.
//!
//! # Semantics beyond the change list
//!
//! - A message is kept while its `refs` count is positive. Counts change as entries are
//!   created, re-pointed and deleted; a `PutEntry` on an existing key adjusts nothing
//!   unless it names another message. Messages whose count is zero at the end of a batch
//!   are deleted with it, so moving an entry (delete + put in one batch) keeps the message.
//! - A `PutEntry` naming a message that is neither stored nor put in the same batch is
//!   not stored, and an entry already under its key is removed: the batch that carried the
//!   message failed, and an entry without its message could never be delivered after a
//!   restart.
//! - `DeleteSession` removes the session record only if it still belongs to that session
//!   id (a newer session of the same client survives a late delete of the old one); the
//!   session id's entries and inbound QoS 2 ids go in any case.
//! - Messages are immutable: `PutMessage` of a stored id replaces its bytes and leaves its
//!   count alone.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};

use gridmq_engine::persist::{Change, Snapshot, StoredEntry, StoredMessage, StoredSession};

use crate::StoreError;
use crate::record::{self, RecordError};

/// The layout version this build writes; a data directory with another is refused.
pub const SCHEMA_VERSION: u32 = 1;

/// Key of the schema version in [`Table::Meta`].
pub const SCHEMA_KEY: &[u8] = b"schema";

/// One table of the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    /// Schema version.
    Meta,
    /// Sessions by client id.
    Sessions,
    /// Queue entries by (session id, seq).
    Entries,
    /// Messages by id.
    Messages,
    /// Reference counts of messages by id.
    Refs,
    /// Inbound QoS 2 packet ids by (session id, packet id).
    Inbound,
    /// Retained messages by topic.
    Retained,
    /// Namespace resources by (kind, name).
    Resources,
}

impl Table {
    /// Every table.
    pub const ALL: [Table; 8] = [
        Table::Meta,
        Table::Sessions,
        Table::Entries,
        Table::Messages,
        Table::Refs,
        Table::Inbound,
        Table::Retained,
        Table::Resources,
    ];

    /// A stable name, usable as a table or keyspace name on disk.
    pub fn name(self) -> &'static str {
        match self {
            Table::Meta => "meta",
            Table::Sessions => "sessions",
            Table::Entries => "entries",
            Table::Messages => "messages",
            Table::Refs => "refs",
            Table::Inbound => "inbound",
            Table::Retained => "retained",
            Table::Resources => "resources",
        }
    }

    /// Position in [`Table::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A visitor of key-value pairs; returning an error stops the scan.
pub type Visit<'a> = dyn FnMut(&[u8], &[u8]) -> Result<(), StoreError> + 'a;

/// Reading a consistent view of the tables.
pub trait KvRead {
    /// The value under `key`.
    fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Visits every pair of `table` whose key starts with `prefix`, in key order.
    fn scan(
        &mut self,
        table: Table,
        prefix: &[u8],
        visit: &mut Visit<'_>,
    ) -> Result<(), StoreError>;
}

/// Writing inside one atomic transaction; reads see the transaction's own writes.
pub trait KvWrite: KvRead {
    /// Stores `value` under `key`, replacing what was there.
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<(), StoreError>;

    /// Removes `key` if present.
    fn delete(&mut self, table: Table, key: &[u8]) -> Result<(), StoreError>;
}

/// Key of a queue entry.
pub fn entry_key(session_id: u64, seq: u64) -> [u8; 16] {
    let mut key = [0; 16];
    key[..8].copy_from_slice(&session_id.to_be_bytes());
    key[8..].copy_from_slice(&seq.to_be_bytes());
    key
}

/// Key of an inbound QoS 2 packet id.
pub fn inbound_key(session_id: u64, packet_id: u16) -> [u8; 10] {
    let mut key = [0; 10];
    key[..8].copy_from_slice(&session_id.to_be_bytes());
    key[8..].copy_from_slice(&packet_id.to_be_bytes());
    key
}

/// Key of a namespace resource. The kind is length-prefixed so that no (kind, name)
/// pair can collide with another.
pub fn resource_key(kind: &str, name: &str) -> Vec<u8> {
    let len = u16::try_from(kind.len()).unwrap_or(u16::MAX);
    let kind = &kind.as_bytes()[..usize::from(len)];
    let mut key = Vec::with_capacity(2 + kind.len() + name.len());
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(kind);
    key.extend_from_slice(name.as_bytes());
    key
}

fn split_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

const INJECTED: &str = "injected failure";

/// Whether `error` is a failure injected by [`Faults`] rather than one of the backend.
pub fn is_injected(error: &StoreError) -> bool {
    matches!(error, StoreError::Backend(m) if m.starts_with(INJECTED))
}

/// Makes the next batch applied through [`apply_batch`] fail after a given number of its
/// changes, so tests can check that a backend rolls a failed batch back completely.
#[derive(Debug, Default)]
pub struct Faults {
    /// 0: disarmed; n: fail before change n - 1 (or at the end of a shorter batch).
    countdown: AtomicU64,
}

impl Faults {
    /// Arms a failure: the next batch fails once `changes` of its changes are applied.
    pub fn fail_after(&self, changes: u64) {
        self.countdown
            .store(changes.saturating_add(1), Ordering::SeqCst);
    }

    fn check(&self, applied: usize, total: usize) -> Result<(), StoreError> {
        let armed = self.countdown.load(Ordering::SeqCst);
        if armed == 0 {
            return Ok(());
        }
        let applied = applied as u64;
        if applied + 1 >= armed || applied == total as u64 {
            self.countdown.store(0, Ordering::SeqCst);
            return Err(StoreError::Backend(format!(
                "{INJECTED} after {applied} changes"
            )));
        }
        Ok(())
    }
}

/// Reference count changes accumulated over one batch, written at its end.
#[derive(Default)]
struct RefDelta {
    delta: BTreeMap<u64, i64>,
    fresh: BTreeSet<u64>,
}

impl RefDelta {
    fn add(&mut self, id: u64, by: i64) {
        *self.delta.entry(id).or_default() += by;
    }

    fn finish<T: KvWrite + ?Sized>(self, txn: &mut T) -> Result<(), StoreError> {
        let ids: BTreeSet<u64> = self.delta.keys().chain(&self.fresh).copied().collect();
        for id in ids {
            let delta = self.delta.get(&id).copied().unwrap_or(0);
            let fresh = self.fresh.contains(&id);
            if delta == 0 && !fresh {
                continue;
            }
            let key = id.to_be_bytes();
            let stored = txn.get(Table::Refs, &key)?;
            let count = stored
                .as_deref()
                .and_then(|v| record::decode::<u64>(&key, v).ok())
                .unwrap_or(0);
            let next = i128::from(count) + i128::from(delta);
            if next <= 0 {
                if stored.is_some() {
                    txn.delete(Table::Refs, &key)?;
                }
                if stored.is_some() || fresh {
                    txn.delete(Table::Messages, &key)?;
                }
            } else {
                let next = u64::try_from(next).unwrap_or(u64::MAX);
                txn.put(Table::Refs, &key, &record::encode(&key, &next))?;
            }
        }
        Ok(())
    }
}

/// Applies `batch` inside `txn`. On error the caller must discard the transaction.
pub fn apply_batch<T: KvWrite + ?Sized>(
    txn: &mut T,
    batch: &[Change],
    faults: &Faults,
) -> Result<(), StoreError> {
    let mut refs = RefDelta::default();
    for (applied, change) in batch.iter().enumerate() {
        faults.check(applied, batch.len())?;
        apply_one(txn, change, &mut refs)?;
    }
    faults.check(batch.len(), batch.len())?;
    refs.finish(txn)
}

fn apply_one<T: KvWrite + ?Sized>(
    txn: &mut T,
    change: &Change,
    refs: &mut RefDelta,
) -> Result<(), StoreError> {
    match change {
        Change::PutSession(session) => {
            let key = session.client_id.as_bytes();
            txn.put(Table::Sessions, key, &record::encode(key, session))
        }
        Change::DeleteSession {
            client_id,
            session_id,
        } => delete_session(txn, client_id, *session_id, refs),
        Change::PutMessage { id, message } => {
            let key = id.to_be_bytes();
            refs.fresh.insert(*id);
            txn.put(Table::Messages, &key, &record::encode(&key, message))
        }
        Change::PutEntry {
            session_id,
            seq,
            entry,
        } => put_entry(txn, entry_key(*session_id, *seq), entry, refs),
        Change::DeleteEntry { session_id, seq } => {
            let key = entry_key(*session_id, *seq);
            if let Some(old) = txn.get(Table::Entries, &key)? {
                txn.delete(Table::Entries, &key)?;
                if let Ok(old) = record::decode::<StoredEntry>(&key, &old) {
                    refs.add(old.message_id, -1);
                }
            }
            Ok(())
        }
        Change::PutInboundQos2 {
            session_id,
            packet_id,
        } => txn.put(Table::Inbound, &inbound_key(*session_id, *packet_id), &[]),
        Change::DeleteInboundQos2 {
            session_id,
            packet_id,
        } => txn.delete(Table::Inbound, &inbound_key(*session_id, *packet_id)),
        Change::PutRetained(message) => {
            let key = message.topic.as_bytes();
            txn.put(Table::Retained, key, &record::encode(key, message))
        }
        Change::DeleteRetained { topic } => txn.delete(Table::Retained, topic.as_bytes()),
        Change::PutResource { kind, name, json } => {
            let key = resource_key(kind, name);
            txn.put(Table::Resources, &key, &record::encode(&key, json))
        }
        Change::DeleteResource { kind, name } => {
            txn.delete(Table::Resources, &resource_key(kind, name))
        }
    }
}

fn put_entry<T: KvWrite + ?Sized>(
    txn: &mut T,
    key: [u8; 16],
    entry: &StoredEntry,
    refs: &mut RefDelta,
) -> Result<(), StoreError> {
    let old = txn
        .get(Table::Entries, &key)?
        .and_then(|v| record::decode::<StoredEntry>(&key, &v).ok())
        .map(|e| e.message_id);
    let id = entry.message_id;
    let known = old == Some(id)
        || refs.fresh.contains(&id)
        || txn.get(Table::Refs, &id.to_be_bytes())?.is_some();
    if let Some(old) = old {
        refs.add(old, -1);
    }
    if !known {
        // The key ends up as if deleted: its new state cannot be stored, and its old one
        // is stale (this keeps a later put superseding an earlier one, which coalescing
        // relies on).
        return match old {
            Some(_) => txn.delete(Table::Entries, &key),
            None => Ok(()),
        };
    }
    refs.add(id, 1);
    txn.put(Table::Entries, &key, &record::encode(&key, entry))
}

fn delete_session<T: KvWrite + ?Sized>(
    txn: &mut T,
    client_id: &str,
    session_id: u64,
    refs: &mut RefDelta,
) -> Result<(), StoreError> {
    let key = client_id.as_bytes();
    if let Some(stored) = txn.get(Table::Sessions, key)? {
        let other_session =
            record::decode::<StoredSession>(key, &stored).is_ok_and(|s| s.session_id != session_id);
        if !other_session {
            txn.delete(Table::Sessions, key)?;
        }
    }
    let prefix = session_id.to_be_bytes();
    let mut doomed = Vec::new();
    txn.scan(Table::Entries, &prefix, &mut |k, v| {
        let message = record::decode::<StoredEntry>(k, v)
            .ok()
            .map(|e| e.message_id);
        doomed.push((k.to_vec(), message));
        Ok(())
    })?;
    for (k, message) in doomed {
        txn.delete(Table::Entries, &k)?;
        if let Some(message) = message {
            refs.add(message, -1);
        }
    }
    let mut inbound = Vec::new();
    txn.scan(Table::Inbound, &prefix, &mut |k, _| {
        inbound.push(k.to_vec());
        Ok(())
    })?;
    for k in inbound {
        txn.delete(Table::Inbound, &k)?;
    }
    Ok(())
}

/// Whether the tables hold a layout this build reads: `Ok(true)` for a new, empty store
/// (the caller then writes [`SCHEMA_VERSION`] with [`write_schema`]), `Ok(false)` for a
/// compatible one, and [`StoreError::IncompatibleSchema`] otherwise.
pub fn check_schema<R: KvRead + ?Sized>(read: &mut R) -> Result<bool, StoreError> {
    match read.get(Table::Meta, SCHEMA_KEY)? {
        Some(raw) => {
            let found = <[u8; 4]>::try_from(raw.as_slice())
                .map(u32::from_le_bytes)
                .map_err(|_| {
                    StoreError::Corrupt(format!("schema version of {} bytes", raw.len()))
                })?;
            if found == SCHEMA_VERSION {
                Ok(false)
            } else {
                Err(StoreError::IncompatibleSchema {
                    found,
                    expected: SCHEMA_VERSION,
                })
            }
        }
        None => {
            for table in Table::ALL {
                let mut found = false;
                // Stops at the first pair: one is enough to tell.
                let scanned = read.scan(table, &[], &mut |_, _| {
                    found = true;
                    Err(StoreError::Backend("stop".into()))
                });
                if found {
                    return Err(StoreError::IncompatibleSchema {
                        found: 0,
                        expected: SCHEMA_VERSION,
                    });
                }
                scanned?;
            }
            Ok(true)
        }
    }
}

/// Records [`SCHEMA_VERSION`] in a new store.
pub fn write_schema<T: KvWrite + ?Sized>(txn: &mut T) -> Result<(), StoreError> {
    txn.put(Table::Meta, SCHEMA_KEY, &SCHEMA_VERSION.to_le_bytes())
}

/// What loading found wrong and, with salvage, skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Records that failed their checksum or could not be decoded: (table, key, why).
    pub corrupt: Vec<(Table, Vec<u8>, String)>,
    /// Queue entries whose message was missing: (session id, seq).
    pub dangling: Vec<(u64, u64)>,
}

impl LoadReport {
    /// Whether everything was intact.
    pub fn is_clean(&self) -> bool {
        self.corrupt.is_empty() && self.dangling.is_empty()
    }

    /// Records skipped in all.
    pub fn skipped(&self) -> usize {
        self.corrupt.len() + self.dangling.len()
    }
}

struct Loader {
    salvage: bool,
    report: LoadReport,
}

impl Loader {
    fn corrupt(&mut self, table: Table, key: &[u8], why: String) -> Result<(), StoreError> {
        if !self.salvage {
            return Err(StoreError::Corrupt(format!(
                "{} record {}: {why} (open with salvage to skip corrupt records)",
                table.name(),
                printable(key)
            )));
        }
        self.report.corrupt.push((table, key.to_vec(), why));
        Ok(())
    }

    fn records<R: KvRead + ?Sized, T: serde::de::DeserializeOwned>(
        &mut self,
        read: &mut R,
        table: Table,
        key_ok: fn(&[u8]) -> bool,
    ) -> Result<Vec<(Vec<u8>, T)>, StoreError> {
        let mut out = Vec::new();
        read.scan(table, &[], &mut |k, v| {
            let decoded = if key_ok(k) {
                record::decode::<T>(k, v)
            } else {
                Err(RecordError::Body(format!(
                    "malformed key of {} bytes",
                    k.len()
                )))
            };
            match decoded {
                Ok(value) => out.push((k.to_vec(), value)),
                Err(e) => self.corrupt(table, k, e.to_string())?,
            }
            Ok(())
        })?;
        Ok(out)
    }
}

fn printable(key: &[u8]) -> String {
    match std::str::from_utf8(key) {
        Ok(s) if !s.chars().any(char::is_control) => format!("{s:?}"),
        _ => key.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

/// Reads the whole state. Without `salvage` the first corrupt record is an error
/// ([`StoreError::Corrupt`]); with it, corrupt records and the entries left without their
/// message are skipped and listed in the report (see [`repair`] to drop them for good).
pub fn load_snapshot<R: KvRead + ?Sized>(
    read: &mut R,
    salvage: bool,
) -> Result<(Snapshot, LoadReport), StoreError> {
    let mut loader = Loader {
        salvage,
        report: LoadReport::default(),
    };
    let any = |_: &[u8]| true;
    let id_key = |k: &[u8]| k.len() == 8;
    let sessions = loader.records::<_, StoredSession>(read, Table::Sessions, any)?;
    let messages = loader.records::<_, StoredMessage>(read, Table::Messages, id_key)?;
    let entries = loader.records::<_, StoredEntry>(read, Table::Entries, |k| k.len() == 16)?;
    let retained = loader.records::<_, StoredMessage>(read, Table::Retained, any)?;
    let resources =
        loader.records::<_, String>(read, Table::Resources, |k| resource_parts(k).is_some())?;
    let mut inbound = Vec::new();
    read.scan(Table::Inbound, &[], &mut |k, _| {
        if k.len() == 10 {
            let session = split_u64(&k[..8]).unwrap_or_default();
            inbound.push((session, u16::from_be_bytes([k[8], k[9]])));
            Ok(())
        } else {
            loader.corrupt(
                Table::Inbound,
                k,
                format!("malformed key of {} bytes", k.len()),
            )
        }
    })?;
    // Refs are derived data; their envelopes are checked so that corruption there shows too.
    loader.records::<_, u64>(read, Table::Refs, id_key)?;

    let messages: Vec<(u64, StoredMessage)> = messages
        .into_iter()
        .map(|(k, m)| (split_u64(&k).unwrap_or_default(), m))
        .collect();
    let known: BTreeSet<u64> = messages.iter().map(|(id, _)| *id).collect();
    let mut kept = Vec::with_capacity(entries.len());
    for (k, entry) in entries {
        let session = split_u64(&k[..8]).unwrap_or_default();
        let seq = split_u64(&k[8..]).unwrap_or_default();
        if known.contains(&entry.message_id) {
            kept.push((session, seq, entry));
        } else if salvage {
            loader.report.dangling.push((session, seq));
        } else {
            return Err(StoreError::Corrupt(format!(
                "entry {seq} of session {session} refers to missing message {} (open with salvage to skip it)",
                entry.message_id
            )));
        }
    }
    let snapshot = Snapshot {
        sessions: sessions.into_iter().map(|(_, s)| s).collect(),
        entries: kept,
        messages,
        inbound_qos2: inbound,
        retained: retained.into_iter().map(|(_, m)| m).collect(),
        resources: resources
            .into_iter()
            .filter_map(|(k, json)| {
                let (kind, name) = resource_parts(&k)?;
                Some((kind, name, json))
            })
            .collect(),
    };
    Ok((snapshot, loader.report))
}

fn resource_parts(key: &[u8]) -> Option<(String, String)> {
    let len = usize::from(u16::from_be_bytes([*key.first()?, *key.get(1)?]));
    let kind = key.get(2..2 + len)?;
    let name = key.get(2 + len..)?;
    Some((
        String::from_utf8(kind.to_vec()).ok()?,
        String::from_utf8(name.to_vec()).ok()?,
    ))
}

/// Drops what a salvaging load skipped and recounts message references from the entries
/// that remain, so the store opens cleanly afterwards. `snapshot` is the salvaged load;
/// messages no entry refers to any more are removed from it and from the store.
pub fn repair<T: KvWrite + ?Sized>(
    txn: &mut T,
    report: &LoadReport,
    snapshot: &mut Snapshot,
) -> Result<(), StoreError> {
    for (table, key, _) in &report.corrupt {
        txn.delete(*table, key)?;
    }
    for (session, seq) in &report.dangling {
        txn.delete(Table::Entries, &entry_key(*session, *seq))?;
    }
    let mut counts: BTreeMap<u64, u64> = BTreeMap::new();
    for (_, _, entry) in &snapshot.entries {
        *counts.entry(entry.message_id).or_default() += 1;
    }
    let mut stale = Vec::new();
    txn.scan(Table::Refs, &[], &mut |k, _| {
        stale.push(k.to_vec());
        Ok(())
    })?;
    for key in stale {
        txn.delete(Table::Refs, &key)?;
    }
    for (id, count) in &counts {
        let key = id.to_be_bytes();
        txn.put(Table::Refs, &key, &record::encode(&key, count))?;
    }
    for (id, _) in &snapshot.messages {
        if !counts.contains_key(id) {
            txn.delete(Table::Messages, &id.to_be_bytes())?;
        }
    }
    snapshot.messages.retain(|(id, _)| counts.contains_key(id));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{Overlay, Tables};

    #[test]
    fn schema_is_written_once_and_checked() {
        let tables = Tables::default();
        let mut view = Overlay::new(&tables);
        assert!(matches!(check_schema(&mut view), Ok(true)));
        assert!(write_schema(&mut view).is_ok());
        assert!(matches!(check_schema(&mut view), Ok(false)));
        assert!(
            view.put(Table::Meta, SCHEMA_KEY, &2u32.to_le_bytes())
                .is_ok()
        );
        assert!(matches!(
            check_schema(&mut view),
            Err(StoreError::IncompatibleSchema {
                found: 2,
                expected: SCHEMA_VERSION
            })
        ));
        assert!(view.put(Table::Meta, SCHEMA_KEY, b"xy").is_ok());
        assert!(matches!(
            check_schema(&mut view),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn data_without_a_schema_version_is_refused() {
        let tables = Tables::default();
        let mut view = Overlay::new(&tables);
        assert!(view.put(Table::Retained, b"t", b"x").is_ok());
        assert!(matches!(
            check_schema(&mut view),
            Err(StoreError::IncompatibleSchema { found: 0, .. })
        ));
    }

    #[test]
    fn resource_keys_do_not_collide_and_parse_back() {
        assert_ne!(resource_key("a", "bc"), resource_key("ab", "c"));
        assert_eq!(
            resource_parts(&resource_key("clients", "x/y")),
            Some(("clients".into(), "x/y".into()))
        );
        assert_eq!(resource_parts(&[0, 9, b'a']), None);
    }
}
