//! Who may call the management API: a bearer token compared in constant time, or, with
//! none configured, only peers on the loopback interface.

use std::net::SocketAddr;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// How management requests are admitted.
#[derive(Clone, PartialEq, Eq)]
pub enum AdminAuth {
    /// `Authorization: Bearer <token>` with this token; kept as its SHA-256 so that the
    /// comparison takes the same time whatever the presented token's length.
    Token([u8; 32]),
    /// No token configured: only loopback peers, without credentials.
    LoopbackOnly,
}

impl std::fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Token(_) => f.write_str("Token(..)"),
            Self::LoopbackOnly => f.write_str("LoopbackOnly"),
        }
    }
}

impl AdminAuth {
    /// Token authentication when `token` is set and not blank, else loopback only.
    pub fn new(token: Option<&str>) -> Self {
        match token.map(str::trim).filter(|t| !t.is_empty()) {
            Some(token) => Self::Token(Sha256::digest(token.as_bytes()).into()),
            None => Self::LoopbackOnly,
        }
    }

    /// Admits or refuses one request from `peer` (`None` when unknown) with the given
    /// `Authorization` header value.
    pub fn check(
        &self,
        peer: Option<SocketAddr>,
        authorization: Option<&str>,
    ) -> Result<(), ApiError> {
        match self {
            Self::Token(_) => {
                let presented = authorization
                    .and_then(bearer_token)
                    .ok_or_else(|| ApiError::unauthorized("an admin bearer token is required"))?;
                if self.is_admin_token(presented) {
                    Ok(())
                } else {
                    Err(ApiError::unauthorized("the admin token is not valid"))
                }
            }
            Self::LoopbackOnly if peer.is_some_and(|p| p.ip().is_loopback()) => Ok(()),
            Self::LoopbackOnly => Err(ApiError::forbidden(
                "no admin token is configured, so only loopback clients may manage the broker",
            )),
        }
    }
}

impl AdminAuth {
    /// Whether `token` is the configured admin token (never, without one).
    pub fn is_admin_token(&self, token: &str) -> bool {
        match self {
            Self::Token(expected) => {
                let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
                bool::from(digest.ct_eq(expected))
            }
            Self::LoopbackOnly => false,
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header value.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback() -> Option<SocketAddr> {
        Some("127.0.0.1:40000".parse().unwrap())
    }

    fn remote() -> Option<SocketAddr> {
        Some("192.0.2.1:40000".parse().unwrap())
    }

    #[test]
    fn token_is_required_and_compared() {
        let auth = AdminAuth::new(Some("s3cret"));
        assert!(auth.check(remote(), Some("Bearer s3cret")).is_ok());
        assert!(auth.check(remote(), Some("bearer  s3cret ")).is_ok());
        for bad in [
            None,
            Some("Bearer wrong"),
            Some("Basic s3cret"),
            Some("s3cret"),
            Some("Bearer "),
        ] {
            let error = auth.check(loopback(), bad).unwrap_err();
            assert_eq!(error.status_code(), 401, "{bad:?}");
        }
    }

    #[test]
    fn without_a_token_only_loopback() {
        for auth in [AdminAuth::new(None), AdminAuth::new(Some("  "))] {
            assert_eq!(auth, AdminAuth::LoopbackOnly);
            assert!(auth.check(loopback(), None).is_ok());
            assert!(auth.check(Some("[::1]:1".parse().unwrap()), None).is_ok());
            assert_eq!(auth.check(remote(), None).unwrap_err().status_code(), 403);
            assert_eq!(auth.check(None, None).unwrap_err().status_code(), 403);
        }
    }

    #[test]
    fn debug_hides_the_token() {
        assert_eq!(format!("{:?}", AdminAuth::new(Some("s3cret"))), "Token(..)");
    }
}
