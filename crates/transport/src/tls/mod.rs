//! TLS for `mqtts` and `wss` listeners: rustls with TLS 1.2 and 1.3 only, SNI
//! certificates, client certificate policies, and reloading without dropping anyone.
//!
//! A [`TlsAcceptor`] holds the listener's current configurations behind an `ArcSwap`.
//! Each handshake takes a snapshot, so a reload (SIGHUP or a changed file) applies to
//! new connections while existing ones keep the session they negotiated.
//!
//! ALPN: a client offering `mqtt` gets it; a WebSocket client offering `http/1.1` gets
//! that; any other client handshakes without ALPN rather than being refused.

mod material;
mod settings;
mod sni;
mod verify;

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use rustls::server::Acceptor;
use rustls::{ProtocolVersion, ServerConnection};
use rustls_pki_types::{CertificateDer, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::LazyConfigAcceptor;
use tokio_rustls::server::TlsStream;

pub use material::{TlsLoadError, load_certificates, load_private_key, provider};
pub use settings::{CertificateConfig, ClientAuth, TlsConfig, UnknownServerName};

use crate::certificate::CertificateError;
use crate::peer::{ClientCertificate, TlsInfo};
use material::TlsState;

/// Why a TLS handshake failed, worded for the log.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The first bytes were not a TLS ClientHello.
    #[error("not a TLS handshake (plain MQTT sent to a TLS port?): {0}")]
    NotTls(String),
    /// The client offers only versions the listener refuses (TLS 1.0, 1.1).
    #[error("the client offers no TLS version accepted here (1.2, 1.3): {0}")]
    Version(String),
    /// The client asked for a server name no certificate covers, and the listener
    /// refuses those.
    #[error("no certificate for the requested server name {0:?}")]
    UnknownServerName(String),
    /// The client certificate was refused (expired, not yet valid, untrusted, ...).
    #[error("client certificate refused: {0}")]
    ClientCertificate(String),
    /// The client's leaf certificate could not be read after the handshake.
    #[error(transparent)]
    Certificate(#[from] CertificateError),
    /// Any other handshake failure.
    #[error("TLS handshake failed: {0}")]
    Failed(String),
}

impl HandshakeError {
    fn from_io(error: io::Error, unknown_name: Option<&str>) -> Self {
        let message = error.to_string();
        if let Some(name) = unknown_name {
            return Self::UnknownServerName(name.to_owned());
        }
        let Some(tls) = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        else {
            return Self::Failed(message);
        };
        use rustls::{Error, PeerIncompatible};
        match tls {
            Error::InvalidMessage(_) | Error::InappropriateMessage { .. }
                if message.contains("ContentType") || message.contains("Handshake") =>
            {
                Self::NotTls(message)
            }
            // TLS 1.0 and 1.1 clients send no signature_algorithms (TLS 1.2 added it).
            Error::PeerIncompatible(
                PeerIncompatible::SignatureAlgorithmsExtensionRequired
                | PeerIncompatible::SupportedVersionsExtensionRequired
                | PeerIncompatible::Tls12NotOffered
                | PeerIncompatible::Tls12NotOfferedOrEnabled
                | PeerIncompatible::Tls13RequiredForQuic,
            ) => Self::Version(message),
            Error::InvalidCertificate(_) | Error::NoCertificatesPresented => {
                Self::ClientCertificate(message)
            }
            _ => Self::Failed(message),
        }
    }
}

/// The files a TLS configuration reads, with their modification time and size.
type Fingerprint = Vec<(PathBuf, Option<(SystemTime, u64)>)>;

fn fingerprint(config: &TlsConfig) -> Fingerprint {
    let files = config
        .certificates
        .iter()
        .flat_map(|c| [&c.cert, &c.key])
        .chain(&config.client_ca);
    files
        .map(|path| {
            let meta = std::fs::metadata(path)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())));
            (path.clone(), meta)
        })
        .collect()
}

#[derive(Debug)]
struct Watch {
    /// The files as they were when last loaded successfully.
    loaded: Fingerprint,
    /// The files as they were when loading last failed, so a bad file is reported once.
    failed: Option<Fingerprint>,
}

/// The TLS side of one listener: current configuration, reload, handshakes.
#[derive(Debug)]
pub struct TlsAcceptor {
    config: TlsConfig,
    state: ArcSwap<TlsState>,
    watch: Mutex<Watch>,
}

impl TlsAcceptor {
    /// Loads the certificates, keys and CA bundles `config` names.
    pub fn new(config: TlsConfig) -> Result<Self, TlsLoadError> {
        let loaded = fingerprint(&config);
        let state = TlsState::load(&config)?;
        Ok(Self {
            config,
            state: ArcSwap::from_pointee(state),
            watch: Mutex::new(Watch {
                loaded,
                failed: None,
            }),
        })
    }

    /// The settings this acceptor was made from.
    pub fn config(&self) -> &TlsConfig {
        &self.config
    }

    /// How often files are checked for changes, if at all.
    pub fn watch_interval(&self) -> Option<Duration> {
        (!self.config.watch_interval.is_zero()).then_some(self.config.watch_interval)
    }

    /// Reloads every file now. On error the previous configuration stays in use.
    pub fn reload(&self) -> Result<(), TlsLoadError> {
        let seen = fingerprint(&self.config);
        let result = TlsState::load(&self.config);
        let mut watch = self.watch.lock();
        match result {
            Ok(state) => {
                self.state.store(Arc::new(state));
                *watch = Watch {
                    loaded: seen,
                    failed: None,
                };
                Ok(())
            }
            Err(error) => {
                watch.failed = Some(seen);
                Err(error)
            }
        }
    }

    /// Reloads if a file changed since the last load; `Ok(true)` when it did. A change
    /// that fails to load is reported once, then retried when the files change again.
    pub fn reload_if_changed(&self) -> Result<bool, TlsLoadError> {
        let seen = fingerprint(&self.config);
        {
            let watch = self.watch.lock();
            if watch.loaded == seen || watch.failed.as_ref() == Some(&seen) {
                return Ok(false);
            }
        }
        self.reload().map(|()| true)
    }

    /// Runs the server side of a TLS handshake on `io`. The caller bounds it in time.
    pub async fn accept<IO>(&self, io: IO) -> Result<(TlsStream<IO>, TlsInfo), HandshakeError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let state = self.state.load_full();
        let start = LazyConfigAcceptor::new(Acceptor::default(), io)
            .await
            .map_err(|e| HandshakeError::from_io(e, None))?;
        let hello = start.client_hello();
        let unknown = hello
            .server_name()
            .filter(|name| state.refuse_unknown && state.resolver.lookup(name).is_none())
            .map(str::to_owned);
        let offers = |protocol: &[u8]| hello.alpn().is_some_and(|mut it| it.any(|p| p == protocol));
        let config = if offers(b"mqtt") {
            state.mqtt.clone()
        } else if offers(b"http/1.1") {
            state.http11.clone()
        } else {
            state.no_alpn.clone()
        };
        let stream = start
            .into_stream(config)
            .await
            .map_err(|e| HandshakeError::from_io(e, unknown.as_deref()))?;
        let info = describe(stream.get_ref().1, &state)?;
        Ok((stream, info))
    }
}

/// What the handshake established, for [`crate::PeerInfo`].
fn describe(conn: &ServerConnection, state: &TlsState) -> Result<TlsInfo, HandshakeError> {
    let chain: Vec<Vec<u8>> = conn
        .peer_certificates()
        .map(|certs| certs.iter().map(|c| c.to_vec()).collect())
        .unwrap_or_default();
    let client_certificate = chain
        .first()
        .map(|leaf| ClientCertificate::from_der(leaf))
        .transpose()?;
    let chain_verified = match (state.client_auth, chain.split_first()) {
        (_, None) | (ClientAuth::None, _) => false,
        (ClientAuth::Optional | ClientAuth::Required, Some(_)) => true,
        (ClientAuth::Any, Some((leaf, rest))) => state.chain_check.as_ref().is_some_and(|v| {
            let intermediates: Vec<CertificateDer<'_>> =
                rest.iter().map(|c| CertificateDer::from(&c[..])).collect();
            v.verify_client_cert(
                &CertificateDer::from(&leaf[..]),
                &intermediates,
                UnixTime::now(),
            )
            .is_ok()
        }),
    };
    Ok(TlsInfo {
        server_name: conn.server_name().map(str::to_owned),
        alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
        client_chain: chain,
        chain_verified,
        client_certificate,
        protocol_version: conn.protocol_version().map(|v| match v {
            ProtocolVersion::TLSv1_3 => "TLSv1.3".to_owned(),
            ProtocolVersion::TLSv1_2 => "TLSv1.2".to_owned(),
            other => format!("{other:?}"),
        }),
        cipher_suite: conn
            .negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite())),
    })
}
