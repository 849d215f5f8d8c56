//! What every on-disk backend needs around its engine: open options, a usable data
//! directory, and the bytes it occupies.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::StoreError;

/// How to open an on-disk store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// Skip corrupt records (and the entries left without their message) instead of
    /// refusing to load, drop them from the store, and report how many in
    /// [`LoadReport`](crate::kv::LoadReport).
    pub salvage: bool,
}

fn inaccessible(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| {
        if matches!(
            source.kind(),
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
        ) {
            return StoreError::DiskFull;
        }
        StoreError::Inaccessible {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Creates `dir` if needed and checks that files can be created, written and removed in
/// it, so that a directory without permission fails with a clear
/// [`StoreError::Inaccessible`] naming it rather than a backend error later.
pub fn prepare_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::create_dir_all(dir).map_err(inaccessible(dir))?;
    let probe: PathBuf = dir.join(".gridmq-probe");
    let mut file = std::fs::File::create(&probe).map_err(inaccessible(dir))?;
    file.write_all(b"probe").map_err(inaccessible(dir))?;
    drop(file);
    std::fs::remove_file(&probe).map_err(inaccessible(dir))
}

/// Bytes allocated on disk for every file under `dir` (sparse files count what they
/// occupy, not their length).
pub fn dir_usage(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    // Bounded by the number of directories in the store.
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                total += meta.blocks() * 512;
            }
        }
    }
    total
}

/// The file that marks a directory as a gridmq store, naming its backend.
pub const MARKER: &str = "GRIDMQ_STORE";

fn marker_text(backend: &str) -> String {
    format!("gridmq store\nbackend: {backend}\n")
}

/// Makes `dir` the data directory of a `backend` store before the backend's engine
/// touches it: creates it if needed ([`prepare_dir`]), marks a new, empty one, accepts one
/// marked for the same backend, and refuses anything else without writing to it — a
/// directory of another backend, or a non-empty one that is not a gridmq store
/// ([`StoreError::IncompatibleSchema`] with version 0).
pub fn claim_dir(dir: &Path, backend: &str) -> Result<(), StoreError> {
    prepare_dir(dir)?;
    let marker = dir.join(MARKER);
    let expected = marker_text(backend);
    match std::fs::read_to_string(&marker) {
        Ok(text) if text == expected => Ok(()),
        Ok(text) => Err(StoreError::Backend(format!(
            "{} holds a store of another kind ({:?}); this build opens it with {backend}",
            dir.display(),
            text.lines().nth(1).unwrap_or_default()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut entries = std::fs::read_dir(dir).map_err(inaccessible(dir))?;
            if entries.next().is_some() {
                return Err(StoreError::IncompatibleSchema {
                    found: 0,
                    expected: crate::kv::SCHEMA_VERSION,
                });
            }
            std::fs::write(&marker, expected).map_err(inaccessible(dir))?;
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(inaccessible(dir))
        }
        Err(e) => Err(inaccessible(&marker)(e)),
    }
}
