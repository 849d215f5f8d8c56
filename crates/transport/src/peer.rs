//! What a connection knows of its peer, handed on to authentication: the real client
//! address and, over TLS, the client certificate it presented.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

/// The peer of one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The client's address: from the PROXY protocol header or a trusted forwarding
    /// header when present, otherwise the socket's peer address.
    pub remote_addr: SocketAddr,
    /// The address of the socket as the broker sees it (the proxy's, behind a proxy).
    pub socket_addr: SocketAddr,
    /// The listener's name, e.g. `mqtts://0.0.0.0:8883`.
    pub listener: Arc<str>,
    /// TLS details, when the connection is (or, behind a proxy, was) encrypted.
    pub tls: Option<TlsInfo>,
}

impl PeerInfo {
    /// A peer on a plain connection.
    pub fn plain(remote_addr: SocketAddr, listener: Arc<str>) -> Self {
        Self {
            remote_addr,
            socket_addr: remote_addr,
            listener,
            tls: None,
        }
    }
}

/// TLS details of a connection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsInfo {
    /// The server name the client asked for (SNI).
    pub server_name: Option<String>,
    /// The negotiated ALPN protocol.
    pub alpn: Option<Vec<u8>>,
    /// The client certificate chain as presented, leaf first, DER encoded.
    pub client_chain: Vec<Vec<u8>>,
    /// Whether `client_chain` was verified against the listener's CA bundles during the
    /// handshake. `false` for listeners that accept any certificate and leave the
    /// decision to authentication (e.g. self-signed certificates matched by thumbprint).
    pub chain_verified: bool,
    /// The leaf certificate's fields, parsed once.
    pub client_certificate: Option<ClientCertificate>,
}

/// The fields of a client's leaf certificate that authentication looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    /// SHA-256 of the DER certificate, lowercase hex.
    pub sha256_thumbprint: String,
    /// SHA-1 of the DER certificate, lowercase hex (Azure shows thumbprints this way).
    pub sha1_thumbprint: String,
    /// The subject distinguished name, RFC 4514 style (`CN=dev1,O=Contoso`).
    pub subject: String,
    /// The subject's common name, if any.
    pub common_name: Option<String>,
    /// DNS names from the subject alternative name extension.
    pub dns_names: Vec<String>,
    /// URIs from the subject alternative name extension.
    pub uris: Vec<String>,
    /// IP addresses from the subject alternative name extension.
    pub ip_addresses: Vec<std::net::IpAddr>,
    /// Email addresses (rfc822Name) from the subject alternative name extension.
    pub emails: Vec<String>,
    /// Start of the validity period.
    pub not_before: SystemTime,
    /// End of the validity period.
    pub not_after: SystemTime,
}
