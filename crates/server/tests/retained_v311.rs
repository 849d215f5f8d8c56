//! MQTT 3.1.1 retained messages: stored, replaced and cleared, with rumqttc and paho.

mod support;

use rumqttc::QoS;
use support::broker;
use support::peers::python;
use support::rumqtt::{V3, v3_options};

#[tokio::test]
async fn retained_messages_are_stored_replaced_and_cleared() {
    let server = broker().await;
    let port = server.mqtt_addr().port();
    let (mut publisher, _) = V3::connect(v3_options(port, "v3-retainer")).await;
    publisher
        .publish("v3ret/t", QoS::AtLeastOnce, true, "first")
        .await;
    publisher
        .publish("v3ret/t", QoS::AtLeastOnce, true, "second")
        .await;
    let (mut sub, _) = V3::connect(v3_options(port, "v3-ret-sub")).await;
    sub.subscribe("v3ret/#", QoS::AtLeastOnce).await;
    let p = sub.next_publish().await;
    assert!(p.retain);
    assert_eq!(&p.payload[..], b"second");

    // Live messages reach existing subscribers with RETAIN 0 ([MQTT-3.3.1-9]).
    publisher
        .publish("v3ret/t", QoS::AtLeastOnce, true, "")
        .await;
    let p = sub.next_publish().await;
    assert!(!p.retain);
    assert!(p.payload.is_empty());
    sub.disconnect().await;

    let (mut sub, _) = V3::connect(v3_options(port, "v3-ret-sub2")).await;
    sub.subscribe("v3ret/#", QoS::AtLeastOnce).await;
    sub.subscribe("v3ret-marker", QoS::AtLeastOnce).await;
    publisher
        .publish("v3ret-marker", QoS::AtLeastOnce, false, "m")
        .await;
    assert_eq!(
        &sub.next_publish().await.topic[..],
        "v3ret-marker",
        "the cleared message is gone"
    );
    sub.disconnect().await;
    publisher.disconnect().await;
}

#[tokio::test]
async fn paho_v311_retained() {
    let server = broker().await;
    python(
        "retained.py",
        server.mqtt_addr().port(),
        &["--version", "v311"],
    )
    .await;
}
