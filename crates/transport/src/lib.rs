//! How MQTT bytes reach the broker: TCP, TLS, WebSocket and the PROXY protocol turned
//! into byte streams, and what a connection knows of its peer.
//!
//! # Layout
//! - [`stream`]: the [`Transport`] trait the connection driver reads and writes through;
//!   [`Stream`] adapts `AsyncRead + AsyncWrite`; [`Rewind`] replays bytes read ahead.
//! - [`accept`]: [`Endpoint`], the steps from an accepted socket to a byte stream and
//!   [`PeerInfo`] for each listener kind.
//! - [`proxy`]: PROXY protocol v1 and v2 headers.
//! - [`tls`]: rustls listeners: certificates by SNI, client certificate policies,
//!   reloading.
//! - [`ws`]: the WebSocket upgrade and [`ws::WsStream`].
//! - [`forwarded`]: the client address in `Forwarded` / `X-Forwarded-For`.
//! - [`certificate`]: a client's leaf certificate read into [`ClientCertificate`].
//! - [`net`]: [`IpNetwork`], the trusted proxy networks.
//! - [`peer`]: [`PeerInfo`], the peer's address, TLS details and client certificate.

pub mod accept;
pub mod certificate;
pub mod forwarded;
pub mod net;
pub mod peer;
pub mod proxy;
pub mod stream;
pub mod tls;
pub mod ws;

pub use accept::{AcceptError, Accepted, Endpoint, ListenerKind};
pub use net::IpNetwork;
pub use peer::{
    AddressSource, ClientCertificate, PeerInfo, ProxiedConnection, ProxiedTls, TlsInfo,
    WebSocketInfo,
};
pub use stream::{Rewind, Stream, Transport};
