//! MQTT 5 CONNECT / CONNACK: the limits the broker announces, assigned client
//! identifiers, Response Information, Request Problem Information, Server Keep Alive and
//! the keep-alive timeout.

mod support;

use gridmq_codec::{Packet, ProtocolVersion, QoS, ReasonCode};
use support::raw::{self, RawClient};
use support::rumqtt::{V5, v5_options};
use support::{broker, broker_with};

#[tokio::test]
async fn connack_announces_the_broker_limits() {
    let server = broker().await;
    let (client, ack) = V5::connect(v5_options(server.mqtt_addr().port(), "limits")).await;
    assert!(!ack.session_present);
    let props = ack.properties.expect("CONNACK properties");
    assert_eq!(props.receive_max, Some(1024));
    assert_eq!(props.max_packet_size, Some(1024 * 1024));
    assert_eq!(props.topic_alias_max, Some(64));
    assert_eq!(props.assigned_client_identifier, None);
    // Everything is available: the flags are left out, which means "yes".
    assert_eq!(props.max_qos, None);
    assert_eq!(props.retain_available, None);
    client.disconnect().await;
}

#[tokio::test]
async fn an_empty_client_id_gets_an_assigned_client_identifier() {
    let server = broker().await;
    let port = server.mqtt_addr().port();
    let (mut first, ack) = V5::connect(v5_options(port, "")).await;
    let first_id = ack
        .properties
        .and_then(|p| p.assigned_client_identifier)
        .expect("Assigned Client Identifier");
    assert!(first_id.starts_with("auto-"), "{first_id}");
    let (second, ack) = V5::connect(v5_options(port, "")).await;
    let second_id = ack
        .properties
        .and_then(|p| p.assigned_client_identifier)
        .expect("Assigned Client Identifier");
    assert_ne!(first_id, second_id);

    // The assigned identifier is a real session: a second connection with it takes over.
    let (_third, ack) = V5::connect(v5_options(port, &first_id)).await;
    assert_eq!(
        ack.properties.and_then(|p| p.assigned_client_identifier),
        None
    );
    assert_eq!(
        first.server_disconnect().await,
        rumqttc::v5::mqttbytes::v5::DisconnectReasonCode::SessionTakenOver
    );
    second.disconnect().await;
}

#[tokio::test]
async fn response_information_is_returned_only_when_requested() {
    let server = broker().await;
    let port = server.mqtt_addr().port();
    let mut options = v5_options(port, "asks");
    options.set_request_response_info(Some(1));
    let (asks, ack) = V5::connect(options).await;
    assert_eq!(
        ack.properties.and_then(|p| p.response_information),
        Some("response/asks".to_owned())
    );
    let (quiet, ack) = V5::connect(v5_options(port, "quiet")).await;
    assert_eq!(ack.properties.and_then(|p| p.response_information), None);
    asks.disconnect().await;
    quiet.disconnect().await;
}

#[tokio::test]
async fn request_problem_information_0_drops_reason_strings_from_acknowledgements() {
    let server = broker_with(|c| c.mqtt.max_topic_length = 8).await;
    let addr = server.mqtt_addr();
    for (request, expect_reason_string) in [(None, true), (Some(false), false)] {
        let mut connect = raw::connect(ProtocolVersion::V5, "problems", true);
        connect.properties.request_problem_information = request;
        let (mut client, _) = RawClient::connect(addr, connect).await;
        // A topic over the configured maximum length is refused with PUBACK 0x90.
        client
            .publish("much/too/long", QoS::AtLeastOnce, 7, b"x")
            .await;
        match client.expect().await {
            Packet::PubAck(ack) => {
                assert_eq!(ack.reason_code, ReasonCode::TopicNameInvalid);
                assert_eq!(
                    ack.properties.reason_string.is_some(),
                    expect_reason_string,
                    "{ack:?}"
                );
            }
            other => panic!("expected PUBACK, got {other:?}"),
        }
        client.disconnect().await;
    }
}

#[tokio::test]
async fn server_keep_alive_caps_the_clients_keep_alive() {
    let server = broker_with(|c| c.mqtt.max_keep_alive = std::time::Duration::from_secs(30)).await;
    let addr = server.mqtt_addr();
    for (asked, granted) in [(0, Some(30)), (600, Some(30)), (20, None)] {
        let mut connect = raw::connect(ProtocolVersion::V5, "keepalive", true);
        connect.keep_alive = asked;
        let (client, ack) = RawClient::connect(addr, connect).await;
        assert_eq!(ack.properties.server_keep_alive, granted, "asked {asked}");
        client.disconnect().await;
    }
}

#[tokio::test]
async fn a_silent_client_is_disconnected_after_one_and_a_half_keep_alives() {
    let server = broker().await;
    let mut connect = raw::connect(ProtocolVersion::V5, "silent", true);
    connect.keep_alive = 1;
    let (mut client, _) = RawClient::connect(server.mqtt_addr(), connect).await;
    // A PINGREQ keeps the connection up and is answered.
    client.send(&[0xC0, 0x00]).await;
    assert_eq!(client.expect().await, Packet::PingResp);
    // Then silence: the broker ends the connection with 0x8D Keep Alive timeout.
    client.expect_disconnect(ReasonCode::KeepAliveTimeout).await;
}

#[tokio::test]
async fn maximum_qos_1_is_announced_and_enforced() {
    let server = broker_with(|c| c.mqtt.maximum_qos = 1).await;
    let addr = server.mqtt_addr();
    let (mut client, ack) =
        RawClient::connect(addr, raw::connect(ProtocolVersion::V5, "qos1-only", true)).await;
    assert_eq!(ack.properties.maximum_qos, Some(1));
    // A QoS 2 subscription is granted QoS 1.
    client
        .send_packet(&Packet::Subscribe(raw::subscribe(
            1,
            "q/t",
            QoS::ExactlyOnce,
        )))
        .await;
    match client.expect().await {
        Packet::SubAck(a) => assert_eq!(a.reason_codes, [ReasonCode::GrantedQos1]),
        other => panic!("expected SUBACK, got {other:?}"),
    }
    // A QoS 2 PUBLISH: DISCONNECT 0x9B ([MQTT-3.2.2-11]).
    client.publish("q/t", QoS::ExactlyOnce, 1, b"x").await;
    client.expect_disconnect(ReasonCode::QosNotSupported).await;
}

#[tokio::test]
async fn retain_unavailable_is_announced_and_enforced() {
    let server = broker_with(|c| c.mqtt.retain_available = false).await;
    let addr = server.mqtt_addr();
    let (mut client, ack) =
        RawClient::connect(addr, raw::connect(ProtocolVersion::V5, "no-retain", true)).await;
    assert_eq!(ack.properties.retain_available, Some(false));
    let mut publish = raw::publish("r/t", QoS::AtLeastOnce, 1, b"x");
    publish.retain = true;
    client.send_packet(&Packet::Publish(publish)).await;
    // [MQTT-3.2.2-14]
    client
        .expect_disconnect(ReasonCode::RetainNotSupported)
        .await;
}

#[tokio::test]
async fn a_client_identifier_over_the_limit_is_refused_with_0x85() {
    let server = broker_with(|c| c.mqtt.max_client_id_length = 8).await;
    let mut client = RawClient::tcp(server.mqtt_addr(), ProtocolVersion::V5).await;
    let connect = raw::connect(ProtocolVersion::V5, "much-too-long", true);
    client
        .send_packet(&Packet::Connect(Box::new(connect)))
        .await;
    assert_eq!(
        client.expect_connack().await.reason_code,
        ReasonCode::ClientIdentifierNotValid
    );
    assert_eq!(client.expect_closed().await, []);
}

#[tokio::test]
async fn subscriptions_over_the_session_limit_get_0x97() {
    let server = broker_with(|c| c.mqtt.max_subscriptions_per_session = 2).await;
    let mut client = RawClient::v5(server.mqtt_addr(), "many-subs").await;
    client.subscribe("a", QoS::AtMostOnce).await;
    client.subscribe("b", QoS::AtMostOnce).await;
    // Replacing an existing subscription is not a new one.
    client.subscribe("a", QoS::AtLeastOnce).await;
    client
        .send_packet(&Packet::Subscribe(raw::subscribe(2, "c", QoS::AtMostOnce)))
        .await;
    match client.expect().await {
        Packet::SubAck(a) => assert_eq!(a.reason_codes, [ReasonCode::QuotaExceeded]),
        other => panic!("expected SUBACK, got {other:?}"),
    }
    client.disconnect().await;
}
