//! Bad input, as raw bytes. Each test checks the answer (the v5 reason code in CONNACK
//! or DISCONNECT, or that a 3.x connection is closed), that the broker stays up, that
//! clients already connected are unaffected, and that acknowledged messages are not
//! lost.

mod support;

use std::net::SocketAddr;

use gridmq_codec::{Packet, ProtocolVersion, QoS, ReasonCode};
use gridmq_engine::Stats;
use support::raw::{self, RawClient, ack, field, packet, varint};
use support::{broker, broker_with, unique, within};

/// Two clients minding their own business while another misbehaves. One message is
/// acknowledged before the bad input; [`Bystanders::check`] shows it and a new one
/// arrive, and that a new client can still connect.
struct Bystanders {
    addr: SocketAddr,
    subscriber: RawClient,
    publisher: RawClient,
}

impl Bystanders {
    async fn new(addr: SocketAddr) -> Self {
        let mut subscriber = RawClient::v5(addr, &unique("bystander-sub").replace('/', "-")).await;
        subscriber.subscribe("bystander/#", QoS::AtLeastOnce).await;
        let mut publisher = RawClient::v5(addr, &unique("bystander-pub").replace('/', "-")).await;
        publisher
            .publish("bystander/before", QoS::AtLeastOnce, 1, b"before")
            .await;
        assert_eq!(publisher.expect().await, Packet::PubAck(ack(1)));
        Self {
            addr,
            subscriber,
            publisher,
        }
    }

    async fn check(mut self) {
        self.publisher
            .publish("bystander/after", QoS::AtLeastOnce, 2, b"after")
            .await;
        assert_eq!(self.publisher.expect().await, Packet::PubAck(ack(2)));
        for expected in ["before", "after"] {
            let p = self.subscriber.expect_publish().await;
            assert_eq!(
                &p.payload[..],
                expected.as_bytes(),
                "acknowledged, not lost"
            );
            let Some(id) = p.packet_id else {
                panic!("QoS 1 has a packet id: {p:?}");
            };
            self.subscriber
                .send_packet(&Packet::PubAck(ack(id.get())))
                .await;
        }
        let newcomer = RawClient::v5(self.addr, &unique("newcomer").replace('/', "-")).await;
        newcomer.disconnect().await;
        self.subscriber.disconnect().await;
        self.publisher.disconnect().await;
    }
}

/// A deterministic byte generator (xorshift), so a failure can be replayed.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Sends `bytes` on a new v5 connection and expects DISCONNECT `reason`.
async fn v5_violation(addr: SocketAddr, bytes: &[u8], reason: ReasonCode) {
    let mut client = RawClient::v5(addr, &unique("offender").replace('/', "-")).await;
    client.send(bytes).await;
    client.expect_disconnect(reason).await;
}

/// Sends `bytes` on a new 3.1.1 connection and expects it to be closed with no answer.
async fn v311_violation(addr: SocketAddr, bytes: &[u8]) {
    let mut client = RawClient::v311(addr, &unique("offender3").replace('/', "-")).await;
    client.send(bytes).await;
    assert_eq!(client.expect_closed().await, []);
}

fn publish_bytes(first_byte: u8, topic: &[u8], v5: bool, payload: &[u8]) -> Vec<u8> {
    let mut body = field(topic);
    if first_byte & 0x06 != 0 {
        body.extend([0x00, 0x07]);
    }
    if v5 {
        body.push(0);
    }
    body.extend_from_slice(payload);
    packet(first_byte, &body)
}

#[tokio::test]
async fn random_bytes_instead_of_connect_are_closed() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let bystanders = Bystanders::new(addr).await;
    for seed in 1..=20u64 {
        let mut bytes = noise(seed, 64 + seed as usize * 13);
        // Not a CONNECT packet type: this is garbage, not a lucky CONNECT.
        if bytes[0] >> 4 == 1 {
            bytes[0] ^= 0x80;
        }
        let mut client = RawClient::tcp(addr, ProtocolVersion::V5).await;
        let _ = client.try_send(&bytes).await;
        client.shutdown_write().await;
        let answer = client.expect_closed().await;
        assert!(
            answer
                .iter()
                .all(|p| matches!(p, Packet::ConnAck(a) if a.reason_code.is_error())),
            "seed {seed}: {answer:?}"
        );
    }
    bystanders.check().await;
}

#[tokio::test]
async fn random_bytes_after_connect_end_the_connection_with_an_error() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let bystanders = Bystanders::new(addr).await;
    for seed in 1..=20u64 {
        let mut client = RawClient::v5(addr, &format!("noisy-{seed}")).await;
        let _ = client.try_send(&noise(seed * 7919, 200)).await;
        client.shutdown_write().await;
        for p in client.expect_closed().await {
            // Noise may happen to hold valid packets; anything the broker ends the
            // connection with is an error.
            if let Packet::Disconnect(d) = p {
                assert!(d.reason_code.is_error(), "seed {seed}: {d:?}");
            }
        }
    }
    bystanders.check().await;
}

#[tokio::test]
async fn truncated_packets_are_malformed() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let bystanders = Bystanders::new(addr).await;
    // A topic length running past the remaining length.
    v5_violation(addr, b"\x30\x04\x00\x09ab", ReasonCode::MalformedPacket).await;
    // A property length running past the remaining length.
    v5_violation(
        addr,
        b"\x30\x05\x00\x01a\x09\x01",
        ReasonCode::MalformedPacket,
    )
    .await;
    // A SUBSCRIBE filter length running past the end.
    v5_violation(
        addr,
        b"\x82\x05\x00\x01\x00\x00\x05",
        ReasonCode::MalformedPacket,
    )
    .await;
    // A SUBSCRIBE with no filter at all is a protocol error ([MQTT-3.8.3-2]).
    v5_violation(addr, b"\x82\x03\x00\x01\x00", ReasonCode::ProtocolError).await;
    v311_violation(addr, b"\x30\x04\x00\x09ab").await;
    // A v5 CONNECT whose client id runs past the end: CONNACK 0x81.
    let mut client = RawClient::tcp(addr, ProtocolVersion::V5).await;
    client
        .send(b"\x10\x0f\x00\x04MQTT\x05\x02\x00\x00\x00\x00\x10abc")
        .await;
    let connack = client.expect_connack().await;
    assert_eq!(connack.reason_code, ReasonCode::MalformedPacket);
    assert_eq!(client.expect_closed().await, []);
    // A packet cut off by the end of the stream.
    let mut client = RawClient::v5(addr, "cut-off").await;
    client.send(b"\x30\x20\x00\x03a/b").await;
    client.shutdown_write().await;
    assert_eq!(client.expect_closed().await, []);
    bystanders.check().await;
}

#[tokio::test]
async fn a_remaining_length_over_four_bytes_is_malformed() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let bystanders = Bystanders::new(addr).await;
    v5_violation(
        addr,
        b"\x30\xff\xff\xff\xff\x01",
        ReasonCode::MalformedPacket,
    )
    .await;
    v311_violation(addr, b"\xc0\x80\x80\x80\x80\x01").await;
    bystanders.check().await;
}

#[tokio::test]
async fn a_packet_before_connect_is_closed() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let bystanders = Bystanders::new(addr).await;
    for bytes in [
        &b"\xc0\x00"[..],
        b"\x30\x05\x00\x01ahi",
        b"\x82\x06\x00\x01\x00\x01a\x00",
        b"\xe0\x00",
    ] {
        let mut client = RawClient::tcp(addr, ProtocolVersion::V5).await;
        client.send(bytes).await;
        assert_eq!(client.expect_closed().await, [], "{bytes:?}");
    }
    bystanders.check().await;
}

#[tokio::test]
async fn a_second_connect_is_a_protocol_error() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let bystanders = Bystanders::new(addr).await;
    let connect = Packet::Connect(Box::new(raw::connect(ProtocolVersion::V5, "twice", true)));
    let bytes = connect.to_bytes(ProtocolVersion::V5).expect("encodes");
    v5_violation(addr, &bytes, ReasonCode::ProtocolError).await;
    let connect = Packet::Connect(Box::new(raw::connect(
        ProtocolVersion::V3_1_1,
        "twice3",
        true,
    )));
    let bytes = connect.to_bytes(ProtocolVersion::V3_1_1).expect("encodes");
    v311_violation(addr, &bytes).await;
    bystanders.check().await;
}

#[tokio::test]
async fn reserved_flags_are_malformed() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let bystanders = Bystanders::new(addr).await;
    // PUBREL, SUBSCRIBE and UNSUBSCRIBE must carry flags 0b0010; PINGREQ 0.
    v5_violation(addr, b"\x60\x02\x00\x01", ReasonCode::MalformedPacket).await;
    v5_violation(
        addr,
        b"\x80\x06\x00\x01\x00\x01a\x00",
        ReasonCode::MalformedPacket,
    )
    .await;
    v5_violation(
        addr,
        b"\xa0\x05\x00\x01\x00\x01a",
        ReasonCode::MalformedPacket,
    )
    .await;
    v5_violation(addr, b"\xc1\x00", ReasonCode::MalformedPacket).await;
    // Reserved bits of the subscription options.
    v5_violation(
        addr,
        b"\x82\x06\x00\x01\x00\x00\x01a\xc0",
        ReasonCode::MalformedPacket,
    )
    .await;
    v311_violation(addr, b"\x60\x02\x00\x01").await;
    // CONNECT's reserved flag: CONNACK 0x81 for v5, closed for 3.1.1.
    let mut client = RawClient::tcp(addr, ProtocolVersion::V5).await;
    client
        .send(b"\x10\x0e\x00\x04MQTT\x05\x03\x00\x00\x00\x00\x01a")
        .await;
    assert_eq!(
        client.expect_connack().await.reason_code,
        ReasonCode::MalformedPacket
    );
    let mut client = RawClient::tcp(addr, ProtocolVersion::V3_1_1).await;
    client
        .send(b"\x10\x0d\x00\x04MQTT\x04\x03\x00\x00\x00\x01a")
        .await;
    assert_eq!(client.expect_closed().await, []);
    bystanders.check().await;
}

#[tokio::test]
async fn qos_3_is_malformed() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let bystanders = Bystanders::new(addr).await;
    v5_violation(
        addr,
        &publish_bytes(0x36, b"bystander/x", true, b"x"),
        ReasonCode::MalformedPacket,
    )
    .await;
    v311_violation(addr, &publish_bytes(0x36, b"bystander/x", false, b"x")).await;
    bystanders.check().await;
}

#[tokio::test]
async fn a_wildcard_in_a_publish_topic_is_refused() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let bystanders = Bystanders::new(addr).await;
    for topic in [&b"bystander/+"[..], b"bystander/#", b"+"] {
        v5_violation(
            addr,
            &publish_bytes(0x30, topic, true, b"x"),
            ReasonCode::TopicNameInvalid,
        )
        .await;
        v311_violation(addr, &publish_bytes(0x32, topic, false, b"x")).await;
    }
    bystanders.check().await;
}

#[tokio::test]
async fn invalid_utf8_and_u0000_in_a_topic_are_malformed() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let bystanders = Bystanders::new(addr).await;
    for topic in [
        &b"bystander/\xff"[..],
        b"bystander/\xc0\xaf",
        b"bystander/\xed\xa0\x80",
        b"bystander/\x00",
    ] {
        v5_violation(
            addr,
            &publish_bytes(0x32, topic, true, b"x"),
            ReasonCode::MalformedPacket,
        )
        .await;
        v311_violation(addr, &publish_bytes(0x30, topic, false, b"x")).await;
    }
    // The same in a subscription filter.
    v5_violation(
        addr,
        b"\x82\x07\x00\x01\x00\x00\x02\xff#\x00",
        ReasonCode::MalformedPacket,
    )
    .await;
    bystanders.check().await;
}

#[tokio::test]
async fn topic_alias_0_or_over_the_maximum_is_refused_with_0x94() {
    let server = broker_with(|c| c.mqtt.topic_alias_maximum = 10).await;
    let addr = server.mqtt_addr();
    let bystanders = Bystanders::new(addr).await;
    for alias in [0u16, 11, u16::MAX] {
        let mut body = field(b"bystander/alias");
        body.extend([3, 0x23]);
        body.extend(alias.to_be_bytes());
        body.push(b'x');
        v5_violation(addr, &packet(0x30, &body), ReasonCode::TopicAliasInvalid).await;
    }
    bystanders.check().await;
}

#[tokio::test]
async fn a_reused_qos_2_packet_id_is_acknowledged_again_and_delivered_once() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let mut bystanders = Bystanders::new(addr).await;
    let mut client = RawClient::v5(addr, "retransmitter").await;
    let first = publish_bytes(0x34, b"bystander/q2", true, b"exactly once");
    client.send(&first[..]).await;
    assert_eq!(client.expect().await, Packet::PubRec(ack(7)));
    // Retransmitted without PUBREL: DUP set, same packet id.
    let mut again = first.clone();
    again[0] |= 0x08;
    client.send(&again).await;
    assert_eq!(client.expect().await, Packet::PubRec(ack(7)));
    client.send(&again).await;
    assert_eq!(client.expect().await, Packet::PubRec(ack(7)));
    client.send_packet(&Packet::PubRel(ack(7))).await;
    assert_eq!(client.expect().await, Packet::PubComp(ack(7)));
    // A PUBREL for an id no longer in use is answered with 0x92.
    client.send_packet(&Packet::PubRel(ack(7))).await;
    match client.expect().await {
        Packet::PubComp(c) => assert_eq!(c.reason_code, ReasonCode::PacketIdentifierNotFound),
        other => panic!("expected PUBCOMP, got {other:?}"),
    }
    // The bystander got "before" and then the message once; "after" follows in check.
    let before = bystanders.subscriber.expect_publish().await;
    assert_eq!(&before.payload[..], b"before");
    let once = bystanders.subscriber.expect_publish().await;
    assert_eq!(&once.payload[..], b"exactly once");
    for p in [before, once] {
        let id = p.packet_id.expect("QoS 1").get();
        bystanders
            .subscriber
            .send_packet(&Packet::PubAck(ack(id)))
            .await;
    }
    client.disconnect().await;
    // Re-publish "before" so that check's expectations hold.
    bystanders
        .publisher
        .publish("bystander/before", QoS::AtLeastOnce, 3, b"before")
        .await;
    assert_eq!(bystanders.publisher.expect().await, Packet::PubAck(ack(3)));
    bystanders.check().await;
}

#[tokio::test]
async fn exceeding_the_receive_maximum_is_refused_with_0x93() {
    let server = broker_with(|c| c.mqtt.receive_maximum = 2).await;
    let addr = server.mqtt_addr();
    let mut watcher = RawClient::v5(addr, "rm-watcher").await;
    watcher.subscribe("rm/#", QoS::AtMostOnce).await;
    let bystanders = Bystanders::new(addr).await;
    let (mut client, connack) =
        RawClient::connect(addr, raw::connect(ProtocolVersion::V5, "greedy", true)).await;
    assert_eq!(connack.properties.receive_maximum, Some(raw::nz(2)));
    for id in 1..=2u16 {
        client
            .publish("rm/t", QoS::ExactlyOnce, id, &[b'0' + id as u8])
            .await;
        assert_eq!(client.expect().await, Packet::PubRec(ack(id)));
    }
    client.publish("rm/t", QoS::ExactlyOnce, 3, b"3").await;
    client
        .expect_disconnect(ReasonCode::ReceiveMaximumExceeded)
        .await;
    // The two acknowledged with PUBREC were delivered; the third was not.
    assert_eq!(&watcher.expect_publish().await.payload[..], b"1");
    assert_eq!(&watcher.expect_publish().await.payload[..], b"2");
    watcher.publish("rm/end", QoS::AtMostOnce, 0, b"end").await;
    assert_eq!(&watcher.expect_publish().await.payload[..], b"end");
    bystanders.check().await;
    watcher.disconnect().await;
}

#[tokio::test]
async fn an_oversize_packet_is_refused_from_its_header_with_0x95() {
    let server = broker_with(|c| c.mqtt.max_packet_size = bytesize::ByteSize::kib(1)).await;
    let addr = server.mqtt_addr();
    let bystanders = Bystanders::new(addr).await;
    // Announced in CONNACK.
    let (mut client, connack) =
        RawClient::connect(addr, raw::connect(ProtocolVersion::V5, "big", true)).await;
    assert_eq!(
        connack.properties.maximum_packet_size.map(|m| m.get()),
        Some(1024)
    );
    // Only the fixed header of a 10 MB PUBLISH is sent: the broker answers without
    // waiting for (or buffering) the body.
    let mut header = vec![0x30];
    header.extend(varint(10_000_000));
    header.extend(field(b"bystander/big"));
    client.send(&header).await;
    client.expect_disconnect(ReasonCode::PacketTooLarge).await;
    // A 3.1.1 client is closed the same way.
    let mut client = RawClient::v311(addr, "big3").await;
    client.send(&header).await;
    assert_eq!(client.expect_closed().await, []);
    // An oversize CONNECT gets CONNACK 0x95 (v5).
    let mut client = RawClient::tcp(addr, ProtocolVersion::V5).await;
    let mut connect = vec![0x10];
    connect.extend(varint(5_000));
    connect.extend(b"\x00\x04MQTT\x05\x02\x00\x00\x00");
    client.send(&connect).await;
    assert_eq!(
        client.expect_connack().await.reason_code,
        ReasonCode::PacketTooLarge
    );
    bystanders.check().await;
}

#[tokio::test]
async fn an_unsupported_protocol_level_gets_return_code_0x01() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let bystanders = Bystanders::new(addr).await;
    for (name, level) in [
        (&b"MQTT"[..], 6u8),
        (b"MQTT", 3),
        (b"MQIsdp", 4),
        (b"MQTT", 0),
    ] {
        let mut body = field(name);
        body.extend([level, 0x02, 0x00, 0x3c]);
        body.extend(field(b"future"));
        let mut client = RawClient::tcp(addr, ProtocolVersion::V3_1_1).await;
        client.send(&packet(0x10, &body)).await;
        // [MQTT-3.1.2-2] CONNACK return code 0x01, then close.
        assert_eq!(
            &client.expect_bytes(4).await[..],
            b"\x20\x02\x00\x01",
            "{name:?} {level}"
        );
        assert_eq!(client.expect_closed().await, []);
    }
    bystanders.check().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_backs_up_into_its_bounded_queue() {
    let server = broker_with(|c| {
        c.mqtt.max_queued_messages = 50;
        c.mqtt.max_queued_bytes = bytesize::ByteSize::mib(1);
    })
    .await;
    let addr = server.mqtt_addr();
    let bystanders = Bystanders::new(addr).await;
    let mut stuck = RawClient::tcp_small_buffer(addr, ProtocolVersion::V5, 4096).await;
    stuck
        .send_packet(&Packet::Connect(Box::new(raw::connect(
            ProtocolVersion::V5,
            "stuck",
            true,
        ))))
        .await;
    assert_eq!(
        stuck.expect_connack().await.reason_code,
        ReasonCode::Success
    );
    stuck.subscribe("flood/#", QoS::AtLeastOnce).await;
    // From here on the stuck client reads nothing.

    let mut flooder = RawClient::v5(addr, "flooder").await;
    let payload = vec![b'x'; 16 * 1024];
    let stats = server.broker().stats();
    let mut sent = 0u32;
    within("the stuck client's queue to overflow", async {
        while Stats::get(&stats.dropped_queue_full) == 0 {
            sent += 1;
            // Bounded: socket buffers plus 64 KiB plus 50 queued messages is far less.
            assert!(sent <= 4000, "no drop after {sent} messages of 16 KiB");
            let id = (sent % 60_000 + 1) as u16;
            flooder
                .publish("flood/t", QoS::AtLeastOnce, id, &payload)
                .await;
            assert!(matches!(flooder.expect().await, Packet::PubAck(_)));
        }
    })
    .await;
    // The broker is still serving everyone else.
    bystanders.check().await;
    // The stuck client is still connected. When it reads again it gets every message
    // that was not dropped, then a marker behind them: each message was either
    // delivered or dropped and counted, nothing else.
    flooder
        .publish("flood/end", QoS::AtMostOnce, 0, b"end")
        .await;
    flooder.disconnect().await;
    let mut received = 0u64;
    within("the stuck client to drain", async {
        loop {
            let p = stuck.expect_publish().await;
            if p.topic.as_str() == "flood/end" {
                break;
            }
            received += 1;
            assert!(received <= u64::from(sent), "more than was sent");
            if let Some(id) = p.packet_id {
                stuck.send_packet(&Packet::PubAck(ack(id.get()))).await;
            }
        }
    })
    .await;
    let dropped = Stats::get(&stats.dropped_queue_full);
    assert!(dropped >= 1);
    assert_eq!(
        received + dropped,
        u64::from(sent),
        "received {received}, dropped {dropped}"
    );
    stuck.disconnect().await;
}

#[tokio::test]
async fn other_publish_header_violations() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let bystanders = Bystanders::new(addr).await;
    // An empty topic without a Topic Alias ([MQTT-3.3.2-1] v5; a 3.1.1 topic must not
    // be empty).
    v5_violation(
        addr,
        &publish_bytes(0x30, b"", true, b"x"),
        ReasonCode::ProtocolError,
    )
    .await;
    v311_violation(addr, &publish_bytes(0x30, b"", false, b"x")).await;
    // DUP on a QoS 0 message ([MQTT-3.3.1-2]).
    v5_violation(
        addr,
        &publish_bytes(0x38, b"bystander/dup", true, b"x"),
        ReasonCode::MalformedPacket,
    )
    .await;
    // Packet identifier 0 ([MQTT-2.2.1-3]).
    let mut body = field(b"bystander/zero");
    body.extend([0x00, 0x00, 0x00]);
    v5_violation(addr, &packet(0x32, &body), ReasonCode::ProtocolError).await;
    // A property that PUBLISH cannot carry (Session Expiry Interval, 0x11).
    let mut body = field(b"bystander/prop");
    body.extend([5, 0x11, 0, 0, 0, 1]);
    v5_violation(addr, &packet(0x30, &body), ReasonCode::MalformedPacket).await;
    bystanders.check().await;
}

/// A CONNECT with `flags`, `properties` (v5 only) and `payload` after the client id.
fn connect_bytes(level: u8, flags: u8, properties: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut body = field(b"MQTT");
    body.extend([level, flags, 0x00, 0x3c]);
    if level == 5 {
        body.extend(varint(properties.len()));
        body.extend_from_slice(properties);
    }
    body.extend(field(b"bad-connect"));
    body.extend_from_slice(payload);
    packet(0x10, &body)
}

#[tokio::test]
async fn invalid_connect_packets_get_connack_with_the_reason_or_are_closed() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let bystanders = Bystanders::new(addr).await;
    let will = [field(b"w/t"), field(b"bye")].concat();
    let will_v5 = [vec![0], field(b"w/t"), field(b"bye")].concat();
    let cases: &[(&str, Vec<u8>, ReasonCode)] = &[
        (
            "will QoS 3",
            connect_bytes(5, 0x02 | 0x04 | 0x18, &[], &will_v5),
            ReasonCode::MalformedPacket,
        ),
        (
            "will QoS without the will flag",
            connect_bytes(5, 0x02 | 0x08, &[], &[]),
            ReasonCode::MalformedPacket,
        ),
        (
            "will retain without the will flag",
            connect_bytes(5, 0x02 | 0x20, &[], &[]),
            ReasonCode::MalformedPacket,
        ),
        (
            "Receive Maximum 0",
            connect_bytes(5, 0x02, &[0x21, 0, 0], &[]),
            ReasonCode::ProtocolError,
        ),
        (
            "Maximum Packet Size 0",
            connect_bytes(5, 0x02, &[0x27, 0, 0, 0, 0], &[]),
            ReasonCode::ProtocolError,
        ),
        (
            "Request Problem Information 2",
            connect_bytes(5, 0x02, &[0x17, 2], &[]),
            ReasonCode::ProtocolError,
        ),
        (
            "Session Expiry Interval twice",
            connect_bytes(5, 0x02, &[0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2], &[]),
            ReasonCode::ProtocolError,
        ),
        (
            "a Topic Alias in CONNECT",
            connect_bytes(5, 0x02, &[0x23, 0, 1], &[]),
            ReasonCode::MalformedPacket,
        ),
        (
            "an unknown authentication method",
            connect_bytes(
                5,
                0x02,
                &[[0x15].as_slice(), &field(b"SCRAM-SHA-1")].concat(),
                &[],
            ),
            ReasonCode::BadAuthenticationMethod,
        ),
    ];
    for (what, bytes, reason) in cases {
        let mut client = RawClient::tcp(addr, ProtocolVersion::V5).await;
        client.send(bytes).await;
        let connack = client.expect_connack().await;
        assert_eq!(connack.reason_code, *reason, "{what}");
        assert!(!connack.session_present, "{what}");
        assert_eq!(client.expect_closed().await, [], "{what}");
    }
    // 3.1.1: a bad CONNECT is closed without CONNACK.
    for (what, bytes) in [
        (
            "will QoS 3",
            connect_bytes(4, 0x02 | 0x04 | 0x18, &[], &will),
        ),
        (
            "password without user name",
            connect_bytes(4, 0x02 | 0x40, &[], &field(b"secret")),
        ),
    ] {
        let mut client = RawClient::tcp(addr, ProtocolVersion::V3_1_1).await;
        client.send(&bytes).await;
        assert_eq!(client.expect_closed().await, [], "{what}");
    }
    bystanders.check().await;
}

#[tokio::test]
async fn invalid_subscribe_and_unsubscribe_packets() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let bystanders = Bystanders::new(addr).await;
    // Subscription Identifier 0.
    v5_violation(
        addr,
        b"\x82\x08\x00\x01\x02\x0b\x00\x00\x01a\x00",
        ReasonCode::ProtocolError,
    )
    .await;
    // Subscription QoS 3.
    v5_violation(
        addr,
        b"\x82\x06\x00\x01\x00\x00\x01a\x03",
        ReasonCode::MalformedPacket,
    )
    .await;
    // Retain Handling 3.
    v5_violation(
        addr,
        b"\x82\x06\x00\x01\x00\x00\x01a\x30",
        ReasonCode::MalformedPacket,
    )
    .await;
    // UNSUBSCRIBE without a filter ([MQTT-3.10.3-2]).
    v5_violation(addr, b"\xa2\x03\x00\x01\x00", ReasonCode::ProtocolError).await;
    // An AUTH packet without enhanced authentication.
    v5_violation(addr, b"\xf0\x00", ReasonCode::ProtocolError).await;
    // A packet only the server sends.
    v5_violation(addr, b"\x20\x03\x00\x00\x00", ReasonCode::ProtocolError).await;
    v311_violation(addr, b"\x82\x06\x00\x01\x00\x01a\x03").await;
    v311_violation(addr, b"\xf0\x00").await;
    bystanders.check().await;
}
