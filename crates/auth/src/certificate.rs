//! Reading certificates: PEM to DER, the fields of a client certificate, thumbprints, and
//! distinguished-name comparison.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use gridmq_transport::ClientCertificate;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use sha1::Sha1;
use sha2::{Digest as _, Sha256};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::oid_registry as oids;
use x509_parser::prelude::FromDer as _;
use x509_parser::time::ASN1Time;
use x509_parser::x509::X509Name;

/// A certificate that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CertificateError(pub(crate) String);

/// Every `CERTIFICATE` block of a PEM text, as DER; an error when there is none or one is
/// not valid base64.
pub fn pem_certificates(pem: &str) -> Result<Vec<CertificateDer<'static>>, CertificateError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CertificateError(format!("invalid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(CertificateError("no PEM CERTIFICATE block".into()));
    }
    Ok(certs)
}

/// One DER certificate as a PEM `CERTIFICATE` block (64-column lines).
pub fn pem_encode(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 64);
    out.push_str("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        // Base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

pub(crate) fn parse(der: &[u8]) -> Result<X509Certificate<'_>, CertificateError> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(CertificateError(
            "trailing bytes after the certificate".into(),
        )),
        Err(e) => Err(CertificateError(format!("not an X.509 certificate: {e}"))),
    }
}

/// The SHA-256 and SHA-1 thumbprints of a DER certificate, lowercase hex.
pub fn thumbprints(der: &[u8]) -> (String, String) {
    (hex(&Sha256::digest(der)), hex(&Sha1::digest(der)))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

pub(crate) fn system_time(t: ASN1Time) -> SystemTime {
    let secs = t.timestamp();
    match u64::try_from(secs) {
        Ok(s) => UNIX_EPOCH + Duration::from_secs(s),
        Err(_) => UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()),
    }
}

/// The fields authentication reads from a DER client certificate: what the TLS layer puts
/// in [`gridmq_transport::TlsInfo::client_certificate`], computed here when it did not.
pub fn describe(der: &[u8]) -> Result<ClientCertificate, CertificateError> {
    let cert = parse(der)?;
    let (sha256_thumbprint, sha1_thumbprint) = thumbprints(der);
    let mut out = ClientCertificate {
        sha256_thumbprint,
        sha1_thumbprint,
        subject: rfc4514(cert.subject()),
        common_name: cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_owned),
        dns_names: Vec::new(),
        uris: Vec::new(),
        ip_addresses: Vec::new(),
        emails: Vec::new(),
        not_before: system_time(cert.validity().not_before),
        not_after: system_time(cert.validity().not_after),
    };
    let san = cert
        .subject_alternative_name()
        .map_err(|e| CertificateError(format!("bad subject alternative name: {e}")))?;
    for name in san.iter().flat_map(|s| s.value.general_names.iter()) {
        match name {
            GeneralName::DNSName(d) => out.dns_names.push((*d).to_owned()),
            GeneralName::URI(u) => out.uris.push((*u).to_owned()),
            GeneralName::RFC822Name(e) => out.emails.push((*e).to_owned()),
            GeneralName::IPAddress(bytes) => {
                if let Some(ip) = ip_from_bytes(bytes) {
                    out.ip_addresses.push(ip);
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

/// A distinguished name as RFC 4514 writes it: most specific RDN first, `,` between RDNs,
/// `+` inside one, special characters escaped (`CN=dev1,O=Contoso,C=US`).
fn rfc4514(name: &X509Name<'_>) -> String {
    let rdns: Vec<String> = name
        .iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|atv| {
                    let key = short_name(atv.attr_type());
                    let value = match atv.as_str() {
                        Ok(s) => escape_dn_value(s),
                        Err(_) => format!("#{}", hex(atv.attr_value().data)),
                    };
                    format!("{key}={value}")
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

fn short_name(oid: &x509_parser::der_parser::Oid<'_>) -> String {
    let known = [
        (oids::OID_X509_COMMON_NAME, "CN"),
        (oids::OID_X509_COUNTRY_NAME, "C"),
        (oids::OID_X509_LOCALITY_NAME, "L"),
        (oids::OID_X509_STATE_OR_PROVINCE_NAME, "ST"),
        (oids::OID_X509_ORGANIZATION_NAME, "O"),
        (oids::OID_X509_ORGANIZATIONAL_UNIT, "OU"),
        (oids::OID_X509_STREET_ADDRESS, "STREET"),
        (oids::OID_DOMAIN_COMPONENT, "DC"),
        (oids::OID_USERID, "UID"),
    ];
    known
        .iter()
        .find(|(k, _)| k == oid)
        .map_or_else(|| oid.to_id_string(), |(_, short)| (*short).to_owned())
}

fn escape_dn_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && matches!(c, '#' | ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Whether `name` is the distinguished name `dn` (RFC 4514 form), ignoring case, blanks
/// around separators, and RDN order (some tools write the least specific RDN first).
pub(crate) fn dn_matches(dn: &str, name: &str) -> bool {
    let a = split_dn(dn);
    let b = split_dn(name);
    a.len() > 1 && (a == b || a.iter().rev().eq(b.iter()))
}

/// RDNs of a DN string, split at unescaped commas, trimmed and case-folded.
fn split_dn(dn: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut escaped = false;
    for c in dn.chars() {
        if escaped {
            current.push(c);
            escaped = false;
        } else if c == '\\' {
            current.push(c);
            escaped = true;
        } else if c == ',' {
            parts.push(normalize_rdn(&current));
            current.clear();
        } else {
            current.push(c);
        }
    }
    parts.push(normalize_rdn(&current));
    parts
}

fn normalize_rdn(rdn: &str) -> String {
    let folded = crate::text::fold_case(rdn.trim());
    match folded.split_once('=') {
        Some((k, v)) => format!("{}={}", k.trim(), v.trim()),
        None => folded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dn_comparison_tolerates_order_case_and_blanks() {
        assert!(dn_matches(
            "CN=dev1,O=Contoso,C=US",
            "cn=dev1, o=contoso, c=us"
        ));
        assert!(dn_matches(
            "CN=dev1,O=Contoso,C=US",
            "C=US, O=Contoso, CN=dev1"
        ));
        assert!(!dn_matches(
            "CN=dev1,O=Contoso,C=US",
            "CN=dev1,O=Fabrikam,C=US"
        ));
        assert!(!dn_matches("CN=dev1", "dev1"));
        assert!(dn_matches(r"CN=a\,b,O=x", r"CN=a\,b, O=x"));
    }

    #[test]
    fn escaping_follows_rfc4514() {
        assert_eq!(escape_dn_value("a,b"), r"a\,b");
        assert_eq!(escape_dn_value(" #x "), r"\ #x\ ");
        assert_eq!(escape_dn_value("#x"), r"\#x");
    }

    #[test]
    fn pem_round_trip_and_errors() {
        let der = vec![0x30, 0x03, 0x02, 0x01, 0x01];
        let pem = pem_encode(&der);
        let back = pem_certificates(&pem).unwrap();
        assert_eq!(back[0].as_ref(), der.as_slice());
        assert!(pem_certificates("nothing here").is_err());
        assert!(describe(&der).is_err());
    }
}
