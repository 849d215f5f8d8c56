//! [`ApiError`]: every error the API returns, rendered as `application/problem+json`
//! (RFC 9457) with an `errors` member naming each bad field. Internal causes are logged,
//! never returned.

use std::fmt;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The media type of error bodies.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One bad field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The resource the field is in (`clients/dev-1`), when the request names several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The JSON path of the field (`properties.topicTemplates[2]`), or the query
    /// parameter (`$top`); empty for the body as a whole.
    pub field: String,
    /// The byte offset inside the field's string, for query and template syntax errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl FieldError {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            resource: None,
            field: field.into(),
            position: None,
            message: message.into(),
        }
    }
}

/// An error response: a status, a human-readable detail and the bad fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    detail: String,
    errors: Vec<FieldError>,
    /// Whole seconds for `Retry-After` (429, 503).
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// 400: the request cannot be understood (bad JSON, bad query parameter).
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 400: the request is understood but its fields are invalid; `errors` names each.
    pub fn invalid(detail: impl Into<String>, errors: Vec<FieldError>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail).with_errors(errors)
    }

    /// 401: no admin token, or a wrong one.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }

    /// 403: the peer may not use this API at all.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, detail)
    }

    /// 404: no such resource or route.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    /// 405: the route exists, the method does not.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "this method is not allowed here",
        )
    }

    /// 409: the change conflicts with other resources (e.g. deleting a topic space that a
    /// permission binding uses); `errors` names what is in the way.
    pub fn conflict(detail: impl Into<String>, errors: Vec<FieldError>) -> Self {
        Self::new(StatusCode::CONFLICT, detail).with_errors(errors)
    }

    /// 413: the request (an HTTP Publish body with its topic and properties) is larger
    /// than the limit.
    pub fn too_large(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, detail)
    }

    /// 429: the caller is over its rate limit; it may try again after `wait`.
    pub fn too_many_requests(wait: Duration) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "request rate limit reached; retry after the time in Retry-After",
        )
        .with_retry_after(wait)
    }

    /// 503: the broker cannot take the request now (a full subscriber queue, storage
    /// that failed, an identity provider that does not answer); worth retrying.
    pub fn unavailable(detail: impl Into<String>, wait: Duration) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, detail).with_retry_after(wait)
    }

    /// An error with another status, e.g. the one a body rejection carries.
    pub fn status(status: StatusCode, detail: impl Into<String>) -> Self {
        Self::new(status, detail)
    }

    /// 500: something failed inside. `cause` is logged here and not returned.
    pub fn internal(cause: impl fmt::Display) -> Self {
        tracing::error!("HTTP API: internal error: {cause}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; the server log has the cause",
        )
    }

    fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    /// Adds `Retry-After`, in whole seconds rounded up (at least 1).
    pub fn with_retry_after(mut self, wait: Duration) -> Self {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        self.retry_after = Some(secs.max(1));
        self
    }

    /// The `Retry-After` seconds, if any.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }

    /// The HTTP status.
    pub fn status_code(&self) -> StatusCode {
        self.status
    }

    /// The detail message.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The bad fields.
    pub fn errors(&self) -> &[FieldError] {
        &self.errors
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status, self.detail)
    }
}

impl std::error::Error for ApiError {}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'static str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [FieldError],
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem {
            kind: "about:blank",
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            detail: &self.detail,
            errors: &self.errors,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"gridmq\""),
            );
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_problem_json_with_field_errors() {
        let error = ApiError::invalid(
            "1 problem",
            vec![FieldError {
                resource: Some("clientGroups/g".into()),
                field: "properties.query".into(),
                position: Some(7),
                message: "expected an operator".into(),
            }],
        );
        let response = error.into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
    }

    #[test]
    fn rate_limits_say_when_to_retry() {
        let response = ApiError::too_many_requests(Duration::from_millis(1500)).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        let response = ApiError::unavailable("busy", Duration::ZERO).into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn unauthorized_asks_for_a_bearer_token() {
        let response = ApiError::unauthorized("no token").into_response();
        assert!(
            response.headers()[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
    }
}
