//! Third-party clients over the secure transports, with certificates generated at test
//! time: paho-mqtt over TLS (server authentication and mutual TLS), WebSocket and
//! secure WebSocket; mosquitto_pub / mosquitto_sub with `--cafile` / `--cert` /
//! `--key`; Python's ssl module capped at TLS 1.0 and 1.1. A missing peer prints a
//! notice and passes, unless `GRIDMQ_REQUIRE_PEERS=1`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod tls_support;

use gridmq_server::cert::Subject;
use gridmq_server::config::{ClientAuth, ListenerKind};
use tls_support::*;

fn tls_listener(
    kind: ListenerKind,
    pki: &Pki,
    auth: ClientAuth,
) -> gridmq_server::config::ListenerConfig {
    let mut listener = listener(kind);
    listener.tls = Some(pki.tls(auth));
    listener
}

#[tokio::test]
async fn paho_over_tls_websocket_and_secure_websocket() {
    if !python_available() {
        return;
    }
    let pki = Pki::new();
    pki.client("device", &Subject::new("paho-device", 1), true);
    let server = broker(vec![
        tls_listener(ListenerKind::Mqtts, &pki, ClientAuth::None),
        tls_listener(ListenerKind::Mqtts, &pki, ClientAuth::Required),
        listener(ListenerKind::Ws),
        tls_listener(ListenerKind::Wss, &pki, ClientAuth::None),
    ])
    .await;
    let port = |i: usize| addr(&server, i).port().to_string();
    let (ca, cert, key) = (
        pki.ca_path(),
        pki.path("device.pem"),
        pki.path("device.key"),
    );
    let (ca, cert, key) = (
        ca.to_str().unwrap(),
        cert.to_str().unwrap(),
        key.to_str().unwrap(),
    );
    for version in ["v311", "v5"] {
        python(
            "secure_transport.py",
            &["--port", &port(1), "--cafile", ca, "--version", version],
        )
        .await;
        python(
            "secure_transport.py",
            &[
                "--port",
                &port(2),
                "--cafile",
                ca,
                "--certfile",
                cert,
                "--keyfile",
                key,
                "--version",
                version,
            ],
        )
        .await;
        python(
            "secure_transport.py",
            &[
                "--port",
                &port(3),
                "--transport",
                "websockets",
                "--version",
                version,
            ],
        )
        .await;
        python(
            "secure_transport.py",
            &[
                "--port",
                &port(4),
                "--transport",
                "websockets",
                "--cafile",
                ca,
                "--version",
                version,
            ],
        )
        .await;
    }
}

#[tokio::test]
async fn python_ssl_capped_at_tls_1_0_or_1_1_is_refused() {
    if !python_available() {
        return;
    }
    let pki = Pki::new();
    let server = broker(vec![tls_listener(
        ListenerKind::Mqtts,
        &pki,
        ClientAuth::None,
    )])
    .await;
    let port = addr(&server, 1).port().to_string();
    for version in ["1.0", "1.1"] {
        let probe = script("tls_version_probe.py");
        let (code, output) = run(
            "python3",
            &[
                probe.to_str().unwrap(),
                "--port",
                &port,
                "--max-version",
                version,
            ],
        )
        .await;
        match code {
            Some(0) => {}
            Some(3) => eprintln!("notice: not tested here: {output}"),
            _ => panic!("TLS {version} probe: {output}"),
        }
        others_unaffected(&server).await;
    }
}

#[tokio::test]
async fn mosquitto_clients_with_mutual_tls() {
    if !mosquitto_available() {
        return;
    }
    let pki = Pki::new();
    pki.client("device", &Subject::new("mosquitto-device", 1), true);
    let server = broker(vec![tls_listener(
        ListenerKind::Mqtts,
        &pki,
        ClientAuth::Required,
    )])
    .await;
    let port = addr(&server, 1).port().to_string();
    let (ca, cert, key) = (
        pki.ca_path(),
        pki.path("device.pem"),
        pki.path("device.key"),
    );
    let tls = [
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "--cafile",
        ca.to_str().unwrap(),
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ];
    for version in ["mqttv311", "mqttv5"] {
        let topic = format!("mosquitto/{version}");
        let mut publish = tls.to_vec();
        publish.extend([
            "-V",
            version,
            "-q",
            "1",
            "-r",
            "-t",
            &topic,
            "-m",
            "over mutual TLS",
        ]);
        let (code, output) = run("mosquitto_pub", &publish).await;
        assert_eq!(code, Some(0), "mosquitto_pub: {output}");
        let mut subscribe = tls.to_vec();
        subscribe.extend([
            "-V", version, "-q", "1", "-t", &topic, "-C", "1", "-W", "10",
        ]);
        let (code, output) = run("mosquitto_sub", &subscribe).await;
        assert_eq!(code, Some(0), "mosquitto_sub: {output}");
        assert_eq!(output.trim(), "over mutual TLS");
    }

    // Without a client certificate mosquitto_pub is refused.
    let (code, _) = run(
        "mosquitto_pub",
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "--cafile",
            ca.to_str().unwrap(),
            "-t",
            "x",
            "-m",
            "y",
        ],
    )
    .await;
    assert_ne!(code, Some(0));
    others_unaffected(&server).await;
}
