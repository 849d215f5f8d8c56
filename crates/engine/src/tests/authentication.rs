//! Server-decided authentication as the engine sees it: delegated methods, the
//! Authentication Method echoed in CONNACK, re-authentication with AUTH 0x19, the
//! namespace's session expiry cap, and permissions checked again on session resume.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gridmq_codec::{Auth, AuthProperties, Packet, QoS, ReasonCode};

use crate::testing::{AllowPrefixes, Client, Harness, connect_v5};
use crate::{AllowAll, EngineConfig, Kick};

fn delegating() -> Harness {
    Harness::with_config(EngineConfig {
        delegate_authentication_methods: true,
        ..EngineConfig::default()
    })
}

fn with_method(client_id: &str, method: &str) -> gridmq_codec::Connect {
    let mut c = connect_v5(client_id, true, 0);
    c.properties.authentication_method = Some(method.into());
    c.properties.authentication_data = Some(Bytes::from_static(b"token-1"));
    c
}

fn auth(reason: ReasonCode, method: &str, data: &'static [u8]) -> Packet {
    Packet::Auth(Auth {
        reason_code: reason,
        properties: AuthProperties {
            authentication_method: Some(method.into()),
            authentication_data: Some(Bytes::from_static(data)),
            ..AuthProperties::default()
        },
    })
}

fn disconnect_reason(packets: &[Packet]) -> Option<ReasonCode> {
    packets.iter().find_map(|p| match p {
        Packet::Disconnect(d) => Some(d.reason_code),
        _ => None,
    })
}

fn jwt_client(h: &Harness) -> Client {
    let (client, ack) = h.connect(with_method("c", "CUSTOM-JWT"));
    assert_eq!(ack.reason_code, ReasonCode::Success);
    assert_eq!(
        ack.properties.authentication_method.as_deref(),
        Some("CUSTOM-JWT"),
        "[MQTT-4.12.0-5] CONNACK names the accepted method"
    );
    client
}

#[test]
fn delegated_methods_pass_the_engine_and_are_echoed() {
    let h = delegating();
    let mut client = jwt_client(&h);
    assert_eq!(
        client.connection().authentication_method(),
        Some("CUSTOM-JWT")
    );
    let (_, plain) = h.connect(connect_v5("plain", true, 0));
    assert_eq!(plain.properties.authentication_method, None);
}

#[test]
fn reauthentication_is_handed_to_the_server_and_answered() {
    let h = delegating();
    let mut client = jwt_client(&h);
    assert!(client.connection().take_reauth_request().is_none());
    client.send(
        h.now,
        auth(ReasonCode::ReAuthenticate, "CUSTOM-JWT", b"token-2"),
    );
    let request = client
        .connection()
        .take_reauth_request()
        .expect("a request");
    assert_eq!(request.method.as_str(), "CUSTOM-JWT");
    assert_eq!(request.data.as_deref(), Some(&b"token-2"[..]));
    assert!(client.connection().take_reauth_request().is_none());
    client.connection().complete_reauth(Ok(()));
    let sent = client.recv_at(h.now);
    assert!(
        matches!(sent.as_slice(), [Packet::Auth(a)]
            if a.reason_code == ReasonCode::Success
                && a.properties.authentication_method.as_deref() == Some("CUSTOM-JWT")),
        "{sent:?}"
    );
    // Another round works once the first was answered.
    client.send(
        h.now,
        auth(ReasonCode::ReAuthenticate, "CUSTOM-JWT", b"token-3"),
    );
    assert!(client.connection().take_reauth_request().is_some());
    assert!(!client.is_closing());
}

#[test]
fn failed_reauthentication_disconnects_with_the_servers_reason() {
    let h = delegating();
    let mut client = jwt_client(&h);
    client.send(
        h.now,
        auth(ReasonCode::ReAuthenticate, "CUSTOM-JWT", b"bad"),
    );
    assert!(client.connection().take_reauth_request().is_some());
    client.connection().complete_reauth(Err(Kick {
        reason: ReasonCode::NotAuthorized,
        message: "JWT signature does not verify".into(),
    }));
    let sent = client.recv_at(h.now);
    assert_eq!(disconnect_reason(&sent), Some(ReasonCode::NotAuthorized));
    assert!(client.is_closing());
}

#[test]
fn auth_packets_that_break_the_rules_close_the_connection() {
    let cases: [(&str, Packet, ReasonCode); 3] = [
        (
            "another method",
            auth(ReasonCode::ReAuthenticate, "OAUTH2-JWT", b"t"),
            ReasonCode::ProtocolError,
        ),
        (
            "continue without a challenge",
            auth(ReasonCode::ContinueAuthentication, "CUSTOM-JWT", b"t"),
            ReasonCode::ProtocolError,
        ),
        (
            "success from the client",
            auth(ReasonCode::Success, "CUSTOM-JWT", b"t"),
            ReasonCode::ProtocolError,
        ),
    ];
    for (case, packet, expected) in cases {
        let h = delegating();
        let mut client = jwt_client(&h);
        client.send(h.now, packet);
        let sent = client.recv_at(h.now);
        assert_eq!(disconnect_reason(&sent), Some(expected), "{case}: {sent:?}");
    }
}

#[test]
fn a_second_auth_before_the_answer_is_a_protocol_error() {
    let h = delegating();
    let mut client = jwt_client(&h);
    client.send(h.now, auth(ReasonCode::ReAuthenticate, "CUSTOM-JWT", b"a"));
    assert!(client.connection().take_reauth_request().is_some());
    client.send(h.now, auth(ReasonCode::ReAuthenticate, "CUSTOM-JWT", b"b"));
    let sent = client.recv_at(h.now);
    assert_eq!(disconnect_reason(&sent), Some(ReasonCode::ProtocolError));
    // A late answer to the first request changes nothing.
    client.connection().complete_reauth(Ok(()));
    assert!(client.recv_at(h.now).is_empty());
}

#[test]
fn auth_without_a_method_in_connect_is_a_protocol_error() {
    let h = delegating();
    let (mut client, _) = h.connect(connect_v5("c", true, 0));
    client.send(h.now, auth(ReasonCode::ReAuthenticate, "CUSTOM-JWT", b"t"));
    let sent = client.recv_at(h.now);
    assert_eq!(disconnect_reason(&sent), Some(ReasonCode::ProtocolError));
}

#[test]
fn the_plans_expiry_cap_limits_connect_and_disconnect() {
    let mut h = Harness::new();
    h.max_session_expiry = Some(3600);
    let (client, ack) = h.connect(connect_v5("c", false, 86_400));
    assert_eq!(ack.properties.session_expiry_interval, Some(3600));
    let mut disconnect = gridmq_codec::Disconnect::new(ReasonCode::NormalDisconnection, None);
    disconnect.properties.session_expiry_interval = Some(7200);
    let mut client = client;
    client.send(h.now, Packet::Disconnect(disconnect));
    client.close(h.now);
    // The session lives for the capped hour, not the two hours asked for at DISCONNECT.
    h.advance(Duration::from_secs(3601));
    assert_eq!(h.broker.session_count(), 0);
}

#[test]
fn a_resumed_session_keeps_only_subscriptions_still_allowed() {
    let h = Harness::new();
    let (mut sub, _) = h.connect(connect_v5("dev", false, 600));
    sub.subscribe(h.now, "kept/#", QoS::AtLeastOnce);
    sub.subscribe(h.now, "revoked/#", QoS::AtLeastOnce);
    sub.close(h.now);
    let narrower = Arc::new(AllowPrefixes(vec!["kept/"]));
    let (mut sub, ack) = h
        .try_connect(connect_v5("dev", false, 600), None, narrower)
        .expect("connects");
    assert!(ack.session_present);
    let (mut publisher, _) = h.connect(connect_v5("pub", true, 0));
    publisher.publish(h.now, "revoked/x", b"no", QoS::AtMostOnce, false);
    publisher.publish(h.now, "kept/x", b"yes", QoS::AtMostOnce, false);
    let got: Vec<String> = sub
        .publishes(h.now)
        .iter()
        .map(|p| p.topic.to_string())
        .collect();
    assert_eq!(got, ["kept/x"]);
    // Unsubscribing the dropped filter finds nothing.
    let unsuback = sub.unsubscribe(h.now, "revoked/#");
    assert!(
        matches!(unsuback.as_slice(), [Packet::UnsubAck(a)] if a.reason_codes == [ReasonCode::NoSubscriptionExisted])
    );
}

#[test]
fn session_owners_compare_without_regard_to_case() {
    let h = Harness::new();
    let (c, _) = h.connect_as(connect_v5("s1", false, 600), Some("Äbc"));
    c.close(h.now);
    let (_, ack) = h.connect_as(connect_v5("s1", false, 600), Some("äBC"));
    assert!(ack.session_present);
    let refused = h
        .try_connect(
            connect_v5("s1", false, 600),
            Some("other"),
            Arc::new(AllowAll),
        )
        .err();
    // The live connection above holds it; another owner is refused before takeover.
    assert_eq!(
        refused.map(|a| a.reason_code),
        Some(ReasonCode::NotAuthorized)
    );
}
