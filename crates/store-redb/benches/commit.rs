//! Durable QoS 1 throughput of the group-commit writer over the redb store, against the
//! in-memory store: one publisher keeps N messages in flight; each message is stored
//! (PutMessage + PutEntry), and once its ticket completes it is sent (PutEntry with
//! AwaitingPubAck) and the one before it acknowledged (DeleteEntry), each a submission of
//! its own. Prints a Markdown table (median of three runs of 3 s each).
//!
//! `cargo bench -p gridmq-store-redb --bench commit [-- DIR]`

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gridmq_engine::persist::{
    Change, EntryState, Persistence, StoredEntry, StoredMessage, Ticket, TicketStatus,
};
use gridmq_store::disk::OpenOptions;
use gridmq_store::{CommitConfig, CommitQueue, FsyncPolicy, MemoryStore, Store};
use gridmq_store_redb::RedbStore;

const BUDGET: Duration = Duration::from_secs(3);
const RUNS: usize = 3;
const PAYLOAD: usize = 256;

fn entry(message_id: u64, state: EntryState) -> StoredEntry {
    StoredEntry {
        message_id,
        qos: 1,
        retain: false,
        subscription_ids: vec![],
        shared: None,
        state,
    }
}

fn publish(id: u64) -> Vec<Change> {
    vec![
        Change::PutMessage {
            id,
            message: StoredMessage {
                topic: format!("devices/d{}/telemetry", id % 1000),
                payload: vec![(id % 251) as u8; PAYLOAD],
                qos: 1,
                retain: false,
                payload_format_indicator: None,
                content_type: None,
                response_topic: None,
                correlation_data: None,
                user_properties: vec![],
                expires_at: None,
            },
        },
        Change::PutEntry {
            session_id: 1,
            seq: id,
            entry: entry(id, EntryState::Queued),
        },
    ]
}

/// Messages per second, changes per applied batch.
fn run(store: Arc<dyn Store>, fsync: FsyncPolicy, window: usize) -> (f64, f64) {
    let config = CommitConfig {
        fsync,
        ..CommitConfig::default()
    };
    let queue = CommitQueue::start(store, config).unwrap_or_else(|e| panic!("start: {e}"));
    let start = Instant::now();
    let mut inflight: VecDeque<(u64, Ticket)> = VecDeque::new();
    let mut messages = 0;
    for id in 1..=10_000_000u64 {
        inflight.push_back((id, queue.submit(publish(id))));
        if inflight.len() >= window {
            let Some((done, ticket)) = inflight.pop_front() else {
                break;
            };
            let status = gridmq_store::wait::wait(&ticket, Duration::from_secs(60));
            assert_eq!(status, TicketStatus::Done);
            messages = done;
            queue.submit(vec![Change::PutEntry {
                session_id: 1,
                seq: done,
                entry: entry(done, EntryState::AwaitingPubAck(1)),
            }]);
            if done > 1 {
                queue.submit(vec![Change::DeleteEntry {
                    session_id: 1,
                    seq: done - 1,
                }]);
            }
        }
        if start.elapsed() > BUDGET {
            break;
        }
    }
    queue.flush();
    let secs = start.elapsed().as_secs_f64();
    let stats = queue.stats();
    (
        messages as f64 / secs,
        stats.changes_applied as f64 / stats.batches.max(1) as f64,
    )
}

fn main() {
    // `cargo bench` passes `--bench`; the first other argument is the directory.
    let base = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let tmp = match base {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .unwrap_or_else(|e| panic!("temp dir: {e}"));
    println!("| store | policy | in flight | messages/s | changes/batch |");
    println!("|---|---|---:|---:|---:|");
    for window in [1usize, 64, 1024] {
        for (name, fsync) in [("batch", FsyncPolicy::Batch), ("os", FsyncPolicy::Os)] {
            for backend in ["redb", "memory"] {
                if backend == "memory" && fsync == FsyncPolicy::Os {
                    continue;
                }
                let mut runs: Vec<(f64, f64)> = (0..RUNS)
                    .map(|n| {
                        let store: Arc<dyn Store> = if backend == "redb" {
                            let dir = tmp.path().join(format!("{name}-{window}-{n}"));
                            Arc::new(
                                RedbStore::open(dir, OpenOptions::default())
                                    .unwrap_or_else(|e| panic!("open: {e}")),
                            )
                        } else {
                            Arc::new(MemoryStore::new())
                        };
                        run(store, fsync, window)
                    })
                    .collect();
                runs.sort_by(|a, b| a.0.total_cmp(&b.0));
                let (mps, per_batch) = runs[RUNS / 2];
                println!("| {backend} | {name} | {window} | {mps:.0} | {per_batch:.1} |");
            }
        }
    }
}
