//! The resource model's JSON shape and validation.

#![allow(clippy::expect_used, clippy::unwrap_used)] // Tests may panic on a broken fixture.

use std::time::Duration;

use gridmq_access::{
    AlternativeAuthenticationNameSource, AttributeValue, Client, ClientGroup,
    ClientGroupProperties, ClientProperties, ClientState, Limits, NamespaceSettings, PasswordHash,
    Permission, PermissionBinding, PermissionBindingProperties, Problem, ResourceKind, Resources,
    TopicSpace, TopicSpaceProperties, Validate, ValidationScheme,
};
use serde_json::json;

const PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUZ2l0aHViLWlzLW5vdC1oZXJlMAoGCCqGSM49BAMC\n-----END CERTIFICATE-----\n";
const PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$7wZXjwB0SA0Dk2uuUV7aSHEmtGbNYQ";

fn client(json: serde_json::Value) -> Client {
    serde_json::from_value(json).expect("client JSON")
}

fn paths(problems: &[Problem]) -> Vec<&str> {
    problems.iter().map(|p| p.path.as_str()).collect()
}

#[test]
fn client_doc_samples_deserialize() {
    let c = client(json!({ "name": "client1", "properties": {
        "authenticationName": "127.0.0.1", "state": "Enabled",
        "clientCertificateAuthentication": { "validationScheme": "IpMatchesAuthenticationName" },
        "attributes": { "room": "345", "floor": 3, "bldg": "17" },
        "description": "Description of the client" } }));
    assert_eq!(c.authentication_name(), "127.0.0.1");
    assert_eq!(
        c.validation_scheme(),
        ValidationScheme::IpMatchesAuthenticationName
    );
    assert_eq!(c.properties.attributes["floor"], AttributeValue::Integer(3));
    assert!(c.problems(&Limits::default()).is_empty());

    let c = client(json!({ "name": "client2", "properties": {
        "authenticationName": "abcd@domain.com-1", "state": "Disabled",
        "clientCertificateAuthentication": { "validationScheme": "ThumbprintMatch",
            "allowedThumbprints": ["primary", "secondary"] },
        "attributes": { "room": "345", "floor": "3", "bldg": 17, "tags": ["a", "b"] } } }));
    assert_eq!(c.properties.state, ClientState::Disabled);
    let problems = c.problems(&Limits::default());
    // The documentation's placeholders are not hex digests.
    assert_eq!(
        paths(&problems),
        [
            "properties.clientCertificateAuthentication.allowedThumbprints[0]",
            "properties.clientCertificateAuthentication.allowedThumbprints[1]"
        ]
    );
}

#[test]
fn client_defaults_and_round_trip() {
    let c = client(json!({ "name": "dev-1", "properties": {} }));
    assert_eq!(c.authentication_name(), "dev-1");
    assert_eq!(c.properties.state, ClientState::Enabled);
    assert_eq!(
        c.validation_scheme(),
        ValidationScheme::SubjectMatchesAuthenticationName
    );
    assert_eq!(c.identity().authentication_name, "dev-1");
    let back: Client = serde_json::from_value(serde_json::to_value(&c).expect("ser")).expect("de");
    assert_eq!(back, c);
}

#[test]
fn attribute_values_of_other_types_are_rejected_with_a_clear_message() {
    for bad in [
        json!(1.5),
        json!(true),
        json!([1, 2]),
        json!({"a": 1}),
        json!(u64::MAX),
    ] {
        let err = serde_json::from_value::<Client>(
            json!({ "name": "c", "properties": { "attributes": { "x": bad } } }),
        )
        .expect_err("must fail");
        let msg = err.to_string();
        assert!(msg.contains("string") || msg.contains("integer"), "{msg}");
    }
}

#[test]
fn password_hashes_are_kept_and_hidden_from_debug() {
    let c = client(json!({ "name": "c1", "properties": { "passwordHashes": [PHC] } }));
    assert_eq!(c.properties.password_hashes, [PasswordHash(PHC.to_owned())]);
    assert!(!format!("{c:?}").contains("argon2"));
    assert!(c.problems(&Limits::default()).is_empty());
}

#[test]
fn every_client_problem_is_reported_at_once() {
    let mut attributes = std::collections::BTreeMap::new();
    attributes.insert("bad-key".to_owned(), AttributeValue::from("x"));
    attributes.insert("big".to_owned(), AttributeValue::from("y".repeat(5000)));
    let c = Client::new(
        "no spaces allowed",
        ClientProperties {
            authentication_name: Some(String::new()),
            attributes,
            client_certificate_authentication: Some(
                gridmq_access::ClientCertificateAuthentication {
                    validation_scheme: ValidationScheme::DnsMatchesAuthenticationName,
                    allowed_thumbprints: vec!["ab".repeat(20)],
                },
            ),
            password_hashes: vec![PasswordHash("plaintext".into())],
            description: Some("d".repeat(2000)),
            ..ClientProperties::default()
        },
    );
    let problems = c.problems(&Limits::default());
    assert_eq!(
        paths(&problems),
        [
            "name",
            "properties.authenticationName",
            "properties.attributes.bad-key",
            "properties.attributes",
            "properties.clientCertificateAuthentication.allowedThumbprints",
            "properties.passwordHashes[0]",
            "properties.description",
        ]
    );
    assert!(problems.iter().all(|p| {
        p.resource
            .as_ref()
            .is_some_and(|r| r.kind == ResourceKind::Client)
    }));
    let shown = problems[0].to_string();
    assert!(
        shown.starts_with("client 'no spaces allowed': name: "),
        "{shown}"
    );
}

#[test]
fn thumbprint_match_needs_thumbprints() {
    let c = client(json!({ "name": "c1", "properties": {
        "clientCertificateAuthentication": { "validationScheme": "ThumbprintMatch" } } }));
    assert_eq!(
        paths(&c.problems(&Limits::default())),
        ["properties.clientCertificateAuthentication.allowedThumbprints"]
    );
    let ok = client(json!({ "name": "c1", "properties": {
        "clientCertificateAuthentication": { "validationScheme": "ThumbprintMatch",
            "allowedThumbprints": ["AB".repeat(20), "cd".repeat(32)] } } }));
    assert!(ok.problems(&Limits::default()).is_empty());
}

#[test]
fn attribute_budget_is_measured_as_json() {
    let limits = Limits::default();
    // {"k":"..."} is 8 bytes plus the value.
    let at = |n: usize| {
        client(json!({ "name": "c", "properties": { "attributes": { "k": "v".repeat(n) } } }))
    };
    assert!(at(4095 - 8).problems(&limits).is_empty());
    assert_eq!(
        paths(&at(4096 - 8).problems(&limits)),
        ["properties.attributes"]
    );
}

#[test]
fn client_names_follow_the_client_rules() {
    let limits = Limits::default();
    for ok in ["a", "dev:1.x_y-z", &"x".repeat(128)] {
        assert!(
            Client::new(ok, ClientProperties::default())
                .problems(&limits)
                .is_empty(),
            "{ok}"
        );
    }
    for bad in ["", "a b", "a/b", "ä", &"x".repeat(129)] {
        assert_eq!(
            paths(&Client::new(bad, ClientProperties::default()).problems(&limits)),
            ["name"],
            "{bad}"
        );
    }
}

#[test]
fn other_names_are_three_to_fifty_alphanumerics_and_hyphens() {
    let limits = Limits::default();
    let space = |name: &str| {
        TopicSpace::new(
            name,
            TopicSpaceProperties {
                topic_templates: vec!["a/#".into()],
                description: None,
            },
        )
    };
    for ok in ["abc", "a-b", &"x".repeat(50)] {
        assert!(space(ok).problems(&limits).is_empty(), "{ok}");
    }
    for bad in ["ab", "a_b", "a.b", &"x".repeat(51)] {
        assert_eq!(paths(&space(bad).problems(&limits)), ["name"], "{bad}");
    }
    let relaxed = Limits {
        min_name_len: 1,
        ..Limits::default()
    };
    assert!(space("a").problems(&relaxed).is_empty());
}

#[test]
fn client_group_query_errors_carry_positions() {
    let g: ClientGroup = serde_json::from_value(json!({ "name": "grp",
        "properties": { "description": "Description of client group",
            "query": "attributes.b IN ['a', 'b', 'c'] and" } }))
    .expect("json");
    let problems = g.problems(&Limits::default());
    assert_eq!(paths(&problems), ["properties.query"]);
    assert_eq!(problems[0].position, Some(35));
    assert!(
        problems[0].message.contains("expected a condition"),
        "{}",
        problems[0].message
    );

    let ok: ClientGroup = serde_json::from_value(json!({ "name": "grp",
        "properties": { "query": "attributes.b IN ['a', 'b', 'c']" } }))
    .expect("json");
    assert!(ok.problems(&Limits::default()).is_empty());
}

#[test]
fn builtin_all_group_cannot_change() {
    let limits = Limits::default();
    assert!(ClientGroup::builtin_all().problems(&limits).is_empty());
    let changed = ClientGroup::new(
        "$all",
        ClientGroupProperties {
            query: "attributes.a = 1".into(),
            description: None,
        },
    );
    assert_eq!(paths(&changed.problems(&limits)), ["name"]);
}

#[test]
fn topic_template_errors_name_the_index_and_position() {
    let ts: TopicSpace = serde_json::from_value(json!({ "name": "vehicles",
        "properties": { "topicTemplates": ["vehicles/#", "a/${client.name}", "x/#/y", "ok/+"] } }))
    .expect("json");
    let problems = ts.problems(&Limits::default());
    assert_eq!(
        paths(&problems),
        [
            "properties.topicTemplates[1]",
            "properties.topicTemplates[2]"
        ]
    );
    assert_eq!(problems[0].position, Some(4));
    assert_eq!(problems[1].position, Some(2));
    let empty = TopicSpace::new("empty", TopicSpaceProperties::default());
    assert_eq!(
        paths(&empty.problems(&Limits::default())),
        ["properties.topicTemplates"]
    );
}

#[test]
fn template_limits_apply() {
    let limits = Limits {
        max_template_levels: 3,
        max_templates_per_topic_space: 2,
        ..Limits::default()
    };
    let ts = TopicSpace::new(
        "ts1",
        TopicSpaceProperties {
            topic_templates: vec!["a/b/c/d".into(), "a/b".into(), "c".into()],
            description: None,
        },
    );
    assert_eq!(
        paths(&ts.problems(&limits)),
        ["properties.topicTemplates", "properties.topicTemplates[0]"]
    );
}

#[test]
fn settings_use_the_topic_spaces_configuration_shape() {
    let s: NamespaceSettings = serde_json::from_value(json!({
        "state": "Enabled",
        "maximumClientSessionsPerAuthenticationName": 3,
        "clientAuthentication": {
            "alternativeAuthenticationNameSources": ["ClientCertificateSubject", "ClientCertificateDns"],
            "customJwtAuthentication": { "tokenIssuer": "https://issuer.example",
                "encodedIssuerCertificates": [{ "kid": "k1", "encodedCertificate": PEM }],
                "audiences": ["ns.example"], "jwksUrl": "https://issuer.example/jwks" },
            "webhookAuthentication": { "endpointUrl": "https://auth.example/hook", "timeout": "2s" } } }))
    .expect("json");
    assert_eq!(s.maximum_client_sessions_per_authentication_name, 3);
    assert_eq!(s.maximum_session_expiry_in_hours, 1);
    assert_eq!(
        s.client_authentication
            .alternative_authentication_name_sources,
        [
            AlternativeAuthenticationNameSource::ClientCertificateSubject,
            AlternativeAuthenticationNameSource::ClientCertificateDns
        ]
    );
    let hook = s
        .client_authentication
        .webhook_authentication
        .as_ref()
        .expect("hook");
    assert_eq!(hook.timeout(), Duration::from_secs(2));
    assert!(s.problems(&Limits::default()).is_empty());
    let back: NamespaceSettings =
        serde_json::from_value(serde_json::to_value(&s).expect("ser")).expect("de");
    assert_eq!(back, s);
    assert_eq!(
        NamespaceSettings::default().maximum_client_sessions_per_authentication_name,
        1
    );
}

#[test]
fn every_settings_problem_is_reported() {
    let s: NamespaceSettings = serde_json::from_value(json!({
        "maximumClientSessionsPerAuthenticationName": 0,
        "maximumSessionExpiryInHours": 100000,
        "clientAuthentication": {
            "alternativeAuthenticationNameSources": ["ClientCertificateIp", "ClientCertificateIp"],
            "customJwtAuthentication": { "tokenIssuer": "",
                "encodedIssuerCertificates": [{ "kid": "k", "encodedCertificate": "nope" },
                                              { "kid": "k", "encodedCertificate": PEM }] },
            "webhookAuthentication": { "endpointUrl": "http://auth.example", "timeout": "5m" } } }))
    .expect("json");
    let problems = s.problems(&Limits::default());
    assert_eq!(
        paths(&problems),
        [
            "maximumClientSessionsPerAuthenticationName",
            "maximumSessionExpiryInHours",
            "clientAuthentication.alternativeAuthenticationNameSources[1]",
            "clientAuthentication.customJwtAuthentication.tokenIssuer",
            "clientAuthentication.customJwtAuthentication.encodedIssuerCertificates[0].encodedCertificate",
            "clientAuthentication.customJwtAuthentication.encodedIssuerCertificates[1].kid",
            "clientAuthentication.webhookAuthentication.endpointUrl",
            "clientAuthentication.webhookAuthentication.timeout",
        ]
    );
    let dev = Limits {
        allow_plain_http: true,
        ..Limits::default()
    };
    assert_eq!(s.problems(&dev).len(), problems.len() - 1);
}

#[test]
fn jwt_needs_a_key_source() {
    let s: NamespaceSettings = serde_json::from_value(json!({ "clientAuthentication": {
        "customJwtAuthentication": { "tokenIssuer": "iss" } } }))
    .expect("json");
    assert_eq!(
        paths(&s.problems(&Limits::default())),
        ["clientAuthentication.customJwtAuthentication"]
    );
}

fn binding(name: &str, group: &str, space: &str, permission: Permission) -> PermissionBinding {
    PermissionBinding::new(
        name,
        PermissionBindingProperties {
            client_group_name: group.into(),
            topic_space_name: space.into(),
            permission,
            description: None,
        },
    )
}

#[test]
fn resource_set_checks_references_and_uniqueness() {
    let resources: Resources = serde_json::from_value(json!({
        "caCertificates": [{ "name": "root-ca", "properties": { "encodedCertificate": PEM } },
                           { "name": "bad-ca", "properties": { "encodedCertificate": "x" } }],
        "clients": [
            { "name": "dev1", "properties": { "authenticationName": "Device-A" } },
            { "name": "dev2", "properties": { "authenticationName": "device-a" } },
            { "name": "dev1", "properties": { "authenticationName": "other" } }],
        "clientGroups": [
            { "name": "grp", "properties": { "query": "attributes.a = 1" } },
            { "name": "GRP", "properties": { "query": "attributes.a = 2" } },
            { "name": "$all", "properties": { "query": "" } }],
        "topicSpaces": [{ "name": "vehicles", "properties": { "topicTemplates": ["vehicles/#"] } }],
        "permissionBindings": [
            { "name": "bind1", "properties": { "clientGroupName": "$all", "topicSpaceName": "vehicles", "permission": "Publisher" } },
            { "name": "bind2", "properties": { "clientGroupName": "nobody", "topicSpaceName": "VEHICLES", "permission": "Subscriber" } },
            { "name": "bind3", "properties": { "clientGroupName": "grp", "topicSpaceName": "nowhere", "permission": "Subscriber" } }],
        "topicSpacesConfiguration": { "maximumSessionExpiryInHours": 0 } }))
    .expect("json");
    let problems = resources.problems(&Limits::default());
    let found: Vec<String> = problems
        .iter()
        .map(|p| match &p.resource {
            Some(r) => format!("{} {} {}", r.kind, r.name, p.path),
            None => p.path.clone(),
        })
        .collect();
    assert_eq!(
        found,
        [
            "topicSpacesConfiguration.maximumSessionExpiryInHours",
            "caCertificate bad-ca properties.encodedCertificate",
            "client dev1 name",
            "client dev2 properties.authenticationName",
            "clientGroup $all name",
            "clientGroup GRP name",
            "permissionBinding bind2 properties.clientGroupName",
            "permissionBinding bind3 properties.topicSpaceName",
        ]
    );
    assert!(
        problems[3]
            .message
            .contains("already used by client 'dev1'"),
        "{}",
        problems[3].message
    );
}

#[test]
fn collection_limits_apply() {
    let limits = Limits {
        max_client_groups: 1,
        max_permission_bindings: 0,
        ..Limits::default()
    };
    let group = |n: &str| {
        ClientGroup::new(
            n,
            ClientGroupProperties {
                query: "exists(attributes.a)".into(),
                description: None,
            },
        )
    };
    let resources = Resources {
        client_groups: vec![group("g-1"), group("g-2")],
        topic_spaces: vec![TopicSpace::new(
            "ts1",
            TopicSpaceProperties {
                topic_templates: vec!["#".into()],
                description: None,
            },
        )],
        permission_bindings: vec![binding("b-1", "g-1", "ts1", Permission::Publisher)],
        ..Resources::default()
    };
    assert_eq!(
        paths(&resources.problems(&limits)),
        ["clientGroups", "permissionBindings"]
    );
    assert!(resources.problems(&Limits::default()).is_empty());
    let err = resources.validate(&limits).expect_err("invalid");
    assert!(
        err.to_string()
            .starts_with("2 problem(s); clientGroups: has 2 entries"),
        "{err}"
    );
}

#[test]
fn lookups_ignore_case_where_event_grid_does() {
    let resources = Resources {
        clients: vec![Client::new(
            "c1",
            ClientProperties {
                authentication_name: Some("Dev-Ä".into()),
                ..ClientProperties::default()
            },
        )],
        topic_spaces: vec![TopicSpace::new("Vehicles", TopicSpaceProperties::default())],
        ..Resources::default()
    };
    assert_eq!(
        resources
            .client_by_authentication_name("dev-ä")
            .map(|c| c.name.as_str()),
        Some("c1")
    );
    assert!(resources.topic_space("vehicles").is_some());
    assert!(
        resources
            .client_group("$ALL")
            .is_some_and(|g| g.is_builtin())
    );
}
