//! Connections to the broker: loopback-only TCP, optionally bound to a chosen loopback
//! source address, optionally wrapped in TLS (rustls with the ring provider).

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpSocket;
use tokio_rustls::TlsConnector;

/// A byte stream to the broker, plain or TLS.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A boxed [`Stream`].
pub type BoxStream = Box<dyn Stream>;

/// TLS settings from the command line.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// PEM file of CA certificates to trust; without it, verification needs `insecure`.
    pub ca: Option<PathBuf>,
    /// PEM client certificate chain, for mutual TLS.
    pub cert: Option<PathBuf>,
    /// PEM private key of the client certificate.
    pub key: Option<PathBuf>,
    /// Accept any server certificate (self-signed development certificates).
    pub insecure: bool,
    /// Name to verify the server certificate against.
    pub server_name: String,
}

/// Opens connections to one broker address.
#[derive(Clone)]
pub struct Connector {
    addr: SocketAddr,
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl Connector {
    /// A connector for `host:port`, which must resolve to a loopback address.
    pub async fn new(host: &str, port: u16, tls: Option<&TlsOptions>) -> anyhow::Result<Self> {
        let addr = resolve_loopback(host, port).await?;
        let tls = match tls {
            Some(options) => Some(tls_connector(options)?),
            None => None,
        };
        Ok(Self { addr, tls })
    }

    /// The broker's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connects, binding the local end to `source` first when given.
    pub async fn connect(&self, source: Option<IpAddr>) -> io::Result<BoxStream> {
        let socket = match self.addr {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        if let Some(ip) = source {
            socket.bind(SocketAddr::new(ip, 0))?;
        }
        let tcp = socket.connect(self.addr).await?;
        tcp.set_nodelay(true)?;
        match &self.tls {
            None => Ok(Box::new(tcp)),
            Some((connector, name)) => {
                let tls = connector.connect(name.clone(), tcp).await?;
                Ok(Box::new(tls))
            }
        }
    }
}

/// Resolves `host` and refuses anything that is not loopback: this tool never loads
/// another machine.
pub async fn resolve_loopback(host: &str, port: u16) -> anyhow::Result<SocketAddr> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .with_context(|| format!("resolving {host}"))?
        .collect();
    if let Some(bad) = addrs.iter().find(|a| !a.ip().is_loopback()) {
        bail!("{host} resolves to {bad}, which is not loopback; only loopback targets are allowed");
    }
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .with_context(|| format!("{host} resolves to no address"))
}

/// `count` loopback source addresses to spread client sockets over: 127.0.0.1,
/// 127.0.0.2, ... Every 127/8 address is loopback on Linux, and each gives another set
/// of ephemeral ports toward the one server port. IPv6 has only ::1.
pub fn source_addresses(target: SocketAddr, count: u8) -> anyhow::Result<Vec<IpAddr>> {
    match target {
        SocketAddr::V4(_) => Ok((1..=count.max(1))
            .map(|n| IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)))
            .collect()),
        SocketAddr::V6(_) if count <= 1 => Ok(vec![target.ip()]),
        SocketAddr::V6(_) => bail!("several source addresses need an IPv4 loopback target"),
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn tls_connector(options: &TlsOptions) -> anyhow::Result<(TlsConnector, ServerName<'static>)> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = if options.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert {
                algorithms: provider().signature_verification_algorithms,
            }))
    } else {
        let Some(ca) = &options.ca else {
            bail!("--tls needs --ca FILE, or --insecure for a self-signed development certificate");
        };
        let mut roots = RootCertStore::empty();
        for cert in load_certs(ca)? {
            roots.add(cert).context("adding a CA certificate")?;
        }
        builder.with_root_certificates(roots)
    };
    let config = match (&options.cert, &options.key) {
        (Some(cert), Some(key)) => {
            let key = PrivateKeyDer::from_pem_file(key)
                .with_context(|| format!("reading private key {}", key.display()))?;
            builder
                .with_client_auth_cert(load_certs(cert)?, key)
                .context("client certificate")?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => bail!("--cert and --key go together"),
    };
    let name = ServerName::try_from(options.server_name.clone())
        .with_context(|| format!("server name {:?}", options.server_name))?;
    Ok((TlsConnector::from(Arc::new(config)), name))
}

fn load_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading certificates from {}", path.display()))?;
    if certs.is_empty() {
        bail!("no certificate in {}", path.display());
    }
    Ok(certs)
}

/// Accepts any server certificate but still checks handshake signatures, for
/// `--insecure` against self-signed development certificates.
#[derive(Debug)]
struct AcceptAnyServerCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_loopback_targets_are_accepted() {
        assert!(resolve_loopback("127.0.0.1", 1883).await.is_ok());
        assert!(resolve_loopback("127.0.0.9", 1883).await.is_ok());
        assert!(resolve_loopback("::1", 1883).await.is_ok());
        assert!(resolve_loopback("10.0.0.1", 1883).await.is_err());
        assert!(resolve_loopback("192.168.1.1", 1883).await.is_err());
    }

    #[test]
    fn source_addresses_walk_127_0_0_n() {
        let target: SocketAddr = "127.0.0.1:1883".parse().unwrap();
        let ips = source_addresses(target, 3).unwrap();
        assert_eq!(
            ips,
            ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
                .map(|s| s.parse::<IpAddr>().unwrap())
                .to_vec()
        );
        let v6: SocketAddr = "[::1]:1883".parse().unwrap();
        assert!(source_addresses(v6, 2).is_err());
    }
}
