//! Corrupt data is detected and reported, never served; salvage skips it, says how much,
//! and leaves a store that opens cleanly.

mod common;

use std::path::Path;

use common::{apply, load, open, sample_batches, sample_snapshot, tempdir, try_open};
use gridmq_store::kv::Table;
use gridmq_store::{Store, StoreError};
use gridmq_store_redb::FILE;
use redb::{ReadableTable, TableDefinition};

/// Flips one bit in the stored value of `key` in `table`, behind the store's back.
fn flip_value(dir: &Path, table: &str, key: &[u8]) {
    let def: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new(table);
    let db = redb::Database::open(dir.join(FILE)).unwrap_or_else(|e| panic!("{e}"));
    let txn = db.begin_write().unwrap_or_else(|e| panic!("{e}"));
    {
        let mut table = txn.open_table(def).unwrap_or_else(|e| panic!("{e}"));
        let mut value = table
            .get(key)
            .unwrap_or_else(|e| panic!("{e}"))
            .map(|v| v.value().to_vec())
            .unwrap_or_else(|| panic!("no such key"));
        let last = value.len() - 1;
        value[last] ^= 0x01;
        table
            .insert(key, value.as_slice())
            .unwrap_or_else(|e| panic!("{e}"));
    }
    txn.commit().unwrap_or_else(|e| panic!("{e}"));
}

fn populated() -> tempfile::TempDir {
    let tmp = tempdir();
    let store = open(tmp.path());
    for batch in sample_batches() {
        apply(&store, &batch);
    }
    tmp
}

#[test]
fn a_corrupt_record_is_reported_and_never_served() {
    let tmp = populated();
    flip_value(tmp.path(), "retained", b"status/1");
    let store = open(tmp.path());
    match store.load() {
        Err(StoreError::Corrupt(what)) => {
            assert!(what.contains("retained"), "{what}");
            assert!(what.contains("status/1"), "{what}");
            assert!(what.contains("salvage"), "{what}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn salvage_skips_corrupt_records_reports_them_and_repairs_the_store() {
    let tmp = populated();
    // Message 10 is referred to by entry (1, 1): that entry goes with it.
    flip_value(tmp.path(), "messages", &10u64.to_be_bytes());
    flip_value(tmp.path(), "sessions", b"device-2");
    let (snapshot, report) = {
        let store = try_open(tmp.path(), true).unwrap_or_else(|e| panic!("{e}"));
        let loaded = store.load_with_report().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(store.last_load_report(), loaded.1);
        loaded
    };
    assert_eq!(report.corrupt.len(), 2, "{report:?}");
    assert!(report.corrupt.iter().any(|(t, _, _)| *t == Table::Messages));
    assert!(report.corrupt.iter().any(|(t, _, _)| *t == Table::Sessions));
    assert_eq!(report.dangling, vec![(1, 1)]);
    assert_eq!(report.skipped(), 3);

    let mut expected = sample_snapshot();
    expected.sessions.retain(|s| s.client_id != "device-2");
    expected.messages.retain(|(id, _)| *id != 10);
    expected.entries.retain(|(s, q, _)| (*s, *q) != (1, 1));
    assert_eq!(gridmq_store::conformance::normalized(snapshot), expected);

    // The repair was written: a normal open now loads cleanly, and counts are right.
    let store = open(tmp.path());
    assert_eq!(load(&store), expected);
    apply(
        &store,
        &[
            gridmq_engine::persist::Change::DeleteEntry {
                session_id: 1,
                seq: 2,
            },
            gridmq_engine::persist::Change::DeleteEntry {
                session_id: 2,
                seq: 1,
            },
        ],
    );
    assert!(load(&store).messages.is_empty());
}

#[test]
fn a_truncated_file_is_detected() {
    let tmp = populated();
    let path = tmp.path().join(FILE);
    let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("{e}"));
    file.set_len(len / 3).unwrap_or_else(|e| panic!("{e}"));
    drop(file);
    let outcome = try_open(tmp.path(), false).and_then(|s| s.load());
    match outcome {
        Err(e) => eprintln!("detected: {e}"),
        // Only acceptable if nothing that was stored is lost or altered.
        Ok(snapshot) => assert_eq!(
            gridmq_store::conformance::normalized(snapshot),
            sample_snapshot()
        ),
    }
}

#[test]
fn overwritten_pages_are_detected_or_harmless() {
    // (start, length) as shares of the file: small overwrites may land in free space;
    // overwriting everything after the header must be detected.
    for (start, len) in [(2u64, 4096u64), (3, 4096), (5, 4096), (64, u64::MAX)] {
        let tmp = populated();
        let path = tmp.path().join(FILE);
        let mut bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
        let from = ((bytes.len() as u64 / start) as usize).max(4096);
        let to = from.saturating_add(len as usize).min(bytes.len());
        for (i, byte) in bytes[from..to].iter_mut().enumerate() {
            *byte = (i as u8).wrapping_mul(151) ^ 0xa5;
        }
        std::fs::write(&path, &bytes).unwrap_or_else(|e| panic!("{e}"));
        match try_open(tmp.path(), false).and_then(|s| s.load()) {
            Err(e) => eprintln!("detected garbage at {from}..{to}: {e}"),
            Ok(snapshot) => {
                assert!(
                    len != u64::MAX,
                    "garbage over the whole file went unnoticed"
                );
                assert_eq!(
                    gridmq_store::conformance::normalized(snapshot),
                    sample_snapshot(),
                    "garbage at {from}..{to} was served"
                );
            }
        }
    }
}
