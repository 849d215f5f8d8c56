//! Secure transport benchmark: handshakes per second and QoS 0 throughput over `mqtt`,
//! `mqtts` (ECDSA P-256 and RSA 2048 server keys), `ws` and `wss`, against an
//! in-process broker on loopback. Clients and broker share the machine.
//!
//! ```sh
//! cargo run --release -p gridmq-server --example transport_bench -- --seconds 5
//! ```
//!
//! A handshake is: TCP connect, the TLS handshake (full, no resumption) and the
//! WebSocket upgrade where the kind has them, CONNECT, CONNACK, close. Throughput is one
//! publisher and one subscriber on one topic, QoS 0, measured from the first PUBLISH
//! written to the last byte delivered.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark tool")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytesize::ByteSize;
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use gridmq_server::cert::{self, Authority, KeyType, Subject};
use gridmq_server::config::{CertificateConfig, ListenerConfig, ListenerKind, TlsConfig};
use gridmq_server::{Config, Server};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[derive(Debug, Parser)]
struct Args {
    /// Seconds of handshakes per transport.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Concurrent handshaking clients.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Messages per throughput run.
    #[arg(long, default_value_t = 200_000)]
    messages: usize,
    /// Payload bytes per message.
    #[arg(long, default_value_t = 256)]
    payload: usize,
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

enum Conn {
    Stream(Box<dyn Io>),
    Ws(Box<WebSocketStream<Box<dyn Io>>>),
}

impl Conn {
    async fn send(&mut self, bytes: &[u8]) {
        match self {
            Self::Stream(io) => io.write_all(bytes).await.unwrap(),
            Self::Ws(ws) => ws
                .send(Message::Binary(bytes.to_vec().into()))
                .await
                .unwrap(),
        }
    }

    /// Receives what is there; 0 at the end of the stream.
    async fn recv(&mut self, buf: &mut [u8]) -> usize {
        match self {
            Self::Stream(io) => io.read(buf).await.unwrap_or(0),
            Self::Ws(ws) => loop {
                match ws.next().await {
                    Some(Ok(Message::Binary(data))) => {
                        // Throughput only counts bytes; larger messages are counted whole.
                        let n = data.len().min(buf.len());
                        buf[..n].copy_from_slice(&data[..n]);
                        return data.len();
                    }
                    Some(Ok(_)) => {}
                    _ => return 0,
                }
            },
        }
    }

    async fn recv_exact(&mut self, n: usize) {
        let mut got = 0;
        let mut buf = [0u8; 64];
        while got < n {
            let read = self.recv(&mut buf).await;
            assert!(read > 0, "closed early");
            got += read;
        }
    }
}

#[derive(Clone)]
struct Target {
    label: &'static str,
    kind: ListenerKind,
    addr: SocketAddr,
    tls: Option<Arc<rustls::ClientConfig>>,
}

async fn open(target: &Target) -> Conn {
    let tcp = TcpStream::connect(target.addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let io: Box<dyn Io> = match &target.tls {
        Some(config) => {
            let connector = tokio_rustls::TlsConnector::from(config.clone());
            let name = ServerName::try_from("localhost").unwrap();
            Box::new(connector.connect(name, tcp).await.unwrap())
        }
        None => Box::new(tcp),
    };
    if !target.kind.is_websocket() {
        return Conn::Stream(io);
    }
    let mut request = format!("ws://{}/mqtt", target.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "mqtt".parse().unwrap());
    let (ws, _) = tokio_tungstenite::client_async(request, io).await.unwrap();
    Conn::Ws(Box::new(ws))
}

fn connect_packet(client_id: &str) -> Vec<u8> {
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60];
    body.extend((client_id.len() as u16).to_be_bytes());
    body.extend(client_id.as_bytes());
    let mut packet = vec![0x10, body.len() as u8];
    packet.extend(body);
    packet
}

fn remaining_length(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let mut byte = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if n == 0 {
            return;
        }
    }
}

fn publish_packet(topic: &str, payload: &[u8]) -> Vec<u8> {
    let mut packet = vec![0x30];
    remaining_length(2 + topic.len() + payload.len(), &mut packet);
    packet.extend((topic.len() as u16).to_be_bytes());
    packet.extend(topic.as_bytes());
    packet.extend(payload);
    packet
}

async fn session(target: &Target, client_id: &str) -> Conn {
    let mut conn = open(target).await;
    conn.send(&connect_packet(client_id)).await;
    conn.recv_exact(4).await;
    conn
}

async fn handshakes(target: &Target, seconds: u64, concurrency: usize) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|task| {
            let (target, done) = (target.clone(), done.clone());
            tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let conn = session(&target, &format!("hs-{task}-{n}")).await;
                    drop(conn);
                    n += 1;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

async fn throughput(target: &Target, messages: usize, payload: usize) -> (f64, f64) {
    let topic = format!("bench/{}", target.label);
    let mut subscriber = session(target, &format!("sub-{}", target.label)).await;
    let mut subscribe = vec![0x82];
    remaining_length(2 + 2 + topic.len() + 1, &mut subscribe);
    subscribe.extend([0, 1]);
    subscribe.extend((topic.len() as u16).to_be_bytes());
    subscribe.extend(topic.as_bytes());
    subscribe.push(0);
    subscriber.send(&subscribe).await;
    subscriber.recv_exact(5).await;
    let mut publisher = session(target, &format!("pub-{}", target.label)).await;

    let packet = publish_packet(&topic, &vec![b'x'; payload]);
    let expected = packet.len() * messages;
    let per_batch = (64 * 1024 / packet.len()).max(1);
    let start = Instant::now();
    let receiver = tokio::spawn(async move {
        let mut got = 0;
        let mut buf = vec![0u8; 64 * 1024];
        while got < expected {
            let n = tokio::time::timeout(Duration::from_secs(10), subscriber.recv(&mut buf))
                .await
                .unwrap_or(0);
            if n == 0 {
                break;
            }
            got += n;
        }
        (got, Instant::now())
    });
    let mut sent = 0;
    while sent < messages {
        let batch = per_batch.min(messages - sent);
        publisher.send(&packet.repeat(batch)).await;
        sent += batch;
    }
    let (got, end) = receiver.await.unwrap();
    let seconds = (end - start).as_secs_f64();
    let delivered = got / packet.len();
    (
        delivered as f64 / seconds,
        (delivered * payload) as f64 / seconds / (1024.0 * 1024.0),
    )
}

struct Pki {
    dir: std::path::PathBuf,
    ca: CertificateDer<'static>,
}

fn pki() -> Pki {
    let dir = std::env::temp_dir().join(format!("gridmq-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = cert::create_ca(&Subject::new("bench CA", 1)).unwrap();
    let authority = Authority::from_pem(&ca.cert_pem, &ca.key_pem).unwrap();
    for (name, key_type) in [("ecdsa", KeyType::EcdsaP256), ("rsa", KeyType::Rsa2048)] {
        let mut subject = Subject::new("localhost", 1).sans(["localhost"]);
        subject.key_type = key_type;
        let issued = cert::create_server(&subject, &authority).unwrap();
        let (cert_path, key_path) = (
            dir.join(format!("{name}.pem")),
            dir.join(format!("{name}.key")),
        );
        cert::write(&issued, &cert_path, &key_path, true).unwrap();
    }
    Pki {
        dir,
        ca: CertificateDer::from(ca.der),
    }
}

fn listener(kind: ListenerKind, cert: Option<(&Pki, &str)>) -> ListenerConfig {
    let mut listener = ListenerConfig::new(kind, "127.0.0.1:0".parse().unwrap());
    listener.tls = cert.map(|(pki, name)| TlsConfig {
        certificates: vec![CertificateConfig {
            cert: pki.dir.join(format!("{name}.pem")),
            key: pki.dir.join(format!("{name}.key")),
            server_names: Vec::new(),
        }],
        ..TlsConfig::default()
    });
    listener
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let pki = pki();
    let mut config = Config {
        listeners: vec![
            listener(ListenerKind::Mqtt, None),
            listener(ListenerKind::Mqtts, Some((&pki, "ecdsa"))),
            listener(ListenerKind::Mqtts, Some((&pki, "rsa"))),
            listener(ListenerKind::Ws, None),
            listener(ListenerKind::Wss, Some((&pki, "ecdsa"))),
        ],
        ..Config::default()
    };
    config.storage.in_memory = true;
    config.mqtt.max_queued_messages = args.messages * 2;
    config.mqtt.max_queued_bytes = ByteSize::gib(4);
    let server = Server::start(config).await.unwrap();

    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca.clone()).unwrap();
    let mut client = rustls::ClientConfig::builder_with_provider(gridmq_transport::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.resumption = rustls::client::Resumption::disabled();
    let client = Arc::new(client);
    let labels = [
        "mqtt",
        "mqtts (P-256)",
        "mqtts (RSA 2048)",
        "ws",
        "wss (P-256)",
    ];
    let targets: Vec<Target> = server
        .listeners()
        .iter()
        .zip(labels)
        .map(|(l, label)| Target {
            label,
            kind: l.kind,
            addr: l.addr,
            tls: l.kind.is_tls().then(|| client.clone()),
        })
        .collect();

    println!(
        "{} s of handshakes per transport with {} clients; {} messages of {} B",
        args.seconds, args.concurrency, args.messages, args.payload
    );
    println!(
        "{:<18} {:>14} {:>14} {:>12}",
        "transport", "handshakes/s", "messages/s", "MiB/s"
    );
    for target in &targets {
        let rate = handshakes(target, args.seconds, args.concurrency).await;
        let (messages, mib) = throughput(target, args.messages, args.payload).await;
        println!(
            "{:<18} {:>14.0} {:>14.0} {:>12.1}",
            target.label, rate, messages, mib
        );
    }
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&pki.dir);
}
