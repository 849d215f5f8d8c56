//! Crash safety: a child process (this test binary, re-invoked) applies batches in a loop
//! and reports each acknowledged one on its stdout; the parent kills it with SIGKILL at a
//! random moment, reopens the store, and checks that every acknowledged batch is there,
//! that batches are whole and in order, and that nothing is corrupt. Several rounds, with
//! synced batches and with unsynced ones (which must survive a crash of the process).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{open, tempdir};
use gridmq_engine::persist::{Change, EntryState, Snapshot};
use gridmq_store::Store;
use gridmq_store::conformance::{entry, message, session};

const CHILD_DIR: &str = "GRIDMQ_CRASH_CHILD_DIR";
const CHILD_SYNC: &str = "GRIDMQ_CRASH_CHILD_SYNC";
/// Entries older than this many batches are acknowledged (deleted) by later batches.
const WINDOW: u64 = 20;
const ROUNDS: u64 = 6;

fn payload(id: u64) -> Vec<u8> {
    (0..1024u64)
        .map(|i| (i ^ id.wrapping_mul(2654435761)) as u8)
        .collect()
}

fn batch(id: u64) -> Vec<Change> {
    let mut s = session("crash-client", 1);
    s.expiry_interval = id as u32;
    let mut changes = vec![
        Change::PutSession(s),
        Change::PutMessage {
            id,
            message: message("t", &payload(id)),
        },
        Change::PutEntry {
            session_id: 1,
            seq: id,
            entry: entry(id, EntryState::Queued),
        },
        Change::PutRetained(message(&format!("r/{}", id % 7), id.to_string().as_bytes())),
        Change::PutResource {
            kind: "batches".into(),
            name: format!("{id:08}"),
            json: "{}".into(),
        },
    ];
    if id > 1 {
        changes.push(Change::PutEntry {
            session_id: 1,
            seq: id - 1,
            entry: entry(id - 1, EntryState::AwaitingPubAck((id % 60000) as u16 + 1)),
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

/// The last batch in the store, after checking that the state is exactly what batches
/// 1..=last leave behind.
fn verify(snapshot: &Snapshot) -> u64 {
    let names: Vec<u64> = snapshot
        .resources
        .iter()
        .map(|(_, name, _)| name.parse().unwrap_or_else(|e| panic!("{name}: {e}")))
        .collect();
    let last = names.len() as u64;
    assert_eq!(
        names,
        (1..=last).collect::<Vec<_>>(),
        "batches are whole and in order"
    );
    if last == 0 {
        assert_eq!(snapshot, &Snapshot::default());
        return 0;
    }
    assert_eq!(snapshot.sessions.len(), 1);
    assert_eq!(u64::from(snapshot.sessions[0].expiry_interval), last);
    let first = last.saturating_sub(WINDOW - 1).max(1);
    let seqs: Vec<u64> = snapshot.entries.iter().map(|(_, seq, _)| *seq).collect();
    assert_eq!(seqs, (first..=last).collect::<Vec<_>>());
    for (_, seq, e) in &snapshot.entries {
        let queued = *seq == last;
        assert_eq!(e.state == EntryState::Queued, queued, "entry {seq}");
    }
    let ids: Vec<u64> = snapshot.messages.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, seqs, "exactly the referenced messages are kept");
    for (id, m) in &snapshot.messages {
        assert_eq!(m.payload, payload(*id), "payload of message {id}");
    }
    for r in &snapshot.retained {
        let id: u64 = String::from_utf8_lossy(&r.payload).parse().unwrap_or(0);
        let expected_last = (1..=last).rev().find(|i| i % 7 == id % 7);
        assert_eq!(Some(id), expected_last, "retained {}", r.topic);
    }
    last
}

fn load(dir: &Path) -> Snapshot {
    let store = open(dir);
    let snapshot = store
        .load()
        .unwrap_or_else(|e| panic!("the store must load cleanly after a crash: {e}"));
    gridmq_store::conformance::normalized(snapshot)
}

/// The child's side: runs only when re-invoked by the parent.
#[test]
fn crash_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let sync = std::env::var_os(CHILD_SYNC).is_some();
    let dir = Path::new(&dir);
    let store = open(dir);
    let snapshot = store.load().unwrap_or_else(|e| panic!("child load: {e}"));
    let next = verify(&gridmq_store::conformance::normalized(snapshot)) + 1;
    let mut out = std::io::stdout().lock();
    for id in next..next + 1_000_000 {
        store
            .apply(&batch(id), sync)
            .unwrap_or_else(|e| panic!("child apply {id}: {e}"));
        // Acknowledged: the parent may count on it from now on.
        if writeln!(out, "ACK {id}")
            .and_then(|()| out.flush())
            .is_err()
        {
            return;
        }
    }
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn acknowledged_batches_survive_sigkill() {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    eprintln!("crash test seed {seed}");
    let mut rng = Rng(seed);
    let tmp = tempdir();
    let dir = tmp.path().join("data");
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("{e}"));
    let mut acked = 0;
    for round in 0..ROUNDS {
        let sync = round % 2 == 0;
        let mut command = Command::new(&exe);
        command
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR, &dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if sync {
            command.env(CHILD_SYNC, "1");
        }
        let mut child = command.spawn().unwrap_or_else(|e| panic!("spawn: {e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(id) = line.strip_prefix("ACK ")
                    && tx.send(id.parse::<u64>().unwrap_or(0)).is_err()
                {
                    break;
                }
            }
        });
        let kill_after = 1 + rng.below(80);
        for _ in 0..kill_after {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(id) => acked = acked.max(id),
                Err(e) => panic!("round {round}: the child stopped acknowledging: {e}"),
            }
        }
        // A little more running time, so the kill lands anywhere in a batch.
        for _ in 0..rng.below(20_000) {
            std::hint::spin_loop();
        }
        child.kill().unwrap_or_else(|e| panic!("kill: {e}"));
        let _ = child.wait();
        // Acknowledgements already in the pipe count too.
        let _ = reader.join();
        while let Ok(id) = rx.try_recv() {
            acked = acked.max(id);
        }
        let last = verify(&load(&dir));
        assert!(
            last >= acked,
            "round {round} (sync: {sync}): batch {acked} was acknowledged, the store ends at {last}"
        );
        eprintln!("round {round} (sync: {sync}): acknowledged {acked}, stored {last}");
    }
}
