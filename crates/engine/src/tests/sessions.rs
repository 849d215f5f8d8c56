use std::time::Duration;

use gridmq_codec::{Packet, ProtocolVersion, QoS, ReasonCode};

use crate::testing::{Harness, connect, connect_v5};

#[test]
fn persistent_session_queues_while_offline_and_resumes() {
    let h = Harness::new();
    let (mut sub, ack) = h.connect(connect("dev", ProtocolVersion::V3_1_1, false));
    assert!(!ack.session_present);
    sub.subscribe(h.now, "cmd/#", QoS::AtLeastOnce);
    sub.close(h.now);
    let (mut publisher, _) = h.connect(connect_v5("pub", true, 0));
    publisher.publish(h.now, "cmd/1", b"a", QoS::AtLeastOnce, false);
    publisher.publish(h.now, "cmd/2", b"b", QoS::AtLeastOnce, false);
    let (mut sub, ack) = h.connect(connect("dev", ProtocolVersion::V3_1_1, false));
    assert!(ack.session_present);
    let got: Vec<_> = sub
        .publishes(h.now)
        .into_iter()
        .map(|p| p.payload)
        .collect();
    assert_eq!(
        got,
        vec![
            bytes::Bytes::from_static(b"a"),
            bytes::Bytes::from_static(b"b")
        ]
    );
}

#[test]
fn unacknowledged_messages_are_redelivered_with_dup_in_order() {
    let h = Harness::new();
    let (mut sub, _) = h.connect(connect_v5("dev", false, 600));
    sub.subscribe(h.now, "t", QoS::ExactlyOnce);
    let (mut publisher, _) = h.connect(connect_v5("pub", true, 0));
    publisher.publish(h.now, "t", b"1", QoS::AtLeastOnce, false);
    publisher.publish(h.now, "t", b"2", QoS::ExactlyOnce, false);
    let first = sub.publishes(h.now);
    assert_eq!(first.len(), 2);
    assert!(first.iter().all(|p| !p.dup));
    sub.close(h.now);
    let (mut sub, ack) = h.connect(connect_v5("dev", false, 600));
    assert!(ack.session_present);
    let again = sub.publishes(h.now);
    assert_eq!(again.len(), 2);
    assert!(again.iter().all(|p| p.dup));
    assert_eq!(again[0].packet_id, first[0].packet_id);
    assert_eq!(again[1].payload, first[1].payload);
}

#[test]
fn clean_start_discards_the_session() {
    let h = Harness::new();
    let (mut sub, _) = h.connect(connect_v5("dev", false, 600));
    sub.subscribe(h.now, "t", QoS::AtLeastOnce);
    sub.close(h.now);
    let (mut sub, ack) = h.connect(connect_v5("dev", true, 600));
    assert!(!ack.session_present);
    let (mut publisher, _) = h.connect(connect_v5("pub", true, 0));
    publisher.publish(h.now, "t", b"1", QoS::AtLeastOnce, false);
    assert!(sub.publishes(h.now).is_empty());
    assert_eq!(h.broker.router().subscription_count(), 0);
}

#[test]
fn sessions_expire_after_their_interval() {
    let mut h = Harness::new();
    let (sub, _) = h.connect(connect_v5("dev", false, 30));
    sub.close(h.now);
    h.advance(Duration::from_secs(29));
    assert_eq!(h.broker.session_count(), 1);
    h.advance(Duration::from_secs(2));
    assert_eq!(h.broker.session_count(), 0);
    let (_, ack) = h.connect(connect_v5("dev", false, 30));
    assert!(!ack.session_present);
}

#[test]
fn session_expiry_zero_ends_the_session_with_the_connection() {
    let h = Harness::new();
    let (mut sub, _) = h.connect(connect_v5("dev", false, 0));
    sub.subscribe(h.now, "t", QoS::AtLeastOnce);
    sub.close(h.now);
    assert_eq!(h.broker.session_count(), 0);
    assert_eq!(h.broker.router().subscription_count(), 0);
}

#[test]
fn disconnect_may_change_a_nonzero_session_expiry() {
    let mut h = Harness::new();
    let (sub, _) = h.connect(connect_v5("dev", false, 10));
    let mut sub = sub;
    sub.send(
        h.now,
        Packet::Disconnect(gridmq_codec::Disconnect {
            reason_code: ReasonCode::Success,
            properties: gridmq_codec::DisconnectProperties {
                session_expiry_interval: Some(100),
                ..Default::default()
            },
        }),
    );
    sub.close(h.now);
    h.advance(Duration::from_secs(50));
    assert_eq!(h.broker.session_count(), 1);
}

#[test]
fn disconnect_cannot_raise_a_zero_session_expiry() {
    let h = Harness::new();
    let (mut sub, _) = h.connect(connect_v5("dev", true, 0));
    sub.send(
        h.now,
        Packet::Disconnect(gridmq_codec::Disconnect {
            reason_code: ReasonCode::Success,
            properties: gridmq_codec::DisconnectProperties {
                session_expiry_interval: Some(100),
                ..Default::default()
            },
        }),
    );
    let answer = sub.recv_at(h.now);
    assert!(
        matches!(answer.as_slice(), [Packet::Disconnect(d)] if d.reason_code == ReasonCode::ProtocolError)
    );
}

#[test]
fn takeover_disconnects_the_old_connection_with_0x8e_and_keeps_the_session() {
    let h = Harness::new();
    let (mut old, _) = h.connect(connect_v5("dev", false, 600));
    old.subscribe(h.now, "t", QoS::AtLeastOnce);
    let sent_before_close = {
        let (new, ack) = h.take_over(&mut old, connect_v5("dev", false, 600));
        assert!(ack.session_present);
        new
    };
    let mut new = sent_before_close;
    let (mut publisher, _) = h.connect(connect_v5("pub", true, 0));
    publisher.publish(h.now, "t", b"x", QoS::AtLeastOnce, false);
    assert_eq!(new.publishes(h.now).len(), 1);
    let disconnect = old.wire.clone();
    assert!(disconnect.ends_with(b"\x8e\x00") || disconnect.windows(1).any(|w| w == [0x8e]));
}

#[test]
fn takeover_sends_disconnect_0x8e() {
    let h = Harness::new();
    let (mut old, _) = h.connect(connect_v5("dev", true, 0));
    let plan = h
        .broker
        .check_connect(Box::new(connect_v5("dev", true, 0)))
        .unwrap();
    let control = std::sync::Arc::new(crate::ConnectionControl::new());
    let crate::Claim::Wait(_pending) = h.broker.claim(&plan, control) else {
        panic!()
    };
    let sent = old.process_kick(h.now);
    assert!(
        matches!(sent.as_slice(), [Packet::Disconnect(d)] if d.reason_code == ReasonCode::SessionTakenOver)
    );
}

#[test]
fn empty_client_ids() {
    let h = Harness::new();
    let (_, ack) = h.connect(connect_v5("", true, 0));
    assert!(ack.properties.assigned_client_identifier.is_some());
    let (_, ack) = h.connect(connect("", ProtocolVersion::V3_1_1, true));
    assert_eq!(ack.reason_code, ReasonCode::Success);
    let refused = h
        .try_connect(
            connect("", ProtocolVersion::V3_1_1, false),
            None,
            std::sync::Arc::new(crate::AllowAll),
        )
        .err()
        .unwrap();
    assert_eq!(refused.reason_code, ReasonCode::ClientIdentifierNotValid);
}

#[test]
fn authentication_method_without_enhanced_auth_is_refused() {
    let h = Harness::new();
    let mut c = connect_v5("c", true, 0);
    c.properties.authentication_method = Some("SCRAM-SHA-1".into());
    let refused = h
        .try_connect(c, None, std::sync::Arc::new(crate::AllowAll))
        .err()
        .unwrap();
    assert_eq!(refused.reason_code, ReasonCode::BadAuthenticationMethod);
}

#[test]
fn server_keep_alive_caps_the_clients_request() {
    let config = crate::EngineConfig {
        max_keep_alive: 30,
        ..Default::default()
    };
    let h = Harness::with_config(config);
    let mut c = connect_v5("c", true, 0);
    c.keep_alive = 600;
    let (mut client, ack) = h.connect(c);
    assert_eq!(ack.properties.server_keep_alive, Some(30));
    let answer = client.timeout(h.now + Duration::from_secs(44));
    assert!(answer.is_empty());
    let answer = client.timeout(h.now + Duration::from_secs(45));
    assert!(
        matches!(answer.as_slice(), [Packet::Disconnect(d)] if d.reason_code == ReasonCode::KeepAliveTimeout)
    );
}

#[test]
fn offline_queue_overflow_drops_oldest_and_counts() {
    let config = crate::EngineConfig {
        max_queued_messages: 2,
        ..Default::default()
    };
    let h = Harness::with_config(config);
    let (mut sub, _) = h.connect(connect_v5("dev", false, 600));
    sub.subscribe(h.now, "t", QoS::AtLeastOnce);
    sub.close(h.now);
    let (mut publisher, _) = h.connect(connect_v5("pub", true, 0));
    for payload in [&b"1"[..], b"2", b"3"] {
        let mut p = gridmq_codec::Publish::new(
            gridmq_codec::TopicName::new("t").unwrap(),
            bytes::Bytes::from_static(payload),
        );
        p.qos = QoS::AtLeastOnce;
        p.packet_id = Some(publisher.packet_id());
        publisher.send(h.now, Packet::Publish(p));
    }
    publisher.recv_at(h.now);
    let (mut sub, _) = h.connect(connect_v5("dev", false, 600));
    let got: Vec<_> = sub
        .publishes(h.now)
        .into_iter()
        .map(|p| p.payload)
        .collect();
    assert_eq!(
        got,
        vec![
            bytes::Bytes::from_static(b"2"),
            bytes::Bytes::from_static(b"3")
        ]
    );
    assert_eq!(crate::Stats::get(&h.broker.stats().dropped_queue_full), 1);
}

#[test]
fn refuse_policy_answers_quota_exceeded() {
    let config = crate::EngineConfig {
        max_queued_messages: 1,
        queue_overflow: crate::OverflowPolicy::Refuse,
        ..Default::default()
    };
    let h = Harness::with_config(config);
    let (mut sub, _) = h.connect(connect_v5("dev", false, 600));
    sub.subscribe(h.now, "t", QoS::AtLeastOnce);
    sub.close(h.now);
    let (mut publisher, _) = h.connect(connect_v5("pub", true, 0));
    publisher.publish(h.now, "t", b"1", QoS::AtLeastOnce, false);
    let answer = publisher.publish(h.now, "t", b"2", QoS::AtLeastOnce, false);
    assert!(
        matches!(answer.as_slice(), [Packet::PubAck(a)] if a.reason_code == ReasonCode::QuotaExceeded)
    );
}

#[test]
fn shared_qos1_in_flight_moves_to_another_member_when_one_disconnects() {
    let h = Harness::new();
    let (mut a, _) = h.connect(connect_v5("a", false, 600));
    let (mut b, _) = h.connect(connect_v5("b", false, 600));
    a.subscribe(h.now, "$share/g/t", QoS::AtLeastOnce);
    b.subscribe(h.now, "$share/g/t", QoS::AtLeastOnce);
    let (mut publisher, _) = h.connect(connect_v5("pub", true, 0));
    publisher.publish(h.now, "t", b"1", QoS::AtLeastOnce, false);
    publisher.publish(h.now, "t", b"2", QoS::AtLeastOnce, false);
    let got_a = a.publishes(h.now);
    let got_b = b.publishes(h.now);
    assert_eq!(got_a.len() + got_b.len(), 2);
    // a leaves without acknowledging; its message goes to b.
    let moved = got_a.len();
    a.close(h.now);
    assert_eq!(b.publishes(h.now).len(), moved);
}

#[test]
fn sessions_per_identity_are_limited_online_and_offline() {
    let mut h = Harness::new();
    h.max_sessions_per_owner = Some(2);
    let (a, _) = h.connect_as(connect_v5("s1", false, 600), Some("Device-1"));
    a.close(h.now);
    let (_b, _) = h.connect_as(connect_v5("s2", false, 600), Some("device-1"));
    let refused = h
        .try_connect(
            connect_v5("s3", false, 600),
            Some("DEVICE-1"),
            std::sync::Arc::new(crate::AllowAll),
        )
        .err()
        .unwrap();
    assert_eq!(
        refused.reason_code,
        ReasonCode::QuotaExceeded,
        "an offline session still counts"
    );
    // The same identity may resume one of its own sessions.
    let (_a, ack) = h.connect_as(connect_v5("s1", false, 600), Some("device-1"));
    assert!(ack.session_present);
}

#[test]
fn another_identity_cannot_take_a_session_name() {
    let h = Harness::new();
    let (_a, _) = h.connect_as(connect_v5("shared-name", false, 600), Some("alice"));
    let refused = h
        .try_connect(
            connect_v5("shared-name", false, 600),
            Some("bob"),
            std::sync::Arc::new(crate::AllowAll),
        )
        .err()
        .unwrap();
    assert_eq!(refused.reason_code, ReasonCode::NotAuthorized);
}
