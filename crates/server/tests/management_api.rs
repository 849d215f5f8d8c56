//! The management API over real HTTP: every kind of resource, flat and wrapped bodies,
//! status codes, validation errors naming every bad field (with positions inside queries
//! and templates), conflicts, paging, the admin token, the namespace settings, whole
//! documents, persistence across restarts, and the `gridmq apply` / `gridmq passwd` /
//! `gridmq serve --namespace` command lines.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use gridmq_codec::{ProtocolVersion, ReasonCode};
use serde_json::{Value, json};
use support::namespace::{
    Api, cheap_hash, connect_with_password, namespace_broker, try_connect, with_token,
};
use support::{broker_with, within};

const V5: ProtocolVersion = ProtocolVersion::V5;

/// A CA certificate made now, in PEM.
fn ca_pem() -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "test CA");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.self_signed(&key).unwrap().pem()
}

/// A directory of its own under the system's temporary directory.
fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "gridmq-{name}-{}-{}",
        std::process::id(),
        support::unique("d").replace('/', "-")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn every_kind_can_be_created_read_listed_and_deleted() {
    let server = namespace_broker(json!({}), |_| {}).await;
    let api = Api::new(&server, None);
    let pem = ca_pem();
    let cases = [
        (
            "caCertificates",
            "ca-one",
            json!({ "properties": { "encodedCertificate": pem, "description": "root" } }),
        ),
        (
            "clients",
            "dev.1:a_b",
            json!({ "authenticationName": "Dev-1", "attributes": { "floor": 3, "tags": ["a"] } }),
        ),
        (
            "clientGroups",
            "floor-three",
            json!({ "properties": { "query": "attributes.floor = 3" } }),
        ),
        (
            "topicSpaces",
            "floors",
            json!({ "topicTemplates": ["floors/${client.attributes.floor}/#"] }),
        ),
        (
            "permissionBindings",
            "floor-pub",
            json!({ "clientGroupName": "floor-three", "topicSpaceName": "floors", "permission": "Publisher" }),
        ),
    ];
    for (collection, name, body) in &cases {
        let path = format!("/api/v1/{collection}/{name}");
        let reply = api.put(&path, body.clone()).await;
        assert_eq!(reply.status, 201, "{path}: {reply:?}");
        assert_eq!(reply.body["name"], *name);
        assert!(reply.body["properties"].is_object());
        let reply = api.put(&path, body.clone()).await;
        assert_eq!(reply.status, 200, "replacing {path}");
        let reply = api.get(&path).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.content_type, "application/json");
        let list = api.get(&format!("/api/v1/{collection}")).await;
        assert!(
            list.body["value"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["name"] == *name),
            "{collection}: {list:?}"
        );
    }
    let ca = api.get("/api/v1/caCertificates/ca-one").await.body;
    assert!(
        ca["properties"]["issueTimeInUtc"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert!(ca["properties"]["expiryTimeInUtc"].is_string());
    let groups = api.get("/api/v1/clientGroups").await.body;
    assert_eq!(
        groups["value"][0]["name"], "$all",
        "the built-in group is listed"
    );
    assert_eq!(api.get("/api/v1/clientGroups/$all").await.status, 200);

    for (collection, name, _) in cases.iter().rev() {
        let path = format!("/api/v1/{collection}/{name}");
        api.delete_ok(&path).await;
        api.get(&path).await.assert_problem(404);
        api.delete(&path).await.assert_problem(404);
    }
}

#[tokio::test]
async fn passwords_are_hashed_on_write_and_never_returned() {
    let server = namespace_broker(json!({}), |_| {}).await;
    let addr = server.mqtt_addr();
    let api = Api::new(&server, None);
    let reply = api
        .put("/api/v1/clients/dev-1", json!({ "password": "s3cret" }))
        .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(reply.body["properties"]["passwordCount"], 1);
    let text = api.get("/api/v1/clients/dev-1").await.body.to_string();
    assert!(
        !text.contains("argon2") && !text.contains("s3cret"),
        "{text}"
    );

    let (client, ack) = try_connect(addr, connect_with_password(V5, "c", "dev-1", "s3cret")).await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    client.disconnect().await;

    // Replacing without password fields keeps the hash; the same password is no change.
    let reply = api
        .put("/api/v1/clients/dev-1", json!({ "description": "kept" }))
        .await;
    assert_eq!(reply.body["properties"]["passwordCount"], 1);
    let reply = api
        .put(
            "/api/v1/clients/dev-1",
            json!({ "description": "kept", "password": "s3cret" }),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["properties"]["passwordCount"], 1);
    // An explicit empty list removes it.
    let reply = api
        .put("/api/v1/clients/dev-1", json!({ "passwordHashes": [] }))
        .await;
    assert!(reply.body["properties"].get("passwordCount").is_none());
    let (_, ack) = try_connect(addr, connect_with_password(V5, "c", "dev-1", "s3cret")).await;
    assert_eq!(ack.reason_code, ReasonCode::BadUserNameOrPassword);
    // A hash made by `gridmq passwd` (here with cheap parameters) works as well.
    let reply = api
        .put(
            "/api/v1/clients/dev-1",
            json!({ "passwordHashes": [cheap_hash("other")] }),
        )
        .await;
    assert_eq!(reply.status, 200);
    let (_, ack) = try_connect(addr, connect_with_password(V5, "c", "dev-1", "other")).await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
}

#[tokio::test]
async fn validation_errors_name_every_bad_field() {
    let server = namespace_broker(
        json!({
            "clients": [{ "name": "first", "authenticationName": "Shared-Name" }],
            "clientGroups": [{ "name": "grp-1", "query": "attributes.a = 1" }],
            "topicSpaces": [{ "name": "space-1", "topicTemplates": ["a/#"] }],
            "permissionBindings": [{ "name": "bind-1", "clientGroupName": "grp-1", "topicSpaceName": "space-1", "permission": "Subscriber" }]
        }),
        |_| {},
    )
    .await;
    let api = Api::new(&server, None);

    let reply = api
        .put(
            "/api/v1/clientGroups/grp-2",
            json!({ "query": "attributes.floor >= 'x' and", "description": "d".repeat(2000) }),
        )
        .await;
    reply.assert_problem(400);
    let query = reply.error("properties.query").expect("the query is named");
    assert!(query["position"].is_u64(), "{reply:?}");
    assert!(reply.error("properties.description").is_some(), "{reply:?}");

    let reply = api
        .put(
            "/api/v1/topicSpaces/space-2",
            json!({ "topicTemplates": ["ok/#", "a/${client.nope}/b", "x/#/y"] }),
        )
        .await;
    reply.assert_problem(400);
    assert_eq!(
        reply.fields(),
        [
            "properties.topicTemplates[1]",
            "properties.topicTemplates[2]"
        ]
    );
    assert!(reply.error("properties.topicTemplates[1]").unwrap()["position"].is_u64());

    let reply = api
        .put(
            "/api/v1/permissionBindings/bind-2",
            json!({ "clientGroupName": "nobody", "topicSpaceName": "nowhere", "permission": "Publisher" }),
        )
        .await;
    reply.assert_problem(400);
    assert_eq!(
        reply.fields(),
        ["properties.clientGroupName", "properties.topicSpaceName"]
    );

    let reply = api
        .put(
            "/api/v1/clients/second",
            json!({ "authenticationName": "shared-NAME" }),
        )
        .await;
    reply.assert_problem(400);
    assert_eq!(reply.fields(), ["properties.authenticationName"]);
    assert_eq!(reply.body["errors"][0]["resource"], "clients/second");

    let reply = api
        .put(
            "/api/v1/clients/big",
            json!({ "attributes": { "blob": "x".repeat(5000) } }),
        )
        .await;
    reply.assert_problem(400);
    assert_eq!(reply.fields(), ["properties.attributes"]);

    for pem in [
        "not a certificate",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
    ] {
        let reply = api
            .put(
                "/api/v1/caCertificates/bad-ca",
                json!({ "encodedCertificate": pem }),
            )
            .await;
        reply.assert_problem(400);
        assert_eq!(reply.fields()[0], "properties.encodedCertificate", "{pem}");
    }

    let reply = api
        .put(
            "/api/v1/clients/typed",
            json!({ "state": "Sleeping", "attributes": { "n": 1.5 }, "clientCertificateAuthentication": { "validationScheme": "Nope" } }),
        )
        .await;
    reply.assert_problem(400);
    assert_eq!(reply.fields().len(), 3, "{reply:?}");

    let reply = api.put("/api/v1/clients/has space", json!({})).await;
    reply.assert_problem(400);
    assert_eq!(reply.fields(), ["name"]);
    let reply = api.put("/api/v1/clients/a", json!({ "name": "b" })).await;
    reply.assert_problem(400);
    let reply = api
        .put(
            "/api/v1/clients/first",
            json!({ "authenticationName": "renamed" }),
        )
        .await;
    reply.assert_problem(400);
    assert_eq!(reply.fields(), ["properties.authenticationName"]);
    api.call("PUT", "/api/v1/clients/x", Some("{ nope"))
        .await
        .assert_problem(400);
    api.call("PUT", "/api/v1/clients/x", Some("[]"))
        .await
        .assert_problem(400);

    api.put(
        "/api/v1/clientGroups/$all",
        json!({ "query": "attributes.a = 1" }),
    )
    .await
    .assert_problem(400);
    api.delete("/api/v1/clientGroups/$all")
        .await
        .assert_problem(400);
}

#[tokio::test]
async fn deleting_what_bindings_use_is_a_conflict() {
    let server = namespace_broker(
        json!({
            "clientGroups": [{ "name": "grp-1", "query": "attributes.a = 1" }],
            "topicSpaces": [{ "name": "space-1", "topicTemplates": ["a/#"] }],
            "permissionBindings": [{ "name": "bind-1", "clientGroupName": "grp-1", "topicSpaceName": "space-1", "permission": "Subscriber" }]
        }),
        |_| {},
    )
    .await;
    let api = Api::new(&server, None);
    for path in ["/api/v1/topicSpaces/space-1", "/api/v1/clientGroups/grp-1"] {
        let reply = api.delete(path).await;
        reply.assert_problem(409);
        assert_eq!(
            reply.body["errors"][0]["resource"], "permissionBindings/bind-1",
            "{reply:?}"
        );
    }
    api.delete_ok("/api/v1/permissionBindings/bind-1").await;
    api.delete_ok("/api/v1/topicSpaces/space-1").await;
}

#[tokio::test]
async fn listings_are_paged_with_next_links() {
    let server = namespace_broker(json!({}), |_| {}).await;
    let api = Api::new(&server, None);
    let names: Vec<String> = (0..7).map(|i| format!("dev-{i}")).collect();
    for name in names.iter().rev() {
        api.put_ok(&format!("/api/v1/clients/{name}"), json!({}))
            .await;
    }
    let mut seen = Vec::new();
    let mut next = "/api/v1/clients?$top=3".to_owned();
    let mut pages = 0;
    loop {
        let reply = api.get(&next).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        pages += 1;
        for item in reply.body["value"].as_array().unwrap() {
            seen.push(item["name"].as_str().unwrap().to_owned());
        }
        match reply.body["nextLink"].as_str() {
            Some(link) => next = link.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, names);
    assert_eq!(pages, 3);
    let reply = api.get("/api/v1/clients?maxPageSize=0").await;
    reply.assert_problem(400);
    assert_eq!(reply.fields(), ["maxPageSize"]);
    api.get("/api/v1/clients?$skipToken=%%%")
        .await
        .assert_problem(400);
}

#[tokio::test]
async fn the_admin_token_guards_the_api_but_not_health() {
    let server = namespace_broker(json!({}), |config| with_token(config, "t0ken-123")).await;
    let api = Api::new(&server, Some("t0ken-123"));
    assert_eq!(api.get("/api/v1/clients").await.status, 200);
    for token in [None, Some("wrong")] {
        let reply = api.with_token(token).get("/api/v1/clients").await;
        reply.assert_problem(401);
    }
    let health = api.with_token(None).get("/healthz").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body["status"], "ok");
}

#[tokio::test]
async fn loopback_clients_need_no_token_when_none_is_configured() {
    let server = namespace_broker(json!({}), |_| {}).await;
    let api = Api::new(&server, None);
    assert_eq!(api.get("/api/v1/namespace").await.status, 200);
}

#[tokio::test]
async fn unknown_routes_methods_and_large_bodies_are_problems() {
    let server = namespace_broker(json!({}), |config| {
        config.http.max_body_size = bytesize::ByteSize::kib(1);
    })
    .await;
    let api = Api::new(&server, None);
    api.get("/api/v1/nothing").await.assert_problem(404);
    api.call("POST", "/api/v1/clients/x", Some("{}"))
        .await
        .assert_problem(405);
    let big = json!({ "description": "x".repeat(4096) });
    api.put("/api/v1/clients/x", big).await.assert_problem(413);
}

#[tokio::test]
async fn namespace_settings_are_read_and_replaced() {
    let server = namespace_broker(json!({}), |_| {}).await;
    let api = Api::new(&server, None);
    let namespace = api.get("/api/v1/namespace").await.body;
    let settings = &namespace["properties"]["topicSpacesConfiguration"];
    assert_eq!(settings["state"], "Enabled");
    assert_eq!(settings["maximumClientSessionsPerAuthenticationName"], 1);
    assert_eq!(settings["maximumSessionExpiryInHours"], 1);

    let reply = api
        .put(
            "/api/v1/namespace",
            json!({ "properties": { "topicSpacesConfiguration": {
                "maximumClientSessionsPerAuthenticationName": 0,
                "clientAuthentication": { "customJwtAuthentication": { "tokenIssuer": "" } }
            } } }),
        )
        .await;
    reply.assert_problem(400);
    let fields = reply.fields();
    assert!(
        fields.contains(
            &"topicSpacesConfiguration.maximumClientSessionsPerAuthenticationName".to_owned()
        ),
        "{fields:?}"
    );
    assert!(
        fields.contains(
            &"topicSpacesConfiguration.clientAuthentication.customJwtAuthentication.tokenIssuer"
                .to_owned()
        ),
        "{fields:?}"
    );

    let reply = api
        .put(
            "/api/v1/namespace",
            json!({ "maximumSessionExpiryInHours": 8, "state": "Disabled" }),
        )
        .await;
    assert_eq!(reply.status, 200);
    let settings = &reply.body["properties"]["topicSpacesConfiguration"];
    assert_eq!(settings["maximumSessionExpiryInHours"], 8);
    assert_eq!(settings["state"], "Enabled", "the mode is read-only");
}

#[tokio::test]
async fn documents_apply_all_or_nothing() {
    let server = namespace_broker(json!({}), |_| {}).await;
    let api = Api::new(&server, None);
    let document = json!({
        "clients": [{ "name": "d1", "properties": { "attributes": { "site": "x" } } }],
        "topicSpaces": [{ "name": "space-1", "topicTemplates": ["a/#"] }],
        "permissionBindings": [{ "name": "bind-1", "clientGroupName": "$all", "topicSpaceName": "space-1", "permission": "Publisher" }]
    });
    let reply = api
        .call("POST", "/api/v1/apply", Some(&document.to_string()))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["created"].as_array().unwrap().len(), 3);
    let reply = api
        .call("POST", "/api/v1/apply", Some(&document.to_string()))
        .await;
    assert_eq!(reply.body["unchanged"], 3);

    let broken = json!({
        "topicSpaces": [{ "name": "space-2", "topicTemplates": ["b/#"] }],
        "permissionBindings": [{ "name": "bind-2", "clientGroupName": "ghosts", "topicSpaceName": "space-2", "permission": "Publisher" }]
    });
    let reply = api
        .call("POST", "/api/v1/apply", Some(&broken.to_string()))
        .await;
    reply.assert_problem(400);
    assert_eq!(
        reply.body["errors"][0]["resource"],
        "permissionBindings/bind-2"
    );
    api.get("/api/v1/topicSpaces/space-2")
        .await
        .assert_problem(404);

    let smaller = json!({ "topicSpaces": [{ "name": "space-1", "topicTemplates": ["a/#"] }] });
    let reply = api
        .call(
            "POST",
            "/api/v1/apply?prune=true",
            Some(&smaller.to_string()),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let mut deleted: Vec<&str> = reply.body["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    deleted.sort();
    assert_eq!(deleted, ["clients/d1", "permissionBindings/bind-1"]);
}

#[tokio::test]
async fn resources_outlive_a_restart_in_the_state_file() {
    let dir = temp_dir("state");
    let state_file = dir.join("namespace.json");
    let tweak = |config: &mut gridmq_server::Config| {
        config.namespace.state_file = Some(state_file.clone());
    };
    let server = namespace_broker(json!({}), tweak).await;
    let api = Api::new(&server, None);
    api.put_ok("/api/v1/clients/dev-1", json!({ "password": "pw" }))
        .await;
    api.put_ok(
        "/api/v1/topicSpaces/space-1",
        json!({ "topicTemplates": ["a/#"] }),
    )
    .await;
    let report = server.shutdown().await;
    assert!(report.clean);

    let server = namespace_broker(json!({}), tweak).await;
    let api = Api::new(&server, None);
    assert_eq!(api.get("/api/v1/topicSpaces/space-1").await.status, 200);
    let (_, ack) = try_connect(
        server.mqtt_addr(),
        connect_with_password(V5, "c", "dev-1", "pw"),
    )
    .await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    server.shutdown().await;

    // A damaged file stops the start rather than losing resources quietly.
    std::fs::write(&state_file, b"{ damaged").unwrap();
    let mut config = gridmq_server::Config::default();
    config.listeners[0].bind = "127.0.0.1:0".parse().unwrap();
    config.namespace.state_file = Some(state_file.clone());
    let error = gridmq_server::Server::start(config).await.unwrap_err();
    assert!(
        error.to_string().contains("not a namespace state file"),
        "{error}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn resources_live_in_the_data_directory_by_default() {
    let dir = temp_dir("data-dir");
    let data_dir = dir.join("data");
    let tweak = |config: &mut gridmq_server::Config| {
        config.storage.in_memory = false;
        config.storage.data_dir = data_dir.clone();
    };
    let server = namespace_broker(json!({}), tweak).await;
    let api = Api::new(&server, None);
    api.put_ok("/api/v1/clients/dev-1", json!({ "password": "pw" }))
        .await;
    assert!(server.shutdown().await.clean);
    assert!(
        data_dir.join(gridmq_server::NAMESPACE_STATE_FILE).is_file(),
        "kept beside the durable store"
    );

    let server = namespace_broker(json!({}), tweak).await;
    let (_, ack) = try_connect(
        server.mqtt_addr(),
        connect_with_password(V5, "c", "dev-1", "pw"),
    )
    .await;
    assert_eq!(ack.reason_code, ReasonCode::Success, "the client came back");
    server.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn internal_failures_are_500_without_their_cause() {
    let dir = temp_dir("unwritable");
    let state_file = dir.join("namespace.json");
    let server = namespace_broker(json!({}), |config| {
        config.namespace.state_file = Some(state_file.clone());
    })
    .await;
    let api = Api::new(&server, None);
    // The state file's directory disappears: the next change cannot be kept.
    std::fs::remove_dir_all(&dir).unwrap();
    let reply = api.put("/api/v1/clients/dev-1", json!({})).await;
    reply.assert_problem(500);
    let text = reply.body.to_string();
    assert!(
        !text.contains(dir.to_str().unwrap()),
        "the cause stays in the log: {text}"
    );
    // Nothing changed.
    api.get("/api/v1/clients/dev-1").await.assert_problem(404);
}

#[tokio::test]
async fn open_mode_keeps_resources_but_lets_everyone_in() {
    let server = broker_with(|config| {
        config.http.bind = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let api = Api::new(&server, None);
    let namespace = api.get("/api/v1/namespace").await.body;
    assert_eq!(
        namespace["properties"]["topicSpacesConfiguration"]["state"],
        "Disabled"
    );
    api.put_ok("/api/v1/clients/dev-1", json!({ "state": "Disabled" }))
        .await;
    let (client, ack) = try_connect(
        server.mqtt_addr(),
        support::raw::connect(V5, "anyone", true),
    )
    .await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    client.disconnect().await;
}

async fn run_gridmq(
    args: &[&str],
    stdin: Option<&str>,
    env: &[(&str, &str)],
) -> std::process::Output {
    use tokio::io::AsyncWriteExt;
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_gridmq"));
    command
        .args(args)
        .env_remove("GRIDMQ_ADMIN_TOKEN")
        .env_remove("GRIDMQ_URL")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).await.unwrap();
    }
    drop(input);
    within("gridmq to finish", child.wait_with_output())
        .await
        .unwrap()
}

#[tokio::test]
async fn gridmq_apply_sends_a_file_to_a_running_broker() {
    let server = namespace_broker(json!({}), |config| with_token(config, "apply-token")).await;
    let url = format!("http://{}", server.http_addr().unwrap());
    let dir = temp_dir("apply");
    let good = dir.join("resources.toml");
    std::fs::write(
        &good,
        r#"
[[clients]]
name = "sensor-1"
password = "pw-1"
attributes = { site = "lab" }

[[topicSpaces]]
name = "sites"
topicTemplates = ["sites/${client.attributes.site}/#"]

[[permissionBindings]]
name = "sites-pub"
clientGroupName = "$all"
topicSpaceName = "sites"
permission = "Publisher"
"#,
    )
    .unwrap();
    let output = run_gridmq(
        &["apply", good.to_str().unwrap(), "--url", &url],
        None,
        &[("GRIDMQ_ADMIN_TOKEN", "apply-token")],
    )
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["created"].as_array().unwrap().len(), 3, "{report}");
    let (_, ack) = try_connect(
        server.mqtt_addr(),
        connect_with_password(V5, "c", "sensor-1", "pw-1"),
    )
    .await;
    assert_eq!(ack.reason_code, ReasonCode::Success);

    let bad = dir.join("bad.json");
    std::fs::write(
        &bad,
        r#"{ "clientGroups": [{ "name": "g", "query": "attributes.a =" }] }"#,
    )
    .unwrap();
    let output = run_gridmq(
        &["apply", bad.to_str().unwrap(), "--url", &url],
        None,
        &[("GRIDMQ_ADMIN_TOKEN", "apply-token")],
    )
    .await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("clientGroups/g: properties.query: at byte"),
        "{stderr}"
    );

    let output = run_gridmq(&["apply", good.to_str().unwrap(), "--url", &url], None, &[]).await;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("401"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn gridmq_passwd_prints_a_hash_that_verifies() {
    let output = run_gridmq(&["passwd"], Some("correct horse\n"), &[]).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let hash = String::from_utf8(output.stdout).unwrap();
    let hash = gridmq_access::PasswordHash(hash.trim().to_owned());
    assert!(hash.as_str().starts_with("$argon2id$"));
    let options = gridmq_auth::AuthOptions::default();
    assert!(gridmq_auth::verify_password(
        b"correct horse",
        &hash,
        &options
    ));
    let output = run_gridmq(&["passwd"], Some("\n"), &[]).await;
    assert!(!output.status.success(), "an empty password is refused");
}

#[tokio::test]
async fn gridmq_serve_namespace_applies_the_declared_resources() {
    let dir = temp_dir("serve");
    let resources = dir.join("resources.json");
    std::fs::write(
        &resources,
        json!({ "clients": [{ "name": "dev-1", "passwordHashes": [cheap_hash("pw")] }] })
            .to_string(),
    )
    .unwrap();
    let config = dir.join("gridmq.toml");
    std::fs::write(
        &config,
        format!(
            "[namespace]\nresources_file = {:?}\n",
            resources.to_str().unwrap()
        ),
    )
    .unwrap();
    let check = run_gridmq(&["config", "check", config.to_str().unwrap()], None, &[]).await;
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );

    let mut broker = support::process::BrokerProcess::start(&[
        "--namespace",
        "--config",
        config.to_str().unwrap(),
    ])
    .await;
    broker.log_line("namespace mode").await;
    let (_, ack) = try_connect(broker.addr(), connect_with_password(V5, "c", "dev-1", "pw")).await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    let (_, ack) = try_connect(broker.addr(), support::raw::connect(V5, "anon", true)).await;
    assert_eq!(ack.reason_code, ReasonCode::NotAuthorized);
    broker.log_line("authentication failed").await;
    broker.terminate();
    assert!(broker.wait().await.success());

    std::fs::write(&resources, r#"{ "clients": [{ "name": "bad name!" }] }"#).unwrap();
    let check = run_gridmq(&["config", "check", config.to_str().unwrap()], None, &[]).await;
    assert!(!check.status.success());
    assert!(String::from_utf8_lossy(&check.stderr).contains("client 'bad name!': name"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn open_mode_is_the_default_and_says_so() {
    let mut broker = support::process::BrokerProcess::start(&[]).await;
    broker.log_line("open mode").await;
    broker.terminate();
    assert!(broker.wait().await.success());
}
