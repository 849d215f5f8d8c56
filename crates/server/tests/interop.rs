//! The real `gridmq` binary with third-party clients: mosquitto_pub / mosquitto_sub in
//! MQTT 3.1.1 and 5 at QoS 0, 1 and 2, retained messages, and paho-mqtt.

mod support;

use support::peers::{MosquittoSub, SubMessage, mosquitto_available, mosquitto_pub, python};
use support::process::BrokerProcess;

async fn pub_sub_every_qos(version: &str) {
    if !mosquitto_available() {
        return;
    }
    let broker = BrokerProcess::start(&[]).await;
    let port = broker.port();
    let topic = format!("mosq/{version}");
    let mut sub = MosquittoSub::start(
        port,
        &["-V", version, "-q", "2", "-t", &format!("{topic}/#")],
        3,
    )
    .await;
    for qos in ["0", "1", "2"] {
        mosquitto_pub(
            port,
            &[
                "-V",
                version,
                "-q",
                qos,
                "-t",
                &format!("{topic}/{qos}"),
                "-m",
                &format!("at qos {qos}"),
            ],
        )
        .await;
    }
    for qos in 0..3u8 {
        assert_eq!(
            sub.next_message().await,
            SubMessage {
                topic: format!("{topic}/{qos}"),
                qos,
                retain: false,
                payload: format!("at qos {qos}"),
            }
        );
    }
    sub.finish().await;
}

#[tokio::test]
async fn mosquitto_v311_every_qos() {
    pub_sub_every_qos("mqttv311").await;
}

#[tokio::test]
async fn mosquitto_v5_every_qos() {
    pub_sub_every_qos("mqttv5").await;
}

#[tokio::test]
async fn mosquitto_retained_set_read_and_cleared() {
    if !mosquitto_available() {
        return;
    }
    let broker = BrokerProcess::start(&[]).await;
    let port = broker.port();
    for version in ["mqttv311", "mqttv5"] {
        let topic = format!("mosq/retained/{version}");
        mosquitto_pub(
            port,
            &["-V", version, "-q", "1", "-r", "-t", &topic, "-m", "state"],
        )
        .await;
        let mut sub = MosquittoSub::start(port, &["-V", version, "-q", "1", "-t", &topic], 1).await;
        let got = sub.next_message().await;
        assert_eq!(
            (got.retain, got.payload.as_str(), got.qos),
            (true, "state", 1)
        );
        sub.finish().await;
        // An empty retained message clears it: a new subscriber gets only live messages.
        mosquitto_pub(port, &["-V", version, "-q", "1", "-r", "-t", &topic, "-n"]).await;
        let mut sub = MosquittoSub::start(port, &["-V", version, "-q", "1", "-t", &topic], 1).await;
        mosquitto_pub(
            port,
            &["-V", version, "-q", "1", "-t", &topic, "-m", "live"],
        )
        .await;
        let got = sub.next_message().await;
        assert_eq!((got.retain, got.payload.as_str()), (false, "live"));
        sub.finish().await;
    }
}

#[tokio::test]
async fn paho_against_the_binary() {
    let broker = BrokerProcess::start(&[]).await;
    python(
        "pubsub.py",
        broker.port(),
        &["--publisher", "v311", "--subscriber", "v5"],
    )
    .await;
    python("retained.py", broker.port(), &["--version", "v5"]).await;
}
