//! HTTP Publish in open mode over real HTTP (reqwest, curl, Python's urllib): every
//! mapped property seen by rumqttc v5 and paho subscribers, QoS 0/1/2 and retain seen by
//! a rumqttc v3.1.1 subscriber, every bad request answered with its status (400 naming
//! the parameter, 404, 405, 413, 429 with Retry-After), and HTTP/2.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use gridmq_server::{Config, Server};
use rumqttc::v5::mqttbytes::QoS as V5QoS;
use support::http::{Http, enc};
use support::peers::python;
use support::rumqtt::{V3, V5, v3_options, v5_options};
use support::{broker_with, unique};

/// Event Grid's sample request: its headers and the values they stand for.
const SAMPLE_CORRELATION: &str = "PlXCscK2wrbCuy8=";
const SAMPLE_USER_PROPERTIES: &str = "W3siVXJnZW5jeSI6ImFsZXJ0In0seyJSZXF1ZXN0SWQiOiI1NWY0YTdlZS1iMGI0LTRkN2YtOGViNS0yZWRiYTJjZWQ1ZDcifV0=";
const SAMPLE_BODY: &str = "Please accept terms of licensing and agreement";

async fn http_broker(tweak: impl FnOnce(&mut Config)) -> Server {
    broker_with(|config| {
        config.http.bind = Some("127.0.0.1:0".parse().expect("loopback"));
        tweak(config);
    })
    .await
}

fn sample_user_properties() -> Vec<(String, String)> {
    vec![
        ("Urgency".to_owned(), "alert".to_owned()),
        (
            "RequestId".to_owned(),
            "55f4a7ee-b0b4-4d7f-8eb5-2edba2ced5d7".to_owned(),
        ),
    ]
}

#[tokio::test]
async fn every_property_reaches_a_v5_subscriber() {
    let server = http_broker(|_| {}).await;
    let port = server.mqtt_addr().port();
    let topic = unique("devices/CXa-23112/prompt");
    let (mut sub, _) = V5::connect(v5_options(port, &unique("v5-sub").replace('/', "-"))).await;
    sub.subscribe(&topic, V5QoS::ExactlyOnce).await;
    let http = Http::new(&server);
    let reply_topic = format!("{topic}/reply");
    let reply_header = enc(&reply_topic);
    http.publish_ok(
        &topic,
        "api-version=2025-02-15-preview",
        &[
            ("mqtt-qos", "1"),
            ("mqtt-retain", "0"),
            ("mqtt-response-topic", &reply_header),
            ("mqtt-correlation-data", SAMPLE_CORRELATION),
            ("mqtt-user-properties", SAMPLE_USER_PROPERTIES),
            ("content-type", "text/plain;charset=UTF-8"),
            ("mqtt-message-expiry", "3600"),
            ("mqtt-payload-format-indicator", "1"),
        ],
        SAMPLE_BODY,
    )
    .await;
    let got = sub.next_publish().await;
    assert_eq!(got.topic, Bytes::from(topic.clone()));
    assert_eq!(got.payload, Bytes::from(SAMPLE_BODY));
    assert_eq!(got.qos, V5QoS::AtLeastOnce);
    assert!(!got.retain);
    let p = got.properties.expect("properties");
    assert_eq!(p.response_topic.as_deref(), Some(reply_topic.as_str()));
    assert_eq!(
        p.correlation_data,
        Some(Bytes::from(STANDARD.decode(SAMPLE_CORRELATION).unwrap()))
    );
    assert_eq!(p.user_properties, sample_user_properties(), "in order");
    assert_eq!(p.content_type.as_deref(), Some("text/plain;charset=UTF-8"));
    let expiry = p.message_expiry_interval.expect("an expiry");
    assert!((3590..=3600).contains(&expiry), "{expiry}");
    assert_eq!(p.payload_format_indicator, Some(1));

    // The raw JSON array is accepted for user properties; headers left out set nothing.
    http.publish_ok(
        &topic,
        "",
        &[("mqtt-user-properties", r#"[{"a":"1"},{"a":"2"}]"#)],
        "raw",
    )
    .await;
    let got = sub.next_publish().await;
    let p = got.properties.expect("properties");
    let expected = vec![
        ("a".to_owned(), "1".to_owned()),
        ("a".to_owned(), "2".to_owned()),
    ];
    assert_eq!(p.user_properties, expected);
    assert_eq!(p.content_type, None);
    assert_eq!(p.payload_format_indicator, None);
    assert_eq!(p.message_expiry_interval, None);
}

#[tokio::test]
async fn qos_and_retain_reach_a_v311_subscriber() {
    let server = http_broker(|_| {}).await;
    let port = server.mqtt_addr().port();
    let topic = unique("v3/http");
    let (mut sub, _) = V3::connect(v3_options(port, &unique("v3-sub").replace('/', "-"))).await;
    sub.subscribe(&topic, rumqttc::QoS::ExactlyOnce).await;
    let http = Http::new(&server);
    // Query, header, default; the query wins over the header.
    let cases = [
        ("qos=0", vec![], rumqttc::QoS::AtMostOnce),
        ("", vec![("mqtt-qos", "0")], rumqttc::QoS::AtMostOnce),
        ("", vec![], rumqttc::QoS::AtLeastOnce),
        ("qos=2", vec![("mqtt-qos", "0")], rumqttc::QoS::ExactlyOnce),
        ("", vec![("mqtt-qos", "2")], rumqttc::QoS::ExactlyOnce),
    ];
    for (i, (query, headers, qos)) in cases.into_iter().enumerate() {
        let body = format!("m{i}");
        http.publish_ok(&topic, query, &headers, body.clone()).await;
        let got = sub.next_publish().await;
        assert_eq!((got.qos, got.payload), (qos, Bytes::from(body)), "{query}");
        assert!(!got.retain);
    }

    // Retained over HTTP (query and header), delivered with RETAIN to a new subscriber.
    let kept = unique("v3/kept");
    http.publish_ok(&kept, "retain=1&qos=1", &[], "kept").await;
    let header_kept = unique("v3/kept");
    http.publish_ok(&header_kept, "", &[("mqtt-retain", "1")], "kept too")
        .await;
    let (mut late, _) = V3::connect(v3_options(port, &unique("v3-late").replace('/', "-"))).await;
    late.subscribe(&kept, rumqttc::QoS::AtLeastOnce).await;
    let got = late.next_publish().await;
    assert!(got.retain, "{got:?}");
    assert_eq!(got.payload, Bytes::from("kept"));
    late.subscribe(&header_kept, rumqttc::QoS::AtLeastOnce)
        .await;
    assert!(late.next_publish().await.retain);
}

#[tokio::test]
async fn a_paho_subscriber_sees_every_property() {
    let server = http_broker(|_| {}).await;
    let http_port = server.http_addr().unwrap().port().to_string();
    python(
        "http_publish.py",
        server.mqtt_addr().port(),
        &["--http-port", &http_port],
    )
    .await;
}

#[tokio::test]
async fn curl_sends_the_event_grid_sample() {
    if !support::peers::curl_available() {
        return;
    }
    let server = http_broker(|_| {}).await;
    let port = server.mqtt_addr().port();
    let (mut sub, _) = V5::connect(v5_options(port, "curl-sub")).await;
    sub.subscribe("devices/CXa-23112/prompt", V5QoS::AtLeastOnce)
        .await;
    let url = format!(
        "http://{}/mqtt/messages?topic=devices%2FCXa-23112%2Fprompt&api-version=2025-02-15-preview",
        server.http_addr().unwrap()
    );
    let output = support::within(
        "curl",
        tokio::process::Command::new("curl")
            .args([
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-X",
                "POST",
                &url,
            ])
            .args(["-H", "mqtt-qos: 1", "-H", "mqtt-retain: 0"])
            .args(["-H", "mqtt-response-topic: devices%2FCXa-23112%2Freply"])
            .args([
                "-H",
                &format!("mqtt-correlation-data: {SAMPLE_CORRELATION}"),
            ])
            .args([
                "-H",
                &format!("mqtt-user-properties: {SAMPLE_USER_PROPERTIES}"),
            ])
            .args(["-H", "Content-Type: text/plain;charset=UTF-8"])
            .args(["--data-binary", SAMPLE_BODY])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("curl runs");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "204", "{output:?}");
    let got = sub.next_publish().await;
    assert_eq!(got.payload, Bytes::from(SAMPLE_BODY));
    let p = got.properties.expect("properties");
    assert_eq!(p.response_topic.as_deref(), Some("devices/CXa-23112/reply"));
    assert_eq!(p.user_properties, sample_user_properties());
    assert_eq!(p.content_type.as_deref(), Some("text/plain;charset=UTF-8"));
}

/// A path with its query, headers, and the parameters the 400 must name.
type BadRequest<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<&'a str>);

#[tokio::test]
async fn bad_requests_name_the_bad_parameter() {
    let server = http_broker(|_| {}).await;
    let http = Http::new(&server);
    let cases: Vec<BadRequest<'_>> = vec![
        ("/mqtt/messages", vec![], vec!["topic"]),
        ("/mqtt/messages?topic=", vec![], vec!["topic"]),
        ("/mqtt/messages?topic=a%2F%2B%2Fb", vec![], vec!["topic"]),
        ("/mqtt/messages?topic=a%2F%23", vec![], vec!["topic"]),
        ("/mqtt/messages?topic=a%FF", vec![], vec!["topic"]),
        ("/mqtt/messages?topic=a&qos=3", vec![], vec!["qos"]),
        (
            "/mqtt/messages?topic=a",
            vec![("mqtt-qos", "one")],
            vec!["mqtt-qos"],
        ),
        ("/mqtt/messages?topic=a&retain=2", vec![], vec!["retain"]),
        (
            "/mqtt/messages?topic=a",
            vec![("mqtt-retain", "true")],
            vec!["mqtt-retain"],
        ),
        (
            "/mqtt/messages?topic=a",
            vec![("mqtt-correlation-data", "not base64!")],
            vec!["mqtt-correlation-data"],
        ),
        (
            "/mqtt/messages?topic=a",
            vec![("mqtt-user-properties", "not base64!")],
            vec!["mqtt-user-properties"],
        ),
        (
            "/mqtt/messages?topic=a",
            // base64 of `[{"a":` — not JSON.
            vec![("mqtt-user-properties", "W3siYSI6")],
            vec!["mqtt-user-properties"],
        ),
        (
            "/mqtt/messages?topic=a",
            vec![("mqtt-user-properties", r#"[{"a":"1","b":"2"}]"#)],
            vec!["mqtt-user-properties"],
        ),
        (
            "/mqtt/messages?topic=a",
            vec![("mqtt-response-topic", "r%2F%23")],
            vec!["mqtt-response-topic"],
        ),
        (
            "/mqtt/messages?topic=a",
            vec![("mqtt-message-expiry", "soon")],
            vec!["mqtt-message-expiry"],
        ),
        (
            "/mqtt/messages?topic=a",
            vec![("mqtt-payload-format-indicator", "7")],
            vec!["mqtt-payload-format-indicator"],
        ),
        (
            "/mqtt/messages?topic=a&api-version=2021-06-01-preview",
            vec![],
            vec!["api-version"],
        ),
        (
            "/mqtt/messages?qos=9&retain=9",
            vec![],
            vec!["topic", "qos", "retain"],
        ),
    ];
    for (path, headers, fields) in cases {
        let reply = http.send("POST", path, &headers, Some(b"x".to_vec())).await;
        reply.assert_problem(400);
        assert_eq!(reply.fields(), fields, "{path} {headers:?}: {reply:?}");
    }
    // The unknown api-version's answer lists the supported ones.
    let reply = http.publish("a", "api-version=1999-01-01", &[], "x").await;
    let message = reply.json()["errors"][0]["message"].to_string();
    for version in [
        "2025-02-15-preview",
        "2025-08-01-preview",
        "2025-11-16-preview",
    ] {
        assert!(message.contains(version), "{message}");
    }
    // A payload flagged as UTF-8 must be UTF-8.
    let reply = http
        .publish(
            "a",
            "",
            &[("mqtt-payload-format-indicator", "1")],
            vec![0xff, 0xfe],
        )
        .await;
    reply.assert_problem(400);
    assert_eq!(reply.fields(), ["body"]);
    // Unknown routes and methods.
    http.get("/mqtt/nothing").await.assert_problem(404);
    http.get("/mqtt/messages?topic=a").await.assert_problem(405);
}

#[tokio::test]
async fn the_broker_limits_apply_to_http_publishes() {
    let server = http_broker(|config| {
        config.mqtt.max_packet_size = bytesize::ByteSize::kib(1);
        config.mqtt.maximum_qos = 1;
        config.mqtt.retain_available = false;
        config.mqtt.max_topic_levels = 3;
    })
    .await;
    let http = Http::new(&server);
    // Over the maximum packet size: the body alone, or with topic and properties.
    http.publish("big", "", &[], vec![b'x'; 2048])
        .await
        .assert_problem(413);
    let long_header = "h".repeat(600);
    let reply = http
        .publish(
            "big",
            "",
            &[(
                "mqtt-correlation-data",
                &STANDARD.encode(long_header.as_bytes()),
            )],
            vec![b'x'; 600],
        )
        .await;
    reply.assert_problem(413);
    http.publish_ok("fits", "", &[], vec![b'x'; 900]).await;
    // The broker's maximum QoS, retain availability and topic levels.
    let reply = http.publish("a", "qos=2", &[], "x").await;
    reply.assert_problem(400);
    assert_eq!(reply.fields(), ["qos"]);
    let reply = http.publish("a", "retain=1", &[], "x").await;
    reply.assert_problem(400);
    assert_eq!(reply.fields(), ["retain"]);
    let reply = http.publish("a/b/c/d", "", &[], "x").await;
    reply.assert_problem(400);
    assert_eq!(reply.fields(), ["topic"]);
}

#[tokio::test]
async fn a_caller_over_its_rate_limit_gets_429_with_retry_after() {
    let server = http_broker(|config| {
        config.http.rate_limit = 1;
        config.http.rate_limit_burst = 2;
    })
    .await;
    let http = Http::new(&server);
    // At one request per second with a burst of two, some of these must be refused
    // however slowly they are sent; the count bounds the loop.
    let mut limited = None;
    for i in 0..50 {
        let reply = http.publish("limited", "qos=0", &[], format!("{i}")).await;
        if reply.status == 429 {
            limited = Some(reply);
            break;
        }
        assert_eq!(reply.status, 204, "{reply:?}");
    }
    let reply = limited.expect("a 429 within 50 requests");
    reply.assert_problem(429);
    let wait: u64 = reply
        .header("retry-after")
        .parse()
        .expect("Retry-After seconds");
    assert!(wait >= 1, "{wait}");
    // The retained API shares the caller's budget.
    let reply = http.retained("limited").await;
    assert!(reply.status == 429 || reply.status == 404, "{reply:?}");
}

#[tokio::test]
async fn http2_and_http1_keep_alive_both_publish() {
    let server = http_broker(|_| {}).await;
    let port = server.mqtt_addr().port();
    let topic = unique("h2");
    let (mut sub, _) = V5::connect(v5_options(port, "h2-sub")).await;
    sub.subscribe(&topic, V5QoS::AtLeastOnce).await;
    let h2 = Http::http2(&server);
    let h1 = Http::new(&server);
    for i in 0..3 {
        let reply = h2.publish(&topic, "", &[], format!("h2-{i}")).await;
        assert_eq!(reply.status, 204, "{reply:?}");
        assert_eq!(reply.version, reqwest::Version::HTTP_2);
        let reply = h1.publish(&topic, "", &[], format!("h1-{i}")).await;
        assert_eq!(reply.status, 204, "{reply:?}");
        assert_eq!(reply.version, reqwest::Version::HTTP_11);
    }
    let mut got = Vec::new();
    for _ in 0..6 {
        got.push(String::from_utf8(sub.next_publish().await.payload.to_vec()).unwrap());
    }
    got.sort();
    assert_eq!(got, ["h1-0", "h1-1", "h1-2", "h2-0", "h2-1", "h2-2"]);
    // Errors come back over HTTP/2 as problem+json too.
    h2.publish("a/+", "", &[], "x").await.assert_problem(400);
    // A listing's nextLink is absolute over HTTP/2 as well (from :authority).
    for i in 0..2 {
        h2.publish_ok(&format!("{topic}/r{i}"), "retain=1", &[], "r")
            .await;
    }
    let reply = h2
        .get(&format!(
            "/mqtt/retainedMessages?topicFilter={}&maxResults=1",
            enc(&format!("{topic}/#"))
        ))
        .await;
    let link = reply.json()["nextLink"].as_str().unwrap().to_owned();
    assert!(link.starts_with(&h2.base), "{link}");
    let (items, _) = h2.list_all(&format!("{topic}/#"), 1).await;
    assert_eq!(items.len(), 2);
}
