//! The `media_conn` iq (§9): which hosts take uploads and serve downloads, and the auth token for
//! uploads. The answer is cached for its `ttl` (bounded by `auth_ttl`) and dropped early when a host
//! refuses the token.

use super::{MediaError, MediaSettings};
use crate::protocol::binary::Node;
use crate::protocol::jid::Jid;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Used when the answer names no ttl.
const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// Hostnames longer than this, or with characters outside a host[:port], are ignored.
const MAX_HOST_LEN: usize = 253;

/// One `media_conn` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaConn {
    pub auth: String,
    /// `host[:port]`, in the server's order of preference.
    pub hosts: Vec<String>,
    pub ttl: Duration,
}

/// `<iq xmlns="w:m" type="set" to="s.whatsapp.net"><media_conn/></iq>` (the caller adds the id).
pub fn media_conn_query() -> Node {
    Node::new("iq")
        .with_attr("xmlns", "w:m")
        .with_attr("type", "set")
        .with_attr("to", Jid::server_jid())
        .with_child(Node::new("media_conn"))
}

fn is_host(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_HOST_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// Reads the answer to [`media_conn_query`].
pub fn parse_media_conn(answer: &Node) -> Result<MediaConn, MediaError> {
    if answer.attr("type") == Some("error") {
        let code = answer
            .child("error")
            .and_then(|e| e.attr_text("code"))
            .map(|c| c.into_owned())
            .unwrap_or_default();
        return Err(MediaError::NoHost(format!("media_conn refused ({code})")));
    }
    let conn = answer
        .child("media_conn")
        .ok_or_else(|| MediaError::NoHost("answer without <media_conn>".into()))?;
    let auth = conn
        .attr_text("auth")
        .map(|a| a.into_owned())
        .unwrap_or_default();
    let seconds = |name: &str| conn.attr_parse::<u64>(name).filter(|s| *s > 0);
    let ttl = match (seconds("ttl"), seconds("auth_ttl")) {
        (Some(t), Some(a)) => t.min(a),
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) => DEFAULT_TTL.as_secs(),
    };
    let hosts: Vec<String> = conn
        .children_by_tag("host")
        .filter_map(|h| h.attr_text("hostname").map(|n| n.into_owned()))
        .filter(|n| is_host(n))
        .collect();
    if hosts.is_empty() {
        return Err(MediaError::NoHost("media_conn named no usable host".into()));
    }
    Ok(MediaConn {
        auth,
        hosts,
        ttl: Duration::from_secs(ttl),
    })
}

/// The media side of one engine: settings from the engine config, the cached `media_conn`, and the
/// HTTP agent (no redirects: a media host never needs one, and following them would let a peer's
/// path lead elsewhere).
pub struct MediaState {
    settings: Mutex<MediaSettings>,
    cached: Mutex<Option<(MediaConn, Instant)>>,
    agent: Mutex<ureq::Agent>,
}

impl Default for MediaState {
    fn default() -> Self {
        MediaState {
            settings: Mutex::new(MediaSettings::default()),
            cached: Mutex::new(None),
            agent: Mutex::new(agent_builder().build()),
        }
    }
}

fn agent_builder() -> ureq::AgentBuilder {
    ureq::AgentBuilder::new()
        .redirects(0)
        .timeout_connect(Duration::from_secs(15))
        .timeout_read(Duration::from_secs(60))
        .timeout_write(Duration::from_secs(60))
}

/// An agent whose https trusts exactly `der` (a simulator's self-signed certificate), as the chat
/// socket does with the same `EngineConfig::tls_certificate`.
fn agent_trusting(der: &[u8]) -> Result<ureq::Agent, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(der.to_vec()))
        .map_err(|e| e.to_string())?;
    let tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(agent_builder().tls_config(std::sync::Arc::new(tls)).build())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MediaState {
    /// Takes the scheme and size cap of the engine's config, and the one certificate its https
    /// trusts when the config names one (otherwise the webpki roots, as for WhatsApp).
    pub fn configure(&self, settings: MediaSettings, tls_certificate: Option<&[u8]>) {
        *lock(&self.settings) = settings;
        if let Some(der) = tls_certificate {
            match agent_trusting(der) {
                Ok(agent) => *lock(&self.agent) = agent,
                Err(e) => log::error!("engine: media hosts cannot use the TLS certificate: {e}"),
            }
        }
    }

    /// The HTTP agent for media hosts (cheap to clone).
    pub fn agent(&self) -> ureq::Agent {
        lock(&self.agent).clone()
    }

    pub fn settings(&self) -> MediaSettings {
        *lock(&self.settings)
    }

    /// The cached answer while its ttl lasts.
    pub fn cached(&self) -> Option<MediaConn> {
        let cached = lock(&self.cached);
        let (conn, at) = cached.as_ref()?;
        (at.elapsed() < conn.ttl).then(|| conn.clone())
    }

    pub fn remember(&self, conn: MediaConn) {
        *lock(&self.cached) = Some((conn, Instant::now()));
    }

    /// Forgets the cached answer (a host refused its auth, or the connection changed).
    pub fn invalidate(&self) {
        *lock(&self.cached) = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(conn: Node) -> Node {
        Node::new("iq").with_attr("type", "result").with_child(conn)
    }

    #[test]
    fn answers_are_read_with_the_shorter_ttl_and_bad_hosts_dropped() {
        let conn = Node::new("media_conn")
            .with_attr("auth", "AUTH/+=")
            .with_attr("ttl", "300")
            .with_attr("auth_ttl", "120")
            .with_attr("max_buckets", "12")
            .with_children([
                Node::new("host").with_attr("hostname", "127.0.0.1:4567"),
                Node::new("host").with_attr("hostname", "evil.com/@x"),
                Node::new("host").with_attr("hostname", "mmg.whatsapp.net"),
            ]);
        let parsed = parse_media_conn(&answer(conn)).unwrap();
        assert_eq!(parsed.auth, "AUTH/+=");
        assert_eq!(parsed.ttl, Duration::from_secs(120));
        assert_eq!(parsed.hosts, ["127.0.0.1:4567", "mmg.whatsapp.net"]);
    }

    #[test]
    fn errors_and_hostless_answers_are_refused() {
        let error = Node::new("iq")
            .with_attr("type", "error")
            .with_child(Node::new("error").with_attr("code", "500"));
        assert!(matches!(
            parse_media_conn(&error),
            Err(MediaError::NoHost(_))
        ));
        let empty = answer(Node::new("media_conn").with_attr("auth", "a"));
        assert!(parse_media_conn(&empty).is_err());
        assert!(parse_media_conn(&Node::new("iq")).is_err());
    }

    #[test]
    fn the_cache_lasts_for_the_ttl_and_can_be_dropped() {
        let state = MediaState::default();
        assert!(state.cached().is_none());
        let conn = MediaConn {
            auth: "a".into(),
            hosts: vec!["h".into()],
            ttl: Duration::from_secs(60),
        };
        state.remember(conn.clone());
        assert_eq!(state.cached(), Some(conn.clone()));
        state.invalidate();
        assert!(state.cached().is_none());
        state.remember(MediaConn {
            ttl: Duration::ZERO,
            ..conn
        });
        assert!(state.cached().is_none(), "an expired answer is not used");
    }
}
