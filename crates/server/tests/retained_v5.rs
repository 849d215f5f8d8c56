//! MQTT 5 retained messages: stored, replaced, cleared by an empty payload, expired by
//! their Message Expiry Interval, matched by wildcards, not sent to shared
//! subscriptions; and the same with paho.

mod support;

use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Publish, PublishProperties};
use support::peers::python;
use support::rumqtt::{V5, v5_options};
use support::{broker, broker_time_passes, unique};

/// What a new subscriber to `filter` receives before a marker message: the retained
/// messages.
async fn retained_for(port: u16, filter: &str) -> Vec<Publish> {
    let marker = unique("marker");
    let (mut sub, _) = V5::connect(v5_options(port, &unique("fresh").replace('/', "-"))).await;
    sub.subscribe(filter, QoS::AtLeastOnce).await;
    sub.subscribe(&marker, QoS::AtLeastOnce).await;
    sub.publish(&marker, QoS::AtLeastOnce, false, "").await;
    let mut retained = Vec::new();
    loop {
        let p = sub.next_publish().await;
        if p.topic[..] == *marker.as_bytes() {
            break;
        }
        assert!(retained.len() < 100);
        retained.push(p);
    }
    sub.disconnect().await;
    retained
}

#[tokio::test]
async fn retained_messages_are_stored_replaced_and_cleared() {
    let server = broker().await;
    let port = server.mqtt_addr().port();
    let (mut publisher, _) = V5::connect(v5_options(port, "retainer")).await;
    publisher
        .publish("ret/a", QoS::AtLeastOnce, true, "first")
        .await;
    publisher
        .publish("ret/b", QoS::ExactlyOnce, true, "other")
        .await;
    let got = retained_for(port, "ret/a").await;
    assert_eq!(got.len(), 1);
    assert!(
        got[0].retain,
        "[MQTT-3.3.1-9] RETAIN set for retained messages"
    );
    assert_eq!(&got[0].payload[..], b"first");

    publisher
        .publish("ret/a", QoS::AtLeastOnce, true, "second")
        .await;
    let got = retained_for(port, "ret/+").await;
    let mut payloads: Vec<_> = got.iter().map(|p| p.payload.clone()).collect();
    payloads.sort();
    assert_eq!(payloads, ["other", "second"]);
    assert!(
        got.iter().all(|p| p.qos == QoS::AtLeastOnce),
        "granted QoS caps"
    );

    // An empty retained message clears the topic and is not stored itself.
    publisher.publish("ret/a", QoS::AtLeastOnce, true, "").await;
    let got = retained_for(port, "ret/#").await;
    assert_eq!(got.len(), 1);
    assert_eq!(&got[0].topic[..], b"ret/b");
    assert_eq!(server.broker().retained().len(), 1);
    publisher.disconnect().await;
}

#[tokio::test]
async fn a_retained_message_expires_with_its_message_expiry_interval() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let (mut publisher, _) = V5::connect(v5_options(addr.port(), "ret-expiry")).await;
    let expiry = |secs| {
        Some(PublishProperties {
            message_expiry_interval: Some(secs),
            ..Default::default()
        })
    };
    publisher
        .publish_with("ret/short", QoS::AtLeastOnce, true, "brief", expiry(1))
        .await;
    publisher
        .publish_with("ret/long", QoS::AtLeastOnce, true, "lasting", expiry(600))
        .await;
    broker_time_passes(addr, 2).await;
    let got = retained_for(addr.port(), "ret/+").await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(&got[0].topic[..], b"ret/long");
    let left = got[0]
        .properties
        .as_ref()
        .and_then(|p| p.message_expiry_interval)
        .expect("expiry");
    assert!(left <= 598, "counted down: {left}");
    publisher.disconnect().await;
}

#[tokio::test]
async fn shared_subscriptions_do_not_get_retained_messages() {
    let server = broker().await;
    let port = server.mqtt_addr().port();
    let (mut publisher, _) = V5::connect(v5_options(port, "ret-shared")).await;
    publisher
        .publish("ret/shared", QoS::AtLeastOnce, true, "kept")
        .await;
    assert!(retained_for(port, "$share/g/ret/shared").await.is_empty());
    assert_eq!(retained_for(port, "ret/shared").await.len(), 1);
    publisher.disconnect().await;
}

#[tokio::test]
async fn paho_v5_retained() {
    let server = broker().await;
    python(
        "retained.py",
        server.mqtt_addr().port(),
        &["--version", "v5"],
    )
    .await;
}
