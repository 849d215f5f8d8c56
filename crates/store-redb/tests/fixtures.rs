//! A data directory written by this version (schema 1) stays readable: the fixture under
//! `tests/fixtures/schema-v1` was written by `sample_batches` and is loaded from a copy.
//! Regenerate it (only when the schema version changes, keeping the old one) with
//! `GRIDMQ_WRITE_FIXTURES=1 cargo test -p gridmq-store-redb --test fixtures`.

mod common;

use std::path::{Path, PathBuf};

use common::{apply, load, open, sample_batches, sample_snapshot, tempdir};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema-v1")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("{e}"));
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.unwrap_or_else(|e| panic!("{e}"));
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn schema_v1_fixture_loads() {
    if std::env::var_os("GRIDMQ_WRITE_FIXTURES").is_some() {
        let dir = fixture_dir();
        let _ = std::fs::remove_dir_all(&dir);
        let store = open(&dir);
        for batch in sample_batches() {
            apply(&store, &batch);
        }
        store.compact().unwrap_or_else(|e| panic!("compact: {e}"));
    }
    let tmp = tempdir();
    copy_dir(&fixture_dir(), tmp.path());
    assert_eq!(load(&open(tmp.path())), sample_snapshot());
}
