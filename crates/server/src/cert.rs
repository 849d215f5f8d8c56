//! Development certificates, as `gridmq cert` makes them: a local CA, server
//! certificates with chosen SANs, and client certificates with a chosen common name,
//! signed by the CA or self-signed (for thumbprint authentication). Private keys are
//! written with mode 0600 and never overwrite a file unless asked to.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use gridmq_transport::certificate::thumbprints;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber, SignatureAlgorithm,
};

/// Why a certificate could not be made or written.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// rcgen refused the parameters or the key.
    #[error("{0}")]
    Generate(#[from] rcgen::Error),
    /// A SAN could not be encoded.
    #[error("subject alternative name {0:?}: {1}")]
    San(String, String),
    /// A file could not be read or written.
    #[error("{}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// The key algorithm of a new certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum KeyType {
    /// ECDSA on P-256 with SHA-256.
    #[default]
    EcdsaP256,
    /// ECDSA on P-384 with SHA-384.
    EcdsaP384,
    /// Ed25519.
    Ed25519,
    /// RSA 2048 with SHA-256 (PKCS#1 v1.5 signatures).
    Rsa2048,
}

impl KeyType {
    fn algorithm(self) -> &'static SignatureAlgorithm {
        match self {
            Self::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            Self::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            Self::Ed25519 => &rcgen::PKCS_ED25519,
            Self::Rsa2048 => &rcgen::PKCS_RSA_SHA256,
        }
    }

    fn generate(self) -> Result<KeyPair, CertError> {
        Ok(KeyPair::generate_for(self.algorithm())?)
    }
}

/// What goes into a new certificate.
#[derive(Debug, Clone)]
pub struct Subject {
    /// The subject common name.
    pub common_name: String,
    /// Subject alternative names: IP addresses, URIs (`scheme://...`), emails (`a@b`)
    /// and DNS names, told apart by their form.
    pub sans: Vec<String>,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
    /// Key algorithm.
    pub key_type: KeyType,
}

impl Subject {
    /// `common_name`, valid from a minute ago (clock skew) for `days`.
    pub fn new(common_name: impl Into<String>, days: u32) -> Self {
        let now = SystemTime::now();
        Self {
            common_name: common_name.into(),
            sans: Vec::new(),
            not_before: now - Duration::from_secs(60),
            not_after: now + Duration::from_secs(86_400 * u64::from(days)),
            key_type: KeyType::default(),
        }
    }

    /// With these subject alternative names.
    pub fn sans(mut self, sans: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.sans = sans.into_iter().map(Into::into).collect();
        self
    }

    fn params(&self) -> Result<CertificateParams, CertError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, self.common_name.as_str());
        params.not_before = self.not_before.into();
        params.not_after = self.not_after.into();
        params.serial_number = Some(random_serial());
        for san in &self.sans {
            params.subject_alt_names.push(san_type(san)?);
        }
        Ok(params)
    }
}

fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    // A failure leaves zeros; the serial then repeats, which only matters to CRLs.
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    SerialNumber::from_slice(&bytes)
}

fn san_type(san: &str) -> Result<SanType, CertError> {
    let bad = |e: rcgen::Error| CertError::San(san.to_owned(), e.to_string());
    Ok(if let Ok(ip) = san.parse::<IpAddr>() {
        SanType::IpAddress(ip)
    } else if san.contains("://") {
        SanType::URI(san.try_into().map_err(bad)?)
    } else if san.contains('@') {
        SanType::Rfc822Name(san.try_into().map_err(bad)?)
    } else {
        SanType::DnsName(san.try_into().map_err(bad)?)
    })
}

/// A new certificate and its key, PEM encoded.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PKCS#8 PEM.
    pub key_pem: String,
    /// The certificate, DER.
    pub der: Vec<u8>,
}

impl Issued {
    /// SHA-256 and SHA-1 thumbprints, lowercase hex.
    pub fn thumbprints(&self) -> (String, String) {
        thumbprints(&self.der)
    }
}

/// A CA able to sign: its certificate's names and its key.
#[derive(Debug)]
pub struct Authority {
    issuer: Issuer<'static, KeyPair>,
}

impl Authority {
    /// Reads a CA from its PEM certificate and key.
    pub fn load(cert: &Path, key: &Path) -> Result<Self, CertError> {
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|source| CertError::File {
                path: path.to_owned(),
                source,
            })
        };
        let key = KeyPair::from_pem(&read(key)?)?;
        Ok(Self {
            issuer: Issuer::from_ca_cert_pem(&read(cert)?, key)?,
        })
    }

    /// Reads a CA from PEM text.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, CertError> {
        let key = KeyPair::from_pem(key_pem)?;
        Ok(Self {
            issuer: Issuer::from_ca_cert_pem(cert_pem, key)?,
        })
    }
}

fn issue(
    params: &CertificateParams,
    key: &KeyPair,
    by: Option<&Authority>,
) -> Result<Issued, CertError> {
    let cert = match by {
        Some(ca) => params.signed_by(key, &ca.issuer)?,
        None => params.self_signed(key)?,
    };
    Ok(Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        der: cert.der().to_vec(),
    })
}

/// A self-signed CA certificate that may sign server and client certificates.
pub fn create_ca(subject: &Subject) -> Result<Issued, CertError> {
    let mut params = subject.params()?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    issue(&params, &subject.key_type.generate()?, None)
}

/// A server certificate signed by `ca`; clients check its SANs against the host name.
pub fn create_server(subject: &Subject, ca: &Authority) -> Result<Issued, CertError> {
    leaf(subject, ExtendedKeyUsagePurpose::ServerAuth, Some(ca))
}

/// A client certificate, signed by `ca` or, without one, self-signed (for
/// authentication by thumbprint).
pub fn create_client(subject: &Subject, ca: Option<&Authority>) -> Result<Issued, CertError> {
    leaf(subject, ExtendedKeyUsagePurpose::ClientAuth, ca)
}

fn leaf(
    subject: &Subject,
    usage: ExtendedKeyUsagePurpose,
    ca: Option<&Authority>,
) -> Result<Issued, CertError> {
    let mut params = subject.params()?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    if subject.key_type == KeyType::Rsa2048 {
        params.key_usages.push(KeyUsagePurpose::KeyEncipherment);
    }
    params.extended_key_usages = vec![usage];
    params.use_authority_key_identifier_extension = ca.is_some();
    issue(&params, &subject.key_type.generate()?, ca)
}

/// Writes `issued` to `cert` and `key` (mode 0600). Existing files are kept, and the
/// call fails, unless `overwrite`.
pub fn write(issued: &Issued, cert: &Path, key: &Path, overwrite: bool) -> Result<(), CertError> {
    write_file(key, issued.key_pem.as_bytes(), 0o600, overwrite)?;
    write_file(cert, issued.cert_pem.as_bytes(), 0o644, overwrite)
}

fn write_file(path: &Path, contents: &[u8], mode: u32, overwrite: bool) -> Result<(), CertError> {
    let error = |source| CertError::File {
        path: path.to_owned(),
        source,
    };
    let mut options = OpenOptions::new();
    options.write(true);
    if overwrite {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(mode);
        let mut file = options.open(path).map_err(error)?;
        // An overwritten file keeps its old mode; set it.
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(error)?;
        file.write_all(contents).map_err(error)
    }
    #[cfg(not(unix))]
    {
        let _ = mode;
        options
            .open(path)
            .and_then(|mut f| f.write_all(contents))
            .map_err(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridmq_transport::ClientCertificate;

    #[test]
    fn ca_signs_server_and_client_certificates() {
        let ca = create_ca(&Subject::new("test CA", 30)).unwrap();
        let authority = Authority::from_pem(&ca.cert_pem, &ca.key_pem).unwrap();
        for key_type in [KeyType::EcdsaP256, KeyType::EcdsaP384, KeyType::Ed25519] {
            let mut subject = Subject::new("server", 30).sans(["localhost", "127.0.0.1"]);
            subject.key_type = key_type;
            let server = create_server(&subject, &authority).unwrap();
            let parsed = ClientCertificate::from_der(&server.der).unwrap();
            assert_eq!(parsed.dns_names, ["localhost"]);
            assert_eq!(parsed.ip_addresses.len(), 1);
        }
        let client = create_client(
            &Subject::new("device-1", 30).sans(["urn:x://d", "ops@example.com", "d1.example"]),
            Some(&authority),
        )
        .unwrap();
        let parsed = ClientCertificate::from_der(&client.der).unwrap();
        assert_eq!(parsed.common_name.as_deref(), Some("device-1"));
        assert_eq!(parsed.subject, "CN=device-1");
        assert_eq!(parsed.uris, ["urn:x://d"]);
        assert_eq!(parsed.emails, ["ops@example.com"]);
        assert_eq!(parsed.dns_names, ["d1.example"]);
        assert_eq!(client.thumbprints().0, parsed.sha256_thumbprint);
    }

    #[test]
    fn keys_are_private_and_files_are_not_overwritten() {
        let dir = std::env::temp_dir().join(format!("gridmq-cert-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = (dir.join("c.pem"), dir.join("c.key"));
        let _ = std::fs::remove_file(&cert);
        let _ = std::fs::remove_file(&key);
        let issued = create_client(&Subject::new("self", 1), None).unwrap();
        write(&issued, &cert, &key, false).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(write(&issued, &cert, &key, false).is_err());
        write(&issued, &cert, &key, true).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
