//! The HTTP client for JWKS and webhooks: reqwest over rustls with the ring provider and the
//! system's roots, no redirects, and bounded response bodies.

use std::sync::Arc;

use crate::error::BuildError;

/// A client trusting the system's root certificates plus `extra_roots` (DER).
pub(crate) fn client(extra_roots: &[Vec<u8>]) -> Result<reqwest::Client, BuildError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A malformed system certificate only means one root fewer.
        let _ = roots.add(cert);
    }
    for der in extra_roots {
        roots
            .add(der.clone().into())
            .map_err(|e| BuildError::one(format!("extra root certificate: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| BuildError::one(format!("TLS client: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("gridmq/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| BuildError::one(format!("HTTP client: {e}")))
}

/// The body of a 200 response, at most `max` bytes; anything else is an error message.
pub(crate) async fn read_ok_body(
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, String> {
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        return Err(format!("answered HTTP {}", status.as_u16()));
    }
    if response
        .content_length()
        .is_some_and(|len| len > max as u64)
    {
        return Err(format!("answer is larger than {max} bytes"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("reading the answer failed: {}", error_chain(&e)))?
    {
        if body.len() + chunk.len() > max {
            return Err(format!("answer is larger than {max} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// An error with its causes, for the log (reqwest's own message omits them).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}
