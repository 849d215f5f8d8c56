//! Durable QoS 1 workload against each backend's `Store::apply`, without group commit or
//! coalescing: per message `PutMessage` + `PutEntry(Queued)`, then `PutEntry(AwaitingPubAck)`
//! once it is sent and `DeleteEntry` once acknowledged, with a window of in-flight messages
//! so that a message's changes fall into different batches.
//!
//! Usage: `store-compare [DIR] [queue]` (DIR: where to create the stores; `queue`: the
//! group-commit table instead of the raw one). Each figure is the median of three runs.

mod fjall_store;

use std::time::{Duration, Instant};

use gridmq_engine::persist::{Change, EntryState, StoredEntry, StoredMessage};
use gridmq_store::disk::OpenOptions;
use std::collections::VecDeque;
use std::sync::Arc;

use gridmq_engine::persist::{Persistence, Ticket, TicketStatus};
use gridmq_store::{CommitConfig, CommitQueue, FsyncPolicy, MemoryStore, Store};

const PAYLOAD: usize = 256;
const WINDOW: u64 = 64;
const BUDGET: Duration = Duration::from_secs(3);
const RUNS: usize = 3;
const MAX_MESSAGES: u64 = 200_000;

fn stream(id: u64) -> Vec<Change> {
    let mut changes = vec![
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
    ];
    if id > WINDOW / 2 {
        let sent = id - WINDOW / 2;
        changes.push(Change::PutEntry {
            session_id: 1,
            seq: sent,
            entry: entry(sent, EntryState::AwaitingPubAck((sent % 65535 + 1) as u16)),
        });
    }
    if id > WINDOW {
        changes.push(Change::DeleteEntry {
            session_id: 1,
            seq: id - WINDOW,
        });
    }
    changes
}

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

/// Messages per second and changes per second.
fn run(store: &dyn Store, batch: usize, sync: bool) -> (f64, f64, u64) {
    let start = Instant::now();
    let mut pending: Vec<Change> = Vec::with_capacity(batch + 4);
    let (mut messages, mut changes) = (0u64, 0u64);
    for id in 1..=MAX_MESSAGES {
        pending.extend(stream(id));
        messages = id;
        while pending.len() >= batch {
            let rest = pending.split_off(batch);
            if let Err(e) = store.apply(&pending, sync) {
                panic!("apply: {e}");
            }
            changes += pending.len() as u64;
            pending = rest;
        }
        if start.elapsed() > BUDGET {
            break;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    (
        messages as f64 / secs,
        changes as f64 / secs,
        store.disk_usage(),
    )
}

/// Group commit: one publisher keeps `window` messages in flight; message `i` is
/// submitted as PutMessage + PutEntry, and when message `i - window` completes it is
/// "sent" (PutEntry AwaitingPubAck) and its predecessor "acknowledged" (DeleteEntry), each
/// a submission of its own. Returns messages/s, average changes per applied batch, and
/// the share of changes coalesced away.
fn run_queue(store: Arc<dyn Store>, fsync: FsyncPolicy, window: usize) -> (f64, f64, f64) {
    let queue = CommitQueue::start(
        store,
        CommitConfig {
            fsync,
            ..CommitConfig::default()
        },
    )
    .unwrap_or_else(|e| panic!("start: {e}"));
    let start = Instant::now();
    let mut inflight: VecDeque<(u64, Ticket)> = VecDeque::new();
    let mut messages = 0;
    for id in 1..=MAX_MESSAGES {
        let [put_message, put_entry] = &stream(id)[..2] else {
            unreachable!()
        };
        inflight.push_back((
            id,
            queue.submit(vec![put_message.clone(), put_entry.clone()]),
        ));
        if inflight.len() >= window {
            if let Some((done, ticket)) = inflight.pop_front() {
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
        }
        if start.elapsed() > BUDGET {
            break;
        }
    }
    queue.flush();
    let secs = start.elapsed().as_secs_f64();
    let stats = queue.stats();
    let total = (stats.changes_applied + stats.changes_coalesced) as f64;
    (
        messages as f64 / secs,
        stats.changes_applied as f64 / stats.batches.max(1) as f64,
        stats.changes_coalesced as f64 / total.max(1.0),
    )
}

fn open(backend: &str, dir: &std::path::Path) -> Arc<dyn Store> {
    match backend {
        "fjall" => Arc::new(
            fjall_store::FjallStore::open(dir, OpenOptions::default())
                .unwrap_or_else(|e| panic!("open: {e}")),
        ),
        "redb" => Arc::new(
            gridmq_store_redb::RedbStore::open(dir, OpenOptions::default())
                .unwrap_or_else(|e| panic!("open: {e}")),
        ),
        _ => Arc::new(MemoryStore::new()),
    }
}

fn queue_table(tmp: &std::path::Path) {
    println!();
    println!("| backend | policy | in flight | messages/s | changes/batch | coalesced |");
    println!("|---|---|---:|---:|---:|---:|");
    let policies = [
        ("batch", FsyncPolicy::Batch),
        ("always", FsyncPolicy::Always),
        ("os", FsyncPolicy::Os),
    ];
    for (policy, fsync) in policies {
        for window in [1usize, 64, 1024] {
            for backend in ["fjall", "redb", "memory"] {
                if backend == "memory" && fsync != FsyncPolicy::Batch {
                    continue;
                }
                let mut runs: Vec<(f64, f64, f64)> = (0..RUNS)
                    .map(|run_no| {
                        let dir = tmp.join(format!("q-{backend}-{policy}-{window}-{run_no}"));
                        run_queue(open(backend, &dir), fsync, window)
                    })
                    .collect();
                runs.sort_by(|a, b| a.0.total_cmp(&b.0));
                let (mps, per_batch, coalesced) = runs[RUNS / 2];
                println!(
                    "| {backend} | {policy} | {window} | {mps:.0} | {per_batch:.1} | {:.0}% |",
                    coalesced * 100.0
                );
            }
        }
    }
}

fn main() {
    let base = std::env::args().nth(1).map(std::path::PathBuf::from);
    let tmp = match &base {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    };
    let tmp = match tmp {
        Ok(t) => t,
        Err(e) => panic!("temp dir: {e}"),
    };
    if std::env::args().nth(2).as_deref() == Some("queue") {
        queue_table(tmp.path());
        return;
    }
    println!("| backend | changes/batch | sync | messages/s | changes/s | disk after |");
    println!("|---|---:|---|---:|---:|---:|");
    for sync in [true, false] {
        for batch in [1usize, 10, 100, 1000] {
            for backend in ["fjall", "redb", "memory"] {
                if backend == "memory" && sync {
                    continue;
                }
                let mut runs: Vec<(f64, f64, u64)> = (0..RUNS)
                    .map(|run_no| {
                        let dir = tmp
                            .path()
                            .join(format!("{backend}-{batch}-{sync}-{run_no}"));
                        let store = open(backend, &dir);
                        run(store.as_ref(), batch, sync)
                    })
                    .collect();
                runs.sort_by(|a, b| a.0.total_cmp(&b.0));
                let (mps, cps, disk) = runs[RUNS / 2];
                println!(
                    "| {backend} | {batch} | {} | {mps:.0} | {cps:.0} | {:.1} MiB |",
                    if sync { "fsync" } else { "no" },
                    disk as f64 / (1 << 20) as f64
                );
            }
        }
    }
}
