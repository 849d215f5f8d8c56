//! End-to-end runs of gridmq-bench against a real Mosquitto on a free loopback port.
//!
//! Skipped, with a notice, when `mosquitto` is not installed. Asserts on correctness
//! (nothing lost at QoS 1/2), never on timings.

// Test helpers fail the test by panicking.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A Mosquitto process that is killed when dropped.
struct Mosquitto {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn mosquitto_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|dir| dir.join("mosquitto"))
        .find(|candidate| candidate.is_file())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Starts Mosquitto with queue limits raised, or `None` (with a notice) if it is absent.
fn start_mosquitto(test: &str) -> Option<Mosquitto> {
    start_mosquitto_with(test, |_| String::new())
}

/// Starts Mosquitto with extra listener settings written by `extra` into its directory.
fn start_mosquitto_with(test: &str, extra: impl FnOnce(&Path) -> String) -> Option<Mosquitto> {
    let Some(binary) = mosquitto_binary() else {
        eprintln!("notice: mosquitto is not installed; skipping {test}");
        return None;
    };
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("gridmq-bench-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("mosquitto.conf");
    let extra = extra(&dir);
    std::fs::write(
        &config,
        format!(
            "listener {port} 127.0.0.1\n{extra}allow_anonymous true\npersistence false\n\
             max_queued_messages 0\nmax_inflight_messages 0\nlog_type error\n"
        ),
    )
    .expect("config");
    let child = Command::new(binary)
        .arg("-c")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting mosquitto");
    let broker = Mosquitto { child, port, dir };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "mosquitto did not start listening"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(broker)
}

/// Runs gridmq-bench with `args` against the broker and returns its JSON summary.
fn bench(broker: &Mosquitto, args: &[&str]) -> Value {
    let port = broker.port.to_string();
    let pid = broker.child.id().to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_gridmq-bench"))
        .args(args)
        .args(["--port", &port, "--broker-pid", &pid, "--json"])
        .args(["--duration", "2s", "--warmup", "500ms", "--drain", "10s"])
        .stderr(Stdio::inherit())
        .output()
        .expect("running gridmq-bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("not one line of JSON ({e}): {stdout}"));
    eprintln!("{summary}");
    summary
}

fn assert_nothing_lost(summary: &Value) {
    assert_eq!(summary["errors"], Value::Array(vec![]), "{summary}");
    assert!(summary["sent"].as_u64().unwrap() > 0, "{summary}");
    assert_eq!(summary["lost"], 0, "{summary}");
    assert_eq!(summary["unacked"], 0, "{summary}");
    assert_eq!(summary["received"], summary["expected"], "{summary}");
    assert_eq!(summary["ok"], true, "{summary}");
    assert!(summary["broker_cpu_s"].is_number(), "{summary}");
}

#[test]
fn fan_in_qos1_v311_loses_nothing() {
    let Some(broker) = start_mosquitto("fan_in_qos1_v311") else {
        return;
    };
    let summary = bench(
        &broker,
        &[
            "fan-in",
            "--publishers",
            "4",
            "--subscribers",
            "2",
            "--qos",
            "1",
        ],
    );
    assert_nothing_lost(&summary);
    assert_eq!(summary["expected"], summary["sent"].as_u64().unwrap() * 2);
}

#[test]
fn pairs_qos1_v311_loses_nothing() {
    let Some(broker) = start_mosquitto("pairs_qos1_v311") else {
        return;
    };
    let summary = bench(&broker, &["pairs", "--pairs", "10", "--qos", "1"]);
    assert_nothing_lost(&summary);
    assert_eq!(summary["expected"], summary["sent"]);
}

/// Paced publishers take turns on a sub-millisecond timer; together they still send the
/// requested rate over the measured window (a count, not a timing: the token bucket
/// catches up after any stall).
#[test]
fn paced_publishers_send_the_requested_rate() {
    let Some(broker) = start_mosquitto("paced_publishers") else {
        return;
    };
    let summary = bench(
        &broker,
        &[
            "fan-in",
            "--publishers",
            "5",
            "--subscribers",
            "1",
            "--qos",
            "1",
            "--rate",
            "5000",
        ],
    );
    assert_nothing_lost(&summary);
    let sent = summary["sent"].as_u64().unwrap();
    assert!(
        (9_000..=10_100).contains(&sent),
        "5,000/s for 2 s: {summary}"
    );
}

#[test]
fn fan_out_qos2_v5_loses_nothing() {
    let Some(broker) = start_mosquitto("fan_out_qos2_v5") else {
        return;
    };
    let summary = bench(
        &broker,
        &[
            "fan-out",
            "--subscribers",
            "5",
            "--qos",
            "2",
            "--mqtt",
            "5",
            "--rate",
            "2000",
        ],
    );
    assert_nothing_lost(&summary);
    assert_eq!(summary["duplicates"], 0, "{summary}");
}

#[test]
fn shared_qos1_v5_delivers_each_message_once() {
    let Some(broker) = start_mosquitto("shared_qos1_v5") else {
        return;
    };
    let summary = bench(
        &broker,
        &[
            "shared",
            "--publishers",
            "2",
            "--subscribers",
            "3",
            "--qos",
            "1",
            "--mqtt",
            "5",
        ],
    );
    assert_nothing_lost(&summary);
    assert_eq!(summary["expected"], summary["sent"]);
    assert_eq!(summary["duplicates"], 0, "{summary}");
}

/// Writes a CA, a `localhost` server certificate and a client certificate signed by it;
/// returns the listener lines, requiring client certificates when `mutual`.
fn tls_files(dir: &Path, mutual: bool) -> String {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    // Distinct subject names: OpenSSL takes a certificate whose subject equals its
    // issuer's for self-signed.
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "gridmq-bench test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    for (name, san) in [("server", "localhost"), ("client", "gridmq-bench")] {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![san.to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.signed_by(&key, &ca).unwrap();
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
    }
    format!(
        "cafile {0}/ca.pem\ncertfile {0}/server.pem\nkeyfile {0}/server.key\n\
         require_certificate {mutual}\n",
        dir.display()
    )
}

fn tls_listener(dir: &Path) -> String {
    tls_files(dir, false)
}

fn mutual_tls_listener(dir: &Path) -> String {
    tls_files(dir, true)
}

fn path_arg(broker: &Mosquitto, file: &str) -> String {
    broker.dir.join(file).to_str().unwrap().to_owned()
}

#[test]
fn fan_in_qos1_v311_over_tls_verifies_and_loses_nothing() {
    let Some(broker) = start_mosquitto_with("fan_in_qos1_tls", tls_listener) else {
        return;
    };
    let ca = broker.dir.join("ca.pem");
    let ca = ca.to_str().unwrap();
    let summary = bench(
        &broker,
        &[
            "fan-in",
            "--publishers",
            "2",
            "--qos",
            "1",
            "--tls",
            "--ca",
            ca,
        ],
    );
    assert_nothing_lost(&summary);
    assert_eq!(summary["tls"], true);
    let insecure = bench(
        &broker,
        &["pairs", "--pairs", "2", "--qos", "1", "--tls", "--insecure"],
    );
    assert_nothing_lost(&insecure);
}

#[test]
fn pairs_qos1_v5_over_mutual_tls_loses_nothing() {
    let Some(broker) = start_mosquitto_with("pairs_qos1_mtls", mutual_tls_listener) else {
        return;
    };
    let (ca, cert, key) = (
        path_arg(&broker, "ca.pem"),
        path_arg(&broker, "client.pem"),
        path_arg(&broker, "client.key"),
    );
    let summary = bench(
        &broker,
        &[
            "pairs", "--pairs", "2", "--qos", "1", "--mqtt", "5", "--tls", "--ca", &ca, "--cert",
            &cert, "--key", &key,
        ],
    );
    assert_nothing_lost(&summary);
}
