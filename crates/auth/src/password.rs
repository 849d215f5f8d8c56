//! Passwords: argon2 PHC strings checked with `argon2` (which compares the computed hash in
//! constant time), and [`hash_password`] for the tools that set them.
//!
//! An unknown user name costs the same work as a wrong password: the check runs against a
//! dummy hash made with the default parameters.

use std::sync::{Arc, OnceLock};

use argon2::{Argon2, PasswordHasher as _, PasswordVerifier as _};
use gridmq_access::PasswordHash;

/// argon2 cost parameters, for [`hash_password_with`].
pub use argon2::Params;

use crate::options::AuthOptions;

/// A password could not be hashed (the system's random source failed, or bad parameters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct PasswordError(String);

/// Hashes a password with argon2id and the default parameters (19 MiB, 2 passes, 1 lane),
/// salted from the system's random source, into a PHC string for `passwordHashes`.
pub fn hash_password(password: &[u8]) -> Result<PasswordHash, PasswordError> {
    hash_password_with(password, Params::DEFAULT)
}

/// [`hash_password`] with chosen argon2id parameters (cheaper ones make tests fast).
pub fn hash_password_with(password: &[u8], params: Params) -> Result<PasswordHash, PasswordError> {
    Argon2::from(params)
        .hash_password(password)
        .map(|h| PasswordHash(h.to_string()))
        .map_err(|e| PasswordError(e.to_string()))
}

/// Whether `password` matches the stored `hash` (false too when the hash is not a usable
/// argon2 string, or asks for more than the `options` allow). For tools that must tell
/// whether a password already has a hash, e.g. to keep it when a file is applied again.
pub fn verify_password(password: &[u8], hash: &PasswordHash, options: &AuthOptions) -> bool {
    StoredHash::parse(hash.as_str(), options)
        .is_ok_and(|stored| verify_any(password, std::slice::from_ref(&stored)))
}

/// A stored hash, parsed once when the authenticator is built.
#[derive(Clone)]
pub(crate) struct StoredHash(argon2::PasswordHash);

impl std::fmt::Debug for StoredHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoredHash(..)")
    }
}

impl StoredHash {
    /// Parses a PHC string and checks that its costs are within the options' bounds.
    pub(crate) fn parse(phc: &str, options: &AuthOptions) -> Result<Self, String> {
        let hash = argon2::PasswordHash::new(phc).map_err(|e| format!("not a PHC string: {e}"))?;
        if !hash.algorithm.as_str().starts_with("argon2") {
            return Err("not an argon2 hash".into());
        }
        let params = Params::try_from(&hash).map_err(|e| format!("bad argon2 parameters: {e}"))?;
        if params.m_cost() > options.password_max_memory_kib
            || params.t_cost() > options.password_max_time_cost
            || params.p_cost() > options.password_max_parallelism
        {
            return Err(format!(
                "argon2 cost m={} t={} p={} is above the configured maximum",
                params.m_cost(),
                params.t_cost(),
                params.p_cost()
            ));
        }
        Ok(Self(hash))
    }
}

/// Whether `password` matches any of `hashes` (blocking: tens of milliseconds each).
pub(crate) fn verify_any(password: &[u8], hashes: &[StoredHash]) -> bool {
    let argon2 = Argon2::default();
    let mut matched = false;
    // Every hash is tried, so the time does not tell which one matched.
    for hash in hashes {
        matched |= argon2.verify_password(password, &hash.0).is_ok();
    }
    matched
}

/// The hash unknown users are checked against: default costs, a fixed salt. Its password
/// need not be secret, since that path refuses whether it matches or not.
pub(crate) fn dummy() -> Arc<[StoredHash]> {
    static DUMMY: OnceLock<Arc<[StoredHash]>> = OnceLock::new();
    DUMMY
        .get_or_init(|| {
            Argon2::default()
                .hash_password_with_salt(b"gridmq unknown user", b"gridmq-dummy-salt")
                .map(|h| vec![StoredHash(h)])
                .unwrap_or_default()
                .into()
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Params {
        Params::new(8, 1, 1, None).unwrap()
    }

    #[test]
    fn hash_and_verify() {
        let options = AuthOptions::default();
        let phc = hash_password_with(b"s3cret", cheap()).unwrap();
        assert!(phc.as_str().starts_with("$argon2id$v=19$m=8,t=1,p=1$"));
        let stored = StoredHash::parse(phc.as_str(), &options).unwrap();
        assert!(verify_any(b"s3cret", std::slice::from_ref(&stored)));
        assert!(!verify_any(b"S3cret", std::slice::from_ref(&stored)));
        let other = StoredHash::parse(
            hash_password_with(b"new", cheap()).unwrap().as_str(),
            &options,
        )
        .unwrap();
        assert!(
            verify_any(b"new", &[stored.clone(), other.clone()]),
            "rotation: either hash"
        );
        assert!(!verify_any(b"s3cret", &dummy()));
    }

    #[test]
    fn verify_password_checks_one_stored_hash() {
        let options = AuthOptions::default();
        let phc = hash_password_with(b"s3cret", cheap()).unwrap();
        assert!(verify_password(b"s3cret", &phc, &options));
        assert!(!verify_password(b"other", &phc, &options));
        assert!(!verify_password(
            b"s3cret",
            &PasswordHash("nonsense".into()),
            &options
        ));
        let strict = AuthOptions {
            password_max_memory_kib: 4,
            ..AuthOptions::default()
        };
        assert!(
            !verify_password(b"s3cret", &phc, &strict),
            "over the cost limit"
        );
    }

    #[test]
    fn default_parameters_verify() {
        let phc = hash_password(b"pw").unwrap();
        assert!(phc.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        let stored = StoredHash::parse(phc.as_str(), &AuthOptions::default()).unwrap();
        assert!(verify_any(b"pw", &[stored]));
    }

    #[test]
    fn costs_and_shapes_are_checked() {
        let options = AuthOptions {
            password_max_memory_kib: 4,
            ..AuthOptions::default()
        };
        let phc = hash_password_with(b"pw", cheap()).unwrap();
        assert!(
            StoredHash::parse(phc.as_str(), &options)
                .unwrap_err()
                .contains("maximum")
        );
        assert!(StoredHash::parse("plain", &AuthOptions::default()).is_err());
        assert!(
            StoredHash::parse(
                "$pbkdf2-sha256$i=1000$c2FsdA$aGFzaA",
                &AuthOptions::default()
            )
            .is_err()
        );
    }
}
