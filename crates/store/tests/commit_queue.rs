//! The group-commit writer: ordering, policies, bounds, failures and shutdown. No test
//! depends on timing: intervals are set to an hour where a test proves something does
//! not wait for them, and waits on tickets are bounded.

use std::sync::Arc;
use std::time::Duration;

use gridmq_engine::persist::{Change, EntryState, Persistence, Ticket, TicketStatus};
use gridmq_store::conformance::{FlakyStore, GatedStore, entry, message};
use gridmq_store::wait::wait;
use gridmq_store::{CommitConfig, CommitQueue, FsyncPolicy, MemoryStore, Store};

const HOUR: Duration = Duration::from_secs(3600);
const BOUND: Duration = Duration::from_secs(60);

fn config(fsync: FsyncPolicy, interval: Duration) -> CommitConfig {
    CommitConfig {
        interval,
        fsync,
        ..CommitConfig::default()
    }
}

fn queue(store: Arc<dyn Store>, config: CommitConfig) -> CommitQueue {
    match CommitQueue::start(store, config) {
        Ok(queue) => queue,
        Err(e) => panic!("writer thread: {e}"),
    }
}

fn publish(id: u64) -> Vec<Change> {
    vec![
        Change::PutMessage {
            id,
            message: message("t", &id.to_be_bytes()),
        },
        Change::PutEntry {
            session_id: 1,
            seq: id,
            entry: entry(id, EntryState::Queued),
        },
    ]
}

fn ack(id: u64) -> Vec<Change> {
    vec![Change::DeleteEntry {
        session_id: 1,
        seq: id,
    }]
}

fn entries(store: &dyn Store) -> Vec<u64> {
    match store.load() {
        Ok(s) => s.entries.iter().map(|(_, seq, _)| *seq).collect(),
        Err(e) => panic!("load: {e}"),
    }
}

#[test]
fn every_submission_becomes_durable_in_order() {
    let store = Arc::new(MemoryStore::new());
    let queue = queue(store.clone(), CommitConfig::default());
    let tickets: Vec<Ticket> = (1..=200).map(|id| queue.submit(publish(id))).collect();
    let acks: Vec<Ticket> = (1..=100).map(|id| queue.submit(ack(id))).collect();
    for ticket in tickets.iter().chain(&acks) {
        assert_eq!(wait(ticket, BOUND), TicketStatus::Done);
    }
    assert_eq!(entries(store.as_ref()), (101..=200).collect::<Vec<_>>());
    let stats = queue.stats();
    assert_eq!(stats.submitted, 300);
    assert_eq!(stats.failed_batches, 0);
}

#[test]
fn always_and_os_never_wait_for_the_interval() {
    for policy in [FsyncPolicy::Always, FsyncPolicy::Os] {
        let store = Arc::new(MemoryStore::new());
        let queue = queue(store.clone(), config(policy, HOUR));
        assert_eq!(wait(&queue.submit(publish(1)), BOUND), TicketStatus::Done);
        assert_eq!(entries(store.as_ref()), vec![1]);
    }
}

#[test]
fn batch_closes_early_at_its_size_bound() {
    let store = Arc::new(MemoryStore::new());
    let queue = queue(
        store,
        CommitConfig {
            max_batch_changes: 6,
            ..config(FsyncPolicy::Batch, HOUR)
        },
    );
    let tickets: Vec<Ticket> = (1..=3).map(|id| queue.submit(publish(id))).collect();
    for ticket in &tickets {
        assert_eq!(wait(ticket, BOUND), TicketStatus::Done);
    }
}

#[test]
fn flush_cuts_the_interval_short() {
    let store = Arc::new(MemoryStore::new());
    let queue = queue(store.clone(), config(FsyncPolicy::Batch, HOUR));
    let ticket = queue.submit(publish(1));
    queue.flush();
    assert_eq!(ticket.status(), TicketStatus::Done);
    assert_eq!(entries(store.as_ref()), vec![1]);
}

#[test]
fn a_failed_batch_fails_its_tickets_and_later_batches_succeed() {
    let store = Arc::new(FlakyStore::new(MemoryStore::new()));
    let queue = queue(store.clone(), config(FsyncPolicy::Always, HOUR));
    store.fail_next(1);
    assert_eq!(wait(&queue.submit(publish(1)), BOUND), TicketStatus::Failed);
    assert!(queue.last_error().is_some_and(|e| e.contains("no space")));
    // The state update of the entry whose batch failed finds no message: not stored.
    let update = vec![Change::PutEntry {
        session_id: 1,
        seq: 1,
        entry: entry(1, EntryState::AwaitingPubAck(1)),
    }];
    assert_eq!(wait(&queue.submit(update), BOUND), TicketStatus::Done);
    assert_eq!(wait(&queue.submit(publish(2)), BOUND), TicketStatus::Done);
    assert_eq!(entries(store.as_ref()), vec![2]);
    assert_eq!(queue.stats().failed_batches, 1);
}

#[test]
fn a_panicking_store_fails_the_batch_and_the_writer_goes_on() {
    let store = Arc::new(FlakyStore::new(MemoryStore::new()));
    let queue = queue(store.clone(), config(FsyncPolicy::Always, HOUR));
    store.panic_next();
    assert_eq!(wait(&queue.submit(publish(1)), BOUND), TicketStatus::Failed);
    assert_eq!(wait(&queue.submit(publish(2)), BOUND), TicketStatus::Done);
    assert_eq!(entries(store.as_ref()), vec![2]);
}

#[test]
fn the_pending_bound_refuses_at_once_without_blocking() {
    let store = GatedStore::closed();
    let queue = queue(
        store.clone(),
        CommitConfig {
            max_pending_changes: 4,
            ..config(FsyncPolicy::Always, HOUR)
        },
    );
    let first = queue.submit(publish(1));
    assert!(
        store.wait_for_waiter(1000),
        "the writer took the first batch"
    );
    let queued = [queue.submit(publish(2)), queue.submit(publish(3))];
    let refused = queue.submit(publish(4));
    assert_eq!(refused.status(), TicketStatus::Failed);
    assert_eq!(queue.stats().rejected, 1);
    assert_eq!(queue.stats().pending_changes, 4);
    store.open_gate();
    for ticket in queued.iter().chain([&first]) {
        assert_eq!(wait(ticket, BOUND), TicketStatus::Done);
    }
    assert_eq!(entries(store.as_ref()), vec![1, 2, 3]);
}

#[test]
fn submissions_gathered_while_the_writer_is_busy_are_coalesced() {
    let store = GatedStore::closed();
    let queue = queue(store.clone(), config(FsyncPolicy::Always, HOUR));
    let first = queue.submit(publish(1));
    assert!(store.wait_for_waiter(1000));
    let tickets = [queue.submit(publish(2)), queue.submit(ack(2))];
    store.open_gate();
    for ticket in tickets.iter().chain([&first]) {
        assert_eq!(wait(ticket, BOUND), TicketStatus::Done);
    }
    let batches = store.batches();
    assert_eq!(batches.len(), 2);
    assert_eq!(batches[1], ack(2), "message 2 never reached the store");
    assert_eq!(queue.stats().changes_coalesced, 2);
    assert_eq!(entries(store.as_ref()), vec![1]);
}

#[test]
fn close_completes_what_is_pending_and_refuses_the_rest() {
    let store = Arc::new(MemoryStore::new());
    let queue = queue(store.clone(), config(FsyncPolicy::Batch, HOUR));
    let tickets: Vec<Ticket> = (1..=5).map(|id| queue.submit(publish(id))).collect();
    let barrier = queue.submit(Vec::new());
    queue.close();
    for ticket in tickets.iter().chain([&barrier]) {
        assert_eq!(ticket.status(), TicketStatus::Done);
    }
    assert_eq!(queue.submit(publish(6)).status(), TicketStatus::Failed);
    queue.close();
    assert_eq!(entries(store.as_ref()), vec![1, 2, 3, 4, 5]);
}
