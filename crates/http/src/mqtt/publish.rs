//! `POST /mqtt/messages`: an HTTP request mapped to an MQTT PUBLISH, part by part as
//! Event Grid's HTTP Publish maps it:
//!
//! | PUBLISH part             | from                                                   |
//! |--------------------------|--------------------------------------------------------|
//! | Topic Name               | query `topic` (percent-encoded), required              |
//! | QoS                      | query `qos` or header `mqtt-qos`: 0, 1 (default) or 2  |
//! | RETAIN                   | query `retain` or header `mqtt-retain`: 0 (default), 1 |
//! | Response Topic           | header `mqtt-response-topic` (percent-encoded)         |
//! | Correlation Data         | header `mqtt-correlation-data` (base64)                |
//! | User Properties          | header `mqtt-user-properties`: base64 of a JSON array of single-key objects (the bare JSON array is accepted too) |
//! | Content Type             | header `content-type`                                  |
//! | Message Expiry Interval  | header `mqtt-message-expiry` (seconds, at least 1)     |
//! | Payload Format Indicator | header `mqtt-payload-format-indicator`: 0 (default), 1 |
//! | Payload                  | the body                                               |
//!
//! Query values win over headers. QoS 2 goes beyond Event Grid (which takes 0 and 1).
//! Every bad parameter is named in one 400.

use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use bytes::Bytes;
use gridmq_codec::{PacketId, ProtocolVersion, Publish, QoS, TopicName, UserProperty, Utf8Bytes};
use serde_json::Value;

use super::MqttState;
use super::params::{Problems, Query};
use crate::error::{ApiError, FieldError};
use crate::state::Principal;

/// Standard base64, with or without padding.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The handler: parse, check the size against the maximum packet size, publish.
pub(super) async fn post(
    State(state): State<MqttState>,
    Extension(principal): Extension<Principal>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let max = state.service.max_packet_size();
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large(max)
        } else {
            ApiError::status(rejection.status(), rejection.body_text())
        }
    })?;
    let query = Query::parse(query.as_deref())?;
    let publish = parse(&query, &headers, body)?;
    let size = publish
        .view()
        .encoded_len(ProtocolVersion::V5)
        .map_err(|e| {
            ApiError::invalid(
                "not a valid MQTT PUBLISH",
                vec![FieldError::new("", e.to_string())],
            )
        })?;
    if size > max {
        return Err(too_large(max));
    }
    state.service.publish(principal, publish).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn too_large(max: usize) -> ApiError {
    ApiError::too_large(format!(
        "the message (body, topic and properties) is larger than the maximum MQTT packet size of {max} bytes"
    ))
}

/// Maps a request to the PUBLISH it stands for. QoS 1 and 2 messages get packet
/// identifier 1, so that the packet is complete (for its size); the broker ignores it.
pub(crate) fn parse(query: &Query, headers: &HeaderMap, body: Bytes) -> Result<Publish, ApiError> {
    let mut problems = Problems::default();
    problems.take(query.check_api_version());
    let topic = problems.take(
        query
            .get("topic")
            .and_then(|t| t.ok_or_else(|| FieldError::new("topic", "is required")))
            .and_then(|t| topic_name("topic", t)),
    );
    let qos = problems.take(flag(query, headers, "qos", "mqtt-qos", &["0", "1", "2"]));
    let retain = problems.take(flag(query, headers, "retain", "mqtt-retain", &["0", "1"]));
    let mut publish = Publish::new(topic.unwrap_or_default(), body);
    publish.qos = match qos.flatten() {
        Some(0) => QoS::AtMostOnce,
        Some(2) => QoS::ExactlyOnce,
        _ => QoS::AtLeastOnce,
    };
    publish.retain = retain.flatten() == Some(1);
    if publish.qos != QoS::AtMostOnce {
        publish.packet_id = PacketId::new(1);
    }
    let properties = &mut publish.properties;
    if let Some(Some(value)) = problems.take(header_text(headers, "mqtt-response-topic")) {
        let decoded = percent_encoding::percent_decode_str(&value)
            .decode_utf8()
            .map_err(|_| {
                FieldError::new("mqtt-response-topic", "is not UTF-8 once percent-decoded")
            })
            .and_then(|t| topic_name("mqtt-response-topic", &t));
        properties.response_topic = problems.take(decoded);
    }
    if let Some(Some(value)) = problems.take(header_text(headers, "mqtt-correlation-data")) {
        let decoded = BASE64
            .decode(value.trim())
            .map(Bytes::from)
            .map_err(|e| FieldError::new("mqtt-correlation-data", format!("is not base64: {e}")));
        properties.correlation_data = problems.take(decoded);
    }
    if let Some(Some(value)) = problems.take(header_text(headers, "mqtt-user-properties")) {
        if let Some(list) = problems.take(user_properties(&value)) {
            properties.user_properties = list;
        }
    }
    if let Some(Some(value)) = problems.take(header_text(headers, header::CONTENT_TYPE.as_str())) {
        properties.content_type = problems.take(mqtt_string("content-type", value));
    }
    if let Some(Some(value)) = problems.take(header_text(headers, "mqtt-message-expiry")) {
        let expiry = value
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|secs| *secs > 0)
            .ok_or_else(|| {
                FieldError::new(
                    "mqtt-message-expiry",
                    "must be a whole number of seconds from 1 to 4294967295 (leave it out for no expiry)",
                )
            });
        properties.message_expiry_interval = problems.take(expiry);
    }
    let indicator = problems.take(flag(
        &Query::default(),
        headers,
        "",
        "mqtt-payload-format-indicator",
        &["0", "1"],
    ));
    if indicator.flatten() == Some(1) {
        properties.payload_format_indicator = Some(true);
    }
    problems.finish()?;
    Ok(publish)
}

/// A small number from the query parameter `query_name` (which wins) or the header
/// `header_name`, one of `allowed`.
fn flag(
    query: &Query,
    headers: &HeaderMap,
    query_name: &str,
    header_name: &str,
    allowed: &[&str],
) -> Result<Option<u8>, FieldError> {
    let (name, value) = match query.get(query_name)? {
        Some(value) if !query_name.is_empty() => (query_name, value.to_owned()),
        _ => match header_text(headers, header_name)? {
            Some(value) => (header_name, value),
            None => return Ok(None),
        },
    };
    let value = value.trim();
    if allowed.contains(&value) {
        Ok(value.parse().ok())
    } else {
        Err(FieldError::new(
            name,
            format!("must be {} (not {value:?})", allowed.join(" or ")),
        ))
    }
}

/// The value of header `name` as UTF-8 text; given twice it is an error.
fn header_text(headers: &HeaderMap, name: &str) -> Result<Option<String>, FieldError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(FieldError::new(name, "is given more than once"));
    }
    String::from_utf8(value.as_bytes().to_vec())
        .map(Some)
        .map_err(|_| FieldError::new(name, "is not UTF-8"))
}

/// `text` as an MQTT UTF-8 string: no U+0000 ([MQTT-1.5.4-2]).
fn mqtt_string(field: &str, text: String) -> Result<Utf8Bytes, FieldError> {
    Utf8Bytes::try_from_bytes(Bytes::from(text))
        .map_err(|_| FieldError::new(field, "must not contain the null character U+0000"))
}

/// `text` as a topic name: not empty, no wildcards, no U+0000.
fn topic_name(field: &str, text: &str) -> Result<TopicName, FieldError> {
    let text = mqtt_string(field, text.to_owned())?;
    TopicName::new(text).map_err(|e| FieldError::new(field, e.to_string()))
}

/// User properties from base64 of a JSON array of single-key objects, or that array
/// itself: `[{"Urgency":"alert"},{"RequestId":"55f4"}]`, in order, repeats allowed.
fn user_properties(value: &str) -> Result<Vec<UserProperty>, FieldError> {
    const FIELD: &str = "mqtt-user-properties";
    let value = value.trim();
    let json = if value.starts_with('[') {
        value.as_bytes().to_vec()
    } else {
        BASE64.decode(value).map_err(|e| {
            FieldError::new(FIELD, format!("is neither base64 nor a JSON array: {e}"))
        })?
    };
    let parsed: Value = serde_json::from_slice(&json)
        .map_err(|e| FieldError::new(FIELD, format!("is not valid JSON: {e}")))?;
    let Value::Array(items) = parsed else {
        return Err(FieldError::new(
            FIELD,
            "must be a JSON array of single-key objects",
        ));
    };
    let mut list = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let pair = match item {
            Value::Object(map) if map.len() == 1 => map.into_iter().next(),
            _ => None,
        };
        let Some((name, Value::String(value))) = pair else {
            return Err(FieldError::new(
                FIELD,
                format!("item {i} must be an object with one key and a string value"),
            ));
        };
        list.push((mqtt_string(FIELD, name)?, mqtt_string(FIELD, value)?));
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn request(query: &str, headers: &[(&str, &[u8])]) -> Result<Publish, ApiError> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        parse(
            &Query::parse(Some(query)).unwrap(),
            &map,
            Bytes::from_static(b"body"),
        )
    }

    fn fields(error: &ApiError) -> Vec<&str> {
        error.errors().iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn the_event_grid_sample_maps_to_every_property() {
        let publish = request(
            "topic=devices%2FCXa-23112%2Fprompt&api-version=2025-02-15-preview",
            &[
                ("mqtt-qos", b"1"),
                ("mqtt-retain", b"0"),
                ("mqtt-response-topic", b"devices%2FCXa-23112%2Freply"),
                ("mqtt-correlation-data", b"PlXCscK2wrbCuy8="),
                (
                    "mqtt-user-properties",
                    b"W3siVXJnZW5jeSI6ImFsZXJ0In0seyJSZXF1ZXN0SWQiOiI1NWY0YTdlZS1iMGI0LTRkN2YtOGViNS0yZWRiYTJjZWQ1ZDcifV0=",
                ),
                ("content-type", b"text/plain;charset=UTF-8"),
                ("mqtt-message-expiry", b"3600"),
                ("mqtt-payload-format-indicator", b"1"),
            ],
        )
        .unwrap();
        assert_eq!(publish.topic.as_str(), "devices/CXa-23112/prompt");
        assert_eq!(publish.qos, QoS::AtLeastOnce);
        assert!(!publish.retain);
        let p = &publish.properties;
        assert_eq!(p.response_topic.as_deref(), Some("devices/CXa-23112/reply"));
        assert_eq!(
            p.correlation_data.as_deref(),
            Some(&BASE64.decode("PlXCscK2wrbCuy8=").unwrap()[..])
        );
        let users: Vec<(&str, &str)> = p
            .user_properties
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            users,
            [
                ("Urgency", "alert"),
                ("RequestId", "55f4a7ee-b0b4-4d7f-8eb5-2edba2ced5d7")
            ]
        );
        assert_eq!(p.content_type.as_deref(), Some("text/plain;charset=UTF-8"));
        assert_eq!(p.message_expiry_interval, Some(3600));
        assert_eq!(p.payload_format_indicator, Some(true));
        assert_eq!(&publish.payload[..], b"body");
    }

    #[test]
    fn defaults_and_query_over_headers() {
        let publish = request("topic=a", &[]).unwrap();
        assert_eq!((publish.qos, publish.retain), (QoS::AtLeastOnce, false));
        assert!(publish.packet_id.is_some());
        assert_eq!(publish.properties, Default::default());
        let publish = request(
            "topic=a&qos=0&retain=1",
            &[("mqtt-qos", b"2"), ("mqtt-retain", b"0")],
        )
        .unwrap();
        assert_eq!((publish.qos, publish.retain), (QoS::AtMostOnce, true));
        assert!(publish.packet_id.is_none());
        let publish = request("topic=a", &[("mqtt-qos", b"2")]).unwrap();
        assert_eq!(publish.qos, QoS::ExactlyOnce);
        // A bad header does not matter when the query decides.
        assert!(request("topic=a&qos=1", &[("mqtt-qos", b"7")]).is_ok());
    }

    #[test]
    fn raw_json_user_properties_are_accepted() {
        let publish = request(
            "topic=a",
            &[("mqtt-user-properties", br#"[{"a":"1"},{"a":"2"}]"#)],
        )
        .unwrap();
        assert_eq!(publish.properties.user_properties.len(), 2);
    }

    /// A query, headers, and the parameters a 400 must name.
    type BadCase<'a> = (&'a str, &'a [(&'a str, &'a [u8])], &'a [&'a str]);

    #[test]
    fn every_bad_parameter_is_named() {
        let cases: &[BadCase<'_>] = &[
            ("", &[], &["topic"]),
            ("topic=", &[], &["topic"]),
            ("topic=a%2F%2B", &[], &["topic"]),
            ("topic=a%2F%23", &[], &["topic"]),
            ("topic=a%00b", &[], &["topic"]),
            ("topic=a&api-version=2019-01-01", &[], &["api-version"]),
            ("topic=a&qos=3", &[], &["qos"]),
            ("topic=a", &[("mqtt-qos", b"x")], &["mqtt-qos"]),
            ("topic=a&retain=2", &[], &["retain"]),
            ("topic=a", &[("mqtt-retain", b"yes")], &["mqtt-retain"]),
            (
                "topic=a",
                &[("mqtt-response-topic", b"r%2F%2B")],
                &["mqtt-response-topic"],
            ),
            (
                "topic=a",
                &[("mqtt-correlation-data", b"***")],
                &["mqtt-correlation-data"],
            ),
            (
                "topic=a",
                &[("mqtt-user-properties", b"***")],
                &["mqtt-user-properties"],
            ),
            (
                "topic=a",
                &[("mqtt-user-properties", b"W3si")],
                &["mqtt-user-properties"],
            ),
            (
                "topic=a",
                &[("mqtt-user-properties", br#"[{"a":1}]"#)],
                &["mqtt-user-properties"],
            ),
            (
                "topic=a",
                &[("mqtt-user-properties", br#"[{"a":"1","b":"2"}]"#)],
                &["mqtt-user-properties"],
            ),
            (
                "topic=a",
                &[("mqtt-user-properties", br#"{"a":"1"}"#)],
                &["mqtt-user-properties"],
            ),
            (
                "topic=a",
                &[("mqtt-message-expiry", b"0")],
                &["mqtt-message-expiry"],
            ),
            (
                "topic=a",
                &[("mqtt-message-expiry", b"-5")],
                &["mqtt-message-expiry"],
            ),
            (
                "topic=a",
                &[("mqtt-payload-format-indicator", b"2")],
                &["mqtt-payload-format-indicator"],
            ),
            (
                "topic=a",
                &[("mqtt-qos", b"1"), ("mqtt-qos", b"0")],
                &["mqtt-qos"],
            ),
            ("qos=5&retain=5", &[], &["topic", "qos", "retain"]),
        ];
        for (query, headers, expected) in cases {
            let error = request(query, headers).unwrap_err();
            assert_eq!(error.status_code(), StatusCode::BAD_REQUEST);
            assert_eq!(&fields(&error), expected, "{query} {headers:?}: {error:?}");
        }
    }
}
