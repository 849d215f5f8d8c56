//! MQTT 5 shared subscriptions: `$share/<group>/<filter>` splits messages between the
//! group's members; unacknowledged messages of a member that leaves go to another;
//! groups are independent of each other and of plain subscriptions; No Local on a
//! shared subscription is a protocol error; and paho.

mod support;

use std::collections::BTreeSet;

use gridmq_codec::{Packet, QoS, ReasonCode};
use rumqttc::v5::mqttbytes::QoS as V5QoS;
use support::peers::python;
use support::raw::{self, RawClient, ack};
use support::rumqtt::{V5, v5_options};
use support::{broker, within};

#[tokio::test]
async fn messages_are_balanced_across_the_members_of_a_group() {
    let server = broker().await;
    let port = server.mqtt_addr().port();
    let (mut a, _) = V5::connect(v5_options(port, "member-a")).await;
    let (mut b, _) = V5::connect(v5_options(port, "member-b")).await;
    let (mut plain, _) = V5::connect(v5_options(port, "plain")).await;
    a.subscribe("$share/workers/jobs/#", V5QoS::AtLeastOnce)
        .await;
    b.subscribe("$share/workers/jobs/#", V5QoS::AtLeastOnce)
        .await;
    plain.subscribe("jobs/#", V5QoS::AtLeastOnce).await;
    let (mut publisher, _) = V5::connect(v5_options(port, "boss")).await;
    for i in 0..10 {
        publisher
            .publish(
                &format!("jobs/{i}"),
                V5QoS::AtLeastOnce,
                false,
                format!("{i}"),
            )
            .await;
    }
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    within("ten shared deliveries", async {
        while got_a.len() + got_b.len() < 10 {
            tokio::select! {
                p = a.next_publish() => got_a.push(String::from_utf8_lossy(&p.payload).into_owned()),
                p = b.next_publish() => got_b.push(String::from_utf8_lossy(&p.payload).into_owned()),
            }
        }
    })
    .await;
    let all: BTreeSet<_> = got_a.iter().chain(&got_b).cloned().collect();
    assert_eq!(all.len(), 10, "each message once: {got_a:?} {got_b:?}");
    assert!(
        !got_a.is_empty() && !got_b.is_empty(),
        "both members get work: {got_a:?} {got_b:?}"
    );
    // The plain subscription gets every message, independently of the group.
    for i in 0..10 {
        assert_eq!(
            &plain.next_publish().await.payload[..],
            format!("{i}").as_bytes()
        );
    }
    for client in [a, b, plain, publisher] {
        client.disconnect().await;
    }
}

#[tokio::test]
async fn unacknowledged_messages_of_a_member_that_leaves_go_to_another() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let mut leaver = RawClient::v5(addr, "leaver").await;
    leaver.subscribe("$share/g/work", QoS::AtLeastOnce).await;
    let mut stayer = RawClient::v5(addr, "stayer").await;
    stayer.subscribe("$share/g/work", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::v5(addr, "work-pub").await;
    for id in 1..=6u16 {
        publisher
            .publish("work", QoS::AtLeastOnce, id, id.to_string().as_bytes())
            .await;
        assert!(matches!(publisher.expect().await, Packet::PubAck(_)));
    }
    // Round robin: the leaver got some and acknowledges none of them.
    let first = leaver.expect_publish().await;
    let mut done = BTreeSet::new();
    drop(leaver);
    within("all six at the stayer", async {
        while done.len() < 6 {
            let p = stayer.expect_publish().await;
            stayer
                .send_packet(&Packet::PubAck(ack(p.packet_id.expect("QoS 1").get())))
                .await;
            done.insert(String::from_utf8_lossy(&p.payload).into_owned());
        }
    })
    .await;
    assert!(done.contains(&*String::from_utf8_lossy(&first.payload)));
    stayer.disconnect().await;
    publisher.disconnect().await;
}

#[tokio::test]
async fn two_groups_each_get_every_message() {
    let server = broker().await;
    let port = server.mqtt_addr().port();
    let (mut one, _) = V5::connect(v5_options(port, "group-one")).await;
    let (mut two, _) = V5::connect(v5_options(port, "group-two")).await;
    one.subscribe("$share/one/events", V5QoS::AtMostOnce).await;
    two.subscribe("$share/two/events", V5QoS::AtMostOnce).await;
    let (mut publisher, _) = V5::connect(v5_options(port, "events-pub")).await;
    for i in 0..3 {
        publisher
            .publish("events", V5QoS::AtLeastOnce, false, format!("{i}"))
            .await;
    }
    for i in 0..3 {
        assert_eq!(
            &one.next_publish().await.payload[..],
            format!("{i}").as_bytes()
        );
        assert_eq!(
            &two.next_publish().await.payload[..],
            format!("{i}").as_bytes()
        );
    }
    for client in [one, two, publisher] {
        client.disconnect().await;
    }
}

#[tokio::test]
async fn no_local_on_a_shared_subscription_is_a_protocol_error() {
    let server = broker().await;
    let mut client = RawClient::v5(server.mqtt_addr(), "shared-no-local").await;
    // SUBSCRIBE id 1, no properties, "$share/g/t" with No Local and QoS 1 (options 0x05).
    // Raw bytes: the codec refuses to encode this packet.
    let mut body = vec![0x00, 0x01, 0x00];
    body.extend(raw::field(b"$share/g/t"));
    body.push(0x05);
    client.send(&raw::packet(0x82, &body)).await;
    // [MQTT-3.8.3-4]
    client.expect_disconnect(ReasonCode::ProtocolError).await;
}

#[tokio::test]
async fn paho_v5_shared_subscription() {
    let server = broker().await;
    python("shared_subscription.py", server.mqtt_addr().port(), &[]).await;
}

#[tokio::test]
async fn with_on_session_end_a_member_that_comes_back_gets_its_messages_again() {
    use gridmq_server::config::SharedRedeliveryPolicy;
    let server = support::broker_with(|c| {
        c.mqtt.shared_redelivery = SharedRedeliveryPolicy::OnSessionEnd;
    })
    .await;
    let addr = server.mqtt_addr();
    let mut connect = raw::connect(gridmq_codec::ProtocolVersion::V5, "returner", true);
    connect.properties.session_expiry_interval = Some(60);
    let (mut returner, _) = RawClient::connect(addr, connect.clone()).await;
    returner.subscribe("$share/g/back", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::v5(addr, "back-pub").await;
    // The only member so far gets the message and does not acknowledge it.
    publisher
        .publish("back", QoS::AtLeastOnce, 1, b"mine")
        .await;
    assert!(matches!(publisher.expect().await, Packet::PubAck(_)));
    let first = returner.expect_publish().await;
    assert_eq!(&first.payload[..], b"mine");
    // Another member joins; then the first one's connection drops.
    let mut other = RawClient::v5(addr, "other-member").await;
    other.subscribe("$share/g/back", QoS::AtLeastOnce).await;
    other.subscribe("back/marker", QoS::AtMostOnce).await;
    drop(returner);

    connect.clean_start = false;
    let (mut returner, ack) = RawClient::connect(addr, connect).await;
    assert!(ack.session_present);
    let again = returner.expect_publish().await;
    assert!(again.dup);
    assert_eq!(&again.payload[..], b"mine");
    // The other member never got it.
    publisher
        .publish("back/marker", QoS::AtMostOnce, 0, b"")
        .await;
    assert_eq!(other.expect_publish().await.topic.as_str(), "back/marker");
    for client in [returner, other, publisher] {
        client.disconnect().await;
    }
}
