//! What authentication decides: an [`Authenticated`] identity, or an [`AuthFailure`] that
//! carries the MQTT reason code to refuse with.
//!
//! | situation                                                        | v5 reason | v3.1.1 |
//! |------------------------------------------------------------------|-----------|--------|
//! | wrong or unknown user name / password, oversized credentials      | 0x86      | 0x04   |
//! | certificate not trusted or not matching, token invalid, webhook deny, disabled client, no credentials | 0x87 | 0x05 |
//! | unsupported Authentication Method                                  | 0x8C      | 0x04   |
//! | webhook or JWKS endpoint down, slow or answering garbage; overload | 0x88      | 0x03   |

use std::fmt;
use std::time::SystemTime;

use gridmq_access::{ClientIdentity, ValidationScheme};
use gridmq_codec::{ConnectReturnCode, ReasonCode};

/// A client whose credentials were accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// Who the client is for authorization: authentication name and attributes (from the
    /// client resource, the token's claims or the webhook's answer).
    pub identity: ClientIdentity,
    /// The client resource that vouched for it, for certificate and password logins.
    pub client: Option<String>,
    /// The mechanism that decided.
    pub method: Method,
    /// When the decision stops holding: the token's `exp`, the webhook's `expiration`, the
    /// client certificate's end of validity. The session should end then unless it
    /// re-authenticates.
    pub expires_at: Option<SystemTime>,
}

/// The mechanism that authenticated a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// A client certificate, checked with the client resource's validation scheme.
    Certificate(ValidationScheme),
    /// User name and password against the client resource's argon2 hashes.
    Password,
    /// A JSON Web Token, carried as described.
    Jwt(JwtCarrier),
    /// The namespace's authentication webhook.
    Webhook,
}

/// Where a client put its JSON Web Token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwtCarrier {
    /// MQTT 5 Authentication Method `CUSTOM-JWT`, token in Authentication Data.
    CustomJwt,
    /// MQTT 5 Authentication Method `OAUTH2-JWT`, token in Authentication Data.
    OAuth2Jwt,
    /// The Password field (MQTT 3.1.1 clients, which have no Authentication Method).
    Password,
    /// `Authorization: Bearer` of an HTTP request (HTTP Publish, the retained API).
    HttpBearer,
}

impl JwtCarrier {
    /// The v5 Authentication Method name for `CUSTOM-JWT`.
    pub const CUSTOM_JWT: &str = "CUSTOM-JWT";
    /// The v5 Authentication Method name for `OAUTH2-JWT`.
    pub const OAUTH2_JWT: &str = "OAUTH2-JWT";

    /// The carrier an Authentication Method names, if it is one of the JWT methods.
    pub fn from_method(method: &str) -> Option<Self> {
        match method {
            Self::CUSTOM_JWT => Some(Self::CustomJwt),
            Self::OAUTH2_JWT => Some(Self::OAuth2Jwt),
            _ => None,
        }
    }

    /// The Authentication Method name, `None` for the Password field.
    pub fn method_name(self) -> Option<&'static str> {
        match self {
            Self::CustomJwt => Some(Self::CUSTOM_JWT),
            Self::OAuth2Jwt => Some(Self::OAUTH2_JWT),
            Self::Password | Self::HttpBearer => None,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Certificate(scheme) => write!(f, "certificate ({scheme:?})"),
            Self::Password => f.write_str("password"),
            Self::Jwt(JwtCarrier::Password) => f.write_str("JWT (password field)"),
            Self::Jwt(JwtCarrier::HttpBearer) => f.write_str("JWT (HTTP bearer)"),
            Self::Jwt(carrier) => write!(f, "JWT ({})", carrier.method_name().unwrap_or("")),
            Self::Webhook => f.write_str("webhook"),
        }
    }
}

/// A refused client: the reason code for CONNACK (or DISCONNECT after AUTH) and a message
/// for the log. The message names the rule that failed and never contains a password,
/// token or other secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{log_message} ({reason:?})")]
pub struct AuthFailure {
    /// The MQTT 5 reason code; [`AuthFailure::v3_return_code`] gives the 3.1.1 one.
    pub reason: ReasonCode,
    /// What failed, fit for the log.
    pub log_message: String,
}

impl AuthFailure {
    /// 0x86: the user name or password (or an oversized credential) is not accepted.
    pub fn bad_credentials(message: impl Into<String>) -> Self {
        Self::new(ReasonCode::BadUserNameOrPassword, message)
    }

    /// 0x87: the credentials were understood but do not admit this client.
    pub fn not_authorized(message: impl Into<String>) -> Self {
        Self::new(ReasonCode::NotAuthorized, message)
    }

    /// 0x8C: the Authentication Method is not one this namespace supports.
    pub fn bad_method(message: impl Into<String>) -> Self {
        Self::new(ReasonCode::BadAuthenticationMethod, message)
    }

    /// 0x88: a service authentication depends on failed; the client may retry later.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ReasonCode::ServerUnavailable, message)
    }

    fn new(reason: ReasonCode, message: impl Into<String>) -> Self {
        Self {
            reason,
            log_message: message.into(),
        }
    }

    /// The MQTT 3.1 / 3.1.1 CONNACK return code for this refusal.
    pub fn v3_return_code(&self) -> ConnectReturnCode {
        self.reason.to_v3_connack()
    }
}

/// Quotes a client-supplied value for a log message: at most 64 characters, escaped, so a
/// hostile value can neither flood nor forge log lines.
pub(crate) fn quoted(value: &str) -> String {
    const MAX: usize = 64;
    let mut cut: String = value.chars().take(MAX).collect();
    if cut.len() < value.len() {
        cut.push('…');
    }
    format!("{cut:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_codes_map_to_v3() {
        let cases = [
            (
                AuthFailure::bad_credentials("x"),
                ConnectReturnCode::BadUserNameOrPassword,
            ),
            (
                AuthFailure::not_authorized("x"),
                ConnectReturnCode::NotAuthorized,
            ),
            (
                AuthFailure::bad_method("x"),
                ConnectReturnCode::BadUserNameOrPassword,
            ),
            (
                AuthFailure::unavailable("x"),
                ConnectReturnCode::ServerUnavailable,
            ),
        ];
        for (failure, v3) in cases {
            assert_eq!(failure.v3_return_code(), v3, "{failure}");
        }
        assert_eq!(AuthFailure::bad_method("x").reason as u8, 0x8C);
        assert_eq!(AuthFailure::unavailable("x").reason as u8, 0x88);
    }

    #[test]
    fn quoted_bounds_and_escapes() {
        assert_eq!(quoted("a\nb"), "\"a\\nb\"");
        let long = "x".repeat(1000);
        assert!(quoted(&long).chars().count() < 70);
    }
}
