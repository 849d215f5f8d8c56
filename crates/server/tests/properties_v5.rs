//! MQTT 5 PUBLISH properties: Content Type, Response Topic, Correlation Data, User
//! Properties and Payload Format Indicator forwarded unchanged (rumqttc and paho);
//! Message Expiry Interval counted down and enforced; invalid UTF-8 flagged as UTF-8
//! refused with 0x99.

mod support;

use bytes::Bytes;
use gridmq_codec::{Packet, ReasonCode};
use gridmq_engine::Stats;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{PubAckReason, PublishProperties};
use support::peers::python;
use support::raw::{RawClient, field, packet};
use support::rumqtt::{V5, V5Ack, v5_options};
use support::{broker, broker_time_passes};

fn full_properties() -> PublishProperties {
    PublishProperties {
        payload_format_indicator: Some(1),
        message_expiry_interval: Some(3600),
        response_topic: Some("replies/for/me".to_owned()),
        correlation_data: Some(Bytes::from_static(b"\x00\x01corr\xff")),
        user_properties: vec![
            ("k".to_owned(), "v1".to_owned()),
            ("k".to_owned(), "v2".to_owned()),
            ("other".to_owned(), "ünïcode".to_owned()),
        ],
        content_type: Some("application/json".to_owned()),
        ..Default::default()
    }
}

#[tokio::test]
async fn application_properties_are_forwarded_unchanged() {
    let server = broker().await;
    let port = server.mqtt_addr().port();
    let (mut subscriber, _) = V5::connect(v5_options(port, "props-sub")).await;
    subscriber.subscribe("props/t", QoS::AtLeastOnce).await;
    let (mut publisher, _) = V5::connect(v5_options(port, "props-pub")).await;
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        publisher
            .publish_with(
                "props/t",
                qos,
                false,
                r#"{"t":21.5}"#,
                Some(full_properties()),
            )
            .await;
        let p = subscriber.next_publish().await;
        let got = p.properties.expect("properties");
        let sent = full_properties();
        assert_eq!(got.payload_format_indicator, sent.payload_format_indicator);
        assert_eq!(got.content_type, sent.content_type);
        assert_eq!(got.response_topic, sent.response_topic);
        assert_eq!(got.correlation_data, sent.correlation_data);
        assert_eq!(got.user_properties, sent.user_properties, "order kept");
        let expiry = got.message_expiry_interval.expect("expiry forwarded");
        assert!((3590..=3600).contains(&expiry), "{expiry}");
        assert_eq!(&p.payload[..], br#"{"t":21.5}"#);
    }
    subscriber.disconnect().await;
    publisher.disconnect().await;
}

#[tokio::test]
async fn paho_v5_properties_round_trip() {
    let server = broker().await;
    python("properties_v5.py", server.mqtt_addr().port(), &[]).await;
}

#[tokio::test]
async fn queued_messages_expire_and_their_expiry_counts_down() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let port = addr.port();
    let mut options = v5_options(port, "expiry-dev");
    options.set_clean_start(false);
    options.set_session_expiry_interval(Some(600));
    let (mut device, _) = V5::connect(options.clone()).await;
    device.subscribe("expiry/#", QoS::AtLeastOnce).await;
    device.disconnect().await;

    let (mut publisher, _) = V5::connect(v5_options(port, "expiry-pub")).await;
    let expiring = |secs| {
        Some(PublishProperties {
            message_expiry_interval: Some(secs),
            ..Default::default()
        })
    };
    publisher
        .publish_with("expiry/short", QoS::AtLeastOnce, false, "a", expiring(1))
        .await;
    publisher
        .publish_with("expiry/long", QoS::AtLeastOnce, false, "b", expiring(30))
        .await;
    publisher
        .publish("expiry/never", QoS::AtLeastOnce, false, "c")
        .await;
    broker_time_passes(addr, 2).await;

    let (mut device, ack) = V5::connect(options).await;
    assert!(ack.session_present);
    let long = device.next_publish().await;
    assert_eq!(&long.topic[..], b"expiry/long");
    let left = long
        .properties
        .and_then(|p| p.message_expiry_interval)
        .expect("expiry");
    assert!(left <= 28, "[MQTT-3.3.2-6] counted down: {left}");
    let never = device.next_publish().await;
    assert_eq!(&never.topic[..], b"expiry/never");
    assert_eq!(
        never.properties.and_then(|p| p.message_expiry_interval),
        None
    );
    assert_eq!(Stats::get(&server.broker().stats().dropped_expired), 1);
    device.disconnect().await;
    publisher.disconnect().await;
}

#[tokio::test]
async fn invalid_utf8_flagged_as_utf8_is_refused_with_0x99() {
    let server = broker().await;
    let port = server.mqtt_addr().port();
    let (mut subscriber, _) = V5::connect(v5_options(port, "pfi-sub")).await;
    subscriber.subscribe("pfi/t", QoS::AtLeastOnce).await;
    let (mut publisher, _) = V5::connect(v5_options(port, "pfi-pub")).await;
    let flagged = || {
        Some(PublishProperties {
            payload_format_indicator: Some(1),
            ..Default::default()
        })
    };
    // QoS 1: PUBACK 0x99, not delivered, the connection stays.
    assert_eq!(
        publisher
            .publish_with(
                "pfi/t",
                QoS::AtLeastOnce,
                false,
                &b"\xff\xfe"[..],
                flagged()
            )
            .await,
        V5Ack::PubAck(PubAckReason::PayloadFormatInvalid)
    );
    publisher
        .publish_with("pfi/t", QoS::AtLeastOnce, false, "valid ✓", flagged())
        .await;
    assert_eq!(
        &subscriber.next_publish().await.payload[..],
        "valid ✓".as_bytes()
    );
    publisher.disconnect().await;
    subscriber.disconnect().await;

    // QoS 0 has no acknowledgement to refuse with: DISCONNECT 0x99.
    let mut raw = RawClient::v5(server.mqtt_addr(), "pfi-raw").await;
    let mut body = field(b"pfi/t");
    body.extend([2, 0x01, 0x01]);
    body.extend(b"\xc3\x28");
    raw.send(&packet(0x30, &body)).await;
    raw.expect_disconnect(ReasonCode::PayloadFormatInvalid)
        .await;
}

#[tokio::test]
async fn a_request_reaches_the_responder_and_the_response_comes_back() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let mut options = v5_options(addr.port(), "requester");
    options.set_request_response_info(Some(1));
    let (mut requester, ack) = V5::connect(options).await;
    let reply_to = ack
        .properties
        .and_then(|p| p.response_information)
        .expect("Response Information")
        + "/replies";
    requester.subscribe(&reply_to, QoS::AtLeastOnce).await;
    let mut responder = RawClient::v5(addr, "responder").await;
    responder
        .subscribe("service/echo", gridmq_codec::QoS::AtLeastOnce)
        .await;

    let request = PublishProperties {
        response_topic: Some(reply_to.clone()),
        correlation_data: Some(Bytes::from_static(b"req-1")),
        ..Default::default()
    };
    requester
        .publish_with(
            "service/echo",
            QoS::AtLeastOnce,
            false,
            "ping",
            Some(request),
        )
        .await;
    let received = responder.expect_publish().await;
    let response_topic = received
        .properties
        .response_topic
        .clone()
        .expect("Response Topic");
    assert_eq!(response_topic.as_str(), reply_to);
    let mut response = support::raw::publish(
        response_topic.as_str(),
        gridmq_codec::QoS::AtLeastOnce,
        1,
        b"pong",
    );
    response.properties.correlation_data = received.properties.correlation_data.clone();
    responder.send_packet(&Packet::Publish(response)).await;

    let reply = requester.next_publish().await;
    assert_eq!(&reply.payload[..], b"pong");
    assert_eq!(
        reply.properties.and_then(|p| p.correlation_data),
        Some(Bytes::from_static(b"req-1"))
    );
    requester.disconnect().await;
    responder.disconnect().await;
}
