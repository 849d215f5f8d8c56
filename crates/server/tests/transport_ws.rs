//! MQTT over WebSocket and secure WebSocket end to end with a raw WebSocket client:
//! packets split across frames and several in one frame, ping/pong, the close
//! handshake, and bad input (a text frame, an oversize frame, no MQTT subprotocol, the
//! wrong path), each leaving other clients unaffected.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod tls_support;

use std::net::SocketAddr;

use bytesize::ByteSize;
use futures_util::{SinkExt, StreamExt};
use gridmq_server::config::{ClientAuth, ListenerKind, WebSocketConfig};
use tls_support::*;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

async fn ws_broker(websocket: Option<WebSocketConfig>) -> gridmq_server::Server {
    let mut ws = listener(ListenerKind::Ws);
    ws.websocket = websocket;
    broker(vec![ws]).await
}

/// Upgrades `io` on `path`, offering `protocols` (comma separated, may be empty).
async fn upgrade<S: AsyncRead + AsyncWrite + Unpin>(
    io: S,
    addr: SocketAddr,
    path: &str,
    protocols: &str,
) -> Result<WebSocketStream<S>, String> {
    let mut request = format!("ws://{addr}{path}").into_client_request().unwrap();
    if !protocols.is_empty() {
        request
            .headers_mut()
            .insert("sec-websocket-protocol", protocols.parse().unwrap());
    }
    within("the upgrade", tokio_tungstenite::client_async(request, io))
        .await
        .map(|(ws, _)| ws)
        .map_err(|e| e.to_string())
}

async fn ws_connect(addr: SocketAddr) -> WebSocketStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    upgrade(tcp, addr, "/mqtt", "mqtt").await.unwrap()
}

async fn send<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocketStream<S>, bytes: &[u8]) {
    ws.send(Message::Binary(bytes.to_vec().into()))
        .await
        .unwrap();
}

/// Reads binary messages until `n` bytes arrived; MQTT does not care how the broker
/// frames them.
async fn receive<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
    n: usize,
) -> Vec<u8> {
    within("bytes over WebSocket", async {
        let mut got = Vec::new();
        while got.len() < n {
            match ws.next().await.expect("stream open").expect("no error") {
                Message::Binary(data) => got.extend_from_slice(&data),
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("unexpected message {other:?}"),
            }
        }
        got
    })
    .await
}

/// Reads until the broker's close frame, then the end of the stream.
async fn expect_close<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
) -> Option<CloseFrame> {
    within("the close frame", async {
        let mut frame = None;
        while let Some(message) = ws.next().await {
            match message {
                Ok(Message::Close(close)) => frame = close,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        frame
    })
    .await
}

#[tokio::test]
async fn packets_split_across_frames_and_several_in_one_frame() {
    let server = ws_broker(None).await;
    let mut ws = ws_connect(addr(&server, 1)).await;
    let connect = connect_packet("ws-frames");
    for part in [&connect[..3], &connect[3..9], &connect[9..]] {
        send(&mut ws, part).await;
    }
    assert_eq!(receive(&mut ws, 4).await, CONNACK_OK);

    let mut both = subscribe_packet("ws/frames");
    both.extend(publish_packet("ws/frames", b"hello"));
    send(&mut ws, &both).await;
    let publish = publish_packet("ws/frames", b"hello");
    let got = receive(&mut ws, SUBACK_QOS0.len() + publish.len()).await;
    assert_eq!(&got[..5], SUBACK_QOS0);
    assert_eq!(&got[5..], &publish[..]);
}

#[tokio::test]
async fn ping_pong_and_the_close_handshake() {
    let server = ws_broker(None).await;
    let mut ws = ws_connect(addr(&server, 1)).await;
    send(&mut ws, &connect_packet("ws-ping")).await;
    assert_eq!(receive(&mut ws, 4).await, CONNACK_OK);
    ws.send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .unwrap();
    let pong = within("the pong", async {
        loop {
            if let Message::Pong(data) = ws.next().await.unwrap().unwrap() {
                return data;
            }
        }
    })
    .await;
    assert_eq!(&pong[..], b"are you there");

    ws.close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    }))
    .await
    .unwrap();
    let reply = expect_close(&mut ws).await.expect("a close frame in reply");
    assert_eq!(reply.code, CloseCode::Normal);
    others_unaffected(&server).await;
}

#[tokio::test]
async fn a_text_frame_is_closed_with_1003() {
    let server = ws_broker(None).await;
    for connected in [false, true] {
        let mut ws = ws_connect(addr(&server, 1)).await;
        if connected {
            send(&mut ws, &connect_packet("ws-text")).await;
            assert_eq!(receive(&mut ws, 4).await, CONNACK_OK);
        }
        ws.send(Message::Text("{\"hello\": 1}".into()))
            .await
            .unwrap();
        let close = expect_close(&mut ws).await.expect("a close frame");
        assert_eq!(close.code, CloseCode::Unsupported);
        others_unaffected(&server).await;
    }
}

#[tokio::test]
async fn an_oversize_frame_is_closed_with_1009() {
    let limits = WebSocketConfig {
        max_frame_size: ByteSize::kib(1),
        max_message_size: ByteSize::kib(1),
        ..WebSocketConfig::default()
    };
    let server = ws_broker(Some(limits)).await;
    let mut ws = ws_connect(addr(&server, 1)).await;
    send(&mut ws, &connect_packet("ws-big")).await;
    assert_eq!(receive(&mut ws, 4).await, CONNACK_OK);
    send(&mut ws, &vec![0x30; 4096]).await;
    let close = expect_close(&mut ws).await.expect("a close frame");
    assert_eq!(close.code, CloseCode::Size);
    others_unaffected(&server).await;
}

#[tokio::test]
async fn upgrades_without_an_mqtt_subprotocol_or_on_the_wrong_path_are_refused() {
    let server = ws_broker(None).await;
    let ws_addr = addr(&server, 1);
    for (path, protocols, status) in [
        ("/mqtt", "", "400"),
        ("/mqtt", "chat, superchat", "400"),
        ("/", "mqtt", "404"),
        ("/mqtt/extra", "mqtt", "404"),
    ] {
        let tcp = TcpStream::connect(ws_addr).await.unwrap();
        let error = upgrade(tcp, ws_addr, path, protocols)
            .await
            .expect_err("refused");
        assert!(error.contains(status), "{path} {protocols:?}: {error}");
        others_unaffected(&server).await;
    }
    // mqttv3.1 is accepted as well.
    let tcp = TcpStream::connect(ws_addr).await.unwrap();
    let mut ws = upgrade(tcp, ws_addr, "/mqtt", "mqttv3.1").await.unwrap();
    send(&mut ws, &connect_packet("ws-v31-subprotocol")).await;
    assert_eq!(receive(&mut ws, 4).await, CONNACK_OK);
}

#[tokio::test]
async fn secure_websocket() {
    let pki = Pki::new();
    let mut wss = listener(ListenerKind::Wss);
    wss.tls = Some(pki.tls(ClientAuth::None));
    let server = broker(vec![wss]).await;
    let mut config = pki.client_config(None);
    // Browsers offer HTTP ALPN on wss; it is answered, not refused.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let tls = tls_connect(addr(&server, 1), config).await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let mut ws = upgrade(tls, addr(&server, 1), "/mqtt", "mqtt")
        .await
        .unwrap();
    send(&mut ws, &connect_packet("wss-client")).await;
    assert_eq!(receive(&mut ws, 4).await, CONNACK_OK);
    send(&mut ws, &PINGREQ).await;
    assert_eq!(receive(&mut ws, 2).await, PINGRESP);
}
