//! JWT signing keys: taken from uploaded issuer certificates or from a JWKS document, each
//! bound to the one algorithm it may verify (RSA keys RS256, P-256 keys ES256, Ed25519 keys
//! EdDSA), so a token cannot pick a weaker use of a key.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use x509_parser::oid_registry as oids;
use x509_parser::public_key::PublicKey;

use crate::certificate;

/// The JWS algorithms accepted: RS256 (Event Grid's), ES256 and EdDSA (Ed25519).
pub const SUPPORTED_ALGORITHMS: [&str; 3] = ["RS256", "ES256", "EdDSA"];

/// Smallest RSA modulus accepted, in bits.
const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits (bounds verification cost).
const MAX_RSA_BITS: usize = 8192;

/// A public key and the algorithm it verifies.
pub(crate) struct VerifyKey {
    pub(crate) algorithm: Algorithm,
    pub(crate) key: DecodingKey,
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VerifyKey({:?})", self.algorithm)
    }
}

/// Keys by `kid`.
#[derive(Debug, Default)]
pub(crate) struct KeySet {
    by_kid: HashMap<String, Arc<VerifyKey>>,
}

impl KeySet {
    pub(crate) fn insert(&mut self, kid: String, key: VerifyKey) {
        self.by_kid.entry(kid).or_insert_with(|| Arc::new(key));
    }

    pub(crate) fn get(&self, kid: &str) -> Option<&Arc<VerifyKey>> {
        self.by_kid.get(kid)
    }

    pub(crate) fn contains(&self, kid: &str) -> bool {
        self.by_kid.contains_key(kid)
    }

    pub(crate) fn len(&self) -> usize {
        self.by_kid.len()
    }

    /// The only key, when there is exactly one (for tokens without a `kid`).
    pub(crate) fn single(&self) -> Option<&Arc<VerifyKey>> {
        match self.by_kid.len() {
            1 => self.by_kid.values().next(),
            _ => None,
        }
    }

    /// Keys from a JWKS document (`{"keys": [...]}`): keys for encryption, of other types
    /// or curves, with an unsupported `alg`, or without a `kid` are skipped; at most
    /// `max_keys` are kept.
    pub(crate) fn from_jwks(json: &[u8], max_keys: usize) -> Result<Self, String> {
        let doc: JwkSet =
            serde_json::from_slice(json).map_err(|e| format!("JWKS is not valid JSON: {e}"))?;
        let mut set = Self::default();
        for jwk in doc.keys {
            if set.len() >= max_keys {
                break;
            }
            if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
                continue;
            }
            let (Some(kid), Ok(key)) = (jwk.kid.clone(), jwk.to_key()) else {
                continue;
            };
            if jwk
                .alg
                .as_deref()
                .is_some_and(|a| a != alg_name(key.algorithm))
            {
                continue;
            }
            set.insert(kid, key);
        }
        Ok(set)
    }
}

/// The name of an algorithm in a JOSE header.
pub(crate) fn alg_name(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::RS256 => "RS256",
        Algorithm::ES256 => "ES256",
        Algorithm::EdDSA => "EdDSA",
        _ => "unsupported",
    }
}

/// The public key of a PEM certificate (an uploaded issuer certificate).
pub(crate) fn from_certificate_pem(pem: &str) -> Result<VerifyKey, String> {
    let ders = certificate::pem_certificates(pem).map_err(|e| e.0)?;
    let [der] = ders.as_slice() else {
        return Err("must hold exactly one certificate".into());
    };
    let cert = certificate::parse(der).map_err(|e| e.0)?;
    let spki = cert.public_key();
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => rsa_key(rsa.modulus, rsa.exponent),
        Ok(PublicKey::EC(point)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok());
            if curve != Some(oids::OID_EC_P256) {
                return Err("EC keys must be on curve P-256".into());
            }
            ec_key(point.data())
        }
        _ if spki.algorithm.algorithm == oids::OID_SIG_ED25519 => {
            ed25519_key(&spki.subject_public_key.data)
        }
        _ => Err("the certificate's key is not RSA, P-256 or Ed25519".into()),
    }
}

fn rsa_key(modulus: &[u8], exponent: &[u8]) -> Result<VerifyKey, String> {
    let modulus = strip_leading_zeros(modulus);
    let bits = modulus
        .first()
        .map_or(0, |b| modulus.len() * 8 - b.leading_zeros() as usize);
    if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
        return Err(format!(
            "RSA key of {bits} bits (must be {MIN_RSA_BITS} to {MAX_RSA_BITS})"
        ));
    }
    let exponent = strip_leading_zeros(exponent);
    if exponent.is_empty() || exponent.len() > 8 {
        return Err("bad RSA public exponent".into());
    }
    Ok(VerifyKey {
        algorithm: Algorithm::RS256,
        key: DecodingKey::from_rsa_raw_components(modulus, exponent),
    })
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

fn ec_key(point: &[u8]) -> Result<VerifyKey, String> {
    if point.len() != 65 || point.first() != Some(&0x04) {
        return Err("P-256 key must be an uncompressed point".into());
    }
    Ok(VerifyKey {
        algorithm: Algorithm::ES256,
        key: DecodingKey::from_ec_der(point),
    })
}

fn ed25519_key(raw: &[u8]) -> Result<VerifyKey, String> {
    // Checked here: the verifier slices the first 32 bytes without looking.
    if raw.len() != 32 {
        return Err("Ed25519 key must be 32 bytes".into());
    }
    Ok(VerifyKey {
        algorithm: Algorithm::EdDSA,
        key: DecodingKey::from_ed_der(raw),
    })
}

#[derive(Deserialize)]
struct JwkSet {
    keys: Vec<Jwk>,
}

/// One JWK, with only the members used here.
#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    alg: Option<String>,
    n: Option<String>,
    e: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

impl Jwk {
    fn to_key(&self) -> Result<VerifyKey, String> {
        let b64 = |v: &Option<String>| {
            let v = v.as_deref().ok_or("missing key member")?;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(v.trim_end_matches('='))
                .map_err(|_| "key member is not base64url")
        };
        match (self.kty.as_str(), self.crv.as_deref()) {
            ("RSA", _) => rsa_key(&b64(&self.n)?, &b64(&self.e)?),
            ("EC", Some("P-256")) => {
                let (x, y) = (b64(&self.x)?, b64(&self.y)?);
                if x.len() != 32 || y.len() != 32 {
                    return Err("P-256 coordinates must be 32 bytes".into());
                }
                let mut point = Vec::with_capacity(65);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                ec_key(&point)
            }
            ("OKP", Some("Ed25519")) => ed25519_key(&b64(&self.x)?),
            _ => Err("unsupported key type".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwks_skips_what_it_cannot_use() {
        let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([7u8; 32]);
        let short = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([7u8; 8]);
        let doc = serde_json::json!({ "keys": [
            { "kty": "OKP", "crv": "Ed25519", "kid": "good", "x": x },
            { "kty": "OKP", "crv": "Ed25519", "kid": "short", "x": short },
            { "kty": "OKP", "crv": "Ed25519", "x": x },
            { "kty": "OKP", "crv": "Ed25519", "kid": "enc", "use": "enc", "x": x },
            { "kty": "OKP", "crv": "Ed25519", "kid": "wrong-alg", "alg": "RS256", "x": x },
            { "kty": "oct", "kid": "hmac", "k": "c2VjcmV0" },
            { "kty": "RSA", "kid": "small", "n": short, "e": "AQAB" },
            { "kty": "EC", "crv": "P-384", "kid": "p384", "x": x, "y": x }
        ]});
        let set = KeySet::from_jwks(doc.to_string().as_bytes(), 64).unwrap();
        assert_eq!(set.len(), 1);
        assert!(set.contains("good"));
        assert!(KeySet::from_jwks(b"not json", 64).is_err());
        let capped = KeySet::from_jwks(doc.to_string().as_bytes(), 0).unwrap();
        assert_eq!(capped.len(), 0);
    }

    proptest::proptest! {
        #[test]
        fn jwks_members_of_any_value_never_panic(kty in "RSA|EC|OKP|oct", crv in "P-256|Ed25519|X", n in "[A-Za-z0-9_-]{0,400}",
            e in "[A-Za-z0-9_-]{0,12}", x in "[A-Za-z0-9_-]{0,60}", y in "[A-Za-z0-9_-]{0,60}") {
            let doc = serde_json::json!({ "keys": [{ "kty": kty, "crv": crv, "kid": "k", "n": n, "e": e, "x": x, "y": y }] });
            let _ = KeySet::from_jwks(doc.to_string().as_bytes(), 8);
        }
    }
}
