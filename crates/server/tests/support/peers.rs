//! Third-party peers: paho-mqtt scripts in `tests/python/` and the mosquitto command
//! line clients.
//!
//! A missing peer skips the part of a test that needs it with a notice, unless
//! `GRIDMQ_REQUIRE_PEERS=1` (set by `.ci/run`), where it fails the test.

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::sync::OnceLock;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

use super::within;

/// Whether missing peers fail the tests rather than skip them.
fn peers_required() -> bool {
    std::env::var("GRIDMQ_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

/// Applies the skip/require rule: `true` if the peer is there; `false` after a notice
/// if it is not and peers are optional; a failure if they are required.
fn available(peer: &str, present: bool) -> bool {
    if present {
        return true;
    }
    assert!(
        !peers_required(),
        "{peer} is missing and GRIDMQ_REQUIRE_PEERS=1 (run .ci/run to install it)"
    );
    println!("notice: skipping the part of this test that needs {peer} (not installed)");
    false
}

/// Whether the curl command line client is installed (skip/require rule applied).
pub(crate) fn curl_available() -> bool {
    let present = std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    available("curl", present)
}

/// Whether python3 with paho-mqtt can run the scripts (skip/require rule applied).
pub(crate) fn python_available() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    let present = *PRESENT.get_or_init(|| {
        std::process::Command::new("python3")
            .args(["-c", "import paho.mqtt.client"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    available("python3 with paho-mqtt", present)
}

/// Whether mosquitto_pub and mosquitto_sub are installed (skip/require rule applied).
pub(crate) fn mosquitto_available() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    let present = *PRESENT.get_or_init(|| on_path("mosquitto_pub") && on_path("mosquitto_sub"));
    available("mosquitto_pub/mosquitto_sub", present)
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// The path of a script in the workspace's `tests/python/`.
fn script_path(script: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/python")
        .join(script)
}

/// Runs `python3 tests/python/<script> --port <port> <args>` and fails the test, with
/// its output, unless it exits 0. Returns `false` if python is missing (and optional).
pub(crate) async fn python(script: &str, port: u16, args: &[&str]) -> bool {
    if !python_available() {
        return false;
    }
    let output = within(
        &format!("python3 {script}"),
        Command::new("python3")
            .arg(script_path(script))
            .args(["--port", &port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("python3 runs");
    assert_success(&format!("{script} {args:?}"), &output);
    true
}

fn assert_success(what: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
}

/// Runs `mosquitto_pub -h 127.0.0.1 -p <port> <args>` to completion; it must exit 0.
pub(crate) async fn mosquitto_pub(port: u16, args: &[&str]) {
    let output = within(
        "mosquitto_pub",
        Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("mosquitto_pub runs");
    assert_success(&format!("mosquitto_pub {args:?}"), &output);
}

/// A running `mosquitto_sub`, subscribed.
pub(crate) struct MosquittoSub {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
}

/// What `mosquitto_sub` prints for each message (its `-F` format): a marker, then the
/// topic, QoS, retain flag and payload separated by `|`.
const FORMAT: &str = "MSG|%t|%q|%r|%p";

/// One message as printed by [`MosquittoSub`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SubMessage {
    pub(crate) topic: String,
    pub(crate) qos: u8,
    pub(crate) retain: bool,
    pub(crate) payload: String,
}

impl MosquittoSub {
    /// Starts `mosquitto_sub -h 127.0.0.1 -p <port> -F ... <args>`, to exit after `count`
    /// messages, and waits until it is subscribed.
    ///
    /// mosquitto_sub says nothing when its subscription is acknowledged (its debug output
    /// is block-buffered on a pipe), so it also subscribes to a topic holding a retained
    /// "ready" message; once that message is printed, the subscriptions are in place.
    /// The process exits by itself after `-W 20` seconds at most.
    pub(crate) async fn start(port: u16, args: &[&str], count: usize) -> Self {
        let ready = super::unique("mosquitto-sub-ready");
        mosquitto_pub(port, &["-q", "1", "-r", "-t", &ready, "-m", "ready"]).await;
        let mut child = Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(["-W", "20", "-F", FORMAT, "-t", &ready])
            .args(["-C", &(count + 1).to_string()])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("mosquitto_sub starts");
        let stdout = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
        let mut sub = Self { child, stdout };
        sub.line_containing(&format!("MSG|{ready}|")).await;
        sub
    }

    async fn line_containing(&mut self, needle: &str) -> String {
        let stdout = &mut self.stdout;
        within(&format!("mosquitto_sub to print {needle:?}"), async {
            loop {
                match stdout.next_line().await.expect("reading mosquitto_sub") {
                    Some(line) if line.contains(needle) => return line,
                    Some(_) => {}
                    None => panic!("mosquitto_sub exited before printing {needle:?}"),
                }
            }
        })
        .await
    }

    /// The next message printed.
    pub(crate) async fn next_message(&mut self) -> SubMessage {
        let line = self.line_containing("MSG|").await;
        let mut fields = line["MSG|".len()..].splitn(4, '|');
        let mut field = || fields.next().unwrap_or_default().to_owned();
        SubMessage {
            topic: field(),
            qos: field().parse().expect("a QoS"),
            retain: field() == "1",
            payload: field(),
        }
    }

    /// Waits for the process to exit (after its `count` messages) and checks it succeeded.
    pub(crate) async fn finish(mut self) {
        let status = within("mosquitto_sub to exit", self.child.wait())
            .await
            .expect("waiting for mosquitto_sub");
        assert!(status.success(), "mosquitto_sub failed: {status}");
    }
}
