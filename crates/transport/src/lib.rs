//! How MQTT bytes reach the broker: listeners, byte streams, and what a connection knows
//! of its peer.
//!
//! # Layout
//! - [`stream`]: the [`Transport`] trait the connection driver reads and writes through.
//! - [`peer`]: [`PeerInfo`], the peer's address and TLS client certificate.

pub mod peer;
pub mod stream;

pub use peer::{ClientCertificate, PeerInfo, TlsInfo};
pub use stream::{Stream, Transport};
