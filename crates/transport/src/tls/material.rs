//! Loading certificates, keys and CA bundles from PEM files and building the rustls
//! server configurations of a listener from them.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use rustls::crypto::CryptoProvider;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, version};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tracing::warn;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::settings::{ClientAuth, TlsConfig, UnknownServerName};
use super::sni::SniResolver;
use super::verify::AnyClientCert;

/// Why TLS material could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsLoadError {
    /// A file is missing, unreadable or holds no usable PEM block.
    #[error("{}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The settings cannot make a rustls configuration.
    #[error("{0}")]
    Config(String),
}

fn file_error(path: &Path, message: impl Into<String>) -> TlsLoadError {
    TlsLoadError::File {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// The crypto provider of the whole broker: aws-lc-rs, TLS 1.2 and 1.3 suites.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .clone()
}

/// Every certificate in a PEM file, in order.
pub fn load_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsLoadError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(path, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, e.to_string()))?;
    if certs.is_empty() {
        return Err(file_error(path, "no CERTIFICATE block in the file"));
    }
    Ok(certs)
}

/// The first private key in a PEM file: PKCS#8, PKCS#1 or SEC1.
pub fn load_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsLoadError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| {
        file_error(
            path,
            format!("{e} (expected a PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block)"),
        )
    })
}

/// A listener's server configurations, one per ALPN answer, and what the acceptor
/// needs to describe a handshake.
#[derive(Debug)]
pub(crate) struct TlsState {
    /// For clients that offer no protocol the listener speaks: ALPN is not used.
    pub(crate) no_alpn: Arc<ServerConfig>,
    /// For clients offering `mqtt`.
    pub(crate) mqtt: Arc<ServerConfig>,
    /// For WebSocket clients offering `http/1.1`.
    pub(crate) http11: Arc<ServerConfig>,
    pub(crate) resolver: Arc<SniResolver>,
    pub(crate) refuse_unknown: bool,
    pub(crate) client_auth: ClientAuth,
    /// Checks a chain against `client_ca` after a handshake in `any` mode.
    pub(crate) chain_check: Option<Arc<dyn ClientCertVerifier>>,
}

impl TlsState {
    /// Loads every file named in `config` and builds the configurations.
    pub(crate) fn load(config: &TlsConfig) -> Result<Self, TlsLoadError> {
        let provider = provider();
        let mut entries = Vec::with_capacity(config.certificates.len());
        for entry in &config.certificates {
            let chain = load_certificates(&entry.cert)?;
            let key = load_private_key(&entry.key)?;
            let names = if entry.server_names.is_empty() {
                leaf_dns_names(&entry.cert, &chain[0])?
            } else {
                entry.server_names.clone()
            };
            let certified = CertifiedKey::from_der(chain, key, &provider).map_err(|e| {
                file_error(
                    &entry.key,
                    format!("does not fit {}: {e}", entry.cert.display()),
                )
            })?;
            entries.push((Arc::new(certified), names));
        }
        if entries.is_empty() {
            return Err(TlsLoadError::Config(
                "at least one certificate is needed".into(),
            ));
        }
        let refuse_unknown = config.unknown_server_name == UnknownServerName::Refuse;
        let resolver = Arc::new(SniResolver::new(entries, refuse_unknown));
        let roots = load_roots(&config.client_ca)?;
        let (verifier, chain_check) = verifiers(config.client_auth, roots, &provider)?;
        let base = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&version::TLS13, &version::TLS12])
            .map_err(|e| TlsLoadError::Config(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(resolver.clone());
        let with_alpn = |protocol: &[u8]| {
            let mut config = base.clone();
            config.alpn_protocols = vec![protocol.to_vec()];
            Arc::new(config)
        };
        Ok(Self {
            mqtt: with_alpn(b"mqtt"),
            http11: with_alpn(b"http/1.1"),
            no_alpn: Arc::new(base),
            resolver,
            refuse_unknown,
            client_auth: config.client_auth,
            chain_check,
        })
    }
}

/// The DNS names of a certificate's leaf; warns when it is outside its validity.
fn leaf_dns_names(path: &Path, leaf: &CertificateDer<'_>) -> Result<Vec<String>, TlsLoadError> {
    let (_, cert) = X509Certificate::from_der(leaf).map_err(|e| file_error(path, e.to_string()))?;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let validity = cert.validity();
    if now > validity.not_after.timestamp() || now < validity.not_before.timestamp() {
        warn!(
            cert = %path.display(),
            not_before = %validity.not_before,
            not_after = %validity.not_after,
            "server certificate is outside its validity period; clients will refuse it"
        );
    }
    let san = cert
        .subject_alternative_name()
        .map_err(|e| file_error(path, e.to_string()))?;
    Ok(san
        .iter()
        .flat_map(|ext| ext.value.general_names.iter())
        .filter_map(|name| match name {
            x509_parser::extensions::GeneralName::DNSName(dns) => Some((*dns).to_owned()),
            _ => None,
        })
        .collect())
}

fn load_roots(paths: &[PathBuf]) -> Result<Option<Arc<RootCertStore>>, TlsLoadError> {
    if paths.is_empty() {
        return Ok(None);
    }
    let mut roots = RootCertStore::empty();
    for path in paths {
        for cert in load_certificates(path)? {
            roots
                .add(cert)
                .map_err(|e| file_error(path, format!("not a usable CA certificate: {e}")))?;
        }
    }
    Ok(Some(Arc::new(roots)))
}

type Verifiers = (
    Arc<dyn ClientCertVerifier>,
    Option<Arc<dyn ClientCertVerifier>>,
);

fn verifiers(
    mode: ClientAuth,
    roots: Option<Arc<RootCertStore>>,
    provider: &Arc<CryptoProvider>,
) -> Result<Verifiers, TlsLoadError> {
    let webpki = |roots: Arc<RootCertStore>, optional: bool| {
        let builder = WebPkiClientVerifier::builder_with_provider(roots, provider.clone());
        let builder = if optional {
            builder.allow_unauthenticated()
        } else {
            builder
        };
        builder
            .build()
            .map_err(|e| TlsLoadError::Config(format!("client CA bundles: {e}")))
    };
    let need_roots =
        || TlsLoadError::Config("client_auth needs at least one client_ca bundle".into());
    Ok(match mode {
        ClientAuth::None => (WebPkiClientVerifier::no_client_auth(), None),
        ClientAuth::Optional => (webpki(roots.ok_or_else(need_roots)?, true)?, None),
        ClientAuth::Required => (webpki(roots.ok_or_else(need_roots)?, false)?, None),
        ClientAuth::Any => {
            let hints = roots.as_ref().map(|r| r.subjects()).unwrap_or_default();
            let any = Arc::new(AnyClientCert {
                hints,
                algorithms: provider.signature_verification_algorithms,
            });
            let check = roots.map(|r| webpki(r, false)).transpose()?;
            (any, check)
        }
    })
}
