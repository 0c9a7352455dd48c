//! Which webhook URLs we accept: http or https to a public address.
//!
//! A webhook makes this appliance send requests on a user's behalf, so a URL pointing at the
//! appliance itself or at the local network (loopback, private, link-local, unspecified,
//! multicast and other reserved ranges) would let a user probe or attack that network (SSRF).
//! Literal IPs are checked directly; host names are resolved and every address must be public.
//! `[network] allow_private_addresses = true` lifts the address rule (for LAN-only setups and
//! tests). The delivery side re-checks the resolved address before each connection, because DNS
//! answers can change: it calls [`is_public_ip`].

use super::Error;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};

const FIELD: &str = "webhookUrl";
const MAX_URL_LEN: usize = 2048;

/// The parts of a webhook URL we care about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookTarget {
    pub https: bool,
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    pub port: u16,
}

/// Parses a webhook URL without looking at the network.
pub fn parse(url: &str) -> Result<WebhookTarget, Error> {
    let invalid = |msg: &str| Error::validation(FIELD, msg.to_string());
    if url.len() > MAX_URL_LEN {
        return Err(invalid("is too long"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("must not contain spaces or control characters"));
    }
    let lower = url.to_ascii_lowercase();
    let (https, rest) = if lower.starts_with("https://") {
        (true, &url[8..])
    } else if lower.starts_with("http://") {
        (false, &url[7..])
    } else {
        return Err(invalid("must start with http:// or https://"));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(invalid("must not contain a user name or password"));
    }
    let (host, port_text) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| invalid("has an unclosed '['"))?;
        if host.parse::<Ipv6Addr>().is_err() {
            return Err(invalid("has an invalid IPv6 address"));
        }
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| invalid("has junk after the address"))?,
            ),
        };
        (host.to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host.to_ascii_lowercase(), Some(port)),
            None => (authority.to_ascii_lowercase(), None),
        }
    };
    if host.is_empty() {
        return Err(invalid("has no host"));
    }
    let is_ip = host.parse::<IpAddr>().is_ok();
    let name_ok = host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    });
    if !is_ip && (!name_ok || host.len() > 253) {
        return Err(invalid("has an invalid host name"));
    }
    let port = match port_text {
        None => {
            if https {
                443
            } else {
                80
            }
        }
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| invalid("has an invalid port"))?,
    };
    Ok(WebhookTarget { https, host, port })
}

/// Checks a webhook URL against the policy (resolving host names unless private addresses are
/// allowed anyway). Returns the URL as it will be stored.
pub fn check(url: &str, allow_private: bool) -> Result<String, Error> {
    let url = url.trim();
    let target = parse(url)?;
    if allow_private {
        return Ok(url.to_string());
    }
    let addresses: Vec<IpAddr> = match target.host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => (target.host.as_str(), target.port)
            .to_socket_addrs()
            .map_err(|_| Error::validation(FIELD, "host name cannot be resolved"))?
            .map(|a| a.ip())
            .collect(),
    };
    if addresses.is_empty() {
        return Err(Error::validation(FIELD, "host name cannot be resolved"));
    }
    if addresses.iter().any(|ip| !is_public_ip(*ip)) {
        return Err(Error::validation(
            FIELD,
            "must point to a public address (not localhost, private, link-local or reserved)",
        ));
    }
    Ok(url.to_string())
}

/// Whether an address is globally routable unicast (the only kind a webhook may reach).
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let reserved = a == 0                                  // "this network", unspecified
        || a == 10                                         // private
        || a == 127                                        // loopback
        || (a == 100 && (64..128).contains(&b))            // carrier-grade NAT
        || (a == 169 && b == 254)                          // link-local
        || (a == 172 && (16..32).contains(&b))             // private
        || (a == 192 && b == 0 && c == 0)                  // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)                  // documentation
        || (a == 192 && b == 168)                          // private
        || (a == 198 && (18..20).contains(&b))             // benchmarking
        || (a == 198 && b == 51 && c == 100)               // documentation
        || (a == 203 && b == 0 && c == 113)                // documentation
        || a >= 224; // multicast, reserved, broadcast
    !reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let seg = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    // NAT64 (64:ff9b::/96) embeds an IPv4 address that decides.
    if seg[0] == 0x64 && seg[1] == 0xff9b && seg[2..6] == [0, 0, 0, 0] {
        let v4 = Ipv4Addr::new(
            (seg[6] >> 8) as u8,
            seg[6] as u8,
            (seg[7] >> 8) as u8,
            seg[7] as u8,
        );
        return is_public_v4(v4);
    }
    let reserved = ip.is_unspecified()
        || ip.is_loopback()
        || seg[0..6] == [0, 0, 0, 0, 0, 0]      // IPv4-compatible (deprecated)
        || (seg[0] & 0xff00) == 0xff00          // multicast
        || (seg[0] & 0xfe00) == 0xfc00          // unique local
        || (seg[0] & 0xffc0) == 0xfe80          // link-local
        || (seg[0] & 0xffc0) == 0xfec0          // site-local (deprecated)
        || (seg[0] == 0x2001 && seg[1] == 0x0db8) // documentation
        || seg[0] == 0x0100 && seg[1..4] == [0, 0, 0]; // discard-only
    !reserved
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_public_http_and_https() {
        assert_eq!(
            check("https://8.8.8.8/hook", false).unwrap(),
            "https://8.8.8.8/hook"
        );
        assert_eq!(
            check("  http://[2606:4700::1111]:8443/x?y#z ", false).unwrap(),
            "http://[2606:4700::1111]:8443/x?y#z"
        );
        let t = parse("HTTPS://Example.COM/webhook.php").unwrap();
        assert_eq!(
            t,
            WebhookTarget {
                https: true,
                host: "example.com".into(),
                port: 443
            }
        );
        assert_eq!(parse("http://example.com:8080").unwrap().port, 8080);
    }

    #[test]
    fn refuses_other_schemes_and_malformed_urls() {
        for bad in [
            "",
            "ftp://8.8.8.8/",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "https://",
            "https://user:pw@8.8.8.8/",
            "https://8.8.8.8:0/",
            "https://8.8.8.8:70000/",
            "https://8.8.8.8:x/",
            "https://[::1/",
            "https://[nothex]/",
            "https://exa mple.com/",
            "https://-bad-.com/",
            "https://a..b/",
        ] {
            assert!(
                matches!(
                    check(bad, true),
                    Err(Error::Validation {
                        field: "webhookUrl",
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn refuses_non_public_addresses_unless_allowed() {
        for url in [
            "http://127.0.0.1/",
            "http://127.1.2.3:8080/",
            "http://0.0.0.0/",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://172.31.255.255/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://100.64.0.1/",
            "http://224.0.0.1/",
            "http://255.255.255.255/",
            "http://[::1]/",
            "http://[::]/",
            "http://[fe80::1]/",
            "http://[fc00::1]/",
            "http://[fd12:3456::1]/",
            "http://[ff02::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:10.0.0.1]/",
            "http://[64:ff9b::a00:1]/",
            "http://localhost:3000/",
        ] {
            assert!(check(url, false).is_err(), "{url} should be refused");
            assert!(
                check(url, true).is_ok(),
                "{url} should pass when private addresses are allowed"
            );
        }
    }

    #[test]
    fn public_ranges_stay_public() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public_ip(ip.parse().unwrap()), "{ip}");
        }
    }
}
