//! Choosing the server certificate by the name the client asked for (SNI), and by the
//! signature schemes it supports (so an RSA and an ECDSA certificate can share names).

use std::collections::HashMap;
use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Server certificates of one listener, indexed by name.
#[derive(Debug)]
pub(crate) struct SniResolver {
    /// In configuration order; the first is the default.
    keys: Vec<Arc<CertifiedKey>>,
    exact: HashMap<String, Vec<usize>>,
    /// Keyed by what follows `*.`.
    wildcard: HashMap<String, Vec<usize>>,
    refuse_unknown: bool,
}

impl SniResolver {
    /// `entries`: each key with the names it is served for.
    pub(crate) fn new(
        entries: Vec<(Arc<CertifiedKey>, Vec<String>)>,
        refuse_unknown: bool,
    ) -> Self {
        let mut resolver = Self {
            keys: Vec::with_capacity(entries.len()),
            exact: HashMap::new(),
            wildcard: HashMap::new(),
            refuse_unknown,
        };
        for (index, (key, names)) in entries.into_iter().enumerate() {
            resolver.keys.push(key);
            for name in names {
                let name = normalize(&name);
                let map = match name.strip_prefix("*.") {
                    Some(suffix) => resolver.wildcard.entry(suffix.to_owned()),
                    None => resolver.exact.entry(name),
                };
                map.or_default().push(index);
            }
        }
        resolver
    }

    /// The certificates covering `name`, if any.
    pub(crate) fn lookup(&self, name: &str) -> Option<&[usize]> {
        let name = normalize(name);
        if let Some(found) = self.exact.get(&name) {
            return Some(found);
        }
        let (_, parent) = name.split_once('.')?;
        self.wildcard.get(parent).map(Vec::as_slice)
    }

    fn candidates(&self, server_name: Option<&str>) -> Option<Vec<usize>> {
        match server_name.map(|name| self.lookup(name)) {
            Some(Some(found)) => Some(found.to_vec()),
            Some(None) if self.refuse_unknown => None,
            _ => Some((0..self.keys.len()).collect()),
        }
    }
}

fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let candidates = self.candidates(hello.server_name())?;
        let schemes = hello.signature_schemes();
        candidates
            .iter()
            .map(|&i| &self.keys[i])
            .find(|key| key.key.choose_scheme(schemes).is_some())
            .or_else(|| candidates.first().map(|&i| &self.keys[i]))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::crypto::aws_lc_rs::default_provider;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

    fn key() -> Arc<CertifiedKey> {
        let pair = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["x".to_owned()])
            .unwrap()
            .self_signed(&pair)
            .unwrap();
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pair.serialize_der()));
        let signing = default_provider()
            .key_provider
            .load_private_key(der)
            .unwrap();
        Arc::new(CertifiedKey::new(
            vec![CertificateDer::from(cert.der().to_vec())],
            signing,
        ))
    }

    fn resolver(refuse: bool) -> SniResolver {
        SniResolver::new(
            vec![
                (key(), vec!["mqtt.example.com".into()]),
                (
                    key(),
                    vec!["*.devices.example.com".into(), "Other.Example".into()],
                ),
            ],
            refuse,
        )
    }

    #[test]
    fn names_map_to_certificates() {
        let r = resolver(false);
        assert_eq!(r.candidates(Some("mqtt.example.com")), Some(vec![0]));
        assert_eq!(r.candidates(Some("MQTT.example.com.")), Some(vec![0]));
        assert_eq!(r.candidates(Some("a.devices.example.com")), Some(vec![1]));
        assert_eq!(r.candidates(Some("other.example")), Some(vec![1]));
        // A wildcard covers exactly one label.
        assert_eq!(r.lookup("a.b.devices.example.com"), None);
        assert_eq!(r.lookup("devices.example.com"), None);
    }

    #[test]
    fn unknown_names_get_the_default_or_nothing() {
        assert_eq!(
            resolver(false).candidates(Some("nope.test")),
            Some(vec![0, 1])
        );
        assert_eq!(resolver(false).candidates(None), Some(vec![0, 1]));
        assert_eq!(resolver(true).candidates(Some("nope.test")), None);
        assert_eq!(resolver(true).candidates(None), Some(vec![0, 1]));
    }
}
