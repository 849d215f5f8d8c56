//! Coalescing never changes what a batch does: a batch applied as is and the same batch
//! coalesced leave the store in the same state, from any starting state.

use gridmq_engine::persist::{Change, EntryState};
use gridmq_store::conformance::{entry, message, normalized, session};
use gridmq_store::{MemoryStore, Store, coalesce::coalesce};
use proptest::prelude::*;

fn change() -> impl Strategy<Value = Change> {
    let session_id = 1u64..4;
    let seq = 1u64..5;
    let message_id = 1u64..5;
    prop_oneof![
        (0usize..3, session_id.clone())
            .prop_map(|(c, s)| Change::PutSession(session(["a", "b", "c"][c], s))),
        (0usize..3, session_id.clone()).prop_map(|(c, s)| Change::DeleteSession {
            client_id: ["a", "b", "c"][c].into(),
            session_id: s,
        }),
        message_id.clone().prop_map(|id| Change::PutMessage {
            id,
            message: message("t", &id.to_be_bytes()),
        }),
        (session_id.clone(), seq.clone(), message_id, 0u16..3).prop_map(|(s, q, m, p)| {
            let state = if p == 0 {
                EntryState::Queued
            } else {
                EntryState::AwaitingPubAck(p)
            };
            Change::PutEntry {
                session_id: s,
                seq: q,
                entry: entry(m, state),
            }
        }),
        (session_id.clone(), seq).prop_map(|(s, q)| Change::DeleteEntry {
            session_id: s,
            seq: q,
        }),
        (session_id.clone(), 1u16..3).prop_map(|(s, p)| Change::PutInboundQos2 {
            session_id: s,
            packet_id: p,
        }),
        (session_id, 1u16..3).prop_map(|(s, p)| Change::DeleteInboundQos2 {
            session_id: s,
            packet_id: p,
        }),
        (0usize..2, any::<u8>())
            .prop_map(|(t, b)| Change::PutRetained(message(["r1", "r2"][t], &[b]))),
        (0usize..2).prop_map(|t| Change::DeleteRetained {
            topic: ["r1", "r2"][t].into()
        }),
        (0usize..2, any::<u8>()).prop_map(|(n, b)| Change::PutResource {
            kind: "clients".into(),
            name: ["x", "y"][n].into(),
            json: b.to_string(),
        }),
        (0usize..2).prop_map(|n| Change::DeleteResource {
            kind: "clients".into(),
            name: ["x", "y"][n].into(),
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn coalescing_preserves_the_outcome(
        setup in proptest::collection::vec(change(), 0..20),
        batch in proptest::collection::vec(change(), 0..40),
    ) {
        let plain = MemoryStore::new();
        let coalesced = MemoryStore::new();
        for store in [&plain, &coalesced] {
            store.apply(&setup, true).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        plain.apply(&batch, true).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let (reduced, dropped) = coalesce(batch.clone());
        prop_assert_eq!(reduced.len() + dropped, batch.len());
        coalesced.apply(&reduced, true).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let plain = normalized(plain.load().map_err(|e| TestCaseError::fail(e.to_string()))?);
        let coalesced =
            normalized(coalesced.load().map_err(|e| TestCaseError::fail(e.to_string()))?);
        prop_assert_eq!(plain, coalesced);
    }
}

#[test]
fn an_entry_acknowledged_within_the_batch_never_reaches_the_store() {
    let batch = vec![
        Change::PutMessage {
            id: 1,
            message: message("t", b"p"),
        },
        Change::PutEntry {
            session_id: 1,
            seq: 1,
            entry: entry(1, EntryState::Queued),
        },
        Change::PutEntry {
            session_id: 1,
            seq: 1,
            entry: entry(1, EntryState::AwaitingPubAck(1)),
        },
        Change::DeleteEntry {
            session_id: 1,
            seq: 1,
        },
    ];
    let (reduced, dropped) = coalesce(batch);
    assert_eq!(dropped, 3);
    assert_eq!(
        reduced,
        vec![Change::DeleteEntry {
            session_id: 1,
            seq: 1
        }]
    );
}
