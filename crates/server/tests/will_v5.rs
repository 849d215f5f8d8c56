//! MQTT 5 wills: published on an abnormal end (connection dropped, keep-alive timeout,
//! DISCONNECT 0x04), not after DISCONNECT 0x00; Will Delay Interval (and a reconnect
//! within it cancelling the will); will retain; will properties forwarded; and paho.

mod support;

use bytes::Bytes;
use gridmq_codec::{
    Connect, Disconnect, Packet, ProtocolVersion, Publish, QoS, ReasonCode, TopicName, Will,
    WillProperties,
};
use support::peers::python;
use support::raw::{self, RawClient};
use support::{broker, unique};

fn with_will(client_id: &str, topic: &str, properties: WillProperties) -> Connect {
    let Ok(topic) = TopicName::new(topic) else {
        panic!("{topic:?} is not a valid topic name");
    };
    let mut connect = raw::connect(ProtocolVersion::V5, client_id, true);
    connect.will = Some(Will {
        qos: QoS::AtLeastOnce,
        retain: false,
        topic,
        payload: Bytes::from_static(b"last words"),
        properties,
    });
    connect
}

/// A watcher subscribed to `topic` and to a marker topic of its own.
async fn watcher(addr: std::net::SocketAddr, topic: &str) -> (RawClient, String) {
    let marker = unique("will-marker");
    let mut client = RawClient::v5(addr, &unique("watcher").replace('/', "-")).await;
    client.subscribe(topic, QoS::AtLeastOnce).await;
    client.subscribe(&marker, QoS::AtMostOnce).await;
    (client, marker)
}

/// Publishes the marker and returns what the watcher received before it.
async fn before_marker(watcher: &mut RawClient, marker: &str) -> Vec<Publish> {
    watcher.publish(marker, QoS::AtMostOnce, 0, b"").await;
    let mut got = Vec::new();
    loop {
        let p = watcher.expect_publish().await;
        if p.topic.as_str() == marker {
            return got;
        }
        assert!(got.len() < 10);
        got.push(p);
    }
}

async fn disconnect_with(mut client: RawClient, reason: ReasonCode) {
    client
        .send_packet(&Packet::Disconnect(Disconnect::new(reason, None)))
        .await;
    assert!(client.expect_closed().await.is_empty());
}

#[tokio::test]
async fn a_dropped_connection_publishes_the_will_with_its_properties() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let (mut watcher, marker) = watcher(addr, "will/dropped").await;
    let properties = WillProperties {
        payload_format_indicator: Some(true),
        message_expiry_interval: Some(600),
        content_type: Some("text/plain".into()),
        response_topic: Some(TopicName::new("will/reply").expect("topic")),
        correlation_data: Some(Bytes::from_static(b"corr")),
        user_properties: vec![("why".into(), "crash".into())],
        ..Default::default()
    };
    let (client, _) =
        RawClient::connect(addr, with_will("dropper", "will/dropped", properties)).await;
    drop(client);
    let will = watcher.expect_publish().await;
    assert_eq!(will.topic.as_str(), "will/dropped");
    assert_eq!(&will.payload[..], b"last words");
    assert_eq!(will.qos, QoS::AtLeastOnce);
    assert!(!will.retain);
    let p = &will.properties;
    assert_eq!(p.payload_format_indicator, Some(true));
    assert!(
        p.message_expiry_interval
            .is_some_and(|e| e <= 600 && e > 590)
    );
    assert_eq!(p.content_type.as_deref(), Some("text/plain"));
    assert_eq!(p.response_topic.as_deref(), Some("will/reply"));
    assert_eq!(p.correlation_data.as_deref(), Some(&b"corr"[..]));
    assert_eq!(p.user_properties.len(), 1);
    assert!(before_marker(&mut watcher, &marker).await.is_empty());
    watcher.disconnect().await;
}

#[tokio::test]
async fn disconnect_0x00_discards_the_will_and_0x04_publishes_it() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let (mut watcher, marker) = watcher(addr, "will/+").await;
    let (normal, _) =
        RawClient::connect(addr, with_will("normal", "will/normal", Default::default())).await;
    disconnect_with(normal, ReasonCode::NormalDisconnection).await;
    let (with, _) = RawClient::connect(
        addr,
        with_will("with-will", "will/with", Default::default()),
    )
    .await;
    disconnect_with(with, ReasonCode::DisconnectWithWill).await;
    let got = before_marker(&mut watcher, &marker).await;
    let topics: Vec<_> = got.iter().map(|p| p.topic.as_str()).collect();
    assert_eq!(topics, ["will/with"]);
    watcher.disconnect().await;
}

#[tokio::test]
async fn a_keep_alive_timeout_publishes_the_will() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let (mut watcher, _) = watcher(addr, "will/silent").await;
    let mut connect = with_will("silent", "will/silent", Default::default());
    connect.keep_alive = 1;
    let (mut silent, _) = RawClient::connect(addr, connect).await;
    silent.expect_disconnect(ReasonCode::KeepAliveTimeout).await;
    assert_eq!(watcher.expect_publish().await.topic.as_str(), "will/silent");
    watcher.disconnect().await;
}

#[tokio::test]
async fn the_will_delay_interval_postpones_the_will() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let (mut watcher, marker) = watcher(addr, "will/delayed").await;
    let mut connect = with_will(
        "delayed",
        "will/delayed",
        WillProperties {
            will_delay_interval: Some(1),
            ..Default::default()
        },
    );
    connect.properties.session_expiry_interval = Some(60);
    let (client, _) = RawClient::connect(addr, connect).await;
    disconnect_with(client, ReasonCode::DisconnectWithWill).await;
    // The session is offline, the will not yet published.
    assert!(before_marker(&mut watcher, &marker).await.is_empty());
    assert_eq!(
        watcher.expect_publish().await.topic.as_str(),
        "will/delayed"
    );
    watcher.disconnect().await;
}

#[tokio::test]
async fn reconnecting_within_the_will_delay_cancels_the_will() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let (mut watcher, marker) = watcher(addr, "will/cancelled").await;
    let mut connect = with_will(
        "comeback",
        "will/cancelled",
        WillProperties {
            will_delay_interval: Some(600),
            ..Default::default()
        },
    );
    connect.properties.session_expiry_interval = Some(600);
    let (client, _) = RawClient::connect(addr, connect).await;
    drop(client);
    let mut again = raw::connect(ProtocolVersion::V5, "comeback", false);
    again.properties.session_expiry_interval = Some(600);
    let (client, ack) = RawClient::connect(addr, again).await;
    assert!(ack.session_present);
    // Ending the session now would publish a will still pending; there is none.
    let mut end = Disconnect::new(ReasonCode::NormalDisconnection, None);
    end.properties.session_expiry_interval = Some(0);
    let mut client = client;
    client.send_packet(&Packet::Disconnect(end)).await;
    assert!(client.expect_closed().await.is_empty());
    assert!(before_marker(&mut watcher, &marker).await.is_empty());
    watcher.disconnect().await;
}

#[tokio::test]
async fn a_will_with_retain_is_kept_as_the_retained_message() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let mut connect = with_will("retained-will", "will/status", Default::default());
    if let Some(will) = connect.will.as_mut() {
        will.retain = true;
        will.payload = Bytes::from_static(b"offline");
    }
    let (mut watcher, _) = watcher(addr, "will/status").await;
    let (client, _) = RawClient::connect(addr, connect).await;
    drop(client);
    assert_eq!(&watcher.expect_publish().await.payload[..], b"offline");
    let mut later = RawClient::v5(addr, "later").await;
    later.subscribe("will/status", QoS::AtLeastOnce).await;
    let retained = later.expect_publish().await;
    assert!(retained.retain);
    assert_eq!(&retained.payload[..], b"offline");
    later.disconnect().await;
    watcher.disconnect().await;
}

#[tokio::test]
async fn paho_v5_will() {
    let server = broker().await;
    python("will.py", server.mqtt_addr().port(), &["--version", "v5"]).await;
}

#[tokio::test]
async fn a_will_delayed_past_the_end_of_the_session_is_published_when_it_ends() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let (mut watcher, _) = watcher(addr, "will/no-session").await;
    // Session Expiry 0: the session ends with the connection, and the will with it.
    let connect = with_will(
        "no-session",
        "will/no-session",
        WillProperties {
            will_delay_interval: Some(3600),
            ..Default::default()
        },
    );
    let (client, _) = RawClient::connect(addr, connect).await;
    drop(client);
    assert_eq!(
        watcher.expect_publish().await.topic.as_str(),
        "will/no-session"
    );
    watcher.disconnect().await;
}

#[tokio::test]
async fn a_will_flagged_utf8_with_an_invalid_payload_is_refused_with_0x99() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let mut connect = with_will(
        "bad-will",
        "will/bad",
        WillProperties {
            payload_format_indicator: Some(true),
            ..Default::default()
        },
    );
    if let Some(will) = connect.will.as_mut() {
        will.payload = Bytes::from_static(b"\xff\xfe");
    }
    let mut client = RawClient::tcp(addr, ProtocolVersion::V5).await;
    client
        .send_packet(&Packet::Connect(Box::new(connect)))
        .await;
    // MQTT 5.0 section 3.1.3.2.3, as for PUBLISH payloads (validate_utf8_payloads).
    assert_eq!(
        client.expect_connack().await.reason_code,
        ReasonCode::PayloadFormatInvalid
    );
    assert_eq!(client.expect_closed().await, []);
}

#[tokio::test]
async fn a_taken_over_connection_publishes_its_will_unless_delayed_past_the_takeover() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let (mut watcher, marker) = watcher(addr, "will/takeover/+").await;

    // No delay: the old connection ends abnormally and its will goes out.
    let mut connect = with_will("taken", "will/takeover/now", Default::default());
    connect.properties.session_expiry_interval = Some(60);
    let (mut old, _) = RawClient::connect(addr, connect).await;
    let mut again = raw::connect(ProtocolVersion::V5, "taken", false);
    again.properties.session_expiry_interval = Some(60);
    let (new, _) = RawClient::connect(addr, again.clone()).await;
    old.expect_disconnect(ReasonCode::SessionTakenOver).await;
    assert_eq!(
        watcher.expect_publish().await.topic.as_str(),
        "will/takeover/now"
    );
    new.disconnect().await;

    // Delayed: the session continues on the new connection, so the will is cancelled
    // ([MQTT-3.1.3-9]).
    let mut connect = with_will(
        "taken-later",
        "will/takeover/delayed",
        WillProperties {
            will_delay_interval: Some(60),
            ..Default::default()
        },
    );
    connect.properties.session_expiry_interval = Some(60);
    let (mut old, _) = RawClient::connect(addr, connect).await;
    again.client_id = "taken-later".into();
    let (new, ack) = RawClient::connect(addr, again).await;
    assert!(ack.session_present);
    old.expect_disconnect(ReasonCode::SessionTakenOver).await;
    // End the session now: a will still pending would be published at its end.
    let mut new = new;
    let mut end = Disconnect::new(ReasonCode::NormalDisconnection, None);
    end.properties.session_expiry_interval = Some(0);
    new.send_packet(&Packet::Disconnect(end)).await;
    assert!(new.expect_closed().await.is_empty());
    assert!(before_marker(&mut watcher, &marker).await.is_empty());
    watcher.disconnect().await;
}
