//! [`AuthRequest`]: what a CONNECT (or an AUTH packet) tells authentication, borrowed from the
//! decoded packet and the connection.

use gridmq_codec::ProtocolVersion;
use gridmq_transport::PeerInfo;

/// The credentials of one CONNECT, and the connection they came over. `Debug` shows the
/// lengths of the password and authentication data, never their bytes.
#[derive(Clone, Copy)]
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

impl std::fmt::Debug for AuthRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let len = |b: Option<&[u8]>| b.map(|b| format!("<{} bytes>", b.len()));
        f.debug_struct("AuthRequest")
            .field("protocol", &self.protocol)
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("password", &len(self.password))
            .field("authentication_method", &self.authentication_method)
            .field("authentication_data", &len(self.authentication_data))
            .field("peer", &self.peer.remote_addr)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secrets() {
        let peer = PeerInfo::plain("127.0.0.1:1".parse().unwrap(), "test".into());
        let mut request = AuthRequest::new(ProtocolVersion::V5, "c", &peer);
        request.password = Some(b"hunter2");
        request.authentication_data = Some(b"eyJhbGciOi");
        let shown = format!("{request:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("eyJ"),
            "{shown}"
        );
        assert!(shown.contains("<7 bytes>"), "{shown}");
    }
}
