//! [`AuthRequest`]: what a CONNECT (or an AUTH packet) tells authentication, borrowed from the
//! decoded packet and the connection.

use gridmq_codec::ProtocolVersion;
use gridmq_transport::PeerInfo;

/// The credentials of one CONNECT, and the connection they came over.
#[derive(Debug, Clone, Copy)]
pub struct AuthRequest<'a> {
    /// The protocol the client speaks.
    pub protocol: ProtocolVersion,
    /// The Client Identifier (the session name; may be empty when the server assigns one).
    pub client_id: &'a str,
    /// User Name.
    pub username: Option<&'a str>,
    /// Password.
    pub password: Option<&'a [u8]>,
    /// v5 Authentication Method.
    pub authentication_method: Option<&'a str>,
    /// v5 Authentication Data.
    pub authentication_data: Option<&'a [u8]>,
    /// The peer: address and TLS client certificate.
    pub peer: &'a PeerInfo,
}

impl<'a> AuthRequest<'a> {
    /// A request with only a client id; set the other fields as needed.
    pub fn new(protocol: ProtocolVersion, client_id: &'a str, peer: &'a PeerInfo) -> Self {
        Self {
            protocol,
            client_id,
            username: None,
            password: None,
            authentication_method: None,
            authentication_data: None,
            peer,
        }
    }
}
