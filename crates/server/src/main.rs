//! The `gridmq` command line.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use gridmq_server::Server;
use gridmq_server::apply::{ApiTarget, apply};
use gridmq_server::config::{
    AdminToken, Config, DEFAULT_CONFIG, ListenerConfig, ListenerKind, LogFormat,
};

/// The environment variable holding the management API's admin token.
const ADMIN_TOKEN_ENV: &str = "GRIDMQ_ADMIN_TOKEN";

/// gridmq: an MQTT broker and event router.
#[derive(Debug, Parser)]
#[command(name = "gridmq", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the broker. With no options: MQTT on 127.0.0.1:1883, anonymous, in memory.
    Serve(ServeArgs),
    /// Work with configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Apply a resources file (JSON or TOML) to a running broker through its management
    /// API: every resource in it is created or replaced, all or nothing.
    Apply(ApplyArgs),
    /// Hash a client password for `passwordHashes`: reads the password from the first
    /// line of standard input and prints an argon2id PHC string.
    Passwd,
}

#[derive(Debug, clap::Args)]
struct ApplyArgs {
    /// The resources file: clients, caCertificates, clientGroups, topicSpaces,
    /// permissionBindings, topicSpacesConfiguration.
    file: PathBuf,
    /// The broker's HTTP listener.
    #[arg(long, env = "GRIDMQ_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Also delete the resources the file leaves out.
    #[arg(long)]
    prune: bool,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Configuration file (TOML); see `gridmq config print-default`.
    #[arg(long, short, env = "GRIDMQ_CONFIG")]
    config: Option<PathBuf>,
    /// Listen for MQTT over TCP on ADDR (repeatable); replaces the configured MQTT listeners.
    #[arg(long, value_name = "ADDR")]
    mqtt: Vec<SocketAddr>,
    /// Log filter, e.g. `info` or `debug` (overrides the configuration).
    #[arg(long, env = "GRIDMQ_LOG")]
    log_level: Option<String>,
    /// Log format (overrides the configuration).
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
    /// Namespace mode: clients must authenticate and need permission bindings to publish
    /// and subscribe (the same as `[namespace] enabled = true`).
    #[arg(long)]
    namespace: bool,
    /// Serve the management API and /healthz over HTTP on ADDR (sets `http.bind`).
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the default configuration, with comments.
    PrintDefault,
    /// Check a configuration file and report every error in it.
    Check {
        /// The file to check.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Config(ConfigCommand::PrintDefault) => {
            print!("{DEFAULT_CONFIG}");
            Ok(())
        }
        Command::Config(ConfigCommand::Check { file }) => check(&file),
        Command::Apply(args) => apply_file(args),
        Command::Passwd => passwd(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("gridmq: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn load(path: Option<&PathBuf>) -> anyhow::Result<Config> {
    let Some(path) = path else {
        return Ok(Config::default());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Config::parse(&text).with_context(|| format!("in {}", path.display()))
}

fn check(path: &PathBuf) -> anyhow::Result<()> {
    let config = load(Some(path))?;
    gridmq_server::namespace::check_declared(&config.namespace)
        .map_err(|problems| anyhow::anyhow!("{}", problems.join("\n")))
        .with_context(|| format!("in {}", path.display()))?;
    println!("{}: ok", path.display());
    Ok(())
}

fn apply_file(args: ApplyArgs) -> anyhow::Result<()> {
    let document = gridmq_server::namespace::read_document(&args.file)
        .map_err(|problems| anyhow::anyhow!("{}", problems.join("\n")))?;
    let target = ApiTarget {
        url: args.url,
        token: std::env::var(ADMIN_TOKEN_ENV)
            .ok()
            .filter(|t| !t.is_empty()),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = runtime.block_on(apply(&target, &document, args.prune))?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

fn passwd() -> anyhow::Result<()> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    anyhow::ensure!(!password.is_empty(), "the password is empty");
    let hash = gridmq_auth::hash_password(password.as_bytes())?;
    println!("{}", hash.as_str());
    Ok(())
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = load(args.config.as_ref())?;
    if !args.mqtt.is_empty() {
        config.listeners.retain(|l| l.kind != ListenerKind::Mqtt);
        for bind in &args.mqtt {
            config.listeners.push(ListenerConfig {
                kind: ListenerKind::Mqtt,
                bind: *bind,
                ..ListenerConfig::default()
            });
        }
    }
    if let Some(level) = args.log_level {
        config.log.level = level;
    }
    if let Some(format) = args.log_format {
        config.log.format = format;
    }
    if args.namespace {
        config.namespace.enabled = true;
    }
    if let Some(bind) = args.http {
        config.http.bind = Some(bind);
    }
    if let Some(token) = std::env::var(ADMIN_TOKEN_ENV)
        .ok()
        .filter(|t| !t.is_empty())
    {
        config.http.admin_token = Some(AdminToken(token));
    }
    config.validate()?;
    gridmq_server::telemetry::init_logging(&config.log.level, config.log.format)
        .map_err(anyhow::Error::msg)?;

    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(threads) = config.server.worker_threads {
        runtime.worker_threads(threads);
    }
    let runtime = runtime.build().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        // Register for the signals before listening: a SIGTERM that arrives as soon as
        // the `listening` line is out must shut down gracefully, not kill the process.
        let signal = shutdown_signal().context("cannot register for shutdown signals")?;
        let server = Server::start(config).await?;
        let report = server.run_until(signal).await;
        if report.clean {
            Ok(())
        } else {
            anyhow::bail!("shutdown timed out")
        }
    })
}

/// Registers for SIGINT and SIGTERM now and returns a future that completes on either.
#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

/// Returns a future that completes on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
