//! The routers against a fake service: routing, status codes, paging links, problem+json,
//! admission. The server's own tests cover the real service over real HTTP.

#![allow(clippy::unwrap_used)] // Tests may panic on a broken fixture.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use gridmq_access::ResourceKind;
use gridmq_http::{
    AdminAuth, ApiError, ApiLimits, AppState, BoxFuture, FieldError, Management, Page, Saved,
};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

/// Resources by (kind, name), in name order.
#[derive(Default)]
struct Fake {
    resources: Mutex<BTreeMap<(u8, String), Value>>,
}

fn tag(kind: ResourceKind) -> u8 {
    kind as u8
}

impl Management for Fake {
    fn get(&self, kind: ResourceKind, name: &str) -> Result<Value, ApiError> {
        self.resources
            .lock()
            .unwrap()
            .get(&(tag(kind), name.to_owned()))
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("no {kind} named {name}")))
    }

    fn list(
        &self,
        kind: ResourceKind,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page, ApiError> {
        let all = self.resources.lock().unwrap();
        let mut names: Vec<&String> = all
            .keys()
            .filter(|(k, n)| *k == tag(kind) && after.is_none_or(|a| n.as_str() > a))
            .map(|(_, n)| n)
            .collect();
        let more = names.len() > limit;
        names.truncate(limit);
        Ok(Page {
            next: more.then(|| names.last().map(|n| (*n).clone())).flatten(),
            items: names
                .iter()
                .map(|n| all[&(tag(kind), (*n).clone())].clone())
                .collect(),
        })
    }

    fn put(
        &self,
        kind: ResourceKind,
        name: String,
        body: Value,
    ) -> BoxFuture<'_, Result<Saved, ApiError>> {
        Box::pin(async move {
            if body.get("bad").is_some() {
                return Err(ApiError::invalid(
                    "1 problem",
                    vec![FieldError::new("properties.bad", "is bad")],
                ));
            }
            let resource = json!({ "name": name, "properties": body });
            let created = self
                .resources
                .lock()
                .unwrap()
                .insert((tag(kind), name), resource.clone())
                .is_none();
            Ok(Saved { created, resource })
        })
    }

    fn delete(&self, kind: ResourceKind, name: String) -> BoxFuture<'_, Result<(), ApiError>> {
        Box::pin(async move {
            match self.resources.lock().unwrap().remove(&(tag(kind), name)) {
                Some(_) => Ok(()),
                None => Err(ApiError::not_found("none")),
            }
        })
    }

    fn namespace(&self) -> Value {
        json!({ "name": "test", "properties": {} })
    }

    fn put_namespace(&self, body: Value) -> BoxFuture<'_, Result<Value, ApiError>> {
        Box::pin(async move { Ok(body) })
    }

    fn apply(&self, document: Value, prune: bool) -> BoxFuture<'_, Result<Value, ApiError>> {
        Box::pin(async move { Ok(json!({ "prune": prune, "document": document })) })
    }
}

fn router(admin: AdminAuth) -> axum::Router {
    gridmq_http::router(AppState {
        management: Arc::new(Fake::default()),
        admin,
        limits: ApiLimits {
            max_body_bytes: 1024,
            default_page_size: 2,
            max_page_size: 3,
        },
        mqtt: None,
    })
}

async fn call(
    router: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<&str>,
) -> (StatusCode, String, Value) {
    call_from(router, method, uri, body, "127.0.0.1:1", None).await
}

async fn call_from(
    router: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<&str>,
    peer: &str,
    token: Option<&str>,
) -> (StatusCode, String, Value) {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, "broker.test:8080");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let mut request = request
        .body(Body::from(body.unwrap_or_default().to_owned()))
        .unwrap();
    let peer: SocketAddr = peer.parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(peer));
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, content_type, value)
}

#[tokio::test]
async fn put_get_list_delete() {
    let r = router(AdminAuth::LoopbackOnly);
    let (status, _, body) = call(&r, "PUT", "/api/v1/clients/d1", Some(r#"{"a":1}"#)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["name"], "d1");
    let (status, _, _) = call(&r, "PUT", "/api/v1/clients/d1", Some(r#"{"a":2}"#)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = call(&r, "GET", "/api/v1/clients/d1", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["properties"]["a"], 2);
    let (status, _, _) = call(&r, "DELETE", "/api/v1/clients/d1", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, content_type, body) = call(&r, "GET", "/api/v1/clients/d1", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(body["status"], 404);
}

#[tokio::test]
async fn listings_are_paged_with_next_links() {
    let r = router(AdminAuth::LoopbackOnly);
    for name in ["a", "b", "c", "d", "e"] {
        call(
            &r,
            "PUT",
            &format!("/api/v1/topicSpaces/{name}"),
            Some("{}"),
        )
        .await;
    }
    let mut seen = Vec::new();
    let mut uri = "/api/v1/topicSpaces".to_owned();
    loop {
        let (status, _, body) = call(&r, "GET", &uri, None).await;
        assert_eq!(status, StatusCode::OK);
        let page = body["value"].as_array().unwrap();
        assert!(page.len() <= 2);
        seen.extend(page.iter().map(|v| v["name"].as_str().unwrap().to_owned()));
        match body["nextLink"].as_str() {
            Some(next) => {
                let next = next.strip_prefix("http://broker.test:8080").unwrap();
                uri = next.to_owned();
            }
            None => break,
        }
    }
    assert_eq!(seen, ["a", "b", "c", "d", "e"]);
    let (_, _, body) = call(&r, "GET", "/api/v1/topicSpaces?maxPageSize=3", None).await;
    assert_eq!(body["value"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn bad_paging_parameters_are_named() {
    let r = router(AdminAuth::LoopbackOnly);
    let (status, _, body) = call(&r, "GET", "/api/v1/clients?$top=0&$skipToken=%%%", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["$top", "$skipToken"]);
    let (status, _, _) = call(&r, "GET", "/api/v1/clients?$top=4", None).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "over the maximum page size"
    );
}

#[tokio::test]
async fn bodies_must_be_json_objects_within_the_limit() {
    let r = router(AdminAuth::LoopbackOnly);
    for body in ["", "[1]", "{\"a\":", "nope"] {
        let (status, content_type, problem) =
            call(&r, "PUT", "/api/v1/clients/x", Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body:?}");
        assert_eq!(content_type, "application/problem+json");
        assert!(problem["detail"].is_string());
    }
    let (_, _, problem) = call(&r, "PUT", "/api/v1/clients/x", Some("{\"a\":")).await;
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("line 1"),
        "{problem}"
    );
    let big = format!("{{\"a\":\"{}\"}}", "x".repeat(2000));
    let (status, _, _) = call(&r, "PUT", "/api/v1/clients/x", Some(&big)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, _, problem) = call(&r, "PUT", "/api/v1/clients/x", Some(r#"{"bad":1}"#)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(problem["errors"][0]["field"], "properties.bad");
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let r = router(AdminAuth::LoopbackOnly);
    let (status, content_type, _) = call(&r, "GET", "/api/v1/nothing", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(content_type, "application/problem+json");
    let (status, content_type, _) = call(&r, "POST", "/api/v1/clients/x", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(content_type, "application/problem+json");
}

#[tokio::test]
async fn admission_by_token_or_loopback() {
    let open = router(AdminAuth::LoopbackOnly);
    let (status, _, _) =
        call_from(&open, "GET", "/api/v1/clients", None, "192.0.2.7:1", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = call_from(&open, "GET", "/healthz", None, "192.0.2.7:1", None).await;
    assert_eq!(status, StatusCode::OK, "health needs no credentials");

    let guarded = router(AdminAuth::new(Some("t0ken")));
    let (status, _, _) = call_from(
        &guarded,
        "GET",
        "/api/v1/clients",
        None,
        "127.0.0.1:1",
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "loopback needs the token too"
    );
    let (status, _, _) = call_from(
        &guarded,
        "GET",
        "/api/v1/clients",
        None,
        "192.0.2.7:1",
        Some("t0ken"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn apply_and_namespace_routes() {
    let r = router(AdminAuth::LoopbackOnly);
    let (status, _, body) = call(&r, "POST", "/api/v1/apply?prune=true", Some("{}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["prune"], true);
    let (status, _, _) = call(&r, "POST", "/api/v1/apply?prune=maybe", Some("{}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, body) = call(&r, "GET", "/api/v1/namespace", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["name"], "test");
    let (status, _, _) = call(&r, "PUT", "/api/v1/namespace", Some(r#"{"x":1}"#)).await;
    assert_eq!(status, StatusCode::OK);
}
