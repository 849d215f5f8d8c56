//! Helpers of the secure transport tests (`transport_*.rs`): certificates made at test
//! time with `gridmq cert`'s library, brokers with TLS / WebSocket / PROXY listeners,
//! raw MQTT exchanges over any stream, and the rule for missing third-party peers.
//!
//! Every wait is bounded by [`WAIT`] and waits on an event, never on a sleep.
#![allow(
    dead_code,
    reason = "each test binary compiles this module and uses a different subset of it"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a failed expectation is a failed test"
)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use gridmq_server::cert::{self, Authority, Issued, Subject};
use gridmq_server::config::{
    CertificateConfig, ClientAuth, ListenerConfig, ListenerKind, TlsConfig,
};
use gridmq_server::{Config, Server};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// The longest any single wait may take before the test fails.
pub(crate) const WAIT: Duration = Duration::from_secs(15);

/// Awaits `future`, failing the test with `what` if it takes longer than [`WAIT`].
pub(crate) async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
    }
}

/// A CA, a server certificate for `localhost` / `127.0.0.1` and client certificates,
/// in a directory removed on drop.
pub(crate) struct Pki {
    pub(crate) dir: PathBuf,
    pub(crate) ca: Issued,
    authority: Authority,
}

impl Pki {
    pub(crate) fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("gridmq-tls-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ca = cert::create_ca(&Subject::new("gridmq test CA", 2)).unwrap();
        cert::write(&ca, &dir.join("ca.pem"), &dir.join("ca.key"), false).unwrap();
        let authority = Authority::from_pem(&ca.cert_pem, &ca.key_pem).unwrap();
        let pki = Self { dir, ca, authority };
        pki.server("server");
        pki
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub(crate) fn ca_path(&self) -> PathBuf {
        self.path("ca.pem")
    }

    /// (Re)writes NAME.pem / NAME.key with a new server certificate; returns it.
    pub(crate) fn server(&self, name: &str) -> Issued {
        let subject = Subject::new("localhost", 2).sans(["localhost", "127.0.0.1"]);
        let issued = cert::create_server(&subject, &self.authority).unwrap();
        self.write(name, &issued);
        issued
    }

    /// Writes NAME.pem / NAME.key with a client certificate for `subject`.
    pub(crate) fn client(&self, name: &str, subject: &Subject, signed: bool) -> Issued {
        let authority = signed.then_some(&self.authority);
        let issued = cert::create_client(subject, authority).unwrap();
        self.write(name, &issued);
        issued
    }

    fn write(&self, name: &str, issued: &Issued) {
        let (cert_path, key_path) = (
            self.path(&format!("{name}.pem")),
            self.path(&format!("{name}.key")),
        );
        cert::write(issued, &cert_path, &key_path, true).unwrap();
    }

    /// TLS settings serving `server.pem`.
    pub(crate) fn tls(&self, client_auth: ClientAuth) -> TlsConfig {
        TlsConfig {
            certificates: vec![CertificateConfig {
                cert: self.path("server.pem"),
                key: self.path("server.key"),
                server_names: Vec::new(),
            }],
            client_auth,
            client_ca: vec![self.ca_path()],
            ..TlsConfig::default()
        }
    }

    /// A rustls client trusting this CA, presenting NAME.pem / NAME.key if given.
    pub(crate) fn client_config(&self, client: Option<&str>) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(self.ca.der.clone()))
            .unwrap();
        let builder =
            rustls::ClientConfig::builder_with_provider(gridmq_transport::tls::provider())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots);
        match client {
            Some(name) => {
                let chain = CertificateDer::pem_file_iter(self.path(&format!("{name}.pem")))
                    .unwrap()
                    .collect::<Result<Vec<_>, _>>()
                    .unwrap();
                let key = PrivateKeyDer::from_pem_file(self.path(&format!("{name}.key"))).unwrap();
                builder.with_client_auth_cert(chain, key).unwrap()
            }
            None => builder.with_no_client_auth(),
        }
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A listener of `kind` on an ephemeral loopback port.
pub(crate) fn listener(kind: ListenerKind) -> ListenerConfig {
    ListenerConfig::new(kind, "127.0.0.1:0".parse().unwrap())
}

/// Starts a broker with a plain `mqtt` listener first, then `listeners`. Set
/// `GRIDMQ_TEST_LOG=debug` to see its log.
pub(crate) async fn broker(listeners: Vec<ListenerConfig>) -> Server {
    if let Ok(level) = std::env::var("GRIDMQ_TEST_LOG") {
        let _ = gridmq_server::telemetry::init_logging(&level, Default::default());
    }
    let mut config = Config {
        listeners: vec![listener(ListenerKind::Mqtt)],
        ..Config::default()
    };
    config.listeners.extend(listeners);
    config.storage.in_memory = true;
    within("the broker to start", Server::start(config))
        .await
        .expect("broker starts")
}

/// The address of the `index`th listener (0 is the plain one [`broker`] adds).
pub(crate) fn addr(server: &Server, index: usize) -> SocketAddr {
    server.listeners()[index].addr
}

/// Connects over TLS to `addr` as `localhost`.
pub(crate) async fn tls_connect(
    addr: SocketAddr,
    config: rustls::ClientConfig,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    tls_connect_as(addr, config, "localhost").await
}

/// Connects over TLS to `addr`, asking for `server_name`.
pub(crate) async fn tls_connect_as(
    addr: SocketAddr,
    config: rustls::ClientConfig,
    server_name: &str,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from(server_name.to_owned()).unwrap();
    within("a TLS handshake", connector.connect(name, tcp)).await
}

/// An MQTT 3.1.1 CONNECT with a clean session and a 60 s keep alive.
pub(crate) fn connect_packet(client_id: &str) -> Vec<u8> {
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60];
    body.extend((client_id.len() as u16).to_be_bytes());
    body.extend(client_id.as_bytes());
    let mut packet = vec![0x10, body.len() as u8];
    packet.extend(body);
    packet
}

/// SUBSCRIBE (packet id 1) to `topic` at QoS 0.
pub(crate) fn subscribe_packet(topic: &str) -> Vec<u8> {
    let mut body = vec![0, 1];
    body.extend((topic.len() as u16).to_be_bytes());
    body.extend(topic.as_bytes());
    body.push(0);
    let mut packet = vec![0x82, body.len() as u8];
    packet.extend(body);
    packet
}

/// PUBLISH at QoS 0.
pub(crate) fn publish_packet(topic: &str, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend((topic.len() as u16).to_be_bytes());
    body.extend(topic.as_bytes());
    body.extend(payload);
    let mut packet = vec![0x30, body.len() as u8];
    packet.extend(body);
    packet
}

pub(crate) const CONNACK_OK: [u8; 4] = [0x20, 0x02, 0x00, 0x00];
pub(crate) const SUBACK_QOS0: [u8; 5] = [0x90, 0x03, 0x00, 0x01, 0x00];
pub(crate) const PINGREQ: [u8; 2] = [0xc0, 0x00];
pub(crate) const PINGRESP: [u8; 2] = [0xd0, 0x00];

/// Reads exactly `expected.len()` bytes and checks them.
pub(crate) async fn expect_bytes<S: AsyncRead + Unpin>(io: &mut S, expected: &[u8]) {
    let mut got = vec![0; expected.len()];
    within("bytes from the broker", io.read_exact(&mut got))
        .await
        .expect("the broker answers");
    assert_eq!(got, expected);
}

/// CONNECT, CONNACK, PINGREQ, PINGRESP over `io`.
pub(crate) async fn mqtt_works<S: AsyncRead + AsyncWrite + Unpin>(io: &mut S, client_id: &str) {
    io.write_all(&connect_packet(client_id)).await.unwrap();
    io.flush().await.unwrap();
    expect_bytes(io, &CONNACK_OK).await;
    io.write_all(&PINGREQ).await.unwrap();
    io.flush().await.unwrap();
    expect_bytes(io, &PINGRESP).await;
}

/// Waits until the broker closes `io` (end of stream or an error), discarding what it
/// sends first.
pub(crate) async fn assert_closed<S: AsyncRead + Unpin>(io: &mut S) {
    let mut sink = [0u8; 1024];
    within("the broker to close the connection", async {
        loop {
            match io.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
}

/// Asserts that a new plain client still connects and gets answers: the broker is
/// unaffected by whatever a test just did to it.
pub(crate) async fn others_unaffected(server: &Server) {
    let mut tcp = TcpStream::connect(server.listeners()[0].addr)
        .await
        .unwrap();
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let id = format!("bystander-{}", NEXT.fetch_add(1, Ordering::Relaxed));
    mqtt_works(&mut tcp, &id).await;
}

/// Whether third-party peers must be present (`GRIDMQ_REQUIRE_PEERS=1`, set by
/// `.ci/run`).
fn peers_required() -> bool {
    std::env::var("GRIDMQ_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

fn available(peer: &str, present: bool) -> bool {
    if !present {
        assert!(
            !peers_required(),
            "{peer} is missing and GRIDMQ_REQUIRE_PEERS=1 (run .ci/run to install it)"
        );
        eprintln!("notice: {peer} is not installed; skipping this test (.ci/run installs it)");
    }
    present
}

/// Whether python3 with paho-mqtt is there; prints a notice (or fails, see
/// [`peers_required`]) when not.
pub(crate) fn python_available() -> bool {
    let present = Command::new("python3")
        .args(["-c", "import paho.mqtt.client"])
        .output()
        .is_ok_and(|o| o.status.success());
    available("python3 with paho-mqtt", present)
}

/// Whether mosquitto_pub and mosquitto_sub are there.
pub(crate) fn mosquitto_available() -> bool {
    let on_path = |program: &str| Command::new(program).arg("--help").output().is_ok();
    available(
        "mosquitto_pub / mosquitto_sub",
        on_path("mosquitto_pub") && on_path("mosquitto_sub"),
    )
}

/// A script in tests/python.
pub(crate) fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/python")
        .join(name)
}

/// Runs `program` with `args`, bounded by [`WAIT`]; returns its exit code and output.
pub(crate) async fn run(program: &str, args: &[&str]) -> (Option<i32>, String) {
    let mut command = tokio::process::Command::new(program);
    command.args(args).kill_on_drop(true);
    let output = within(&format!("{program} to finish"), command.output())
        .await
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

/// Runs a tests/python script that must succeed.
pub(crate) async fn python(name: &str, args: &[&str]) -> String {
    let path = script(name);
    let mut all = vec![path.to_str().unwrap()];
    all.extend(args);
    let (code, output) = run("python3", &all).await;
    assert_eq!(code, Some(0), "{name} {args:?} failed:\n{output}");
    output
}
