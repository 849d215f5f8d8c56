//! The client address a trusted reverse proxy reports in `Forwarded` (RFC 7239) or
//! `X-Forwarded-For` headers of a WebSocket upgrade request.
//!
//! Each proxy appends the address it received the request from, so the list reads
//! client, proxy 1, proxy 2, ... The client is found by walking it from the right,
//! skipping trusted proxies: the first address that is not one is the furthest hop any
//! trusted proxy vouches for. An entry that cannot be read (`unknown`, an obfuscated
//! name) ends the walk with no answer, and the socket's address stands.

use std::net::{IpAddr, SocketAddr};

use crate::net::IpNetwork;

/// The client address from the `Forwarded` header values or, when there are none, the
/// `X-Forwarded-For` values. `None` if neither yields one.
pub fn client_address(
    forwarded: &[&str],
    x_forwarded_for: &[&str],
    trusted: &[IpNetwork],
) -> Option<SocketAddr> {
    let hops: Vec<Option<SocketAddr>> = if forwarded.iter().any(|v| !v.trim().is_empty()) {
        forwarded
            .iter()
            .flat_map(|value| split_list(value))
            .map(forwarded_for)
            .collect()
    } else {
        x_forwarded_for
            .iter()
            .flat_map(|value| value.split(','))
            .map(|item| node(item.trim()))
            .collect()
    };
    let mut chosen = None;
    for hop in hops.iter().rev() {
        let addr = (*hop)?;
        chosen = Some(addr);
        if !IpNetwork::any_contains(trusted, addr.ip()) {
            break;
        }
    }
    chosen
}

/// Splits a `Forwarded` value into elements at commas outside quoted strings.
fn split_list(value: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                items.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(value[start..].trim());
    items
}

/// The `for=` parameter of one `Forwarded` element.
fn forwarded_for(element: &str) -> Option<SocketAddr> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("for") {
            return None;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        node(value)
    })
}

/// A node: `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]`, `[2001:db8::1]:4711` or a
/// bare IPv6 address (as `X-Forwarded-For` writes it). Unknown ports are 0.
fn node(text: &str) -> Option<SocketAddr> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr);
    }
    let bare = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    bare.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted() -> Vec<IpNetwork> {
        vec!["127.0.0.1".parse().unwrap(), "10.0.0.0/8".parse().unwrap()]
    }

    fn addr(text: &str) -> Option<SocketAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn x_forwarded_for() {
        let t = trusted();
        assert_eq!(
            client_address(&[], &["203.0.113.7"], &t),
            addr("203.0.113.7:0")
        );
        // A client-supplied entry left of the real client is not believed.
        assert_eq!(
            client_address(&[], &["198.51.100.1, 203.0.113.7, 10.0.0.2"], &t),
            addr("203.0.113.7:0")
        );
        assert_eq!(
            client_address(&[], &["198.51.100.1", "203.0.113.7"], &t),
            addr("203.0.113.7:0")
        );
        assert_eq!(
            client_address(&[], &["2001:db8::7"], &t),
            addr("[2001:db8::7]:0")
        );
        assert_eq!(
            client_address(&[], &["10.0.0.3, 10.0.0.2"], &t),
            addr("10.0.0.3:0")
        );
        assert_eq!(client_address(&[], &["nonsense"], &t), None);
        assert_eq!(client_address(&[], &[], &t), None);
    }

    #[test]
    fn forwarded() {
        let t = trusted();
        assert_eq!(
            client_address(&["for=192.0.2.60;proto=https;by=203.0.113.43"], &[], &t),
            addr("192.0.2.60:0")
        );
        assert_eq!(
            client_address(&[r#"for="[2001:db8:cafe::17]:4711""#], &[], &t),
            addr("[2001:db8:cafe::17]:4711")
        );
        assert_eq!(
            client_address(&["for=192.0.2.43, for=10.0.0.9"], &["198.51.100.1"], &t),
            addr("192.0.2.43:0")
        );
        assert_eq!(
            client_address(&[r#"for="_gazonk", For="192.0.2.43:4711""#], &[], &t),
            addr("192.0.2.43:4711")
        );
        // Walking left reaches an obfuscated hop behind a trusted one: no answer.
        assert_eq!(
            client_address(&["for=unknown, for=10.0.0.9"], &[], &t),
            None
        );
    }
}
