//! The address policy at delivery time.
//!
//! The URL was checked when it was set, but a host name may resolve differently now (DNS
//! rebinding), so every connection the delivery agent opens resolves through
//! [`PolicyResolver`]: unless `[network] allow_private_addresses` is set, addresses that are not
//! public ([`crate::services::webhook_url::is_public_ip`]) are dropped, and a name with only such
//! addresses is refused. The agent follows no redirects, so a public receiver cannot bounce a
//! request to an internal one.

use crate::services::webhook_url::is_public_ip;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

/// How host names are looked up (the system resolver, or a fixed table in tests).
pub type Lookup = Arc<dyn Fn(&str) -> io::Result<Vec<SocketAddr>> + Send + Sync>;

/// The system resolver.
pub fn system_lookup() -> Lookup {
    Arc::new(|netloc: &str| netloc.to_socket_addrs().map(|a| a.collect()))
}

/// A ureq resolver that enforces the address policy on every lookup.
#[derive(Clone)]
pub struct PolicyResolver {
    pub allow_private: bool,
    pub lookup: Lookup,
}

/// The text of the error a refused address produces (it ends up in the attempt log).
pub const REFUSED: &str = "refused: the webhook host resolves only to non-public addresses";

impl PolicyResolver {
    /// The addresses a connection may use.
    pub fn allowed(&self, netloc: &str) -> io::Result<Vec<SocketAddr>> {
        let resolved = (self.lookup)(netloc)?;
        if self.allow_private {
            return Ok(resolved);
        }
        let public: Vec<SocketAddr> = resolved
            .into_iter()
            .filter(|a| is_public_ip(a.ip()))
            .collect();
        if public.is_empty() {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, REFUSED));
        }
        Ok(public)
    }
}

impl ureq::Resolver for PolicyResolver {
    fn resolve(&self, netloc: &str) -> io::Result<Vec<SocketAddr>> {
        self.allowed(netloc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(addrs: &'static [&'static str]) -> Lookup {
        Arc::new(move |_| Ok(addrs.iter().filter_map(|a| a.parse().ok()).collect()))
    }

    #[test]
    fn private_answers_are_refused_unless_allowed() {
        let r = PolicyResolver {
            allow_private: false,
            lookup: fixed(&["127.0.0.1:80", "[::1]:80"]),
        };
        let err = r.allowed("evil.example:80").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        let r = PolicyResolver {
            allow_private: true,
            ..r
        };
        assert_eq!(r.allowed("evil.example:80").unwrap().len(), 2);
    }

    #[test]
    fn mixed_answers_keep_only_public_addresses() {
        let r = PolicyResolver {
            allow_private: false,
            lookup: fixed(&["10.0.0.5:443", "8.8.8.8:443", "[fe80::1]:443"]),
        };
        assert_eq!(
            r.allowed("mixed.example:443").unwrap(),
            vec!["8.8.8.8:443".parse::<SocketAddr>().unwrap()]
        );
    }

    #[test]
    fn literal_loopback_goes_through_the_same_check() {
        let r = PolicyResolver {
            allow_private: false,
            lookup: system_lookup(),
        };
        assert!(r.allowed("127.0.0.1:8080").is_err());
        assert!(r.allowed("[::1]:8080").is_err());
        assert!(r.allowed("localhost:8080").is_err());
    }
}
