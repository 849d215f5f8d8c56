//! The real `gridmq` binary as a child process: started on an ephemeral loopback port
//! found in its log (in memory or on a data directory), killed when dropped.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{ExitStatus, Output, Stdio};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use super::within;

/// Log lines kept for a test to read; more are dropped (the log is bounded).
const LOG_LINES: usize = 4096;

/// A running `gridmq serve` process.
pub(crate) struct BrokerProcess {
    child: Child,
    addr: SocketAddr,
    log: mpsc::Receiver<String>,
    startup: Vec<String>,
}

impl BrokerProcess {
    /// Runs `gridmq serve --mqtt 127.0.0.1:0 --in-memory` plus `args` and waits until it
    /// listens.
    pub(crate) async fn start(args: &[&str]) -> Self {
        Self::spawn(&["--in-memory"], args).await
    }

    /// Runs `gridmq serve --mqtt 127.0.0.1:0 --data-dir DIR` plus `args` and waits until
    /// it listens: durable state in `data_dir`.
    pub(crate) async fn start_durable(data_dir: &Path, args: &[&str]) -> Self {
        let dir = data_dir.to_str().expect("a UTF-8 data directory");
        Self::spawn(&["--data-dir", dir], args).await
    }

    async fn spawn(storage: &[&str], args: &[&str]) -> Self {
        let mut child = serve_command(storage, args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the gridmq binary starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, mut log) = mpsc::channel(LOG_LINES);
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                // Echo for a failing test's output; keep what fits for assertions.
                eprintln!("[gridmq] {line}");
                let _ = tx.try_send(line);
            }
        });
        let mut startup = Vec::new();
        let addr = within("the `listening` log line", async {
            loop {
                let line = log.recv().await.expect("gridmq exited before it listened");
                if let Some(addr) = listening_addr(&line) {
                    return addr;
                }
                startup.push(line);
            }
        })
        .await;
        Self {
            child,
            addr,
            log,
            startup,
        }
    }

    /// The log lines written before the listener's `listening` line.
    pub(crate) fn startup_log(&self) -> &[String] {
        &self.startup
    }

    /// Kills the process with SIGKILL, as a crash would, and waits until it is gone.
    pub(crate) async fn kill(&mut self) -> ExitStatus {
        self.child.start_kill().expect("SIGKILL is sent");
        self.wait().await
    }

    /// The MQTT listener's address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The MQTT listener's port.
    pub(crate) fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Sends SIGTERM, as a service manager does to stop the broker.
    pub(crate) fn terminate(&self) {
        let pid = self.child.id().expect("gridmq is still running");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM {pid} failed");
    }

    /// Waits for the process to exit.
    pub(crate) async fn wait(&mut self) -> ExitStatus {
        within("gridmq to exit", self.child.wait())
            .await
            .expect("waiting for gridmq")
    }

    /// Waits for a log line containing `needle` and returns it.
    pub(crate) async fn log_line(&mut self, needle: &str) -> String {
        within(&format!("a log line containing {needle:?}"), async {
            loop {
                let line = self.log.recv().await.expect("gridmq's log ended");
                if line.contains(needle) {
                    return line;
                }
            }
        })
        .await
    }
}

/// `gridmq serve --mqtt 127.0.0.1:0 --log-level info` with `storage` and `args`, without
/// configuration from the environment.
fn serve_command(storage: &[&str], args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gridmq"));
    command
        .args(["serve", "--mqtt", "127.0.0.1:0", "--log-level", "info"])
        .args(storage)
        .args(args)
        .env_remove("GRIDMQ_CONFIG")
        .env_remove("GRIDMQ_LOG")
        .env_remove("GRIDMQ_DATA_DIR");
    command
}

/// Runs `gridmq serve` with `args` (storage flags included) for a start that must fail:
/// waits for it to exit and returns its status and output. A broker that starts instead
/// is killed when the wait times out, failing the test.
pub(crate) async fn serve_until_exit(args: &[&str]) -> Output {
    let child = serve_command(&[], args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the gridmq binary starts");
    within("gridmq to exit", child.wait_with_output())
        .await
        .expect("waiting for gridmq")
}

/// Parses `... listening listener=mqtt://127.0.0.1:PORT` from a text log line.
fn listening_addr(line: &str) -> Option<SocketAddr> {
    if !line.contains("listening") {
        return None;
    }
    let rest = &line[line.find("listener=mqtt://")? + "listener=mqtt://".len()..];
    rest.split_whitespace().next()?.parse().ok()
}
