//! MQTT 5 flow control: the client's Receive Maximum and Maximum Packet Size are
//! respected by the broker, and the broker's Receive Maximum is announced and honoured
//! by rumqttc (exceeding it is in `bad_input.rs`).

mod support;

use gridmq_codec::{Packet, ProtocolVersion, QoS, ReasonCode};
use gridmq_engine::Stats;
use support::raw::{self, RawClient, ack, nz};
use support::rumqtt::{V5, v5_options};
use support::{broker, broker_with};

/// Reads QoS 1 publishes until a PINGRESP answers the PINGREQ sent first; returns their
/// packet ids. Nothing the broker may send is skipped.
async fn publishes_before_pingresp(client: &mut RawClient) -> Vec<u16> {
    client.send(&[0xC0, 0x00]).await;
    let mut ids = Vec::new();
    loop {
        match client.expect().await {
            Packet::PingResp => return ids,
            Packet::Publish(p) => ids.extend(p.packet_id.map(|id| id.get())),
            other => panic!("unexpected {other:?}"),
        }
        assert!(ids.len() <= 100, "unbounded publishes: {ids:?}");
    }
}

#[tokio::test]
async fn the_clients_receive_maximum_limits_messages_in_flight() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let mut connect = raw::connect(ProtocolVersion::V5, "slow-reader", true);
    connect.properties.receive_maximum = Some(nz(2));
    let (mut subscriber, _) = RawClient::connect(addr, connect).await;
    subscriber.subscribe("window/t", QoS::AtLeastOnce).await;

    let mut publisher = RawClient::v5(addr, "window-pub").await;
    for id in 1..=5 {
        publisher
            .publish("window/t", QoS::AtLeastOnce, id, &[b'0' + id as u8])
            .await;
        assert!(matches!(publisher.expect().await, Packet::PubAck(_)));
    }
    // All five are queued; only two may be unacknowledged at once.
    let mut first = Vec::new();
    while first.len() < 2 {
        first.extend(publishes_before_pingresp(&mut subscriber).await);
    }
    assert_eq!(first.len(), 2, "{first:?}");
    assert!(publishes_before_pingresp(&mut subscriber).await.is_empty());

    // Each PUBACK opens the window for exactly one more.
    subscriber.send_packet(&Packet::PubAck(ack(first[0]))).await;
    let mut third = Vec::new();
    while third.is_empty() {
        third.extend(publishes_before_pingresp(&mut subscriber).await);
    }
    assert_eq!(third.len(), 1, "{third:?}");
    assert!(publishes_before_pingresp(&mut subscriber).await.is_empty());

    subscriber.send_packet(&Packet::PubAck(ack(first[1]))).await;
    subscriber.send_packet(&Packet::PubAck(ack(third[0]))).await;
    let mut rest = Vec::new();
    while rest.len() < 2 {
        rest.extend(publishes_before_pingresp(&mut subscriber).await);
    }
    assert_eq!(rest.len(), 2, "{rest:?}");
    subscriber.disconnect().await;
    publisher.disconnect().await;
}

#[tokio::test]
async fn rumqttc_honours_the_brokers_receive_maximum() {
    let server = broker_with(|c| c.mqtt.receive_maximum = 2).await;
    let port = server.mqtt_addr().port();
    let (mut subscriber, _) = V5::connect(v5_options(port, "rm-sub")).await;
    subscriber
        .subscribe("rm/t", rumqttc::v5::mqttbytes::QoS::ExactlyOnce)
        .await;
    let (publisher, ack) = V5::connect(v5_options(port, "rm-pub")).await;
    assert_eq!(ack.properties.and_then(|p| p.receive_max), Some(2));
    // Queue ten QoS 2 publications at once; rumqttc keeps at most two in flight, so the
    // broker never has to refuse one with 0x93.
    for i in 0..10 {
        publisher
            .client
            .publish(
                "rm/t",
                rumqttc::v5::mqttbytes::QoS::ExactlyOnce,
                false,
                format!("{i}"),
            )
            .await
            .expect("queued");
    }
    for i in 0..10 {
        assert_eq!(
            &subscriber.next_publish().await.payload[..],
            format!("{i}").as_bytes()
        );
    }
    assert_eq!(Stats::get(&server.broker().stats().protocol_errors), 0);
    subscriber.disconnect().await;
    publisher.disconnect().await;
}

#[tokio::test]
async fn messages_larger_than_the_clients_maximum_packet_size_are_not_sent() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let mut connect = raw::connect(ProtocolVersion::V5, "small-packets", true);
    connect.properties.maximum_packet_size = std::num::NonZeroU32::new(64);
    let (mut subscriber, _) = RawClient::connect(addr, connect).await;
    subscriber.subscribe("size/#", QoS::AtLeastOnce).await;

    let mut publisher = RawClient::v5(addr, "size-pub").await;
    publisher
        .publish("size/big", QoS::AtLeastOnce, 1, &[b'x'; 200])
        .await;
    assert!(matches!(publisher.expect().await, Packet::PubAck(_)));
    publisher
        .publish("size/small", QoS::AtLeastOnce, 2, b"fits")
        .await;
    assert!(matches!(publisher.expect().await, Packet::PubAck(_)));

    // [MQTT-3.1.2-25] The large one is discarded as if delivered; the small one comes.
    let p = subscriber.expect_publish().await;
    assert_eq!(
        (p.topic.as_str(), &p.payload[..]),
        ("size/small", &b"fits"[..])
    );
    assert_eq!(
        Stats::get(&server.broker().stats().dropped_too_large),
        1,
        "the discarded message is counted"
    );
    subscriber.disconnect().await;
    publisher.disconnect().await;
}

/// Queues five QoS 1 messages for an offline session whose queue holds three, under
/// `policy`; returns the publisher's PUBACK reason codes and the payloads the session
/// gets when it comes back.
async fn overflow(policy: gridmq_server::config::QueueOverflow) -> (Vec<ReasonCode>, Vec<String>) {
    let server = broker_with(|c| {
        c.mqtt.max_queued_messages = 3;
        c.mqtt.queue_overflow = policy;
    })
    .await;
    let addr = server.mqtt_addr();
    let mut connect = raw::connect(ProtocolVersion::V5, "overflowing", true);
    connect.properties.session_expiry_interval = Some(600);
    let (mut device, _) = RawClient::connect(addr, connect.clone()).await;
    device.subscribe("overflow/t", QoS::AtLeastOnce).await;
    device.disconnect().await;

    let mut publisher = RawClient::v5(addr, "overflow-pub").await;
    let mut reasons = Vec::new();
    for id in 1..=5u16 {
        publisher
            .publish(
                "overflow/t",
                QoS::AtLeastOnce,
                id,
                id.to_string().as_bytes(),
            )
            .await;
        match publisher.expect().await {
            Packet::PubAck(a) => reasons.push(a.reason_code),
            other => panic!("expected PUBACK, got {other:?}"),
        }
    }
    publisher.disconnect().await;

    connect.clean_start = false;
    let (mut device, ack) = RawClient::connect(addr, connect).await;
    assert!(ack.session_present);
    let mut payloads = Vec::new();
    for _ in 0..3 {
        let p = device.expect_publish().await;
        payloads.push(String::from_utf8_lossy(&p.payload).into_owned());
    }
    device.disconnect().await;
    let dropped = Stats::get(&server.broker().stats().dropped_queue_full);
    assert_eq!(dropped, 2, "every drop is counted");
    (reasons, payloads)
}

#[tokio::test]
async fn a_full_queue_drops_the_oldest_message() {
    use gridmq_server::config::QueueOverflow;
    let (reasons, payloads) = overflow(QueueOverflow::DropOldest).await;
    assert!(
        reasons.iter().all(|r| *r == ReasonCode::Success),
        "{reasons:?}"
    );
    assert_eq!(payloads, ["3", "4", "5"]);
}

#[tokio::test]
async fn a_full_queue_drops_the_newest_message() {
    use gridmq_server::config::QueueOverflow;
    let (reasons, payloads) = overflow(QueueOverflow::DropNewest).await;
    assert!(
        reasons.iter().all(|r| *r == ReasonCode::Success),
        "{reasons:?}"
    );
    assert_eq!(payloads, ["1", "2", "3"]);
}

#[tokio::test]
async fn a_full_queue_under_refuse_answers_the_publisher_with_0x97() {
    use gridmq_server::config::QueueOverflow;
    let (reasons, payloads) = overflow(QueueOverflow::Refuse).await;
    assert_eq!(
        reasons,
        [
            ReasonCode::Success,
            ReasonCode::Success,
            ReasonCode::Success,
            ReasonCode::QuotaExceeded,
            ReasonCode::QuotaExceeded
        ]
    );
    assert_eq!(payloads, ["1", "2", "3"]);
}
