//! Reading a client's leaf certificate into [`ClientCertificate`]: thumbprints, subject,
//! common name, subject alternative names and validity.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use aws_lc_rs::digest;
use x509_parser::der_parser::oid::Oid;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

use crate::peer::ClientCertificate;

/// Why a certificate could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot parse the client certificate: {0}")]
pub struct CertificateError(String);

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// SHA-256 and SHA-1 thumbprints of a DER certificate, lowercase hex.
pub fn thumbprints(der: &[u8]) -> (String, String) {
    (
        hex(digest::digest(&digest::SHA256, der).as_ref()),
        hex(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, der).as_ref()),
    )
}

impl ClientCertificate {
    /// Reads the fields authentication uses from a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, CertificateError> {
        let (rest, cert) =
            X509Certificate::from_der(der).map_err(|e| CertificateError(e.to_string()))?;
        if !rest.is_empty() {
            return Err(CertificateError(
                "trailing bytes after the certificate".into(),
            ));
        }
        let (sha256_thumbprint, sha1_thumbprint) = thumbprints(der);
        let subject = cert.subject();
        let mut parsed = ClientCertificate {
            sha256_thumbprint,
            sha1_thumbprint,
            subject: rfc4514(subject),
            common_name: subject
                .iter_common_name()
                .next()
                .and_then(|cn| cn.as_str().ok())
                .map(str::to_owned),
            dns_names: Vec::new(),
            uris: Vec::new(),
            ip_addresses: Vec::new(),
            emails: Vec::new(),
            not_before: to_system_time(cert.validity().not_before.timestamp()),
            not_after: to_system_time(cert.validity().not_after.timestamp()),
        };
        let san = cert
            .subject_alternative_name()
            .map_err(|e| CertificateError(e.to_string()))?;
        for name in san.iter().flat_map(|ext| ext.value.general_names.iter()) {
            match name {
                GeneralName::DNSName(dns) => parsed.dns_names.push((*dns).to_owned()),
                GeneralName::URI(uri) => parsed.uris.push((*uri).to_owned()),
                GeneralName::RFC822Name(email) => parsed.emails.push((*email).to_owned()),
                GeneralName::IPAddress(bytes) => {
                    if let Some(ip) = ip_from_bytes(bytes) {
                        parsed.ip_addresses.push(ip);
                    }
                }
                _ => {}
            }
        }
        Ok(parsed)
    }
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

fn to_system_time(unix_seconds: i64) -> SystemTime {
    let magnitude = Duration::from_secs(unix_seconds.unsigned_abs());
    if unix_seconds >= 0 {
        SystemTime::UNIX_EPOCH + magnitude
    } else {
        SystemTime::UNIX_EPOCH - magnitude
    }
}

/// The distinguished name as RFC 4514 writes it: last RDN first, `,` between RDNs, `+`
/// inside one, short names for well-known attributes, dotted OIDs and `#hex` otherwise.
pub fn rfc4514(name: &X509Name<'_>) -> String {
    let rdns: Vec<String> = name
        .iter()
        .map(|rdn| rdn.iter().map(attribute).collect::<Vec<_>>().join("+"))
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

fn attribute(attr: &AttributeTypeAndValue<'_>) -> String {
    let oid = attr.attr_type();
    match (short_name(oid), attr.as_str()) {
        (Some(short), Ok(value)) => format!("{short}={}", escape(value)),
        (_, _) => format!("{}=#{}", oid.to_id_string(), hex(attr.attr_value().data)),
    }
}

fn short_name(oid: &Oid<'_>) -> Option<&'static str> {
    Some(match oid.to_id_string().as_str() {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

/// Escapes an attribute value per RFC 4514 section 2.4.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, '"' | '+' | ',' | ';' | '<' | '>' | '\\')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if c == '\0' {
            out.push_str("\\00");
            continue;
        }
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DnType, KeyPair, SanType};

    #[test]
    fn fields_of_a_client_certificate() {
        let mut params = CertificateParams::new(vec!["dev1.example.com".to_owned()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Contoso, Ltd");
        params.distinguished_name.push(DnType::CommonName, "dev1");
        params.subject_alt_names.extend([
            SanType::URI("spiffe://example.com/dev1".try_into().unwrap()),
            SanType::IpAddress("192.0.2.1".parse().unwrap()),
            SanType::Rfc822Name("ops@example.com".try_into().unwrap()),
        ]);
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2034, 1, 1);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let parsed = ClientCertificate::from_der(cert.der()).unwrap();

        assert_eq!(parsed.common_name.as_deref(), Some("dev1"));
        assert_eq!(parsed.subject, "CN=dev1,O=Contoso\\, Ltd");
        assert_eq!(parsed.dns_names, ["dev1.example.com"]);
        assert_eq!(parsed.uris, ["spiffe://example.com/dev1"]);
        assert_eq!(
            parsed.ip_addresses,
            ["192.0.2.1".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(parsed.emails, ["ops@example.com"]);
        assert_eq!(parsed.sha256_thumbprint.len(), 64);
        assert_eq!(parsed.sha1_thumbprint.len(), 40);
        assert_eq!(
            parsed.not_before,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_704_067_200)
        );
        assert!(parsed.not_after > parsed.not_before);
    }

    #[test]
    fn thumbprints_are_lowercase_hex_digests() {
        let (sha256, sha1) = thumbprints(b"abc");
        assert_eq!(
            sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(sha1, "a9993e364706816aba3e25717850c26c9cd0d89d");
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(ClientCertificate::from_der(b"\x30\x03\x02\x01").is_err());
    }

    #[test]
    fn escaping() {
        assert_eq!(escape(" a#b "), "\\ a#b\\ ");
        assert_eq!(escape("#x"), "\\#x");
        assert_eq!(escape("a=b"), "a=b");
    }
}
