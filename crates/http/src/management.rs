//! The management routes under `/api/v1`: `PUT`, `GET` and `DELETE` on each resource,
//! paged `GET` on each collection, `GET` and `PUT` on the namespace, and `POST` of a whole
//! document to `/api/v1/apply`.
//!
//! Listings answer `{"value": [...], "nextLink": "..."}` as Azure's APIs do: a request
//! may ask for a page size with `$top` (or `maxPageSize`) and continues with the
//! `nextLink` it was given, whose `$skipToken` is opaque. Every route is behind
//! [`require_admin`].

use std::net::SocketAddr;

use axum::Router;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use gridmq_access::ResourceKind;
use serde_json::{Value, json};

use crate::error::{ApiError, FieldError};
use crate::state::{AppState, Saved};

/// The collections and the kind of resource each holds.
pub const COLLECTIONS: [(&str, ResourceKind); 5] = [
    ("clients", ResourceKind::Client),
    ("caCertificates", ResourceKind::CaCertificate),
    ("clientGroups", ResourceKind::ClientGroup),
    ("topicSpaces", ResourceKind::TopicSpace),
    ("permissionBindings", ResourceKind::PermissionBinding),
];

/// The collection name of `kind` (`clients`, `caCertificates`, ...).
pub fn collection(kind: ResourceKind) -> &'static str {
    COLLECTIONS
        .iter()
        .find(|(_, k)| *k == kind)
        .map_or("", |(name, _)| name)
}

/// The management routes, without admission (see [`crate::router`]).
pub fn routes() -> Router<AppState> {
    let mut router = Router::new()
        .route("/api/v1/namespace", get(get_namespace).put(put_namespace))
        .route("/api/v1/apply", post(apply));
    for (name, kind) in COLLECTIONS {
        router = router
            .route(
                &format!("/api/v1/{name}"),
                get(move |state, uri, headers, query| list(state, kind, uri, headers, query)),
            )
            .route(
                &format!("/api/v1/{name}/{{name}}"),
                get(move |state, path| get_one(state, kind, path))
                    .put(move |state, path, body| put_one(state, kind, path, body))
                    .delete(move |state, path| delete_one(state, kind, path)),
            );
    }
    router
}

/// A JSON response with `status`.
fn json_response(status: StatusCode, value: &Value) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The request body as a JSON object.
fn json_body(body: Result<Bytes, BytesRejection>) -> Result<Value, ApiError> {
    let body =
        body.map_err(|rejection| ApiError::status(rejection.status(), rejection.body_text()))?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    }
    let value: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::invalid(
            "the body is not valid JSON",
            vec![FieldError::new(
                "",
                format!("{e} (line {}, column {})", e.line(), e.column()),
            )],
        )
    })?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(ApiError::bad_request("the body must be a JSON object"))
    }
}

/// The query parameters, decoded.
fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Page size and cursor from `$top` / `maxPageSize` and `$skipToken`.
fn paging(state: &AppState, query: Option<&str>) -> Result<(usize, Option<String>), ApiError> {
    let limits = state.limits;
    let mut size = limits.default_page_size;
    let mut after = None;
    let mut errors = Vec::new();
    for (key, value) in query_pairs(query) {
        match key.as_str() {
            "$top" | "maxPageSize" => match value.parse::<usize>() {
                Ok(n) if (1..=limits.max_page_size).contains(&n) => size = n,
                _ => errors.push(FieldError::new(
                    key,
                    format!("must be an integer from 1 to {}", limits.max_page_size),
                )),
            },
            "$skipToken" => match URL_SAFE_NO_PAD
                .decode(value.as_bytes())
                .ok()
                .and_then(|raw| String::from_utf8(raw).ok())
            {
                Some(cursor) => after = Some(cursor),
                None => errors.push(FieldError::new(
                    key,
                    "is not a token this API gave out (use the nextLink as it is)",
                )),
            },
            _ => {}
        }
    }
    if errors.is_empty() {
        Ok((size, after))
    } else {
        Err(ApiError::invalid("bad paging parameters", errors))
    }
}

async fn list(
    State(state): State<AppState>,
    kind: ResourceKind,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (size, after) = paging(&state, query.as_deref())?;
    let page = state.management.list(kind, after.as_deref(), size)?;
    let mut body = json!({ "value": page.items });
    if let Some(next) = page.next {
        let token = URL_SAFE_NO_PAD.encode(next.as_bytes());
        let base = match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
            Some(host) => format!("http://{host}{}", uri.path()),
            None => uri.path().to_owned(),
        };
        body["nextLink"] = Value::String(format!("{base}?$top={size}&$skipToken={token}"));
    }
    Ok(json_response(StatusCode::OK, &body))
}

async fn get_one(
    State(state): State<AppState>,
    kind: ResourceKind,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let resource = state.management.get(kind, &name)?;
    Ok(json_response(StatusCode::OK, &resource))
}

async fn put_one(
    State(state): State<AppState>,
    kind: ResourceKind,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = json_body(body)?;
    let Saved { created, resource } = state.management.put(kind, name.clone(), body).await?;
    if created {
        let mut response = json_response(StatusCode::CREATED, &resource);
        let location = format!("/api/v1/{}/{}", collection(kind), encode_segment(&name));
        if let Ok(value) = HeaderValue::from_str(&location) {
            response.headers_mut().insert(header::LOCATION, value);
        }
        Ok(response)
    } else {
        Ok(json_response(StatusCode::OK, &resource))
    }
}

async fn delete_one(
    State(state): State<AppState>,
    kind: ResourceKind,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.management.delete(kind, name).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_namespace(State(state): State<AppState>) -> Response {
    json_response(StatusCode::OK, &state.management.namespace())
}

async fn put_namespace(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = json_body(body)?;
    let namespace = state.management.put_namespace(body).await?;
    Ok(json_response(StatusCode::OK, &namespace))
}

async fn apply(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let mut prune = false;
    for (key, value) in query_pairs(query.as_deref()) {
        if key == "prune" {
            prune = match value.as_str() {
                "true" | "" => true,
                "false" => false,
                _ => {
                    return Err(ApiError::invalid(
                        "bad query parameter",
                        vec![FieldError::new("prune", "must be true or false")],
                    ));
                }
            };
        }
    }
    let document = json_body(body)?;
    let report = state.management.apply(document, prune).await?;
    Ok(json_response(StatusCode::OK, &report))
}

/// Percent-encodes a path segment (names may hold `:` and `.`, which are fine, but not
/// `/` or `%`).
fn encode_segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~:$".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Middleware for the management routes.
pub(crate) async fn require_admin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0);
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match state.admin.check(peer, authorization) {
        Ok(()) => next.run(request).await,
        Err(error) => {
            tracing::info!(?peer, "management API: refused: {}", error.detail());
            error.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collections_and_kinds_map_both_ways() {
        for (name, kind) in COLLECTIONS {
            assert_eq!(collection(kind), name);
        }
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(encode_segment("dev-1.a:b_c"), "dev-1.a:b_c");
        assert_eq!(encode_segment("a b/c"), "a%20b%2Fc");
    }
}
