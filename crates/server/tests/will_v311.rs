//! MQTT 3.1.1 wills: published when the connection drops, not after DISCONNECT; with
//! rumqttc and paho.

mod support;

use rumqttc::{LastWill, QoS};
use support::broker;
use support::peers::python;
use support::rumqtt::{V3, v3_options};

#[tokio::test]
async fn the_will_is_published_when_the_connection_drops_not_after_disconnect() {
    let server = broker().await;
    let port = server.mqtt_addr().port();
    let (mut watcher, _) = V3::connect(v3_options(port, "v3-will-watch")).await;
    watcher.subscribe("v3will/#", QoS::AtLeastOnce).await;

    let mut polite = v3_options(port, "v3-polite");
    polite.set_last_will(LastWill::new(
        "v3will/polite",
        "unexpected",
        QoS::AtLeastOnce,
        false,
    ));
    let (polite, _) = V3::connect(polite).await;
    polite.disconnect().await;

    let mut crashing = v3_options(port, "v3-crashing");
    crashing.set_last_will(LastWill::new(
        "v3will/crash",
        "gone",
        QoS::AtLeastOnce,
        false,
    ));
    let (crashing, _) = V3::connect(crashing).await;
    drop(crashing);

    let will = watcher.next_publish().await;
    assert_eq!(
        (&will.topic[..], &will.payload[..]),
        ("v3will/crash", &b"gone"[..])
    );
    watcher.disconnect().await;
}

#[tokio::test]
async fn paho_v311_will() {
    let server = broker().await;
    python("will.py", server.mqtt_addr().port(), &["--version", "v311"]).await;
}
