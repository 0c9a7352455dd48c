//! `wss://` for the simulator (§13.1 item 1): a self-signed certificate made when the listener
//! starts (ECDSA P-256, names `localhost`, `127.0.0.1` and the listen address) and the whole
//! listener — `/ws/chat` and the control API — served over TLS with it. A client talks to it only
//! when told to trust that certificate ([`SimTls::certificate_der`]; the engine's
//! `EngineConfig::tls_certificate`). The Noise certificate chain inside the WebSocket is unchanged.

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// Bound on one TLS handshake, so a silent peer does not hold a task forever.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Why the simulator's TLS setup failed.
#[derive(Debug)]
pub enum TlsError {
    Certificate(String),
    Config(String),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Certificate(e) => write!(f, "cannot make the simulator certificate: {e}"),
            TlsError::Config(e) => write!(f, "cannot configure TLS: {e}"),
        }
    }
}

impl std::error::Error for TlsError {}

impl From<TlsError> for std::io::Error {
    fn from(e: TlsError) -> Self {
        std::io::Error::other(e.to_string())
    }
}

/// A simulator's TLS identity: its self-signed certificate and the acceptor serving it.
pub struct SimTls {
    certificate: CertificateDer<'static>,
    acceptor: TlsAcceptor,
}

impl fmt::Debug for SimTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimTls")
            .field("certificate_len", &self.certificate.len())
            .finish()
    }
}

impl SimTls {
    /// A fresh certificate for `localhost`, `127.0.0.1` and `listen_ip` (when it names one host).
    pub fn generate(listen_ip: Option<IpAddr>) -> Result<SimTls, TlsError> {
        let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        if let Some(ip) = listen_ip.filter(|ip| !ip.is_unspecified()) {
            let ip = ip.to_string();
            if !names.contains(&ip) {
                names.push(ip);
            }
        }
        let cert_error = |e: rcgen::Error| TlsError::Certificate(e.to_string());
        let key = rcgen::KeyPair::generate().map_err(cert_error)?;
        let mut params = rcgen::CertificateParams::new(names).map_err(cert_error)?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Chattu WhatsApp simulator");
        let certificate = params.self_signed(&key).map_err(cert_error)?.der().clone();
        let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(vec![certificate.clone()], private)
            .map_err(|e| TlsError::Config(e.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(SimTls {
            certificate,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// The certificate (DER) a client must trust.
    pub fn certificate_der(&self) -> &[u8] {
        self.certificate.as_ref()
    }

    /// The certificate as PEM text, for clients that read files (`chattu sim --tls` writes it).
    pub fn certificate_pem(&self) -> String {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(self.certificate.as_ref());
        let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
        pem
    }

    /// Runs the server side of the TLS handshake on an accepted connection.
    pub(super) async fn accept(&self, stream: TcpStream) -> std::io::Result<TlsStream<TcpStream>> {
        tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor.accept(stream))
            .await
            .unwrap_or_else(|_| {
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "TLS handshake timed out",
                ))
            })
    }
}

/// The first certificate in PEM text, as DER; `None` when there is none or it is not base64.
pub fn certificate_der_from_pem(pem: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let start = pem.find("-----BEGIN CERTIFICATE-----")?;
    let rest = pem.get(start + "-----BEGIN CERTIFICATE-----".len()..)?;
    let body = rest.get(..rest.find("-----END CERTIFICATE-----")?)?;
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .ok()
        .filter(|der| !der.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_are_fresh_and_pem_wraps_the_der() {
        let a = SimTls::generate(Some("10.1.2.3".parse().unwrap())).unwrap();
        let b = SimTls::generate(None).unwrap();
        assert_ne!(a.certificate_der(), b.certificate_der());
        let pem = a.certificate_pem();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
        let with_text_around = format!("subject: sim\r\n{pem}trailer");
        assert_eq!(
            certificate_der_from_pem(&with_text_around).as_deref(),
            Some(a.certificate_der())
        );
        assert_eq!(certificate_der_from_pem("no certificate here"), None);
        let broken = "-----BEGIN CERTIFICATE-----\n%%%\n-----END CERTIFICATE-----\n";
        assert_eq!(certificate_der_from_pem(broken), None);
    }
}
