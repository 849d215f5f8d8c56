//! The retained-message API, shaped like Event Grid's:
//! - `GET /mqtt/retainedMessages/message?topic=...`: the payload, described by
//!   `x-ms-mqtt-topic` (percent-encoded), `x-ms-mqtt-qos`, `x-ms-mqtt-size` (the whole
//!   PUBLISH packet), `x-ms-mqtt-expiry` and `x-ms-mqtt-last-modified` (RFC 3339, UTC).
//! - `GET /mqtt/retainedMessages?topicFilter=...&maxResults=...`: a page of descriptions
//!   in topic order, then `nextLink` (carrying `continuationToken`) until it is null.
//! - `DELETE /mqtt/retainedMessages/message?topic=...` (ours): clears one.
//!
//! A continuation token is opaque to clients: it holds the filter and the last topic
//! listed, so a request carries either a `topicFilter` or a `continuationToken`.

use std::time::SystemTime;

use axum::extract::{Extension, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gridmq_codec::{TopicFilter, TopicName};
use serde::Serialize;

use super::MqttState;
use super::params::{Problems, Query, percent_encode_header};
use crate::error::{ApiError, FieldError};
use crate::state::Principal;

/// Largest `maxResults`, and the page size when a request names none.
pub const MAX_RESULTS: usize = 100;

/// `GET /mqtt/retainedMessages/message`.
pub(super) async fn get_one(
    State(state): State<MqttState>,
    Extension(principal): Extension<Principal>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let topic = topic_param(query.as_deref())?;
    let message = state.service.retained(&principal, &topic)?;
    let content_type = message
        .content_type
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let mut response = (StatusCode::OK, message.payload.clone()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type);
    let mut put = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    put("x-ms-mqtt-topic", percent_encode_header(&message.topic));
    put("x-ms-mqtt-qos", message.qos.to_string());
    put("x-ms-mqtt-size", message.size.to_string());
    if let Some(expiry) = message.expiry {
        put("x-ms-mqtt-expiry", rfc3339(expiry));
    }
    put("x-ms-mqtt-last-modified", rfc3339(message.last_modified));
    Ok(response)
}

/// `DELETE /mqtt/retainedMessages/message`.
pub(super) async fn delete_one(
    State(state): State<MqttState>,
    Extension(principal): Extension<Principal>,
    RawQuery(query): RawQuery,
) -> Result<StatusCode, ApiError> {
    let topic = topic_param(query.as_deref())?;
    state.service.remove_retained(principal, topic).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The `topic` parameter (and `api-version`) of the single-message routes.
fn topic_param(query: Option<&str>) -> Result<TopicName, ApiError> {
    let query = Query::parse(query)?;
    let mut problems = Problems::default();
    problems.take(query.check_api_version());
    let topic = problems.take(query.get("topic").and_then(|topic| {
        let topic = topic.ok_or_else(|| FieldError::new("topic", "is required"))?;
        if topic.contains('\0') {
            return Err(FieldError::new("topic", "must not contain U+0000"));
        }
        TopicName::new(topic).map_err(|e| FieldError::new("topic", e.to_string()))
    }));
    problems.finish()?;
    topic.ok_or_else(|| ApiError::bad_request("topic is required"))
}

/// One message in a listing, as Event Grid names its fields.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Listed {
    topic: String,
    qos: u8,
    size: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    expiry: Option<String>,
    last_modified_time: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Listing {
    next_link: Option<String>,
    retained_messages: Vec<Listed>,
}

/// What a listing request asks for.
struct ListRequest {
    filter: TopicFilter,
    after: Option<String>,
    limit: usize,
    api_version: Option<String>,
}

/// `GET /mqtt/retainedMessages`.
pub(super) async fn list(
    State(state): State<MqttState>,
    Extension(principal): Extension<Principal>,
    RawQuery(query): RawQuery,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let request = list_request(query.as_deref())?;
    let page = state.service.retained_page(
        &principal,
        &request.filter,
        request.after.as_deref(),
        request.limit,
    )?;
    let next_link = match page.items.last() {
        Some(last) if page.more => {
            let token =
                URL_SAFE_NO_PAD.encode(format!("{}\0{}", request.filter.as_str(), last.topic));
            let base = match super::request_host(&headers, &uri) {
                Some(host) => format!("http://{host}{}", uri.path()),
                None => uri.path().to_owned(),
            };
            let mut link = format!(
                "{base}?continuationToken={token}&maxResults={}",
                request.limit
            );
            if let Some(version) = &request.api_version {
                link.push_str("&api-version=");
                link.push_str(version);
            }
            Some(link)
        }
        _ => None,
    };
    let listing = Listing {
        next_link,
        retained_messages: page
            .items
            .into_iter()
            .map(|m| Listed {
                topic: m.topic,
                qos: m.qos,
                size: m.size,
                expiry: m.expiry.map(rfc3339),
                last_modified_time: rfc3339(m.last_modified),
            })
            .collect(),
    };
    let body = serde_json::to_vec(&listing).map_err(ApiError::internal)?;
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

fn list_request(query: Option<&str>) -> Result<ListRequest, ApiError> {
    let query = Query::parse(query)?;
    let mut problems = Problems::default();
    problems.take(query.check_api_version());
    let filter = problems.take(query.get("topicFilter")).flatten();
    let token = problems.take(query.get("continuationToken")).flatten();
    let limit = problems
        .take(query.get("maxResults").and_then(|value| {
            match value {
                None => Ok(MAX_RESULTS),
                Some(v) => v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_RESULTS).contains(n))
                    .ok_or_else(|| {
                        FieldError::new(
                            "maxResults",
                            format!("must be a number from 1 to {MAX_RESULTS}"),
                        )
                    }),
            }
        }))
        .unwrap_or(MAX_RESULTS);
    let (filter, after) = match (filter, token) {
        (Some(_), Some(_)) => {
            let message = "topicFilter and continuationToken cannot be used together (the token carries the filter)";
            problems.push(FieldError::new("topicFilter", message));
            problems.push(FieldError::new("continuationToken", message));
            (None, None)
        }
        (None, None) => {
            problems.push(FieldError::new(
                "topicFilter",
                "is required (or a continuationToken from a nextLink)",
            ));
            (None, None)
        }
        (Some(filter), None) => (problems.take(topic_filter(filter)), None),
        (None, Some(token)) => match problems.take(decode_token(token)) {
            Some((filter, after)) => (Some(filter), Some(after)),
            None => (None, None),
        },
    };
    let api_version = query.get("api-version").ok().flatten().map(str::to_owned);
    problems.finish()?;
    let filter = filter.ok_or_else(|| ApiError::bad_request("topicFilter is required"))?;
    Ok(ListRequest {
        filter,
        after,
        limit,
        api_version,
    })
}

fn topic_filter(text: &str) -> Result<TopicFilter, FieldError> {
    if text.contains('\0') {
        return Err(FieldError::new("topicFilter", "must not contain U+0000"));
    }
    TopicFilter::new(text).map_err(|e| FieldError::new("topicFilter", e.to_string()))
}

/// The filter and last topic a continuation token carries.
fn decode_token(token: &str) -> Result<(TopicFilter, String), FieldError> {
    let bad = || {
        FieldError::new(
            "continuationToken",
            "is not a token this API gave out (follow the nextLink as it is)",
        )
    };
    let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (filter, after) = text.split_once('\0').ok_or_else(bad)?;
    let filter = topic_filter(filter).map_err(|_| bad())?;
    Ok((filter, after.to_owned()))
}

/// RFC 3339 in UTC, to the second: `2025-11-16T07:59:41Z`.
fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(error: &ApiError) -> Vec<&str> {
        error.errors().iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn listing_parameters() {
        let request = list_request(Some("topicFilter=a%2F%2B&maxResults=5")).unwrap();
        assert_eq!(request.filter.as_str(), "a/+");
        assert_eq!(request.limit, 5);
        let token = URL_SAFE_NO_PAD.encode("a/+\0a/7");
        let request = list_request(Some(&format!("continuationToken={token}"))).unwrap();
        assert_eq!(
            (
                request.filter.as_str(),
                request.after.as_deref(),
                request.limit
            ),
            ("a/+", Some("a/7"), MAX_RESULTS)
        );
    }

    #[test]
    fn bad_listing_parameters_are_named() {
        let token = URL_SAFE_NO_PAD.encode("a/#\0a/1");
        let cases = [
            (String::new(), vec!["topicFilter"]),
            (
                format!("topicFilter=a&continuationToken={token}"),
                vec!["topicFilter", "continuationToken"],
            ),
            ("topicFilter=a%2F%23%2Fb".into(), vec!["topicFilter"]),
            ("topicFilter=a%2Fb%2B".into(), vec!["topicFilter"]),
            ("topicFilter=a&maxResults=0".into(), vec!["maxResults"]),
            ("topicFilter=a&maxResults=101".into(), vec!["maxResults"]),
            ("continuationToken=%21%21".into(), vec!["continuationToken"]),
            ("topicFilter=a&api-version=1".into(), vec!["api-version"]),
        ];
        for (query, expected) in cases {
            let error = list_request(Some(&query)).err().unwrap();
            assert_eq!(fields(&error), expected, "{query}");
        }
    }

    #[test]
    fn single_message_topic() {
        assert_eq!(topic_param(Some("topic=a%2Fb")).unwrap().as_str(), "a/b");
        for query in ["", "topic=", "topic=a%2F%2B", "topic=a%00"] {
            let error = topic_param(Some(query)).unwrap_err();
            assert_eq!(fields(&error), ["topic"], "{query}");
        }
    }
}
