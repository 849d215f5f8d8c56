//! The `gridmq` command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use gridmq_server::Server;
use gridmq_server::config::{Config, DEFAULT_CONFIG, ListenerConfig, ListenerKind, LogFormat};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
    load(Some(path))?;
    println!("{}: ok", path.display());
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
