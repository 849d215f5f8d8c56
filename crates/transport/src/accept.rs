//! From an accepted TCP socket to an MQTT byte stream and [`PeerInfo`]: the PROXY
//! header (when the listener expects one), the TLS handshake (`mqtts`, `wss`) and the
//! WebSocket upgrade (`ws`, `wss`), in that order.

use std::net::SocketAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;

use crate::net::IpNetwork;
use crate::peer::{AddressSource, PeerInfo};
use crate::proxy::{self, ProxyError};
use crate::stream::{Rewind, Stream, Transport};
use crate::tls::{HandshakeError, TlsAcceptor};
use crate::ws::{self, WebSocketConfig, WsError};

/// What a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ListenerKind {
    /// MQTT over TCP.
    #[default]
    Mqtt,
    /// MQTT over TLS.
    Mqtts,
    /// MQTT over WebSocket.
    Ws,
    /// MQTT over WebSocket over TLS.
    Wss,
}

impl ListenerKind {
    /// The URL scheme naming the kind, as in `mqtts://0.0.0.0:8883`.
    pub fn scheme(self) -> &'static str {
        match self {
            Self::Mqtt => "mqtt",
            Self::Mqtts => "mqtts",
            Self::Ws => "ws",
            Self::Wss => "wss",
        }
    }

    /// Whether the kind runs TLS.
    pub fn is_tls(self) -> bool {
        matches!(self, Self::Mqtts | Self::Wss)
    }

    /// Whether the kind runs WebSocket.
    pub fn is_websocket(self) -> bool {
        matches!(self, Self::Ws | Self::Wss)
    }
}

/// How one listener turns sockets into MQTT byte streams.
#[derive(Debug)]
pub struct Endpoint {
    /// The listener's name, e.g. `mqtts://0.0.0.0:8883`.
    pub name: Arc<str>,
    /// What it speaks.
    pub kind: ListenerKind,
    /// Whether every connection starts with a PROXY protocol header.
    pub proxy_protocol: bool,
    /// Who may send PROXY headers and forwarding headers.
    pub trusted_proxies: Vec<IpNetwork>,
    /// TLS, for `mqtts` and `wss`.
    pub tls: Option<Arc<TlsAcceptor>>,
    /// WebSocket settings, for `ws` and `wss`.
    pub websocket: WebSocketConfig,
}

/// A byte stream ready for the connection driver.
pub enum Accepted {
    /// Plain TCP, kept concrete for the most common case.
    Tcp(TcpStream),
    /// Anything else.
    Other(Box<dyn Transport>),
}

impl std::fmt::Debug for Accepted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tcp(tcp) => f.debug_tuple("Tcp").field(tcp).finish(),
            Self::Other(_) => f.write_str("Other(..)"),
        }
    }
}

/// Why a connection was closed before MQTT started.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// A PROXY listener got a connection from outside `trusted_proxies`.
    #[error("connection from {0}, which is not in trusted_proxies, on a PROXY protocol listener")]
    UntrustedProxy(SocketAddr),
    /// The PROXY header was missing or malformed.
    #[error(transparent)]
    Proxy(#[from] ProxyError),
    /// The TLS handshake failed.
    #[error(transparent)]
    Tls(#[from] HandshakeError),
    /// The WebSocket upgrade failed.
    #[error(transparent)]
    WebSocket(#[from] WsError),
    /// The listener's kind needs TLS settings it does not have.
    #[error("listener has no TLS settings")]
    NoTls,
}

impl Endpoint {
    /// Runs every step before MQTT on `tcp`, which came from `socket_addr`. The caller
    /// bounds it in time (the listener's `handshake_timeout`).
    pub async fn accept(
        &self,
        mut tcp: TcpStream,
        socket_addr: SocketAddr,
    ) -> Result<(Accepted, PeerInfo), AcceptError> {
        let mut peer = PeerInfo::plain(socket_addr, self.name.clone());
        let mut rest = bytes::Bytes::new();
        if self.proxy_protocol {
            if !IpNetwork::any_contains(&self.trusted_proxies, socket_addr.ip()) {
                return Err(AcceptError::UntrustedProxy(socket_addr));
            }
            let (header, after) = proxy::read_header(&mut tcp).await?;
            rest = after;
            if let Some(source) = header.source {
                peer.remote_addr = source;
                peer.address_source = header.source_kind;
                peer.proxy = Some(header.connection);
            }
        }
        if self.kind == ListenerKind::Mqtt && rest.is_empty() && !self.proxy_protocol {
            return Ok((Accepted::Tcp(tcp), peer));
        }
        let io = Rewind::new(rest, tcp);
        let tls = || self.tls.as_ref().ok_or(AcceptError::NoTls);
        let stream: Box<dyn Transport> = match self.kind {
            ListenerKind::Mqtt => Box::new(io),
            ListenerKind::Mqtts => {
                let (stream, info) = tls()?.accept(io).await?;
                peer.tls = Some(info);
                Box::new(Stream(stream))
            }
            ListenerKind::Ws => Box::new(self.upgrade(io, &mut peer).await?),
            ListenerKind::Wss => {
                let (stream, info) = tls()?.accept(io).await?;
                peer.tls = Some(info);
                Box::new(self.upgrade(stream, &mut peer).await?)
            }
        };
        Ok((Accepted::Other(stream), peer))
    }

    async fn upgrade<S>(&self, io: S, peer: &mut PeerInfo) -> Result<ws::WsStream<S>, AcceptError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let upgrade =
            ws::accept(io, &self.websocket, peer.remote_addr, &self.trusted_proxies).await?;
        if let Some(client) = upgrade.forwarded_for {
            peer.remote_addr = client;
            peer.address_source = AddressSource::ForwardedHeader;
        }
        peer.websocket = Some(upgrade.info);
        Ok(upgrade.stream)
    }
}
