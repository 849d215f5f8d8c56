//! MQTT 5 subscriptions: `+` and `#`, `$`-topics and leading wildcards, No Local,
//! Retain As Published, Subscription Identifiers, overlapping subscriptions, invalid
//! filters and UNSUBSCRIBE.

mod support;

use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Filter, SubscribeProperties, UnsubAckReason};
use support::broker;
use support::raw::{self, RawClient};
use support::rumqtt::{V5, v5_options};

const MARKER: &str = "marker/end";

/// Publishes the marker and returns the topics `client` received before it, in order.
/// `client` must be subscribed to [`MARKER`].
async fn topics_before_marker(client: &mut V5, publisher: &mut V5) -> Vec<String> {
    publisher
        .publish(MARKER, QoS::AtLeastOnce, false, "end")
        .await;
    let mut topics = Vec::new();
    loop {
        let p = client.next_publish().await;
        let topic = String::from_utf8_lossy(&p.topic).into_owned();
        if topic == MARKER {
            return topics;
        }
        assert!(topics.len() < 100, "no marker after {topics:?}");
        topics.push(topic);
    }
}

async fn pair(port: u16, name: &str) -> (V5, V5) {
    let (mut subscriber, _) = V5::connect(v5_options(port, &format!("{name}-sub"))).await;
    subscriber.subscribe(MARKER, QoS::AtLeastOnce).await;
    let (publisher, _) = V5::connect(v5_options(port, &format!("{name}-pub"))).await;
    (subscriber, publisher)
}

#[tokio::test]
async fn single_and_multi_level_wildcards_match_as_specified() {
    let server = broker().await;
    let (mut sub, mut publisher) = pair(server.mqtt_addr().port(), "wild").await;
    sub.subscribe("home/+/temp", QoS::AtMostOnce).await;
    sub.subscribe("office/#", QoS::AtMostOnce).await;
    sub.subscribe("+", QoS::AtMostOnce).await;
    for topic in [
        "home/kitchen/temp",
        "home/temp",
        "home/a/b/temp",
        "home//temp",
        "office",
        "office/",
        "office/floor/1",
        "top",
        "top/level",
        "/leading",
    ] {
        publisher
            .publish(topic, QoS::AtMostOnce, false, topic)
            .await;
    }
    assert_eq!(
        topics_before_marker(&mut sub, &mut publisher).await,
        [
            "home/kitchen/temp",
            "home//temp",
            "office",
            "office/",
            "office/floor/1",
            "top"
        ]
    );
    sub.disconnect().await;
    publisher.disconnect().await;
}

#[tokio::test]
async fn dollar_topics_are_not_matched_by_leading_wildcards() {
    let server = broker().await;
    let (mut sub, mut publisher) = pair(server.mqtt_addr().port(), "dollar").await;
    sub.subscribe("#", QoS::AtMostOnce).await;
    sub.subscribe("+/status", QoS::AtMostOnce).await;
    let (mut explicit, _) = V5::connect(v5_options(server.mqtt_addr().port(), "dollar-x")).await;
    explicit.subscribe("$app/+", QoS::AtMostOnce).await;
    publisher
        .publish("$app/status", QoS::AtMostOnce, false, "hidden")
        .await;
    publisher
        .publish("app/status", QoS::AtMostOnce, false, "visible")
        .await;
    // [MQTT-4.7.2-1] "#" and "+/status" do not match "$app/status"; "#" does see the
    // marker and "app/status" (once, although two filters match it).
    assert_eq!(
        topics_before_marker(&mut sub, &mut publisher).await,
        ["app/status"]
    );
    assert_eq!(&explicit.next_publish().await.topic[..], b"$app/status");
    for client in [sub, publisher, explicit] {
        client.disconnect().await;
    }
}

#[tokio::test]
async fn no_local_keeps_a_clients_own_messages_from_it() {
    let server = broker().await;
    let port = server.mqtt_addr().port();
    let (mut me, _) = V5::connect(v5_options(port, "no-local")).await;
    let mut filter = Filter::new("chat/#", QoS::AtLeastOnce);
    filter.nolocal = true;
    me.subscribe_filter(filter, None).await;
    let (mut other, _) = V5::connect(v5_options(port, "no-local-other")).await;
    other.subscribe("chat/#", QoS::AtLeastOnce).await;

    me.publish("chat/mine", QoS::AtLeastOnce, false, "mine")
        .await;
    other
        .publish("chat/theirs", QoS::AtLeastOnce, false, "theirs")
        .await;
    // The other client sees both; I see only theirs.
    assert_eq!(&other.next_publish().await.topic[..], b"chat/mine");
    assert_eq!(&other.next_publish().await.topic[..], b"chat/theirs");
    assert_eq!(&me.next_publish().await.topic[..], b"chat/theirs");
    me.disconnect().await;
    other.disconnect().await;
}

#[tokio::test]
async fn retain_as_published_keeps_the_retain_flag_on_live_messages() {
    let server = broker().await;
    let port = server.mqtt_addr().port();
    let (mut keeps, _) = V5::connect(v5_options(port, "rap-1")).await;
    let mut filter = Filter::new("rap/t", QoS::AtLeastOnce);
    filter.preserve_retain = true;
    keeps.subscribe_filter(filter, None).await;
    let (mut clears, _) = V5::connect(v5_options(port, "rap-0")).await;
    clears.subscribe("rap/t", QoS::AtLeastOnce).await;
    let (mut publisher, _) = V5::connect(v5_options(port, "rap-pub")).await;
    publisher
        .publish("rap/t", QoS::AtLeastOnce, true, "live and retained")
        .await;
    assert!(keeps.next_publish().await.retain, "Retain As Published 1");
    assert!(!clears.next_publish().await.retain, "[MQTT-3.3.1-12]");
    // Cleanup: clear the retained message.
    publisher.publish("rap/t", QoS::AtLeastOnce, true, "").await;
    for client in [keeps, clears, publisher] {
        client.disconnect().await;
    }
}

#[tokio::test]
async fn overlapping_subscriptions_give_one_delivery_with_every_identifier() {
    let server = broker().await;
    let port = server.mqtt_addr().port();
    let (mut sub, _) = V5::connect(v5_options(port, "ids")).await;
    let with_id = |id| {
        Some(SubscribeProperties {
            id: Some(id),
            user_properties: Vec::new(),
        })
    };
    sub.subscribe_filter(Filter::new("ids/+/x", QoS::AtMostOnce), with_id(1))
        .await;
    sub.subscribe_filter(Filter::new("ids/#", QoS::ExactlyOnce), with_id(2))
        .await;
    sub.subscribe_filter(Filter::new("ids/only/y", QoS::AtLeastOnce), with_id(3))
        .await;
    sub.subscribe(MARKER, QoS::AtLeastOnce).await;
    let (mut publisher, _) = V5::connect(v5_options(port, "ids-pub")).await;
    publisher
        .publish("ids/a/x", QoS::ExactlyOnce, false, "both")
        .await;
    publisher
        .publish("ids/only/y", QoS::ExactlyOnce, false, "two of three")
        .await;

    let p = sub.next_publish().await;
    assert_eq!(&p.topic[..], b"ids/a/x");
    assert_eq!(p.qos, QoS::ExactlyOnce, "the highest granted QoS");
    let mut ids = p.properties.expect("properties").subscription_identifiers;
    ids.sort_unstable();
    assert_eq!(ids, [1, 2]);
    let p = sub.next_publish().await;
    let mut ids = p.properties.expect("properties").subscription_identifiers;
    ids.sort_unstable();
    assert_eq!(ids, [2, 3]);
    // Exactly one delivery per message: the next thing is the marker.
    assert!(
        topics_before_marker(&mut sub, &mut publisher)
            .await
            .is_empty()
    );
    sub.disconnect().await;
    publisher.disconnect().await;
}

#[tokio::test]
async fn a_subscription_replaced_with_new_options_delivers_once_with_the_new_qos() {
    let server = broker().await;
    let (mut sub, mut publisher) = pair(server.mqtt_addr().port(), "replace").await;
    sub.subscribe("replace/t", QoS::ExactlyOnce).await;
    sub.subscribe("replace/t", QoS::AtMostOnce).await;
    publisher
        .publish("replace/t", QoS::ExactlyOnce, false, "x")
        .await;
    let p = sub.next_publish().await;
    assert_eq!(p.qos, QoS::AtMostOnce);
    assert!(
        topics_before_marker(&mut sub, &mut publisher)
            .await
            .is_empty()
    );
    sub.disconnect().await;
    publisher.disconnect().await;
}

#[tokio::test]
async fn invalid_filters_are_refused_per_filter() {
    use gridmq_codec::{Packet, ReasonCode, SubscribeOptions, Subscription};
    let server = broker().await;
    let mut client = RawClient::v5(server.mqtt_addr(), "bad-filters").await;
    let mut subscribe = raw::subscribe(1, "ok/+", gridmq_codec::QoS::AtLeastOnce);
    for filter in ["a/#/b", "a+", "#/", "$share/g", "$share//t", "$share/g+/t"] {
        subscribe.subscriptions.push(Subscription {
            filter: filter.into(),
            options: SubscribeOptions::default(),
        });
    }
    client.send_packet(&Packet::Subscribe(subscribe)).await;
    match client.expect().await {
        Packet::SubAck(ack) => assert_eq!(
            ack.reason_codes,
            [
                ReasonCode::GrantedQos1,
                ReasonCode::TopicFilterInvalid,
                ReasonCode::TopicFilterInvalid,
                ReasonCode::TopicFilterInvalid,
                ReasonCode::TopicFilterInvalid,
                ReasonCode::TopicFilterInvalid,
                ReasonCode::TopicFilterInvalid,
            ]
        ),
        other => panic!("expected SUBACK, got {other:?}"),
    }
    // The connection is still usable and the valid filter works.
    client
        .publish("ok/1", gridmq_codec::QoS::AtMostOnce, 0, b"fine")
        .await;
    assert_eq!(&client.expect_publish().await.payload[..], b"fine");
    client.disconnect().await;
}

#[tokio::test]
async fn unsubscribe_stops_deliveries() {
    let server = broker().await;
    let (mut sub, mut publisher) = pair(server.mqtt_addr().port(), "unsub").await;
    sub.subscribe("unsub/+", QoS::AtLeastOnce).await;
    publisher
        .publish("unsub/a", QoS::AtLeastOnce, false, "before")
        .await;
    assert_eq!(&sub.next_publish().await.payload[..], b"before");
    assert_eq!(sub.unsubscribe("unsub/+").await, [UnsubAckReason::Success]);
    assert_eq!(
        sub.unsubscribe("unsub/+").await,
        [UnsubAckReason::NoSubscriptionExisted]
    );
    publisher
        .publish("unsub/a", QoS::AtLeastOnce, false, "after")
        .await;
    assert!(
        topics_before_marker(&mut sub, &mut publisher)
            .await
            .is_empty()
    );
    sub.disconnect().await;
    publisher.disconnect().await;
}

#[tokio::test]
async fn retained_messages_sent_at_subscribe_carry_the_subscription_identifier() {
    let server = broker().await;
    let port = server.mqtt_addr().port();
    let (mut publisher, _) = V5::connect(v5_options(port, "sid-ret-pub")).await;
    publisher
        .publish("sid/ret", QoS::AtLeastOnce, true, "kept")
        .await;
    let (mut sub, _) = V5::connect(v5_options(port, "sid-ret-sub")).await;
    sub.subscribe_filter(
        Filter::new("sid/+", QoS::AtLeastOnce),
        Some(SubscribeProperties {
            id: Some(77),
            user_properties: Vec::new(),
        }),
    )
    .await;
    let p = sub.next_publish().await;
    assert!(p.retain);
    assert_eq!(
        p.properties.map(|p| p.subscription_identifiers),
        Some(vec![77])
    );
    publisher.disconnect().await;
    sub.disconnect().await;
}
