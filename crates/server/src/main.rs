//! The `gridmq` command line.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use gridmq_server::Server;
use gridmq_server::apply::{ApiTarget, apply};
use gridmq_server::cert::{self, Authority, KeyType, Subject};
use gridmq_server::config::{
    AdminToken, CertificateConfig, ClientAuth, Config, DEFAULT_CONFIG, ListenerConfig,
    ListenerKind, LogFormat, TlsConfig,
};
use gridmq_server::tls_reload::TlsReloader;

/// The environment variable holding the management API's admin token.
const ADMIN_TOKEN_ENV: &str = "GRIDMQ_ADMIN_TOKEN";

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
    /// Make development certificates: a local CA, server and client certificates.
    #[command(subcommand)]
    Cert(CertCommand),
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
    /// Listen for MQTT over TCP on ADDR (repeatable); replaces the configured `mqtt`
    /// listeners.
    #[arg(long, value_name = "ADDR")]
    mqtt: Vec<SocketAddr>,
    /// Listen for MQTT over TLS on ADDR (repeatable; needs --tls-cert and --tls-key);
    /// replaces the configured `mqtts` listeners.
    #[arg(long, value_name = "ADDR")]
    mqtts: Vec<SocketAddr>,
    /// Listen for MQTT over WebSocket on ADDR, path /mqtt (repeatable); replaces the
    /// configured `ws` listeners.
    #[arg(long, value_name = "ADDR")]
    ws: Vec<SocketAddr>,
    /// Listen for MQTT over secure WebSocket on ADDR, path /mqtt (repeatable; needs
    /// --tls-cert and --tls-key); replaces the configured `wss` listeners.
    #[arg(long, value_name = "ADDR")]
    wss: Vec<SocketAddr>,
    /// Server certificate chain (PEM) for --mqtts and --wss.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// CA bundle (PEM, repeatable) that client certificates must chain to on --mqtts and
    /// --wss; turns on mutual TLS (see --client-auth).
    #[arg(long, value_name = "FILE")]
    client_ca: Vec<PathBuf>,
    /// Client certificate policy for --mqtts and --wss: none, optional, required, any.
    /// Default: required with --client-ca, none without.
    #[arg(long, value_enum)]
    client_auth: Option<ClientAuthArg>,
    /// Keep durable state in DIR (created on first start); default `gridmq-data` beside
    /// the configuration file, or in the working directory without one.
    #[arg(
        long,
        value_name = "DIR",
        env = "GRIDMQ_DATA_DIR",
        conflicts_with = "in_memory"
    )]
    data_dir: Option<PathBuf>,
    /// Keep all state in memory: nothing survives a restart.
    #[arg(long)]
    in_memory: bool,
    /// Start on a store with corrupt records by skipping and dropping them.
    #[arg(long)]
    salvage: bool,
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
    /// Serve the management API, HTTP Publish, the retained-message API and /healthz over
    /// HTTP on ADDR (sets `http.bind`).
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

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ClientAuthArg {
    None,
    Optional,
    Required,
    Any,
}

#[derive(Debug, Subcommand)]
enum CertCommand {
    /// Create a local CA: DIR/NAME.pem and DIR/NAME.key.
    Ca {
        #[command(flatten)]
        out: CertOut,
        /// Subject common name.
        #[arg(long, default_value = "gridmq development CA")]
        cn: String,
        /// Days of validity.
        #[arg(long, default_value_t = 3650)]
        days: u32,
    },
    /// Create a server certificate signed by the CA.
    Server {
        #[command(flatten)]
        out: CertOut,
        #[command(flatten)]
        ca: CaArgs,
        /// Subject alternative name (repeatable): DNS name or IP address the clients
        /// connect to.
        #[arg(long = "san", value_name = "NAME", required = true)]
        sans: Vec<String>,
        /// Subject common name (default: the first SAN).
        #[arg(long)]
        cn: Option<String>,
        /// Days of validity.
        #[arg(long, default_value_t = 365)]
        days: u32,
    },
    /// Create a client certificate, signed by the CA or self-signed.
    Client {
        #[command(flatten)]
        out: CertOut,
        #[command(flatten)]
        ca: CaArgs,
        /// Subject common name, e.g. the client's authentication name.
        #[arg(long)]
        cn: String,
        /// Subject alternative name (repeatable): DNS, IP, URI (with ://) or email
        /// (with @).
        #[arg(long = "san", value_name = "NAME")]
        sans: Vec<String>,
        /// Self-signed, for authentication by thumbprint, instead of CA-signed.
        #[arg(long)]
        self_signed: bool,
        /// Days of validity.
        #[arg(long, default_value_t = 365)]
        days: u32,
    },
    /// Print a certificate's subject and SHA-256 / SHA-1 thumbprints.
    Fingerprint {
        /// PEM certificate file (the first certificate is read).
        file: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
struct CertOut {
    /// Directory to write into.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// File name stem: writes NAME.pem and NAME.key (default: ca, server, or the CN).
    #[arg(long)]
    name: Option<String>,
    /// Key algorithm.
    #[arg(long, value_enum, default_value = "ecdsa-p256")]
    key_type: KeyType,
    /// Overwrite existing files.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, clap::Args)]
struct CaArgs {
    /// CA certificate (default: DIR/ca.pem).
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// CA private key (default: DIR/ca.key).
    #[arg(long, value_name = "FILE")]
    ca_key: Option<PathBuf>,
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
        Command::Cert(command) => cert_command(command),
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

/// Checks a file, including that its TLS certificates, keys and CA bundles load.
fn check(path: &PathBuf) -> anyhow::Result<()> {
    let config = load(Some(path))?;
    gridmq_server::namespace::check_declared(&config.namespace)
        .map_err(|problems| anyhow::anyhow!("{}", problems.join("\n")))
        .with_context(|| format!("in {}", path.display()))?;
    let mut errors = Vec::new();
    for (index, listener) in config.listeners.iter().enumerate() {
        if let Some(tls) = listener.tls.clone() {
            if let Err(error) = gridmq_transport::tls::TlsAcceptor::new(tls) {
                errors.push(format!("  - listeners[{index}].tls: {error}"));
            }
        }
    }
    if !errors.is_empty() {
        anyhow::bail!(
            "in {}: invalid TLS files:\n{}",
            path.display(),
            errors.join("\n")
        );
    }
    println!("{}: ok", path.display());
    Ok(())
}

/// Applies the listener flags: each kind given on the command line replaces the
/// configured listeners of that kind.
fn apply_listener_flags(config: &mut Config, args: &ServeArgs) -> anyhow::Result<()> {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsConfig {
            certificates: vec![CertificateConfig {
                cert: cert.clone(),
                key: key.clone(),
                server_names: Vec::new(),
            }],
            client_auth: match args.client_auth {
                Some(ClientAuthArg::None) => ClientAuth::None,
                Some(ClientAuthArg::Optional) => ClientAuth::Optional,
                Some(ClientAuthArg::Required) => ClientAuth::Required,
                Some(ClientAuthArg::Any) => ClientAuth::Any,
                None if args.client_ca.is_empty() => ClientAuth::None,
                None => ClientAuth::Required,
            },
            client_ca: args.client_ca.clone(),
            ..TlsConfig::default()
        }),
        _ => None,
    };
    let wants_tls = !args.mqtts.is_empty() || !args.wss.is_empty();
    if wants_tls && tls.is_none() {
        anyhow::bail!("--mqtts and --wss need --tls-cert and --tls-key");
    }
    if !wants_tls && (tls.is_some() || !args.client_ca.is_empty() || args.client_auth.is_some()) {
        anyhow::bail!(
            "--tls-cert, --tls-key, --client-ca and --client-auth apply to --mqtts and --wss \
             listeners; give at least one of those (or configure [listeners.tls] in the file)"
        );
    }
    let flags = [
        (ListenerKind::Mqtt, &args.mqtt),
        (ListenerKind::Mqtts, &args.mqtts),
        (ListenerKind::Ws, &args.ws),
        (ListenerKind::Wss, &args.wss),
    ];
    for (kind, binds) in flags {
        if binds.is_empty() {
            continue;
        }
        config.listeners.retain(|l| l.kind != kind);
        for bind in binds {
            let mut listener = ListenerConfig::new(kind, *bind);
            if kind.is_tls() {
                listener.tls = tls.clone();
            }
            config.listeners.push(listener);
        }
    }
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

/// Applies `--data-dir`, `--in-memory` and `--salvage`, and resolves a relative data
/// directory from the configuration file's directory.
fn apply_storage_flags(config: &mut Config, args: &ServeArgs) {
    if let Some(dir) = &args.data_dir {
        config.storage.data_dir = dir.clone();
    } else if config.storage.data_dir.is_relative() {
        if let Some(base) = args.config.as_ref().and_then(|file| file.parent()) {
            config.storage.data_dir = base.join(&config.storage.data_dir);
        }
    }
    if args.in_memory {
        config.storage.in_memory = true;
    }
    if args.salvage {
        config.storage.salvage = true;
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = load(args.config.as_ref())?;
    apply_listener_flags(&mut config, &args)?;
    apply_storage_flags(&mut config, &args);
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
        let hangup = hangup_signal();
        let server = Server::start(config).await?;
        reload_on_hangup(hangup, server.tls_reloader());
        let report = server.run_until(signal).await;
        if report.clean {
            Ok(())
        } else {
            anyhow::bail!("shutdown timed out")
        }
    })
}

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = ();

/// Registers for SIGHUP (before listening, so an early one does not kill the process).
fn hangup_signal() -> Hangup {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let hangup = signal(SignalKind::hangup()).ok();
        if hangup.is_none() {
            tracing::warn!("cannot listen for SIGHUP; TLS reloads only when files change");
        }
        hangup
    }
}

/// Reloads TLS certificates on every SIGHUP.
fn reload_on_hangup(hangup: Hangup, reloader: TlsReloader) {
    #[cfg(unix)]
    if let Some(mut hangup) = hangup {
        tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading TLS certificates");
                reloader.reload_all().await;
            }
        });
    }
    #[cfg(not(unix))]
    let _ = (hangup, reloader);
}

fn cert_command(command: CertCommand) -> anyhow::Result<()> {
    let ca_paths = |out: &CertOut, ca: &CaArgs| {
        (
            ca.ca.clone().unwrap_or_else(|| out.dir.join("ca.pem")),
            ca.ca_key.clone().unwrap_or_else(|| out.dir.join("ca.key")),
        )
    };
    let (out, name, issued) = match command {
        CertCommand::Fingerprint { file } => return fingerprint(&file),
        CertCommand::Ca { out, cn, days } => {
            let mut subject = Subject::new(cn, days);
            subject.key_type = out.key_type;
            let issued = cert::create_ca(&subject)?;
            (out, "ca".to_owned(), issued)
        }
        CertCommand::Server {
            out,
            ca,
            sans,
            cn,
            days,
        } => {
            let (ca_cert, ca_key) = ca_paths(&out, &ca);
            let authority = Authority::load(&ca_cert, &ca_key)?;
            let mut subject = Subject::new(cn.unwrap_or_else(|| sans[0].clone()), days).sans(sans);
            subject.key_type = out.key_type;
            (
                out,
                "server".to_owned(),
                cert::create_server(&subject, &authority)?,
            )
        }
        CertCommand::Client {
            out,
            ca,
            cn,
            sans,
            self_signed,
            days,
        } => {
            let authority = if self_signed {
                None
            } else {
                let (ca_cert, ca_key) = ca_paths(&out, &ca);
                Some(Authority::load(&ca_cert, &ca_key)?)
            };
            let mut subject = Subject::new(cn.clone(), days).sans(sans);
            subject.key_type = out.key_type;
            (out, cn, cert::create_client(&subject, authority.as_ref())?)
        }
    };
    let name = out.name.clone().unwrap_or(name);
    let (cert_path, key_path) = (
        out.dir.join(format!("{name}.pem")),
        out.dir.join(format!("{name}.key")),
    );
    cert::write(&issued, &cert_path, &key_path, out.force)
        .context("not written (--force overwrites)")?;
    let (sha256, sha1) = issued.thumbprints();
    println!("certificate: {}", cert_path.display());
    println!("private key: {} (mode 0600)", key_path.display());
    println!("sha256 thumbprint: {sha256}");
    println!("sha1 thumbprint:   {sha1}");
    Ok(())
}

fn fingerprint(file: &std::path::Path) -> anyhow::Result<()> {
    let certs = gridmq_transport::tls::load_certificates(file)?;
    let parsed = gridmq_transport::ClientCertificate::from_der(&certs[0])?;
    println!("subject: {}", parsed.subject);
    println!("sha256 thumbprint: {}", parsed.sha256_thumbprint);
    println!("sha1 thumbprint:   {}", parsed.sha1_thumbprint);
    Ok(())
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
