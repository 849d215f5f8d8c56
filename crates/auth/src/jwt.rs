//! JSON Web Tokens (Event Grid's "custom JWT"): the compact form, the header rules and the
//! claim checks. Signature verification uses the keys of [`crate::keys`].
//!
//! Claims are checked before the signature: it is cheaper, it spares the JWKS endpoint
//! for tokens that would fail anyway, and a refusal is a refusal either way.
//!
//! Rules beyond what Event Grid spells out:
//! - `exp`, `iss`, `aud`, `sub` are required; `nbf` is checked when present (several
//!   identity providers leave it out). Both get [`crate::AuthOptions::jwt_leeway`].
//! - `aud` matches ignoring case, a scheme and trailing slashes.
//! - The User Name of the CONNECT is not compared with `sub` (v3.1.1 clients must send
//!   one with a password, and often send anything).
//! - Registered claims (`iss sub aud exp nbf iat jti`) never become attributes; integer
//!   attributes are 64-bit.
//! - Without a `kid` a token is accepted only when exactly one key could verify it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use gridmq_access::{AttributeValue, CustomJwtAuthentication};
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

use crate::outcome::{AuthFailure, quoted};

/// Registered claims (RFC 7519 section 4.1): never attributes.
const REGISTERED_CLAIMS: [&str; 7] = ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"];

/// The namespace's JWT settings, prepared.
#[derive(Debug)]
pub(crate) struct JwtSettings {
    pub(crate) issuer: String,
    /// Normalized accepted audiences (see [`normalize_audience`]); empty: use the
    /// broker's host names.
    pub(crate) audiences: Vec<String>,
    pub(crate) jwks_url: Option<String>,
}

impl JwtSettings {
    pub(crate) fn new(config: &CustomJwtAuthentication) -> Self {
        Self {
            issuer: config.token_issuer.clone(),
            audiences: config
                .audiences
                .iter()
                .map(|a| normalize_audience(a))
                .collect(),
            jwks_url: config.jwks_url.clone(),
        }
    }
}

/// A token split into its parts, with the header read.
pub(crate) struct Token<'a> {
    pub(crate) algorithm: Algorithm,
    pub(crate) kid: Option<String>,
    /// `header.payload`, the bytes the signature covers.
    pub(crate) signed: &'a str,
    pub(crate) signature: &'a str,
    pub(crate) claims: Map<String, Value>,
}

/// What valid claims say about the client.
pub(crate) struct Claims {
    pub(crate) subject: String,
    pub(crate) attributes: BTreeMap<String, AttributeValue>,
    pub(crate) expires_at: SystemTime,
}

fn b64url(part: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .ok()
}

/// Splits and decodes a compact JWS; refuses `alg: none`, HMAC and anything but RS256,
/// ES256 and EdDSA, and headers with critical extensions.
pub(crate) fn parse(token: &[u8]) -> Result<Token<'_>, AuthFailure> {
    let malformed =
        || AuthFailure::not_authorized("JWT is not a compact JWS (header.payload.signature)");
    let token = std::str::from_utf8(token).map_err(|_| malformed())?;
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed());
    };
    if signature.is_empty() {
        return Err(AuthFailure::not_authorized("JWT is unsigned"));
    }
    let header: Map<String, Value> = b64url(h)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| AuthFailure::not_authorized("JWT header is not base64url JSON"))?;
    let algorithm = algorithm(header.get("alg"))?;
    if header.contains_key("crit") {
        return Err(AuthFailure::not_authorized(
            "JWT header has critical extensions",
        ));
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return Err(AuthFailure::not_authorized("JWT kid is not a string")),
    };
    let claims: Map<String, Value> = b64url(p)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| AuthFailure::not_authorized("JWT payload is not base64url JSON"))?;
    Ok(Token {
        algorithm,
        kid,
        signed: &token[..h.len() + 1 + p.len()],
        signature,
        claims,
    })
}

fn algorithm(alg: Option<&Value>) -> Result<Algorithm, AuthFailure> {
    let Some(Value::String(alg)) = alg else {
        return Err(AuthFailure::not_authorized("JWT header has no alg"));
    };
    match alg.as_str() {
        "RS256" => Ok(Algorithm::RS256),
        "ES256" => Ok(Algorithm::ES256),
        "EdDSA" => Ok(Algorithm::EdDSA),
        a if a.eq_ignore_ascii_case("none") => {
            Err(AuthFailure::not_authorized("JWT alg none is refused"))
        }
        a if a.starts_with("HS") => Err(AuthFailure::not_authorized(format!(
            "JWT alg {} (HMAC) is refused",
            quoted(a)
        ))),
        a => Err(AuthFailure::not_authorized(format!(
            "JWT alg {} is not supported (RS256, ES256, EdDSA)",
            quoted(a)
        ))),
    }
}

/// Whether a password is shaped like a JWT: three base64url parts whose first decodes to
/// a JSON object with an `alg`.
pub(crate) fn looks_like_jwt(bytes: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(bytes) else {
        return false;
    };
    let parts: Vec<&str> = s.split('.').collect();
    let base64url = |p: &&str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    parts.len() == 3
        && parts[..2].iter().all(base64url)
        && b64url(parts[0])
            .and_then(|h| serde_json::from_slice::<Map<String, Value>>(&h).ok())
            .is_some_and(|h| h.contains_key("alg"))
}

/// Lowercases an audience and drops a scheme (`https://`) and trailing slashes, so that
/// `https://ns.example.net/` and `ns.example.net` compare equal.
pub(crate) fn normalize_audience(aud: &str) -> String {
    let aud = aud.trim();
    let aud = aud.split_once("://").map_or(aud, |(_, rest)| rest);
    aud.trim_end_matches('/').to_ascii_lowercase()
}

/// Checks `iss`, `aud`, `exp`, `nbf` and `sub` at `now`, and collects the attributes.
/// `audiences` are the normalized accepted values.
pub(crate) fn check_claims(
    claims: &Map<String, Value>,
    settings: &JwtSettings,
    audiences: &[String],
    now: SystemTime,
    leeway: Duration,
    max_name_chars: usize,
    subject_claims: &[&str],
) -> Result<Claims, AuthFailure> {
    match claims.get("iss") {
        Some(Value::String(iss)) if *iss == settings.issuer => {}
        Some(Value::String(iss)) => {
            return Err(AuthFailure::not_authorized(format!(
                "JWT issuer {} is not the configured one",
                quoted(iss)
            )));
        }
        _ => return Err(AuthFailure::not_authorized("JWT has no iss")),
    }
    check_audience(claims.get("aud"), audiences)?;
    let exp =
        time_claim(claims, "exp")?.ok_or_else(|| AuthFailure::not_authorized("JWT has no exp"))?;
    if now >= exp + leeway {
        return Err(AuthFailure::not_authorized("JWT has expired"));
    }
    if let Some(nbf) = time_claim(claims, "nbf")? {
        if now + leeway < nbf {
            return Err(AuthFailure::not_authorized("JWT is not valid yet (nbf)"));
        }
    }
    // The first of `subject_claims` present names the client.
    let Some((name, value)) = subject_claims
        .iter()
        .find_map(|name| claims.get(*name).map(|value| (*name, value)))
    else {
        return Err(AuthFailure::not_authorized(format!(
            "JWT has no {}",
            subject_claims.join(" or ")
        )));
    };
    let subject = match value {
        Value::String(s) if !s.is_empty() && s.chars().count() <= max_name_chars => s.clone(),
        _ => {
            return Err(AuthFailure::not_authorized(format!(
                "JWT {name} must be a string of 1 to {max_name_chars} characters"
            )));
        }
    };
    Ok(Claims {
        subject,
        attributes: crate::attributes::from_json(claims, &REGISTERED_CLAIMS),
        expires_at: exp,
    })
}

fn check_audience(aud: Option<&Value>, accepted: &[String]) -> Result<(), AuthFailure> {
    if accepted.is_empty() {
        return Err(AuthFailure::not_authorized(
            "no JWT audience is configured and the client sent no TLS server name",
        ));
    }
    let matches = |a: &str| accepted.contains(&normalize_audience(a));
    let ok = match aud {
        Some(Value::String(a)) => matches(a),
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).any(matches),
        _ => return Err(AuthFailure::not_authorized("JWT has no aud")),
    };
    if ok {
        Ok(())
    } else {
        Err(AuthFailure::not_authorized(
            "JWT aud names none of the accepted audiences",
        ))
    }
}

/// A NumericDate claim (seconds since the epoch, possibly fractional).
fn time_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<SystemTime>, AuthFailure> {
    let Some(value) = claims.get(name) else {
        return Ok(None);
    };
    let secs = value
        .as_f64()
        .filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e11)
        .ok_or_else(|| AuthFailure::not_authorized(format!("JWT {name} is not a NumericDate")))?;
    Ok(Some(UNIX_EPOCH + Duration::from_secs_f64(secs.floor())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(header: &Value, claims: &Value) -> String {
        let e = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.c2ln", e(header), e(claims))
    }

    #[test]
    fn header_rules() {
        let claims = serde_json::json!({});
        for (alg, ok) in [
            ("RS256", true),
            ("ES256", true),
            ("EdDSA", true),
            ("none", false),
            ("HS256", false),
            ("RS512", false),
            ("PS256", false),
        ] {
            let token = encode(&serde_json::json!({ "alg": alg, "kid": "k" }), &claims);
            assert_eq!(parse(token.as_bytes()).is_ok(), ok, "{alg}");
        }
        let crit = encode(
            &serde_json::json!({ "alg": "RS256", "crit": ["x"] }),
            &claims,
        );
        assert!(parse(crit.as_bytes()).is_err());
        assert!(parse(b"a.b").is_err());
        assert!(parse(b"a.b.c.d").is_err());
        let unsigned = encode(&serde_json::json!({ "alg": "RS256" }), &claims);
        let unsigned = unsigned.trim_end_matches("c2ln");
        assert!(parse(unsigned.as_bytes()).is_err());
    }

    #[test]
    fn looks_like_jwt_only_for_tokens() {
        let token = encode(
            &serde_json::json!({ "alg": "RS256" }),
            &serde_json::json!({}),
        );
        assert!(looks_like_jwt(token.as_bytes()));
        assert!(!looks_like_jwt(b"hunter2"));
        assert!(!looks_like_jwt(b"a.b.c"));
        assert!(!looks_like_jwt(&[0xff, b'.', b'.']));
    }

    #[test]
    fn audiences_normalize() {
        assert_eq!(
            normalize_audience("https://NS.example.net/"),
            "ns.example.net"
        );
        assert_eq!(normalize_audience("ns.example.net"), "ns.example.net");
        assert_eq!(
            normalize_audience("mqtts://ns.example.net//"),
            "ns.example.net"
        );
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let _ = parse(&bytes);
            let _ = looks_like_jwt(&bytes);
        }

        #[test]
        fn dotted_base64_never_panics(parts in proptest::collection::vec("[A-Za-z0-9_=-]{0,40}", 0..5)) {
            let token = parts.join(".");
            let _ = parse(token.as_bytes());
            let _ = looks_like_jwt(token.as_bytes());
        }
    }
}
