//! The PROXY protocol (HAProxy, versions 1 and 2): the header a load balancer sends
//! first on a connection it forwards, naming the real client address and, in version 2,
//! details of the TLS it terminated.
//!
//! [`parse`] is a strict, total decoder over a byte slice; [`read_header`] reads one
//! header from a stream without consuming any byte past it (bytes read beyond it are
//! handed back).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::peer::{AddressSource, ProxiedConnection, ProxiedTls};

/// The 12 bytes that open a version 2 header.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The longest version 1 header, CRLF included.
pub const V1_MAX_LEN: usize = 107;
/// The longest version 2 header accepted (the protocol allows 16 + 65535 bytes; real
/// proxies send a few hundred).
pub const V2_MAX_LEN: usize = 16 + 4096;

/// A decoded PROXY header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyHeader {
    /// Version 1 or 2.
    pub source_kind: AddressSource,
    /// The client's address; `None` for `UNKNOWN` (v1), `LOCAL` (v2, health checks)
    /// and address families other than IPv4 and IPv6, which mean "use the socket's".
    pub source: Option<SocketAddr>,
    /// The rest of what the proxy reported.
    pub connection: ProxiedConnection,
}

/// Why a PROXY header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// The connection does not start with a PROXY header.
    #[error(
        "no PROXY protocol header (the connection must start with \"PROXY \" or the v2 signature)"
    )]
    Missing,
    /// A version 1 line that breaks the grammar.
    #[error("malformed PROXY v1 header: {0}")]
    V1(&'static str),
    /// A version 2 header that breaks the format.
    #[error("malformed PROXY v2 header: {0}")]
    V2(&'static str),
    /// Longer than the limit.
    #[error("PROXY header longer than {0} bytes")]
    TooLong(usize),
    /// The stream ended inside the header.
    #[error("connection closed inside the PROXY header")]
    Truncated,
    /// Reading failed.
    #[error("reading the PROXY header: {0}")]
    Io(String),
}

/// Decodes a PROXY header at the start of `buf`: `Ok(None)` when more bytes are needed,
/// otherwise the header and how many bytes it took.
pub fn parse(buf: &[u8]) -> Result<Option<(ProxyHeader, usize)>, ProxyError> {
    let probe = buf.len().min(V2_SIGNATURE.len());
    if buf[..probe] == V2_SIGNATURE[..probe] {
        if buf.len() < V2_SIGNATURE.len() {
            return Ok(None);
        }
        return parse_v2(buf);
    }
    let probe = buf.len().min(6);
    if buf[..probe] == b"PROXY "[..probe] {
        if buf.len() < 6 {
            return Ok(None);
        }
        return parse_v1(buf);
    }
    Err(ProxyError::Missing)
}

fn parse_v1(buf: &[u8]) -> Result<Option<(ProxyHeader, usize)>, ProxyError> {
    let window = &buf[..buf.len().min(V1_MAX_LEN)];
    let Some(cr) = window.iter().position(|&b| b == b'\r') else {
        if window.contains(&b'\n') {
            return Err(ProxyError::V1("line ends without CR"));
        }
        return if buf.len() >= V1_MAX_LEN {
            Err(ProxyError::TooLong(V1_MAX_LEN))
        } else {
            Ok(None)
        };
    };
    match window.get(cr + 1) {
        None if buf.len() < V1_MAX_LEN => return Ok(None),
        Some(b'\n') => {}
        _ => return Err(ProxyError::V1("CR not followed by LF")),
    }
    let line = std::str::from_utf8(&window[6..cr]).map_err(|_| ProxyError::V1("not ASCII"))?;
    let header = |source| ProxyHeader {
        source_kind: AddressSource::ProxyV1,
        source,
        connection: ProxiedConnection::default(),
    };
    if line == "UNKNOWN" || line.starts_with("UNKNOWN ") {
        return Ok(Some((header(None), cr + 2)));
    }
    let fields: Vec<&str> = line.split(' ').collect();
    let [family, src, dst, sport, dport] = fields[..] else {
        return Err(ProxyError::V1(
            "expected TCP4|TCP6 SRC DST SPORT DPORT separated by single spaces",
        ));
    };
    let (src, dst): (IpAddr, IpAddr) = match family {
        "TCP4" => (
            IpAddr::V4(src.parse().map_err(|_| ProxyError::V1("bad IPv4 source"))?),
            IpAddr::V4(
                dst.parse()
                    .map_err(|_| ProxyError::V1("bad IPv4 destination"))?,
            ),
        ),
        "TCP6" => (
            IpAddr::V6(src.parse().map_err(|_| ProxyError::V1("bad IPv6 source"))?),
            IpAddr::V6(
                dst.parse()
                    .map_err(|_| ProxyError::V1("bad IPv6 destination"))?,
            ),
        ),
        _ => return Err(ProxyError::V1("unknown protocol family")),
    };
    let (sport, dport) = (v1_port(sport)?, v1_port(dport)?);
    let mut parsed = header(Some(SocketAddr::new(src, sport)));
    parsed.connection.destination = Some(SocketAddr::new(dst, dport));
    Ok(Some((parsed, cr + 2)))
}

/// A decimal port, 0-65535, without leading zeros or signs.
fn v1_port(text: &str) -> Result<u16, ProxyError> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if !digits || (text.len() > 1 && text.starts_with('0')) {
        return Err(ProxyError::V1("bad port"));
    }
    text.parse()
        .map_err(|_| ProxyError::V1("port out of range"))
}

fn parse_v2(buf: &[u8]) -> Result<Option<(ProxyHeader, usize)>, ProxyError> {
    if buf.len() < 16 {
        return Ok(None);
    }
    let version_command = buf[12];
    if version_command >> 4 != 2 {
        return Err(ProxyError::V2("version is not 2"));
    }
    let local = match version_command & 0x0f {
        0 => true,
        1 => false,
        _ => return Err(ProxyError::V2("unknown command")),
    };
    let family = buf[13];
    let len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if 16 + len > V2_MAX_LEN {
        return Err(ProxyError::TooLong(V2_MAX_LEN));
    }
    if buf.len() < 16 + len {
        return Ok(None);
    }
    let body = &buf[16..16 + len];
    let (addresses, tlvs) = match family {
        // UNSPEC: no addresses, possibly TLVs.
        0x00 => (None, body),
        0x11 => split_addresses(body, 12, |a| {
            let ip = |o: usize| IpAddr::V4(Ipv4Addr::new(a[o], a[o + 1], a[o + 2], a[o + 3]));
            (ip(0), ip(4), port(a, 8), port(a, 10))
        })?,
        0x21 => split_addresses(body, 36, |a| {
            let ip = |o: usize| {
                let mut octets = [0; 16];
                octets.copy_from_slice(&a[o..o + 16]);
                IpAddr::V6(Ipv6Addr::from(octets))
            };
            (ip(0), ip(16), port(a, 32), port(a, 34))
        })?,
        // AF_UNIX stream: paths, not addresses the broker can use.
        0x31 => {
            if body.len() < 216 {
                return Err(ProxyError::V2("UNIX addresses shorter than 216 bytes"));
            }
            (None, &body[216..])
        }
        0x12 | 0x22 | 0x32 => {
            return Err(ProxyError::V2("datagram transport on a stream listener"));
        }
        _ => return Err(ProxyError::V2("unknown address family or transport")),
    };
    let mut connection = parse_tlvs(tlvs, &buf[..16 + len])?;
    let source = match addresses {
        Some((src, dst)) if !local => {
            connection.destination = Some(dst);
            Some(src)
        }
        _ => None,
    };
    let header = ProxyHeader {
        source_kind: AddressSource::ProxyV2,
        source,
        connection,
    };
    Ok(Some((header, 16 + len)))
}

type AddressPair = (SocketAddr, SocketAddr);

fn split_addresses(
    body: &[u8],
    size: usize,
    decode: impl Fn(&[u8]) -> (IpAddr, IpAddr, u16, u16),
) -> Result<(Option<AddressPair>, &[u8]), ProxyError> {
    if body.len() < size {
        return Err(ProxyError::V2(
            "address block shorter than its family needs",
        ));
    }
    let (src, dst, sport, dport) = decode(&body[..size]);
    let pair = (SocketAddr::new(src, sport), SocketAddr::new(dst, dport));
    Ok((Some(pair), &body[size..]))
}

fn port(bytes: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([bytes[at], bytes[at + 1]])
}

const PP2_TYPE_ALPN: u8 = 0x01;
const PP2_TYPE_AUTHORITY: u8 = 0x02;
const PP2_TYPE_CRC32C: u8 = 0x03;
const PP2_TYPE_UNIQUE_ID: u8 = 0x05;
const PP2_TYPE_SSL: u8 = 0x20;
const PP2_SUBTYPE_SSL_VERSION: u8 = 0x21;
const PP2_SUBTYPE_SSL_CN: u8 = 0x22;
const PP2_SUBTYPE_SSL_CIPHER: u8 = 0x23;
const PP2_SUBTYPE_SSL_SIG_ALG: u8 = 0x24;
const PP2_SUBTYPE_SSL_KEY_ALG: u8 = 0x25;
const PP2_CLIENT_SSL: u8 = 0x01;
const PP2_CLIENT_CERT_CONN: u8 = 0x02;
const PP2_CLIENT_CERT_SESS: u8 = 0x04;

/// Splits a TLV list into `(type, value)` pairs; every byte must belong to one.
fn tlvs(mut bytes: &[u8]) -> Result<Vec<(u8, &[u8])>, ProxyError> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        if bytes.len() < 3 {
            return Err(ProxyError::V2("truncated TLV"));
        }
        let len = usize::from(u16::from_be_bytes([bytes[1], bytes[2]]));
        let value = bytes
            .get(3..3 + len)
            .ok_or(ProxyError::V2("TLV longer than the header"))?;
        out.push((bytes[0], value));
        bytes = &bytes[3 + len..];
    }
    Ok(out)
}

fn text(value: &[u8], what: &'static str) -> Result<String, ProxyError> {
    String::from_utf8(value.to_vec()).map_err(|_| ProxyError::V2(what))
}

fn parse_tlvs(bytes: &[u8], header: &[u8]) -> Result<ProxiedConnection, ProxyError> {
    let mut connection = ProxiedConnection::default();
    for (kind, value) in tlvs(bytes)? {
        match kind {
            PP2_TYPE_ALPN => connection.alpn = Some(value.to_vec()),
            PP2_TYPE_AUTHORITY => {
                connection.authority = Some(text(value, "authority is not UTF-8")?);
            }
            PP2_TYPE_CRC32C => check_crc(value, header)?,
            PP2_TYPE_UNIQUE_ID if value.len() > 128 => {
                return Err(ProxyError::V2("unique id longer than 128 bytes"));
            }
            PP2_TYPE_UNIQUE_ID => connection.unique_id = Some(value.to_vec()),
            PP2_TYPE_SSL => connection.tls = parse_ssl(value)?,
            // NOOP, NETNS and custom types carry nothing the broker uses.
            _ => {}
        }
    }
    Ok(connection)
}

fn parse_ssl(value: &[u8]) -> Result<Option<ProxiedTls>, ProxyError> {
    if value.len() < 5 {
        return Err(ProxyError::V2("SSL TLV shorter than 5 bytes"));
    }
    let client = value[0];
    let verify = u32::from_be_bytes([value[1], value[2], value[3], value[4]]);
    let mut tls = ProxiedTls {
        client_certificate_presented: client & PP2_CLIENT_CERT_CONN != 0,
        client_certificate_in_session: client & PP2_CLIENT_CERT_SESS != 0,
        ..ProxiedTls::default()
    };
    tls.client_certificate_verified =
        verify == 0 && (tls.client_certificate_presented || tls.client_certificate_in_session);
    for (kind, sub) in tlvs(&value[5..])? {
        let field = match kind {
            PP2_SUBTYPE_SSL_VERSION => &mut tls.version,
            PP2_SUBTYPE_SSL_CN => &mut tls.common_name,
            PP2_SUBTYPE_SSL_CIPHER => &mut tls.cipher,
            PP2_SUBTYPE_SSL_SIG_ALG => &mut tls.signature_algorithm,
            PP2_SUBTYPE_SSL_KEY_ALG => &mut tls.key_algorithm,
            _ => continue,
        };
        *field = Some(text(sub, "SSL sub-TLV is not UTF-8")?);
    }
    Ok((client & PP2_CLIENT_SSL != 0).then_some(tls))
}

/// Checks `PP2_TYPE_CRC32C`: CRC-32C of the whole header with this field's value zeroed.
fn check_crc(value: &[u8], header: &[u8]) -> Result<(), ProxyError> {
    let expected: [u8; 4] = value
        .try_into()
        .map_err(|_| ProxyError::V2("CRC32C TLV is not 4 bytes"))?;
    // The value is a sub-slice of `header`; find its offset to zero it.
    let offset = value.as_ptr() as usize - header.as_ptr() as usize;
    let mut copy = header.to_vec();
    copy[offset..offset + 4].fill(0);
    if crc32c(&copy) == u32::from_be_bytes(expected) {
        Ok(())
    } else {
        Err(ProxyError::V2("CRC32C checksum mismatch"))
    }
}

/// CRC-32C (Castagnoli), bitwise: headers are short and checksums rare.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Reads one PROXY header from `io`. Returns it with the bytes read past it, which
/// belong to the protocol that follows (see [`crate::stream::Rewind`]).
pub async fn read_header<S: AsyncRead + Unpin>(
    io: &mut S,
) -> Result<(ProxyHeader, Bytes), ProxyError> {
    let mut buf = BytesMut::with_capacity(256);
    loop {
        if let Some((header, used)) = parse(&buf)? {
            let _ = buf.split_to(used);
            return Ok((header, buf.freeze()));
        }
        // Never read more than the longest header could still need.
        let room = V2_MAX_LEN.saturating_sub(buf.len()).clamp(1, 512);
        let mut chunk = [0u8; 512];
        let n = io
            .read(&mut chunk[..room])
            .await
            .map_err(|e| ProxyError::Io(e.to_string()))?;
        if n == 0 {
            return Err(ProxyError::Truncated);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
        let mut out = V2_SIGNATURE.to_vec();
        out.push(0x20 | command);
        out.push(family);
        out.extend_from_slice(&(body.len() as u16).to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    fn ipv4_body() -> Vec<u8> {
        let mut body = vec![192, 0, 2, 7, 10, 0, 0, 1];
        body.extend_from_slice(&40_000u16.to_be_bytes());
        body.extend_from_slice(&8883u16.to_be_bytes());
        body
    }

    fn tlv(kind: u8, value: &[u8]) -> Vec<u8> {
        let mut out = vec![kind];
        out.extend_from_slice(&(value.len() as u16).to_be_bytes());
        out.extend_from_slice(value);
        out
    }

    #[test]
    fn v1_lines() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                "PROXY TCP4 192.0.2.7 10.0.0.1 40000 1883\r\n",
                Some("192.0.2.7:40000"),
            ),
            (
                "PROXY TCP6 2001:db8::7 ::1 40000 1883\r\n",
                Some("[2001:db8::7]:40000"),
            ),
            ("PROXY UNKNOWN\r\n", None),
            ("PROXY UNKNOWN ff:: ::1 1 2\r\n", None),
        ];
        for (line, source) in cases {
            let mut input = line.as_bytes().to_vec();
            input.extend_from_slice(b"\x10rest");
            let (header, used) = parse(&input).unwrap().unwrap();
            assert_eq!(used, line.len(), "{line}");
            assert_eq!(header.source_kind, AddressSource::ProxyV1);
            assert_eq!(header.source, source.map(|s| s.parse().unwrap()), "{line}");
        }
    }

    #[test]
    fn v1_grammar_is_strict() {
        for line in [
            "PROXY TCP4 192.0.2.7 10.0.0.1 40000\r\n",
            "PROXY TCP4  192.0.2.7 10.0.0.1 40000 1883\r\n",
            "PROXY TCP4 192.0.2.7 10.0.0.1 040000 1883\r\n",
            "PROXY TCP4 192.0.2.7 10.0.0.1 70000 1883\r\n",
            "PROXY TCP4 192.0.2.7 10.0.0.1 +4000 1883\r\n",
            "PROXY TCP4 2001:db8::7 10.0.0.1 4000 1883\r\n",
            "PROXY TCP6 192.0.2.7 ::1 4000 1883\r\n",
            "PROXY UDP4 192.0.2.7 10.0.0.1 4000 1883\r\n",
            "PROXY TCP4 192.0.2.7 10.0.0.1 4000 1883\n",
            "PROXY TCP4 192.0.2.7 10.0.0.1 4000 1883\rX",
        ] {
            assert!(
                matches!(parse(line.as_bytes()), Err(ProxyError::V1(_))),
                "{line:?} -> {:?}",
                parse(line.as_bytes())
            );
        }
    }

    #[test]
    fn v1_needs_more_then_gives_up_at_its_maximum() {
        assert_eq!(parse(b"PRO"), Ok(None));
        assert_eq!(parse(b"PROXY TCP4 192.0.2.7"), Ok(None));
        let long = format!("PROXY {}", "A".repeat(200));
        assert_eq!(parse(long.as_bytes()), Err(ProxyError::TooLong(V1_MAX_LEN)));
    }

    #[test]
    fn not_a_proxy_header() {
        assert_eq!(parse(b"\x10\x0c\x00\x04MQTT"), Err(ProxyError::Missing));
        assert_eq!(parse(b"GET /mqtt HTTP/1.1\r\n"), Err(ProxyError::Missing));
        assert_eq!(parse(b"\x16\x03\x01"), Err(ProxyError::Missing));
    }

    #[test]
    fn v2_ipv4_and_ipv6() {
        let input = v2(1, 0x11, &ipv4_body());
        let (header, used) = parse(&input).unwrap().unwrap();
        assert_eq!(used, input.len());
        assert_eq!(header.source, Some("192.0.2.7:40000".parse().unwrap()));
        assert_eq!(
            header.connection.destination,
            Some("10.0.0.1:8883".parse().unwrap())
        );

        let mut body = Vec::new();
        body.extend_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
        body.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        body.extend_from_slice(&[0x9c, 0x40, 0x07, 0x5b]);
        let (header, _) = parse(&v2(1, 0x21, &body)).unwrap().unwrap();
        assert_eq!(header.source, Some("[2001:db8::7]:40000".parse().unwrap()));
    }

    #[test]
    fn v2_local_and_unspec_keep_the_socket_address() {
        let (header, _) = parse(&v2(0, 0x11, &ipv4_body())).unwrap().unwrap();
        assert_eq!(header.source, None);
        let (header, _) = parse(&v2(1, 0x00, &[])).unwrap().unwrap();
        assert_eq!(header.source, None);
    }

    #[test]
    fn v2_tls_tlvs() {
        let mut ssl = vec![PP2_CLIENT_SSL | PP2_CLIENT_CERT_CONN, 0, 0, 0, 0];
        ssl.extend(tlv(PP2_SUBTYPE_SSL_VERSION, b"TLSv1.3"));
        ssl.extend(tlv(PP2_SUBTYPE_SSL_CN, b"device-1"));
        ssl.extend(tlv(PP2_SUBTYPE_SSL_CIPHER, b"TLS_AES_128_GCM_SHA256"));
        let mut body = ipv4_body();
        body.extend(tlv(PP2_TYPE_ALPN, b"mqtt"));
        body.extend(tlv(PP2_TYPE_AUTHORITY, b"mqtt.example.com"));
        body.extend(tlv(0x04, b"\0\0\0"));
        body.extend(tlv(PP2_TYPE_SSL, &ssl));
        let (header, _) = parse(&v2(1, 0x11, &body)).unwrap().unwrap();
        let connection = header.connection;
        assert_eq!(connection.alpn.as_deref(), Some(&b"mqtt"[..]));
        assert_eq!(connection.authority.as_deref(), Some("mqtt.example.com"));
        let tls = connection.tls.unwrap();
        assert!(tls.client_certificate_presented && tls.client_certificate_verified);
        assert_eq!(tls.version.as_deref(), Some("TLSv1.3"));
        assert_eq!(tls.common_name.as_deref(), Some("device-1"));
        assert_eq!(tls.cipher.as_deref(), Some("TLS_AES_128_GCM_SHA256"));
    }

    #[test]
    fn v2_failed_client_verification_is_reported() {
        let ssl = [PP2_CLIENT_SSL | PP2_CLIENT_CERT_CONN, 0, 0, 0, 1];
        let mut body = ipv4_body();
        body.extend(tlv(PP2_TYPE_SSL, &ssl));
        let (header, _) = parse(&v2(1, 0x11, &body)).unwrap().unwrap();
        let tls = header.connection.tls.unwrap();
        assert!(tls.client_certificate_presented && !tls.client_certificate_verified);
    }

    #[test]
    fn v2_crc32c_is_checked() {
        let mut body = ipv4_body();
        body.extend(tlv(PP2_TYPE_CRC32C, &[0; 4]));
        let mut input = v2(1, 0x11, &body);
        let crc = crc32c(&input).to_be_bytes();
        let at = input.len() - 4;
        input[at..].copy_from_slice(&crc);
        assert!(parse(&input).unwrap().is_some());
        input[at] ^= 1;
        assert_eq!(
            parse(&input),
            Err(ProxyError::V2("CRC32C checksum mismatch"))
        );
    }

    #[test]
    fn crc32c_reference_value() {
        // RFC 3720 B.4: 32 bytes of zeros.
        assert_eq!(crc32c(&[0; 32]), 0x8A91_36AA);
    }

    #[test]
    fn v2_malformed() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                {
                    let mut h = v2(1, 0x11, &ipv4_body());
                    h[12] = 0x11;
                    h
                },
                "version",
            ),
            (v2(2, 0x11, &ipv4_body()), "command"),
            (v2(1, 0x12, &ipv4_body()), "datagram"),
            (v2(1, 0x41, &ipv4_body()), "family"),
            (v2(1, 0x11, &ipv4_body()[..8]), "shorter"),
            (v2(1, 0x21, &ipv4_body()), "shorter"),
            (
                {
                    let mut body = ipv4_body();
                    body.extend([PP2_TYPE_AUTHORITY, 0, 9, b'x']);
                    v2(1, 0x11, &body)
                },
                "TLV",
            ),
            (
                {
                    let mut body = ipv4_body();
                    body.extend([PP2_TYPE_AUTHORITY, 0]);
                    v2(1, 0x11, &body)
                },
                "TLV",
            ),
            (
                {
                    let mut body = ipv4_body();
                    body.extend(tlv(PP2_TYPE_AUTHORITY, &[0xff, 0xfe]));
                    v2(1, 0x11, &body)
                },
                "UTF-8",
            ),
            (
                {
                    let mut body = ipv4_body();
                    body.extend(tlv(PP2_TYPE_SSL, &[1, 0]));
                    v2(1, 0x11, &body)
                },
                "SSL",
            ),
        ];
        for (input, needle) in cases {
            let error = parse(&input).unwrap_err().to_string();
            assert!(error.contains(needle), "{needle}: {error}");
        }
    }

    #[test]
    fn v2_length_limit_and_partial_input() {
        let input = v2(1, 0x11, &ipv4_body());
        for cut in 0..input.len() {
            assert_eq!(parse(&input[..cut]), Ok(None), "cut at {cut}");
        }
        let mut huge = V2_SIGNATURE.to_vec();
        huge.extend([0x21, 0x11, 0xff, 0xff]);
        assert_eq!(parse(&huge), Err(ProxyError::TooLong(V2_MAX_LEN)));
    }

    #[tokio::test]
    async fn read_header_hands_back_what_follows() {
        let mut input = b"PROXY TCP4 192.0.2.7 10.0.0.1 40000 1883\r\n".to_vec();
        input.extend_from_slice(b"\x10\x0c\x00\x04MQTT");
        let mut reader = &input[..];
        let (header, rest) = read_header(&mut reader).await.unwrap();
        assert_eq!(header.source, Some("192.0.2.7:40000".parse().unwrap()));
        assert_eq!(&rest[..], b"\x10\x0c\x00\x04MQTT");

        let mut truncated = &b"PROXY TCP4 192.0.2.7"[..];
        assert_eq!(
            read_header(&mut truncated).await.unwrap_err(),
            ProxyError::Truncated
        );
    }
}
