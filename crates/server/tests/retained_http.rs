//! The retained-message HTTP API over real HTTP: one message with its `x-ms-mqtt-*`
//! headers, listings with `+`/`#` filters paged through `nextLink`, deletion (which
//! delivers nothing and survives a restart), retained messages from MQTT and HTTP alike,
//! and every bad request.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use bytes::Bytes;
use gridmq_codec::ProtocolVersion;
use gridmq_server::{Config, Server};
use rumqttc::v5::mqttbytes::QoS;
use serde_json::Value;
use support::http::{API_VERSION, Http, enc};
use support::raw::{self, RawClient};
use support::rumqtt::{V5, v5_options};
use support::{broker_with, unique, within};

async fn http_broker(tweak: impl FnOnce(&mut Config)) -> Server {
    broker_with(|config| {
        config.http.bind = Some("127.0.0.1:0".parse().expect("loopback"));
        tweak(config);
    })
    .await
}

fn topics(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["topic"].as_str().unwrap().to_owned())
        .collect()
}

fn rfc3339(text: &str) -> SystemTime {
    humantime::parse_rfc3339(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

#[tokio::test]
async fn one_message_with_its_headers() {
    let server = http_broker(|_| {}).await;
    let http = Http::new(&server);
    let topic = unique("factory/line1/cell17/state");
    let before = SystemTime::now() - Duration::from_secs(2);
    http.publish_ok(
        &topic,
        "retain=1&qos=1",
        &[
            ("content-type", "application/json"),
            ("mqtt-message-expiry", "3600"),
        ],
        r#"{"on":true}"#,
    )
    .await;
    let reply = http.retained(&topic).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body, Bytes::from(r#"{"on":true}"#));
    assert_eq!(reply.header("content-type"), "application/json");
    assert_eq!(reply.header("x-ms-mqtt-topic"), topic);
    assert_eq!(reply.header("x-ms-mqtt-qos"), "1");
    let size: usize = reply.header("x-ms-mqtt-size").parse().unwrap();
    assert!(size > topic.len() + 11, "the whole PUBLISH packet: {size}");
    let modified = rfc3339(reply.header("x-ms-mqtt-last-modified"));
    assert!(modified >= before && modified <= SystemTime::now() + Duration::from_secs(2));
    let expiry = rfc3339(reply.header("x-ms-mqtt-expiry"));
    assert!(expiry > modified + Duration::from_secs(3500), "{expiry:?}");

    // Without a content type or expiry, and a topic that needs encoding in a header.
    let odd = format!("{}/café 100%", unique("odd"));
    http.publish_ok(&odd, "retain=1&qos=0", &[], vec![0u8, 1, 2])
        .await;
    let reply = http.retained(&odd).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body, Bytes::from_static(&[0, 1, 2]));
    assert_eq!(reply.header("content-type"), "application/octet-stream");
    assert_eq!(reply.header("x-ms-mqtt-qos"), "0");
    assert!(reply.headers.get("x-ms-mqtt-expiry").is_none());
    let shown = percent_encoding::percent_decode_str(reply.header("x-ms-mqtt-topic"))
        .decode_utf8()
        .unwrap();
    assert_eq!(shown, odd);

    // None retained: 404; a topic with a wildcard: 400.
    http.retained(&unique("nothing/here"))
        .await
        .assert_problem(404);
    let reply = http.retained("a/+").await;
    reply.assert_problem(400);
    assert_eq!(reply.fields(), ["topic"]);
    let reply = http
        .get("/mqtt/retainedMessages/message?api-version=2025-11-16-preview")
        .await;
    reply.assert_problem(400);
    assert_eq!(reply.fields(), ["topic"]);
}

#[tokio::test]
async fn listings_follow_next_link_through_filters() {
    let server = http_broker(|_| {}).await;
    let http = Http::new(&server);
    let root = unique("fleet");
    for i in 0..7 {
        http.publish_ok(
            &format!("{root}/{i}/status"),
            "retain=1",
            &[],
            format!("s{i}"),
        )
        .await;
        http.publish_ok(&format!("{root}/{i}/other"), "retain=1", &[], "o")
            .await;
    }
    http.publish_ok(&format!("{root}/1/status/deep"), "retain=1", &[], "d")
        .await;
    // Not retained: never listed.
    http.publish_ok(&format!("{root}/9/status"), "retain=0", &[], "x")
        .await;

    let (items, pages) = http.list_all(&format!("{root}/+/status"), 3).await;
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..7).map(|i| format!("{root}/{i}/status")).collect();
    assert_eq!(topics(&items), expected);
    for item in &items {
        assert_eq!(item["qos"], 1);
        assert!(item["size"].as_u64().unwrap() > 0);
        rfc3339(item["lastModifiedTime"].as_str().unwrap());
        assert!(item.get("expiry").is_none(), "{item}");
    }
    let (items, _) = http.list_all(&format!("{root}/#"), 100).await;
    assert_eq!(items.len(), 15);
    let (items, pages) = http.list_all(&format!("{root}/1/#"), 1).await;
    assert_eq!(
        topics(&items),
        [
            format!("{root}/1/other"),
            format!("{root}/1/status"),
            format!("{root}/1/status/deep"),
        ]
    );
    assert_eq!(pages, 3);
    let (items, pages) = http.list_all(&format!("{}/#", unique("empty")), 10).await;
    assert!(items.is_empty());
    assert_eq!(pages, 1);

    // The first page's nextLink carries a token, the page size and the api-version.
    let reply = http
        .get(&format!(
            "/mqtt/retainedMessages?topicFilter={}&maxResults=2&api-version={API_VERSION}",
            enc(&format!("{root}/#"))
        ))
        .await;
    let link = reply.json()["nextLink"].as_str().unwrap().to_owned();
    assert!(link.starts_with(&http.base), "{link}");
    assert!(
        link.contains("continuationToken=") && link.contains("maxResults=2"),
        "{link}"
    );
    assert!(link.contains(API_VERSION), "{link}");
}

#[tokio::test]
async fn bad_listings_are_400_naming_the_parameter() {
    let server = http_broker(|_| {}).await;
    let http = Http::new(&server);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("a/#\0a/1");
    let cases = [
        ("".to_owned(), vec!["topicFilter"]),
        (
            format!("topicFilter=a&continuationToken={token}"),
            vec!["topicFilter", "continuationToken"],
        ),
        ("topicFilter=a%2F%23%2Fb".to_owned(), vec!["topicFilter"]),
        ("topicFilter=a%2Bb".to_owned(), vec!["topicFilter"]),
        ("topicFilter=a&maxResults=0".to_owned(), vec!["maxResults"]),
        (
            "topicFilter=a&maxResults=101".to_owned(),
            vec!["maxResults"],
        ),
        (
            "topicFilter=a&maxResults=ten".to_owned(),
            vec!["maxResults"],
        ),
        (
            "continuationToken=bm90IGEgdG9rZW4".to_owned(),
            vec!["continuationToken"],
        ),
        (
            "topicFilter=a&api-version=2024-01-01".to_owned(),
            vec!["api-version"],
        ),
    ];
    for (query, fields) in cases {
        let reply = http.get(&format!("/mqtt/retainedMessages?{query}")).await;
        reply.assert_problem(400);
        assert_eq!(reply.fields(), fields, "{query}: {reply:?}");
    }
    // A token from a nextLink works on its own.
    let reply = http
        .get(&format!("/mqtt/retainedMessages?continuationToken={token}"))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[tokio::test]
async fn mqtt_and_http_retained_messages_are_one_store() {
    let server = http_broker(|_| {}).await;
    let port = server.mqtt_addr().port();
    let http = Http::new(&server);
    let topic = unique("shared/state");
    let (mut mqtt, _) = V5::connect(v5_options(port, "mqtt-retainer")).await;
    mqtt.publish(&topic, QoS::ExactlyOnce, true, "from mqtt")
        .await;
    let reply = http.retained(&topic).await;
    assert_eq!(reply.body, Bytes::from("from mqtt"));
    assert_eq!(reply.header("x-ms-mqtt-qos"), "2");
    // An empty retained publish over HTTP clears it, as over MQTT.
    http.publish_ok(&topic, "retain=1", &[], Vec::new()).await;
    http.retained(&topic).await.assert_problem(404);
}

#[tokio::test]
async fn delete_clears_without_delivering() {
    let server = http_broker(|_| {}).await;
    let port = server.mqtt_addr().port();
    let http = Http::new(&server);
    let topic = unique("del/state");
    http.publish_ok(&topic, "retain=1", &[], "on").await;
    let (mut sub, _) = V5::connect(v5_options(port, "del-sub")).await;
    sub.subscribe(&topic, QoS::AtLeastOnce).await;
    assert_eq!(sub.next_publish().await.payload, Bytes::from("on"));

    let reply = http.delete_retained(&topic).await;
    assert_eq!(reply.status, 204, "{reply:?}");
    http.retained(&topic).await.assert_problem(404);
    http.delete_retained(&topic).await.assert_problem(404);
    http.delete_retained("a/#").await.assert_problem(400);
    // The live subscriber got nothing from the deletion: the next message is this one.
    http.publish_ok(&topic, "retain=0", &[], "after").await;
    assert_eq!(sub.next_publish().await.payload, Bytes::from("after"));
    // A new subscriber gets no retained message.
    let (mut late, _) = V5::connect(v5_options(port, "del-late")).await;
    late.subscribe(&topic, QoS::AtLeastOnce).await;
    http.publish_ok(&topic, "retain=0", &[], "live").await;
    assert_eq!(late.next_publish().await.payload, Bytes::from("live"));
}

#[tokio::test]
async fn deletions_and_acknowledged_publishes_survive_a_restart() {
    let data = tempfile::tempdir().expect("a temporary directory");
    let dir = data.path().join("data");
    let durable = |config: &mut Config| {
        config.storage.in_memory = false;
        config.storage.data_dir = dir.clone();
    };
    let server = http_broker(durable).await;
    // A persistent session, offline while the HTTP publish is acknowledged.
    let persistent = || {
        let mut connect = raw::connect(ProtocolVersion::V5, "offline-dev", false);
        connect.properties.session_expiry_interval = Some(3600);
        connect
    };
    let (mut dev, _) = RawClient::connect(server.mqtt_addr(), persistent()).await;
    dev.subscribe("offline-dev/cmd", gridmq_codec::QoS::AtLeastOnce)
        .await;
    dev.disconnect().await;

    let http = Http::new(&server);
    http.publish_ok("keep/state", "retain=1", &[], "kept").await;
    http.publish_ok("gone/state", "retain=1", &[], "gone").await;
    assert_eq!(http.delete_retained("gone/state").await.status, 204);
    http.publish_ok("offline-dev/cmd", "qos=1", &[], "queued while offline")
        .await;
    within("shutdown", server.shutdown()).await;

    let server = http_broker(durable).await;
    let http = Http::new(&server);
    assert_eq!(http.retained("keep/state").await.body, Bytes::from("kept"));
    http.retained("gone/state").await.assert_problem(404);
    let (mut dev, ack) = RawClient::connect(server.mqtt_addr(), persistent()).await;
    assert!(ack.session_present);
    let queued = dev.expect_publish().await;
    assert_eq!(queued.payload, Bytes::from("queued while offline"));
}
