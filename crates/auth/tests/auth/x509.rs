//! X.509: every validation scheme, chains through intermediates, validity periods, wrong
//! CAs, thumbprints of self-signed certificates, alternative authentication name sources.

use gridmq_access::ValidationScheme;
use gridmq_auth::Method;
use gridmq_codec::ReasonCode;
use serde_json::{Value, json};
use test_case::test_case;
use time::{Duration, OffsetDateTime};

use crate::common::*;

fn client(name: &str, scheme: &str) -> Value {
    json!({ "name": name, "properties": {
        "authenticationName": name,
        "attributes": { "floor": 3 },
        "clientCertificateAuthentication": { "validationScheme": scheme } } })
}

fn namespace(cas: &[&Ca], clients: Vec<Value>) -> Value {
    let cas: Vec<Value> = cas
        .iter()
        .enumerate()
        .map(|(i, ca)| json!({ "name": format!("ca-{i}"), "properties": { "encodedCertificate": ca.pem } }))
        .collect();
    json!({ "caCertificates": cas, "clients": clients })
}

#[tokio::test]
async fn subject_common_name_chained_to_a_registered_root() {
    let root = root_ca("root");
    let auth = authenticator(namespace(
        &[&root],
        vec![client("dev1", "SubjectMatchesAuthenticationName")],
    ));
    for with_fields in [false, true] {
        let peer = tls_peer(vec![LeafSpec::cn("dev1").signed_by(&root)], with_fields);
        let mut req = request(&peer);
        req.username = Some("DEV1");
        let ok = auth.authenticate(&req, now()).await.unwrap();
        assert_eq!(
            ok.identity.authentication_name, "dev1",
            "registered case is kept"
        );
        assert_eq!(ok.identity.attributes.len(), 1);
        assert_eq!(ok.client.as_deref(), Some("dev1"));
        assert_eq!(
            ok.method,
            Method::Certificate(ValidationScheme::SubjectMatchesAuthenticationName)
        );
        assert!(ok.expires_at.unwrap() > now());
    }
}

#[tokio::test]
async fn subject_full_distinguished_name() {
    let root = root_ca("root");
    let dn = "CN=dev1,O=Contoso";
    let auth = authenticator(namespace(
        &[&root],
        vec![client(dn, "SubjectMatchesAuthenticationName")],
    ));
    let mut spec = LeafSpec::cn("dev1");
    spec.org = Some("Contoso".into());
    let peer = tls_peer(vec![spec.signed_by(&root)], false);
    let mut req = request(&peer);
    req.username = Some(dn);
    auth.authenticate(&req, now()).await.unwrap();
}

#[tokio::test]
async fn chain_through_an_intermediate_to_a_registered_root() {
    let root = root_ca("root");
    let intermediate = intermediate_ca(&root, "intermediate");
    let auth = authenticator(namespace(
        &[&root],
        vec![client("dev1", "SubjectMatchesAuthenticationName")],
    ));
    let leaf = LeafSpec::cn("dev1").signed_by(&intermediate);
    let peer = tls_peer(vec![leaf.clone(), intermediate.der.clone()], false);
    let mut req = request(&peer);
    req.username = Some("dev1");
    auth.authenticate(&req, now()).await.unwrap();

    // Without the intermediate in the presented chain there is no path to the root.
    let peer = tls_peer(vec![leaf], false);
    let mut req = request(&peer);
    req.username = Some("dev1");
    refused(
        auth.authenticate(&req, now()).await,
        ReasonCode::NotAuthorized,
    );
}

#[tokio::test]
async fn registered_intermediate_anchors_the_chain() {
    let root = root_ca("root");
    let intermediate = intermediate_ca(&root, "intermediate");
    let auth = authenticator(namespace(
        &[&intermediate],
        vec![client("dev1", "SubjectMatchesAuthenticationName")],
    ));
    let peer = tls_peer(vec![LeafSpec::cn("dev1").signed_by(&intermediate)], false);
    let mut req = request(&peer);
    req.username = Some("dev1");
    auth.authenticate(&req, now()).await.unwrap();
}

fn san_spec() -> LeafSpec {
    let mut spec = LeafSpec::cn("someone-else");
    spec.dns = vec!["other.example.net".into(), "dev.example.net".into()];
    spec.uris = vec!["spiffe://example.net/dev".into()];
    spec.ips = vec!["10.1.2.3".parse().unwrap(), "2001:db8::7".parse().unwrap()];
    spec.emails = vec!["dev@example.net".into()];
    spec
}

#[test_case("DnsMatchesAuthenticationName", "dev.example.net", true; "dns")]
#[test_case("DnsMatchesAuthenticationName", "nope.example.net", false; "dns mismatch")]
#[test_case("UriMatchesAuthenticationName", "spiffe://example.net/dev", true; "uri")]
#[test_case("UriMatchesAuthenticationName", "spiffe://example.net/other", false; "uri mismatch")]
#[test_case("IpMatchesAuthenticationName", "2001:db8:0::7", true; "ipv6 compared as address")]
#[test_case("IpMatchesAuthenticationName", "10.1.2.3", true; "ipv4")]
#[test_case("IpMatchesAuthenticationName", "10.1.2.4", false; "ip mismatch")]
#[test_case("EmailMatchesAuthenticationName", "DEV@example.net", true; "email")]
#[test_case("EmailMatchesAuthenticationName", "other@example.net", false; "email mismatch")]
#[test_case("SubjectMatchesAuthenticationName", "dev.example.net", false; "subject is not a san")]
#[tokio::test]
async fn validation_schemes(scheme: &str, name: &str, accepted: bool) {
    let root = root_ca("root");
    let auth = authenticator(namespace(&[&root], vec![client(name, scheme)]));
    let peer = tls_peer(vec![san_spec().signed_by(&root)], false);
    let mut req = request(&peer);
    req.username = Some(name);
    let result = auth.authenticate(&req, now()).await;
    if accepted {
        result.unwrap();
    } else {
        let message = refused(result, ReasonCode::NotAuthorized);
        assert!(message.contains("does not match"), "{message}");
    }
}

#[tokio::test]
async fn certificate_from_an_unregistered_ca_is_refused() {
    let registered = root_ca("registered");
    let other = root_ca("registered"); // same name, different key
    let auth = authenticator(namespace(
        &[&registered],
        vec![client("dev1", "SubjectMatchesAuthenticationName")],
    ));
    let peer = tls_peer(vec![LeafSpec::cn("dev1").signed_by(&other)], false);
    let mut req = request(&peer);
    req.username = Some("dev1");
    let message = refused(
        auth.authenticate(&req, now()).await,
        ReasonCode::NotAuthorized,
    );
    assert!(message.contains("chain"), "{message}");

    let no_cas = authenticator(namespace(
        &[],
        vec![client("dev1", "SubjectMatchesAuthenticationName")],
    ));
    refused(
        no_cas.authenticate(&req, now()).await,
        ReasonCode::NotAuthorized,
    );
}

#[test_case(-30, -1, "expired"; "expired")]
#[test_case(1, 30, "not valid yet"; "not yet valid")]
#[tokio::test]
async fn leaf_outside_its_validity_is_refused(from_days: i64, to_days: i64, expect: &str) {
    let root = root_ca("root");
    let auth = authenticator(namespace(
        &[&root],
        vec![client("dev1", "SubjectMatchesAuthenticationName")],
    ));
    let mut spec = LeafSpec::cn("dev1");
    spec.not_before = OffsetDateTime::now_utc() + Duration::days(from_days);
    spec.not_after = OffsetDateTime::now_utc() + Duration::days(to_days);
    let peer = tls_peer(vec![spec.signed_by(&root)], false);
    let mut req = request(&peer);
    req.username = Some("dev1");
    let message = refused(
        auth.authenticate(&req, now()).await,
        ReasonCode::NotAuthorized,
    );
    assert!(message.contains(expect), "{message}");
}

#[tokio::test]
async fn expired_registered_ca_anchors_nothing() {
    let now_utc = OffsetDateTime::now_utc();
    let root = root_ca_valid(
        "root",
        now_utc - Duration::days(60),
        now_utc - Duration::days(1),
    );
    let auth = authenticator(namespace(
        &[&root],
        vec![client("dev1", "SubjectMatchesAuthenticationName")],
    ));
    let peer = tls_peer(vec![LeafSpec::cn("dev1").signed_by(&root)], false);
    let mut req = request(&peer);
    req.username = Some("dev1");
    refused(
        auth.authenticate(&req, now()).await,
        ReasonCode::NotAuthorized,
    );
}

#[tokio::test]
async fn server_only_key_usage_is_refused() {
    let root = root_ca("root");
    let auth = authenticator(namespace(
        &[&root],
        vec![client("dev1", "SubjectMatchesAuthenticationName")],
    ));
    let mut spec = LeafSpec::cn("dev1");
    spec.eku = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let peer = tls_peer(vec![spec.signed_by(&root)], false);
    let mut req = request(&peer);
    req.username = Some("dev1");
    refused(
        auth.authenticate(&req, now()).await,
        ReasonCode::NotAuthorized,
    );
}

#[tokio::test]
async fn certificate_of_another_client_is_refused() {
    let root = root_ca("root");
    let auth = authenticator(namespace(
        &[&root],
        vec![
            client("dev1", "SubjectMatchesAuthenticationName"),
            client("dev2", "SubjectMatchesAuthenticationName"),
        ],
    ));
    let peer = tls_peer(vec![LeafSpec::cn("dev1").signed_by(&root)], false);
    let mut req = request(&peer);
    req.username = Some("dev2");
    refused(
        auth.authenticate(&req, now()).await,
        ReasonCode::NotAuthorized,
    );
}

#[tokio::test]
async fn disabled_client_is_refused() {
    let root = root_ca("root");
    let mut disabled = client("dev1", "SubjectMatchesAuthenticationName");
    disabled["properties"]["state"] = json!("Disabled");
    let auth = authenticator(namespace(&[&root], vec![disabled]));
    let peer = tls_peer(vec![LeafSpec::cn("dev1").signed_by(&root)], false);
    let mut req = request(&peer);
    req.username = Some("dev1");
    let failure = auth.authenticate(&req, now()).await.unwrap_err();
    assert_eq!(failure.reason, ReasonCode::NotAuthorized);
    assert_eq!(
        failure.v3_return_code(),
        gridmq_codec::ConnectReturnCode::NotAuthorized
    );
    assert!(failure.log_message.contains("disabled"));
}

fn thumbprint_client(name: &str, thumbprints: &[String]) -> Value {
    json!({ "name": name, "properties": {
        "clientCertificateAuthentication": {
            "validationScheme": "ThumbprintMatch", "allowedThumbprints": thumbprints } } })
}

#[tokio::test]
async fn thumbprint_of_a_self_signed_certificate() {
    let leaf = LeafSpec::cn("anything").self_signed();
    let (sha256, sha1) = gridmq_auth::certificate::thumbprints(&leaf);
    // A thumbprint that differs from `t` in every digit.
    let other = |t: &str| {
        t.chars()
            .map(|c| if c == '0' { '1' } else { '0' })
            .collect::<String>()
    };
    let wrong = other(&sha256);
    for (allowed, accepted) in [
        (sha256.clone(), true),
        (sha1.to_uppercase(), true),
        (wrong, false),
    ] {
        let auth = authenticator(namespace(
            &[],
            vec![thumbprint_client("dev1", &[allowed, other(&sha1)])],
        ));
        let peer = tls_peer(vec![leaf.clone()], false);
        let mut req = request(&peer);
        req.username = Some("dev1");
        let result = auth.authenticate(&req, now()).await;
        if accepted {
            assert_eq!(
                result.unwrap().method,
                Method::Certificate(ValidationScheme::ThumbprintMatch)
            );
        } else {
            refused(result, ReasonCode::NotAuthorized);
        }
    }
}

#[tokio::test]
async fn expired_self_signed_certificate_fails_even_with_its_thumbprint() {
    let mut spec = LeafSpec::cn("dev1");
    spec.not_before = OffsetDateTime::now_utc() - Duration::days(10);
    spec.not_after = OffsetDateTime::now_utc() - Duration::days(1);
    let leaf = spec.self_signed();
    let (sha256, _) = gridmq_auth::certificate::thumbprints(&leaf);
    let auth = authenticator(namespace(&[], vec![thumbprint_client("dev1", &[sha256])]));
    let peer = tls_peer(vec![leaf], false);
    let mut req = request(&peer);
    req.username = Some("dev1");
    let message = refused(
        auth.authenticate(&req, now()).await,
        ReasonCode::NotAuthorized,
    );
    assert!(message.contains("expired"), "{message}");
}

fn with_sources(mut ns: Value, sources: &[&str]) -> Value {
    ns["topicSpacesConfiguration"] =
        json!({ "clientAuthentication": { "alternativeAuthenticationNameSources": sources } });
    ns
}

#[test_case(&["ClientCertificateDns"], "dev.example.net", "DnsMatchesAuthenticationName"; "dns: the registered entry of several")]
#[test_case(&["ClientCertificateUri", "ClientCertificateDns"], "spiffe://example.net/dev", "UriMatchesAuthenticationName"; "first source with a value")]
#[test_case(&["ClientCertificateIp"], "2001:db8::7", "IpMatchesAuthenticationName"; "ip")]
#[test_case(&["ClientCertificateEmail"], "dev@example.net", "EmailMatchesAuthenticationName"; "email")]
#[test_case(&["ClientCertificateSubject"], "someone-else", "SubjectMatchesAuthenticationName"; "subject falls back to the common name")]
#[test_case(&["ClientCertificateSubject"], "CN=someone-else", "SubjectMatchesAuthenticationName"; "subject as full dn")]
#[tokio::test]
async fn alternative_name_sources_without_user_name(sources: &[&str], name: &str, scheme: &str) {
    let root = root_ca("root");
    let auth = authenticator(with_sources(
        namespace(&[&root], vec![client(name, scheme)]),
        sources,
    ));
    let peer = tls_peer(vec![san_spec().signed_by(&root)], false);
    let ok = auth.authenticate(&request(&peer), now()).await.unwrap();
    assert_eq!(ok.identity.authentication_name, name);
}

#[tokio::test]
async fn no_name_source_gives_a_name() {
    let root = root_ca("root");
    let ns = namespace(
        &[&root],
        vec![client("dev1", "SubjectMatchesAuthenticationName")],
    );
    let peer = tls_peer(vec![LeafSpec::cn("dev1").signed_by(&root)], false);

    // No sources configured and no user name.
    let auth = authenticator(ns.clone());
    let message = refused(
        auth.authenticate(&request(&peer), now()).await,
        ReasonCode::NotAuthorized,
    );
    assert!(message.contains("no authentication name"), "{message}");

    // A source the certificate has no value for.
    let auth = authenticator(with_sources(ns, &["ClientCertificateEmail"]));
    refused(
        auth.authenticate(&request(&peer), now()).await,
        ReasonCode::NotAuthorized,
    );
}

#[tokio::test]
async fn long_chains_are_refused_before_any_work() {
    let root = root_ca("root");
    let auth = authenticator(namespace(
        &[&root],
        vec![client("dev1", "SubjectMatchesAuthenticationName")],
    ));
    let peer = tls_peer(vec![vec![0u8; 4]; 9], false);
    let mut req = request(&peer);
    req.username = Some("dev1");
    let message = refused(
        auth.authenticate(&req, now()).await,
        ReasonCode::NotAuthorized,
    );
    assert!(message.contains("chain has 9"), "{message}");
}

#[tokio::test]
async fn garbage_certificate_is_refused() {
    let root = root_ca("root");
    let auth = authenticator(namespace(
        &[&root],
        vec![client("dev1", "SubjectMatchesAuthenticationName")],
    ));
    let peer = tls_peer(vec![b"not a certificate".to_vec()], false);
    let mut req = request(&peer);
    req.username = Some("dev1");
    refused(
        auth.authenticate(&req, now()).await,
        ReasonCode::NotAuthorized,
    );
}
