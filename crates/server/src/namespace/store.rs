//! Where resources outlive a restart: a JSON file (`namespace.state_file`) rewritten
//! atomically on every change, or nowhere (kept in memory, plus what the configuration
//! declares). The file holds password hashes: it is created readable by its owner only.

use std::io::Write;
use std::path::{Path, PathBuf};

use gridmq_access::Resources;
use serde::{Deserialize, Serialize};

/// The file format's version.
const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
struct StateFile {
    format: u32,
    resources: Resources,
}

/// Where resources are kept.
#[derive(Debug, Clone)]
pub(crate) enum Store {
    /// In memory only.
    Memory,
    /// In this JSON file.
    File(PathBuf),
}

impl Store {
    /// The stored resources; `None` when there are none yet.
    pub(crate) async fn load(&self) -> Result<Option<Resources>, String> {
        let Self::File(path) = self else {
            return Ok(None);
        };
        let path = path.clone();
        tokio::task::spawn_blocking(move || load_file(&path))
            .await
            .map_err(|e| format!("reading the namespace state failed: {e}"))?
    }

    /// Replaces what is stored with `resources`.
    pub(crate) async fn save(&self, resources: &Resources) -> Result<(), String> {
        let Self::File(path) = self else {
            return Ok(());
        };
        let body = serde_json::to_vec_pretty(&StateFile {
            format: FORMAT,
            resources: resources.clone(),
        })
        .map_err(|e| format!("encoding the namespace state failed: {e}"))?;
        let path = path.clone();
        tokio::task::spawn_blocking(move || save_file(&path, &body))
            .await
            .map_err(|e| format!("writing the namespace state failed: {e}"))?
    }
}

fn load_file(path: &Path) -> Result<Option<Resources>, String> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let file: StateFile = serde_json::from_slice(&text)
        .map_err(|e| format!("{} is not a namespace state file: {e}", path.display()))?;
    if file.format != FORMAT {
        return Err(format!(
            "{} has format {}, this version reads {FORMAT}",
            path.display(),
            file.format
        ));
    }
    Ok(Some(file.resources))
}

/// Writes a temporary file beside `path`, syncs it and renames it over `path`, so that a
/// crash leaves the old file or the new one, never half of one.
fn save_file(path: &Path, body: &[u8]) -> Result<(), String> {
    let fail = |what: &str, e: std::io::Error| format!("{what} {}: {e}", path.display());
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&tmp)
        .map_err(|e| fail("cannot write next to", e))?;
    file.write_all(body)
        .and_then(|()| file.sync_all())
        .map_err(|e| fail("cannot write next to", e))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(|e| fail("cannot replace", e))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Makes the rename durable; not every platform lets a directory be opened.
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridmq_access::{TopicSpace, TopicSpaceProperties};

    #[tokio::test]
    async fn file_round_trip_and_missing_file() {
        let dir = std::env::temp_dir().join(format!("gridmq-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("namespace.json");
        let _ = std::fs::remove_file(&path);
        let store = Store::File(path.clone());
        assert_eq!(store.load().await.unwrap(), None);
        let mut resources = Resources::default();
        resources.topic_spaces.push(TopicSpace::new(
            "t1",
            TopicSpaceProperties {
                topic_templates: vec!["a/#".into()],
                description: None,
            },
        ));
        store.save(&resources).await.unwrap();
        assert_eq!(store.load().await.unwrap(), Some(resources));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, b"{ not json").unwrap();
        assert!(
            store
                .load()
                .await
                .unwrap_err()
                .contains("not a namespace state file")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn memory_keeps_nothing() {
        let store = Store::Memory;
        store.save(&Resources::default()).await.unwrap();
        assert_eq!(store.load().await.unwrap(), None);
    }
}
