//! Authentication for gridmq: decides who a connecting MQTT client is, the way an Azure
//! Event Grid namespace does, from the namespace's resources (`gridmq_access::Resources`):
//! client certificates chained to registered CA certificates or matched by thumbprint,
//! JSON Web Tokens from a configured issuer (uploaded certificates or a JWKS URL),
//! an HTTP webhook, and — beyond Event Grid — passwords stored as argon2 hashes.
//!
//! The server builds an immutable [`Authenticator`] from the resources, keeps it behind an
//! `ArcSwap`, and rebuilds it when resources change; the caches and the HTTP client live
//! in an [`AuthShared`] that rebuilds reuse. Between decoding CONNECT and claiming the
//! session it calls [`Authenticator::authenticate`], and on an AUTH packet with reason
//! 0x19 [`Authenticator::reauthenticate`]. The answer is an [`Authenticated`] identity
//! for authorization, or an [`AuthFailure`] with the reason code to refuse with (the
//! mapping is in [`outcome`]). Which mechanism applies is described in [`authenticator`].
//!
//! ```no_run
//! # async fn example(resources: gridmq_access::Resources, peer: gridmq_transport::PeerInfo)
//! # -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use gridmq_auth::{AuthOptions, AuthRequest, AuthShared, Authenticator};
//! use gridmq_codec::ProtocolVersion;
//!
//! let options = AuthOptions::default();
//! let shared = Arc::new(AuthShared::new(&options)?);
//! let authenticator = Authenticator::new(&resources, options, shared)?;
//! let mut request = AuthRequest::new(ProtocolVersion::V5, "session-1", &peer);
//! request.username = Some("device-1");
//! request.password = Some(b"secret");
//! match authenticator.authenticate(&request, std::time::SystemTime::now()).await {
//!     Ok(who) => println!("{} via {}", who.identity.authentication_name, who.method),
//!     Err(refused) => println!("refused with {:?}: {}", refused.reason, refused.log_message),
//! }
//! # Ok(()) }
//! ```
//!
//! The JWT code uses `jsonwebtoken` with its RustCrypto backend; a binary that also
//! enables its `aws_lc_rs` feature must install one provider explicitly.
//!
//! # Layout
//! - [`authenticator`]: [`Authenticator`], the mechanism selection, and each login path.
//! - [`request`]: [`AuthRequest`], the credentials of a CONNECT or AUTH.
//! - [`outcome`]: [`Authenticated`], [`Method`], [`AuthFailure`] and the reason codes.
//! - [`options`]: [`AuthOptions`], size bounds, timeouts, cache sizes.
//! - [`shared`]: [`AuthShared`], state that outlives rebuilds, and [`AuthStats`].
//! - [`error`]: [`BuildError`], resources that cannot be used.
//! - [`password`]: argon2 verification and [`hash_password`].
//! - [`certificate`]: PEM, certificate fields, thumbprints, distinguished names.
//! - `x509`: chain verification against registered CAs, thumbprints, validation schemes,
//!   alternative name sources.
//! - `jwt`: token parsing and claim checks; `keys`: signing keys from certificates and
//!   JWKS; `jwks`: the JWKS cache.
//! - `webhook`: request and answer JSON, the call, the decision cache.
//! - `attributes`: client attributes from JSON; `http`: the HTTP client; `text`: helpers.

mod attributes;
pub mod authenticator;
pub mod certificate;
pub mod error;
mod http;
mod jwks;
mod jwt;
mod keys;
pub mod options;
pub mod outcome;
pub mod password;
pub mod request;
pub mod shared;
mod text;
mod webhook;
mod x509;

pub use authenticator::Authenticator;
pub use error::BuildError;
pub use keys::SUPPORTED_ALGORITHMS;
pub use options::AuthOptions;
pub use outcome::{AuthFailure, Authenticated, JwtCarrier, Method};
pub use password::{PasswordError, hash_password, hash_password_with, verify_password};
pub use request::AuthRequest;
pub use shared::{AuthShared, AuthStats};
