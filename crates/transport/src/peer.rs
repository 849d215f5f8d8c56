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
    /// TLS details, when the broker terminated TLS for this connection. TLS that a
    /// proxy terminated in front of the broker shows in [`PeerInfo::proxy`] instead.
    pub tls: Option<TlsInfo>,
    /// Where `remote_addr` came from.
    pub address_source: AddressSource,
    /// What a PROXY protocol header told of the connection the proxy accepted.
    pub proxy: Option<ProxiedConnection>,
    /// WebSocket details, for connections over `ws` and `wss` listeners.
    pub websocket: Option<WebSocketInfo>,
}

impl PeerInfo {
    /// A peer on a plain connection.
    pub fn plain(remote_addr: SocketAddr, listener: Arc<str>) -> Self {
        Self {
            remote_addr,
            socket_addr: remote_addr,
            listener,
            tls: None,
            address_source: AddressSource::Socket,
            proxy: None,
            websocket: None,
        }
    }

    /// Whether the client reached the broker over TLS, its own or a proxy's.
    pub fn is_encrypted(&self) -> bool {
        self.tls.is_some() || self.proxy.as_ref().is_some_and(|p| p.tls.is_some())
    }
}

/// Where a connection's client address came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AddressSource {
    /// The socket's peer address.
    #[default]
    Socket,
    /// A PROXY protocol version 1 header from a trusted proxy.
    ProxyV1,
    /// A PROXY protocol version 2 header from a trusted proxy.
    ProxyV2,
    /// A `Forwarded` or `X-Forwarded-For` header of the WebSocket upgrade request, from a
    /// trusted reverse proxy.
    ForwardedHeader,
}

/// What a trusted proxy reported about the client connection it accepted (PROXY
/// protocol version 2 carries these as TLVs; version 1 carries none of them).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProxiedConnection {
    /// The address the client connected to, on the proxy.
    pub destination: Option<SocketAddr>,
    /// The host name the client asked for (`PP2_TYPE_AUTHORITY`, usually the SNI).
    pub authority: Option<String>,
    /// The ALPN protocol negotiated by the proxy (`PP2_TYPE_ALPN`).
    pub alpn: Option<Vec<u8>>,
    /// An opaque connection identifier from the proxy (`PP2_TYPE_UNIQUE_ID`).
    pub unique_id: Option<Vec<u8>>,
    /// TLS that the proxy terminated (`PP2_TYPE_SSL`), when the client used TLS.
    pub tls: Option<ProxiedTls>,
}

/// TLS terminated by a proxy, as the proxy reported it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProxiedTls {
    /// The client presented a certificate on this connection (`PP2_CLIENT_CERT_CONN`).
    pub client_certificate_presented: bool,
    /// The client presented a certificate in this TLS session, possibly on an earlier,
    /// resumed connection (`PP2_CLIENT_CERT_SESS`).
    pub client_certificate_in_session: bool,
    /// The proxy verified the client certificate (`verify` field is 0 and a
    /// certificate was presented).
    pub client_certificate_verified: bool,
    /// The TLS version, e.g. `TLSv1.3` (`PP2_SUBTYPE_SSL_VERSION`).
    pub version: Option<String>,
    /// The client certificate's subject common name (`PP2_SUBTYPE_SSL_CN`).
    pub common_name: Option<String>,
    /// The cipher suite (`PP2_SUBTYPE_SSL_CIPHER`).
    pub cipher: Option<String>,
    /// The server certificate's signature algorithm (`PP2_SUBTYPE_SSL_SIG_ALG`).
    pub signature_algorithm: Option<String>,
    /// The server certificate's key algorithm (`PP2_SUBTYPE_SSL_KEY_ALG`).
    pub key_algorithm: Option<String>,
}

/// The WebSocket side of a `ws` or `wss` connection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WebSocketInfo {
    /// The request path of the upgrade (without the query).
    pub path: String,
    /// The subprotocol agreed on: `mqtt` or `mqttv3.1`; `None` when the client offered
    /// none and the listener allows that.
    pub subprotocol: Option<String>,
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
    /// The negotiated protocol version, `TLSv1.2` or `TLSv1.3`.
    pub protocol_version: Option<String>,
    /// The negotiated cipher suite, e.g. `TLS13_AES_128_GCM_SHA256`.
    pub cipher_suite: Option<String>,
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
