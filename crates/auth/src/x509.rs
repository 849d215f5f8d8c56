//! Client certificates: chain verification against the registered CA certificates (roots
//! or intermediates, with rustls-webpki), thumbprint matching for self-signed certificates,
//! and the certificate fields that validation schemes and name sources read.

use std::borrow::Cow;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use gridmq_access::{AlternativeAuthenticationNameSource, CaCertificate, ValidationScheme};
use gridmq_transport::{ClientCertificate, TlsInfo};
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use subtle::ConstantTimeEq as _;
use webpki::{EndEntityCert, KeyUsage};

use crate::certificate::{self, dn_matches};
use crate::text::eq_ignore_case;

/// A registered CA certificate, ready to anchor chains.
struct Anchor {
    anchor: TrustAnchor<'static>,
    not_before: SystemTime,
    not_after: SystemTime,
}

/// The namespace's CA certificates.
#[derive(Default)]
pub(crate) struct CaStore {
    anchors: Vec<Anchor>,
}

impl std::fmt::Debug for CaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CaStore({} anchors)", self.anchors.len())
    }
}

impl CaStore {
    /// Reads every CA certificate; one line per unreadable one in `problems`.
    pub(crate) fn build(cas: &[CaCertificate], problems: &mut Vec<String>) -> Self {
        let mut anchors = Vec::with_capacity(cas.len());
        for ca in cas {
            match anchor(&ca.properties.encoded_certificate) {
                Ok(a) => anchors.push(a),
                Err(e) => problems.push(format!("caCertificates/{}: {e}", ca.name)),
            }
        }
        Self { anchors }
    }

    /// Verifies `chain` (leaf first) up to a registered CA valid at `now`: signatures,
    /// validity periods, CA constraints and the client-auth key usage when present.
    pub(crate) fn verify(&self, chain: &[Vec<u8>], now: SystemTime) -> Result<(), String> {
        let anchors: Vec<TrustAnchor<'_>> = self
            .anchors
            .iter()
            .filter(|a| a.not_before <= now && now <= a.not_after)
            .map(|a| a.anchor.clone())
            .collect();
        if anchors.is_empty() {
            return Err("no CA certificate is registered (or valid now)".into());
        }
        let Some((leaf, rest)) = chain.split_first() else {
            return Err("no client certificate".into());
        };
        let leaf = CertificateDer::from(leaf.as_slice());
        let leaf =
            EndEntityCert::try_from(&leaf).map_err(|e| format!("unreadable certificate: {e}"))?;
        let intermediates: Vec<CertificateDer<'_>> = rest
            .iter()
            .map(|c| CertificateDer::from(c.as_slice()))
            .collect();
        let time = UnixTime::since_unix_epoch(now.duration_since(UNIX_EPOCH).unwrap_or_default());
        leaf.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            &intermediates,
            time,
            KeyUsage::client_auth(),
            None,
            None,
        )
        .map(|_| ())
        .map_err(|e| format!("certificate chain rejected: {e:?}"))
    }
}

fn anchor(pem: &str) -> Result<Anchor, String> {
    let ders = certificate::pem_certificates(pem).map_err(|e| e.0)?;
    let [der] = ders.as_slice() else {
        return Err("must hold exactly one certificate".into());
    };
    let cert = certificate::parse(der).map_err(|e| e.0)?;
    let not_before = certificate::system_time(cert.validity().not_before);
    let not_after = certificate::system_time(cert.validity().not_after);
    let anchor = webpki::anchor_from_trusted_cert(der)
        .map_err(|e| format!("not usable as a trust anchor: {e:?}"))?
        .to_owned();
    Ok(Anchor {
        anchor,
        not_before,
        not_after,
    })
}

/// The leaf's fields: the TLS layer's, or read here from the DER when it gave none.
pub(crate) fn leaf_fields(tls: &TlsInfo) -> Option<Result<Cow<'_, ClientCertificate>, String>> {
    let leaf = tls.client_chain.first()?;
    Some(match &tls.client_certificate {
        Some(fields) => Ok(Cow::Borrowed(fields)),
        None => certificate::describe(leaf)
            .map(Cow::Owned)
            .map_err(|e| format!("unreadable client certificate: {}", e.0)),
    })
}

/// Whether the leaf is within its validity period at `now`.
pub(crate) fn check_validity(cert: &ClientCertificate, now: SystemTime) -> Result<(), String> {
    if now < cert.not_before {
        Err("client certificate is not valid yet".into())
    } else if now > cert.not_after {
        Err("client certificate has expired".into())
    } else {
        Ok(())
    }
}

/// Whether the leaf's SHA-256 or SHA-1 thumbprint is among `allowed` (hex, any case;
/// `:` and blanks ignored).
pub(crate) fn thumbprint_allowed(leaf_der: &[u8], allowed: &[String]) -> bool {
    let (sha256, sha1) = certificate::thumbprints(leaf_der);
    let mut found = subtle::Choice::from(0);
    for candidate in allowed {
        let normalized: String = candidate
            .chars()
            .filter(|c| *c != ':' && !c.is_whitespace())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let actual = if normalized.len() == sha1.len() {
            &sha1
        } else {
            &sha256
        };
        if normalized.len() == actual.len() {
            found |= normalized.as_bytes().ct_eq(actual.as_bytes());
        }
    }
    found.into()
}

/// Whether the certificate field `scheme` names equals the authentication name (ignoring
/// case; IP addresses compared as addresses). Subject matches by common name or full DN.
pub(crate) fn field_matches(
    scheme: ValidationScheme,
    cert: &ClientCertificate,
    name: &str,
) -> bool {
    let any = |values: &[String]| values.iter().any(|v| eq_ignore_case(v, name));
    match scheme {
        ValidationScheme::SubjectMatchesAuthenticationName => {
            cert.common_name
                .as_deref()
                .is_some_and(|cn| eq_ignore_case(cn, name))
                || eq_ignore_case(&cert.subject, name)
                || dn_matches(&cert.subject, name)
        }
        ValidationScheme::DnsMatchesAuthenticationName => any(&cert.dns_names),
        ValidationScheme::UriMatchesAuthenticationName => any(&cert.uris),
        ValidationScheme::EmailMatchesAuthenticationName => any(&cert.emails),
        ValidationScheme::IpMatchesAuthenticationName => name
            .parse::<IpAddr>()
            .is_ok_and(|ip| cert.ip_addresses.contains(&ip)),
        ValidationScheme::ThumbprintMatch => false,
    }
}

/// The names a certificate offers through one alternative name source, in order: the
/// subject gives its full DN, then its common name; SAN sources give every entry.
pub(crate) fn source_names(
    source: AlternativeAuthenticationNameSource,
    cert: &ClientCertificate,
) -> Vec<String> {
    use AlternativeAuthenticationNameSource as S;
    match source {
        S::ClientCertificateSubject => [Some(cert.subject.clone()), cert.common_name.clone()]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect(),
        S::ClientCertificateDns => cert.dns_names.clone(),
        S::ClientCertificateUri => cert.uris.clone(),
        S::ClientCertificateIp => cert.ip_addresses.iter().map(IpAddr::to_string).collect(),
        S::ClientCertificateEmail => cert.emails.clone(),
    }
}
