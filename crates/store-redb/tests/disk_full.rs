//! A full disk fails batches with `DiskFull`, applies nothing of them, and the store
//! works again once space returns; a read-only directory is a clear error. Both need a
//! small file system of their own: a tmpfs, mounted when the test runs as root (skipped
//! with a note otherwise).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{load, open, tempdir, try_open};
use gridmq_engine::persist::{Change, EntryState};
use gridmq_store::conformance::{entry, message};
use gridmq_store::{Store, StoreError};

struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: &Path, options: &str) -> Option<Self> {
        std::fs::create_dir_all(at).ok()?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(at)
            .output()
            .ok()?
            .status
            .success();
        if mounted {
            Some(Self(at.to_path_buf()))
        } else {
            eprintln!("skipped: cannot mount a tmpfs here (needs root)");
            None
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).output();
    }
}

fn publish(id: u64) -> Vec<Change> {
    let mut message = message("t", b"");
    // Every payload differs, so nothing compresses or deduplicates.
    message.payload = (0..64 * 1024u64)
        .map(|i| (i.wrapping_mul(31) ^ id.wrapping_mul(131)) as u8)
        .collect();
    vec![
        Change::PutMessage { id, message },
        Change::PutEntry {
            session_id: 1,
            seq: id,
            entry: entry(id, EntryState::Queued),
        },
    ]
}

#[test]
fn a_full_disk_fails_batches_and_the_store_recovers_when_space_returns() {
    let tmp = tempdir();
    let Some(mount) = Mount::tmpfs(&tmp.path().join("small"), "size=8m") else {
        return;
    };
    let filler = mount.0.join("filler");
    std::fs::write(&filler, vec![0u8; 2 << 20]).unwrap_or_else(|e| panic!("{e}"));
    let dir = mount.0.join("data");
    let store = open(&dir);
    let mut acked = Vec::new();
    let mut failed = None;
    for id in 1..=400u64 {
        match store.apply(&publish(id), true) {
            Ok(()) => acked.push(id),
            Err(StoreError::DiskFull) => {
                failed = Some(id);
                break;
            }
            Err(e) => panic!("batch {id}: expected DiskFull, got {e}"),
        }
    }
    let failed = failed.unwrap_or_else(|| panic!("8 MiB never filled up"));
    assert!(!acked.is_empty());
    // Still full: still refused, still nothing applied.
    let again = store.apply(&publish(failed), true);
    assert!(matches!(again, Err(StoreError::DiskFull)), "{again:?}");

    std::fs::remove_file(&filler).unwrap_or_else(|e| panic!("{e}"));
    store
        .apply(&publish(failed), true)
        .unwrap_or_else(|e| panic!("after space returned: {e}"));
    acked.push(failed);

    let seqs = |store: &dyn Store| -> Vec<u64> {
        let snapshot = store.load().unwrap_or_else(|e| panic!("load: {e}"));
        snapshot.entries.iter().map(|(_, seq, _)| *seq).collect()
    };
    assert_eq!(seqs(&store), acked);
    let snapshot = load(&store);
    for (id, message) in &snapshot.messages {
        let expected = publish(*id);
        assert!(matches!(&expected[0], Change::PutMessage { message: m, .. } if m == message));
    }
    // Consumed data gives its space back.
    let full = store.disk_usage();
    for seq in &acked {
        let ack = [Change::DeleteEntry {
            session_id: 1,
            seq: *seq,
        }];
        store.apply(&ack, true).unwrap_or_else(|e| panic!("{e}"));
    }
    store.compact().unwrap_or_else(|e| panic!("compact: {e}"));
    assert!(
        store.disk_usage() < full / 2,
        "{} of {full}",
        store.disk_usage()
    );
    drop(store);
    assert!(load(&open(&dir)).messages.is_empty());
}

#[test]
fn a_read_only_directory_is_a_clear_error() {
    let tmp = tempdir();
    let Some(mount) = Mount::tmpfs(&tmp.path().join("ro"), "size=1m,ro") else {
        return;
    };
    match try_open(&mount.0.join("data"), false) {
        Err(e @ StoreError::Inaccessible { .. }) => {
            let message = e.to_string();
            assert!(message.contains("cannot use data directory"), "{message}");
        }
        other => panic!("expected Inaccessible, got {other:?}"),
    }
}
