//! MQTT 5 Retain Handling: 0 sends retained messages at every subscribe, 1 only when the
//! subscription is new, 2 never.

mod support;

use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Filter, RetainForwardRule};
use support::broker;
use support::rumqtt::{V5, v5_options};

/// Subscribes (or re-subscribes) with `rule` and returns the retained payloads received
/// before a marker message.
async fn subscribe_and_collect(client: &mut V5, rule: RetainForwardRule) -> Vec<String> {
    let mut filter = Filter::new("rh/t", QoS::AtLeastOnce);
    filter.retain_forward_rule = rule;
    client.subscribe_filter(filter, None).await;
    client
        .publish("rh/marker", QoS::AtLeastOnce, false, "")
        .await;
    let mut payloads = Vec::new();
    loop {
        let p = client.next_publish().await;
        if &p.topic[..] == b"rh/marker" {
            return payloads;
        }
        assert!(p.retain);
        payloads.push(String::from_utf8_lossy(&p.payload).into_owned());
        assert!(payloads.len() < 10);
    }
}

#[tokio::test]
async fn retain_handling_0_1_and_2() {
    let server = broker().await;
    let port = server.mqtt_addr().port();
    let (mut publisher, _) = V5::connect(v5_options(port, "rh-pub")).await;
    publisher
        .publish("rh/t", QoS::AtLeastOnce, true, "state")
        .await;

    for (name, rule, first, again) in [
        ("rh-0", RetainForwardRule::OnEverySubscribe, 1, 1),
        ("rh-1", RetainForwardRule::OnNewSubscribe, 1, 0),
        ("rh-2", RetainForwardRule::Never, 0, 0),
    ] {
        let (mut client, _) = V5::connect(v5_options(port, name)).await;
        client.subscribe("rh/marker", QoS::AtLeastOnce).await;
        let got = subscribe_and_collect(&mut client, rule.clone()).await;
        assert_eq!(got.len(), first, "{name} first subscribe: {got:?}");
        let got = subscribe_and_collect(&mut client, rule).await;
        assert_eq!(got.len(), again, "{name} subscribe again: {got:?}");
        client.disconnect().await;
    }
    publisher.disconnect().await;
}
