//! The `tls` table of a `mqtts` or `wss` listener.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// TLS settings of one listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// Server certificates with their keys. The first is the default: served to clients
    /// that send no server name (SNI) and, unless `unknown_server_name` is `refuse`, to
    /// those that send a name no certificate covers.
    pub certificates: Vec<CertificateConfig>,
    /// Whether clients present certificates, and how they are checked.
    pub client_auth: ClientAuth,
    /// PEM bundles of the certificate authorities that client certificates must chain
    /// to (`optional`, `required`), or that mark them as verified (`any`).
    pub client_ca: Vec<PathBuf>,
    /// What a client gets when it asks for a server name that no certificate covers.
    pub unknown_server_name: UnknownServerName,
    /// How often certificate, key and CA files are checked for changes; a change reloads
    /// them for new connections. Zero turns the check off (SIGHUP still reloads).
    #[serde(with = "humantime_serde")]
    pub watch_interval: Duration,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            certificates: Vec::new(),
            client_auth: ClientAuth::None,
            client_ca: Vec::new(),
            unknown_server_name: UnknownServerName::Default,
            watch_interval: Duration::from_secs(10),
        }
    }
}

/// One server certificate chain and its private key, both PEM files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateConfig {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
    pub key: PathBuf,
    /// The server names (SNI) this certificate is served for; `*.example.com` covers
    /// one label. Empty means the DNS names in the certificate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub server_names: Vec<String>,
}

/// Client certificate policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ClientAuth {
    /// No client certificate is asked for.
    #[default]
    None,
    /// A client certificate is asked for; one that is presented must chain to
    /// `client_ca`; clients without one connect too.
    Optional,
    /// Every client presents a certificate chaining to `client_ca`.
    Required,
    /// A client certificate is asked for and any is accepted (the client still proves it
    /// holds the key), verified or not; authentication decides, e.g. by thumbprint.
    /// Certificates chaining to `client_ca` are marked verified.
    Any,
}

/// What to do with a server name that no certificate covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum UnknownServerName {
    /// Serve the default (first) certificate; the client's own check decides.
    #[default]
    Default,
    /// Refuse the handshake with an alert.
    Refuse,
}

impl TlsConfig {
    /// What is wrong with these settings, each message prefixed with `path`.
    pub fn problems(&self, path: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if self.certificates.is_empty() {
            problems.push(format!(
                "{path}.certificates: at least one certificate is needed"
            ));
        }
        let needs_ca = matches!(
            self.client_auth,
            ClientAuth::Optional | ClientAuth::Required
        );
        if needs_ca && self.client_ca.is_empty() {
            problems.push(format!(
                "{path}.client_ca: client_auth = \"{}\" needs at least one CA bundle",
                match self.client_auth {
                    ClientAuth::Optional => "optional",
                    _ => "required",
                }
            ));
        }
        for (i, cert) in self.certificates.iter().enumerate() {
            for name in &cert.server_names {
                if !valid_server_name(name) {
                    problems.push(format!(
                        "{path}.certificates[{i}].server_names: {name:?} is not a DNS name \
                         (a wildcard may only be the whole first label, as in *.example.com)"
                    ));
                }
            }
        }
        problems
    }
}

/// A DNS name, optionally with `*` as its whole first label.
pub(crate) fn valid_server_name(name: &str) -> bool {
    let name = name.strip_prefix("*.").unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names() {
        for good in [
            "example.com",
            "*.example.com",
            "mqtt-1.example.com",
            "localhost",
        ] {
            assert!(valid_server_name(good), "{good}");
        }
        for bad in [
            "",
            "*",
            "a.*.com",
            "ex ample.com",
            "-a.com",
            "a..com",
            "*example.com",
        ] {
            assert!(!valid_server_name(bad), "{bad}");
        }
    }

    #[test]
    fn problems_are_named() {
        let config = TlsConfig {
            client_auth: ClientAuth::Required,
            ..TlsConfig::default()
        };
        let problems = config.problems("listeners[1].tls");
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("listeners[1].tls.certificates"));
        assert!(problems[1].contains("client_auth = \"required\""));
    }
}
