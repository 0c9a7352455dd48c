//! The client's IP address (for rate limits, logs and security events) and whether the request
//! reached the proxy over TLS.
//!
//! Forwarding headers are believed only when the socket peer is a configured trusted proxy
//! (`[server] trusted_proxies`); otherwise anyone could pick their own rate-limit bucket.
//! `X-Forwarded-For` is read from the right: each proxy appends the address it saw, so the
//! right-most hop that is not itself a trusted proxy is the real client.

use std::net::IpAddr;

/// A parsed list of trusted proxy addresses and CIDR ranges.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    nets: Vec<(IpAddr, u8)>,
}

/// An entry of `trusted_proxies` that is neither an IP address nor a CIDR range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadProxyEntry(pub String);

impl std::fmt::Display for BadProxyEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "trusted_proxies: `{}` is not an IP address or CIDR range",
            self.0
        )
    }
}

impl std::error::Error for BadProxyEntry {}

impl TrustedProxies {
    /// Parses entries such as `127.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, BadProxyEntry> {
        let mut nets = Vec::with_capacity(entries.len());
        for entry in entries {
            let text = entry.as_ref().trim();
            let bad = || BadProxyEntry(text.to_owned());
            let (addr, prefix) = match text.split_once('/') {
                Some((a, p)) => (
                    a.parse::<IpAddr>().map_err(|_| bad())?,
                    Some(p.parse::<u8>().map_err(|_| bad())?),
                ),
                None => (text.parse::<IpAddr>().map_err(|_| bad())?, None),
            };
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let prefix = prefix.unwrap_or(max);
            if prefix > max {
                return Err(bad());
            }
            nets.push((addr, prefix));
        }
        Ok(TrustedProxies { nets })
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets
            .iter()
            .any(|&(net, prefix)| in_net(ip, canonical(net), prefix))
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`, what a dual-stack socket reports) compares as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

fn in_net(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix))
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix))
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// The address to attribute a request to.
pub fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted: &TrustedProxies) -> IpAddr {
    let peer = canonical(peer);
    if !trusted.contains(peer) {
        return peer;
    }
    let Some(header) = forwarded_for else {
        return peer;
    };
    let mut client = peer;
    for hop in header.rsplit(',') {
        let Some(ip) = parse_hop(hop) else { break };
        client = canonical(ip);
        if !trusted.contains(client) {
            break;
        }
    }
    client
}

/// Whether the original request used TLS: only a trusted proxy's `X-Forwarded-Proto` can say so
/// (the server itself speaks plain HTTP).
pub fn forwarded_tls(
    peer: IpAddr,
    forwarded_proto: Option<&str>,
    trusted: &TrustedProxies,
) -> bool {
    trusted.contains(canonical(peer))
        && forwarded_proto
            .and_then(|p| p.split(',').next())
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

/// One `X-Forwarded-For` element: an address, possibly `[v6]:port` or `v4:port`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = hop.strip_prefix('[') {
        return rest.split_once(']').and_then(|(a, _)| a.parse().ok());
    }
    hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peer_is_the_client_whatever_the_header_says() {
        let t = TrustedProxies::parse(&["10.0.0.1"]).unwrap();
        assert_eq!(
            client_ip(ip("203.0.113.9"), Some("1.2.3.4"), &t),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn trusted_peer_yields_rightmost_untrusted_hop() {
        let t = TrustedProxies::parse(&["127.0.0.1", "10.0.0.0/8"]).unwrap();
        let got = client_ip(ip("127.0.0.1"), Some("6.6.6.6, 198.51.100.7, 10.1.2.3"), &t);
        assert_eq!(
            got,
            ip("198.51.100.7"),
            "the spoofable left part is ignored"
        );
        assert_eq!(client_ip(ip("127.0.0.1"), None, &t), ip("127.0.0.1"));
        assert_eq!(
            client_ip(ip("127.0.0.1"), Some("10.0.0.5"), &t),
            ip("10.0.0.5")
        );
        assert_eq!(
            client_ip(ip("127.0.0.1"), Some("garbage, 10.0.0.5"), &t),
            ip("10.0.0.5")
        );
        assert_eq!(
            client_ip(ip("::ffff:127.0.0.1"), Some("[2001:db8::1]:443"), &t),
            ip("2001:db8::1")
        );
    }

    #[test]
    fn parses_cidrs_and_rejects_nonsense() {
        let t = TrustedProxies::parse(&["fd00::/8", "192.168.0.0/16"]).unwrap();
        assert!(t.contains(ip("fd12::1")));
        assert!(t.contains(ip("192.168.44.1")));
        assert!(!t.contains(ip("192.169.0.1")));
        assert!(TrustedProxies::parse(&["10.0.0.0/33"]).is_err());
        assert!(TrustedProxies::parse(&["proxy.local"]).is_err());
    }

    #[test]
    fn forwarded_proto_only_from_trusted_peer() {
        let t = TrustedProxies::parse(&["127.0.0.1"]).unwrap();
        assert!(forwarded_tls(ip("127.0.0.1"), Some("https"), &t));
        assert!(!forwarded_tls(ip("127.0.0.2"), Some("https"), &t));
        assert!(!forwarded_tls(ip("127.0.0.1"), Some("http"), &t));
    }
}
