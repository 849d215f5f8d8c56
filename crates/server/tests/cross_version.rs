//! MQTT 3.1.1 and 5 clients talking to each other through the broker: rumqttc in both
//! directions (QoS 0, 1, 2, retained, v5 properties dropped for 3.1.1), and paho in
//! every combination of publisher and subscriber version.

mod support;

use rumqttc::v5::mqttbytes::QoS as V5QoS;
use rumqttc::v5::mqttbytes::v5::PublishProperties;
use support::broker;
use support::peers::python;
use support::rumqtt::{V3, V5, v3_options, v5_options};

fn v3_qos(qos: V5QoS) -> rumqttc::QoS {
    match qos {
        V5QoS::AtMostOnce => rumqttc::QoS::AtMostOnce,
        V5QoS::AtLeastOnce => rumqttc::QoS::AtLeastOnce,
        V5QoS::ExactlyOnce => rumqttc::QoS::ExactlyOnce,
    }
}

const LEVELS: [V5QoS; 3] = [V5QoS::AtMostOnce, V5QoS::AtLeastOnce, V5QoS::ExactlyOnce];

#[tokio::test]
async fn v311_publisher_to_v5_subscriber() {
    let server = broker().await;
    let port = server.mqtt_addr().port();
    let (mut subscriber, _) = V5::connect(v5_options(port, "x-v5-sub")).await;
    subscriber.subscribe("cross/up/#", V5QoS::ExactlyOnce).await;
    let (mut publisher, _) = V3::connect(v3_options(port, "x-v3-pub")).await;
    for qos in LEVELS {
        publisher
            .publish(
                &format!("cross/up/{}", qos as u8),
                v3_qos(qos),
                false,
                "from 3.1.1",
            )
            .await;
    }
    for qos in LEVELS {
        let p = subscriber.next_publish().await;
        assert_eq!(p.topic, format!("cross/up/{}", qos as u8));
        assert_eq!((p.qos, &p.payload[..]), (qos, &b"from 3.1.1"[..]));
    }
    publisher
        .publish("cross/up/retained", rumqttc::QoS::AtLeastOnce, true, "kept")
        .await;
    assert_eq!(&subscriber.next_publish().await.payload[..], b"kept");
    let (mut late, _) = V5::connect(v5_options(port, "x-v5-late")).await;
    late.subscribe("cross/up/retained", V5QoS::AtLeastOnce)
        .await;
    let p = late.next_publish().await;
    assert!(p.retain);
    assert_eq!(&p.payload[..], b"kept");
    for client in [subscriber, late] {
        client.disconnect().await;
    }
    publisher.disconnect().await;
}

#[tokio::test]
async fn v5_publisher_to_v311_subscriber() {
    let server = broker().await;
    let port = server.mqtt_addr().port();
    let (mut subscriber, _) = V3::connect(v3_options(port, "x-v3-sub")).await;
    subscriber
        .subscribe("cross/down/#", rumqttc::QoS::ExactlyOnce)
        .await;
    let (mut publisher, _) = V5::connect(v5_options(port, "x-v5-pub")).await;
    let properties = PublishProperties {
        content_type: Some("text/plain".to_owned()),
        user_properties: vec![("k".to_owned(), "v".to_owned())],
        message_expiry_interval: Some(60),
        ..Default::default()
    };
    for qos in LEVELS {
        publisher
            .publish_with(
                &format!("cross/down/{}", qos as u8),
                qos,
                false,
                "from 5",
                Some(properties.clone()),
            )
            .await;
    }
    // The properties have no place in 3.1.1 and are left out; the message arrives.
    for qos in LEVELS {
        let p = subscriber.next_publish().await;
        assert_eq!(p.topic, format!("cross/down/{}", qos as u8));
        assert_eq!((p.qos, &p.payload[..]), (v3_qos(qos), &b"from 5"[..]));
    }
    subscriber.disconnect().await;
    publisher.disconnect().await;
}

#[tokio::test]
async fn paho_v311_to_v311() {
    let server = broker().await;
    let args = ["--publisher", "v311", "--subscriber", "v311"];
    python("pubsub.py", server.mqtt_addr().port(), &args).await;
}

#[tokio::test]
async fn paho_v5_to_v5() {
    let server = broker().await;
    let args = ["--publisher", "v5", "--subscriber", "v5"];
    python("pubsub.py", server.mqtt_addr().port(), &args).await;
}

#[tokio::test]
async fn paho_v311_to_v5() {
    let server = broker().await;
    let args = ["--publisher", "v311", "--subscriber", "v5"];
    python("pubsub.py", server.mqtt_addr().port(), &args).await;
}

#[tokio::test]
async fn paho_v5_to_v311() {
    let server = broker().await;
    let args = ["--publisher", "v5", "--subscriber", "v311"];
    python("pubsub.py", server.mqtt_addr().port(), &args).await;
}
