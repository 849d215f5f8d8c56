//! IP networks (`10.0.0.0/8`, `::1`) naming the proxies whose word about the client's
//! address is believed.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An IP network: an address and a prefix length. A bare address is a single host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IpNetwork {
    addr: IpAddr,
    prefix: u8,
}

/// Why a string is not an IP network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    /// The address part does not parse.
    #[error("{0:?} is not an IP address or network (expected e.g. 10.0.0.0/8 or ::1)")]
    Address(String),
    /// The prefix is not a number within the address family's width.
    #[error("{0:?}: the prefix length must be 0-32 for IPv4 and 0-128 for IPv6")]
    Prefix(String),
    /// Bits beyond the prefix are set, which usually means a typo.
    #[error("{0:?}: host bits are set beyond the prefix (did you mean {1}?)")]
    HostBits(String, String),
}

impl IpNetwork {
    /// The network of `addr` with `prefix` leading bits. Host bits must be zero.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, NetworkError> {
        let width = family_width(addr);
        if prefix > width {
            return Err(NetworkError::Prefix(format!("{addr}/{prefix}")));
        }
        let network = Self { addr, prefix };
        let masked = Self {
            addr: mask(addr, prefix),
            prefix,
        };
        if masked != network {
            return Err(NetworkError::HostBits(
                network.to_string(),
                masked.to_string(),
            ));
        }
        Ok(network)
    }

    /// Whether `ip` is inside this network. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`)
    /// count as their IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        family_width(ip) == family_width(self.addr) && mask(ip, self.prefix) == self.addr
    }

    /// Whether any of `networks` contains `ip`.
    pub fn any_contains(networks: &[IpNetwork], ip: IpAddr) -> bool {
        networks.iter().any(|n| n.contains(ip))
    }
}

fn family_width(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((u32::from(v4) & m).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((bits & m).into())
        }
    }
}

impl FromStr for IpNetwork {
    type Err = NetworkError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| NetworkError::Address(text.to_owned()))?;
        let prefix = match prefix {
            None => family_width(addr),
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p
                .parse()
                .map_err(|_| NetworkError::Prefix(text.to_owned()))?,
            Some(_) => return Err(NetworkError::Prefix(text.to_owned())),
        };
        Self::new(addr, prefix)
    }
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl TryFrom<String> for IpNetwork {
    type Error = NetworkError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<IpNetwork> for String {
    fn from(network: IpNetwork) -> Self {
        network.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> IpNetwork {
        text.parse().unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn membership() {
        let cases = [
            ("10.0.0.0/8", "10.1.2.3", true),
            ("10.0.0.0/8", "11.0.0.1", false),
            ("127.0.0.1", "127.0.0.1", true),
            ("127.0.0.1", "127.0.0.2", false),
            ("0.0.0.0/0", "203.0.113.9", true),
            ("0.0.0.0/0", "::1", false),
            ("::1", "::1", true),
            ("fd00::/8", "fd12::1", true),
            ("fd00::/8", "fe80::1", false),
            ("::/0", "2001:db8::1", true),
            ("192.168.0.0/16", "::ffff:192.168.4.5", true),
        ];
        for (network, addr, expected) in cases {
            assert_eq!(
                net(network).contains(ip(addr)),
                expected,
                "{network} ∋ {addr}"
            );
        }
    }

    #[test]
    fn bad_networks_are_explained() {
        for (text, needle) in [
            ("10.0.0.0/33", "prefix"),
            ("10.0.0.0/", "prefix"),
            ("10.0.0.0/+8", "prefix"),
            ("::/129", "prefix"),
            ("localhost", "not an IP"),
            ("10.0.0.1/8", "did you mean 10.0.0.0/8"),
        ] {
            let error = text.parse::<IpNetwork>().unwrap_err().to_string();
            assert!(error.contains(needle), "{text}: {error}");
        }
    }

    #[test]
    fn displays_as_cidr() {
        assert_eq!(net("127.0.0.1").to_string(), "127.0.0.1/32");
        assert_eq!(net("fd00::/8").to_string(), "fd00::/8");
    }
}
