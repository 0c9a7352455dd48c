//! A local stand-in for WhatsApp's servers: the server side of the protocol plus simulated phones.
//!
//! One listener serves both the WebSocket endpoint `/ws/chat` (the protocol, §13 of the notes) and the
//! JSON control API under `/sim/` (see `docs/simulator.md`). The simulator has its own certificate
//! root; a client talks to it only when configured to trust [`Simulator::trusted_root`].
//!
//! - [`identity`]: root, intermediate and static keys, and the certificate chain.
//! - [`phone`]: a simulated primary phone (scans QR codes, signs companions).
//! - [`registry`]: accounts, linked devices and live connections.
//! - `session`, `iq`, `wire`: one client connection; `control`: the `/sim/` routes.

mod app_state;
mod calls;
mod channels;
mod control;
mod directory;
mod faults;
mod group_delivery;
mod groups;
mod history;
pub mod identity;
mod iq;
pub mod keys;
pub mod link_code;
mod media_host;
pub mod phone;
mod phone_media;
pub use phone_media::{Fetched as PhoneMediaFile, UrlFetcher as PhoneUrlFetcher};
mod phone_messages;
mod presence;
pub mod registry;
mod routing;
mod session;
pub mod tls;
mod wire;

pub use identity::ServerIdentity;
pub use registry::{PhoneView, Registry};

use crate::protocol::noise::TrustedRoot;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Body;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

/// The WebSocket path clients connect to.
pub const WS_PATH: &str = "/ws/chat";
/// Largest control request body.
const MAX_CONTROL_BODY: usize = 64 * 1024;

pub(crate) struct Shared {
    identity: ServerIdentity,
    registry: Registry,
    /// Offline queues and send refusals (`routing`).
    mailboxes: routing::Mailboxes,
    /// The simulated phones' Signal sessions, inboxes and outboxes.
    phones: phone_messages::PhoneMessaging,
    /// Calls placed by the simulated phones (`calls`).
    calls: calls::CallBook,
    /// Simulated groups and the phones' group inboxes (`groups`).
    groups: groups::GroupBook,
    /// App state keys, patches and versions per account (`app_state`).
    app_state: app_state::AppStateBook,
    /// Presence, presence subscriptions and chat states (`presence`).
    presence: presence::PresenceBook,
    /// Delayed-frame injections (`faults`).
    faults: faults::Faults,
    /// Uploaded media (`media_host`).
    media: media_host::MediaHost,
    /// Media the simulated phones received, decrypted (`phone_media`).
    phone_media: phone_media::PhoneMedia,
    /// History syncs the phones sent their companions (`history`).
    history: history::HistoryBook,
    /// Group messages as the server saw them, and group receipts/retries (`group_delivery`).
    group_log: group_delivery::GroupLog,
}

/// A simulator instance: state and request handling, independent of any listener. Cheap to clone;
/// clones share the state.
#[derive(Clone)]
pub struct Simulator {
    shared: Arc<Shared>,
    /// Set when the listener this instance serves on shuts down: its connections end.
    shutdown: Arc<watch::Sender<bool>>,
}

impl Default for Simulator {
    fn default() -> Self {
        Simulator::new(ServerIdentity::generate())
    }
}

impl Simulator {
    /// A simulator with the given server identity and no accounts.
    pub fn new(identity: ServerIdentity) -> Simulator {
        Simulator {
            shared: Arc::new(Shared {
                identity,
                registry: Registry::default(),
                mailboxes: routing::Mailboxes::default(),
                phones: phone_messages::PhoneMessaging::default(),
                calls: calls::CallBook::default(),
                groups: groups::GroupBook::default(),
                app_state: app_state::AppStateBook::default(),
                presence: presence::PresenceBook::default(),
                faults: faults::Faults::default(),
                media: media_host::MediaHost::default(),
                phone_media: phone_media::PhoneMedia::default(),
                history: history::HistoryBook::default(),
                group_log: group_delivery::GroupLog::default(),
            }),
            shutdown: Arc::new(watch::channel(false).0),
        }
    }

    /// Replaces how simulated phones fetch a `mediaUrl` (by default: any http(s) address, as a test
    /// tool on loopback needs). A server embedding the simulator passes its own address policy.
    pub fn set_url_fetcher(&self, fetcher: PhoneUrlFetcher) {
        phone_media::set_url_fetcher(&self.shared, fetcher);
    }

    /// The root a client must trust to talk to this simulator.
    pub fn trusted_root(&self) -> TrustedRoot {
        self.shared.identity.trusted_root()
    }

    /// Accounts, devices and connections.
    pub fn registry(&self) -> &Registry {
        &self.shared.registry
    }

    /// True for paths this simulator serves (`/ws/chat`, `/sim/...` and the media host's `/mms/...`,
    /// `/newsletter/...`, `/v/...`), so a host server can route them.
    pub fn serves_path(path: &str) -> bool {
        path == WS_PATH || path.starts_with("/sim/") || media_host::is_media_path(path)
    }

    /// Handles one HTTP request: the WebSocket upgrade on `/ws/chat`, or a control route. The hyper
    /// connection serving it must have upgrades enabled (`serve_connection(..).with_upgrades()`).
    pub async fn handle<B>(&self, req: Request<B>) -> Response<Full<Bytes>>
    where
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let path = req.uri().path().to_string();
        if path == WS_PATH {
            return self.upgrade(req);
        }
        if media_host::is_media_path(&path) {
            return media_host::handle(&self.shared.media, req).await;
        }
        if !path.starts_with("/sim/") {
            return control::error_response(
                StatusCode::NOT_FOUND,
                "ROUTE_NOT_FOUND",
                "not a simulator path",
            );
        }
        let method = req.method().clone();
        let body = if method == Method::GET || method == Method::DELETE {
            Bytes::new()
        } else {
            let limit = if phone_media::takes_large_body(&path) {
                phone_media::MAX_MEDIA_CONTROL_BODY
            } else {
                MAX_CONTROL_BODY
            };
            match Limited::new(req.into_body(), limit).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(_) => {
                    return control::error_response(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "BODY_TOO_LARGE",
                        "control request body too large or unreadable",
                    )
                }
            }
        };
        control::route(&self.shared, &method, &path, &body).await
    }

    fn upgrade<B>(&self, req: Request<B>) -> Response<Full<Bytes>>
    where
        B: Body + Send + 'static,
    {
        let key = req
            .headers()
            .get(hyper::header::SEC_WEBSOCKET_KEY)
            .map(|k| derive_accept_key(k.as_bytes()));
        let wants_ws = req
            .headers()
            .get(hyper::header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
        let (Some(accept), true) = (key, wants_ws) else {
            return control::error_response(
                StatusCode::BAD_REQUEST,
                "NOT_A_WEBSOCKET",
                "expected a WebSocket upgrade",
            );
        };
        // The media host is announced (media_conn) under the address this client reached us on.
        if let Some(host) = req.headers().get(hyper::header::HOST) {
            self.shared
                .media
                .note_request_host(host.to_str().unwrap_or_default());
        }
        let shared = Arc::clone(&self.shared);
        let shutdown = self.shutdown.subscribe();
        tokio::spawn(async move {
            match hyper::upgrade::on(req).await {
                Ok(upgraded) => {
                    let config = WebSocketConfig {
                        max_message_size: Some(8 << 20),
                        max_frame_size: Some(8 << 20),
                        ..Default::default()
                    };
                    let ws = WebSocketStream::from_raw_socket(
                        TokioIo::new(upgraded),
                        Role::Server,
                        Some(config),
                    )
                    .await;
                    session::serve(ws, shared, shutdown).await;
                }
                Err(e) => log::debug!("simulator: upgrade failed: {e}"),
            }
        });
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(
            hyper::header::CONNECTION,
            hyper::header::HeaderValue::from_static("Upgrade"),
        );
        headers.insert(
            hyper::header::UPGRADE,
            hyper::header::HeaderValue::from_static("websocket"),
        );
        if let Ok(value) = hyper::header::HeaderValue::from_str(&accept) {
            headers.insert(hyper::header::SEC_WEBSOCKET_ACCEPT, value);
        }
        response
    }

    /// Serves this simulator's state on `listener` until the handle shuts it down. The same state can
    /// be served again afterwards (a server going down and coming back).
    pub fn serve(&self, listener: TcpListener) -> std::io::Result<SimulatorHandle> {
        self.serve_with(listener, None)
    }

    /// Like [`Simulator::serve`], over TLS (`wss://`, `https://`) with a self-signed certificate
    /// made now ([`SimulatorHandle::tls_certificate`]).
    pub fn serve_tls(&self, listener: TcpListener) -> std::io::Result<SimulatorHandle> {
        let tls = tls::SimTls::generate(Some(listener.local_addr()?.ip()))?;
        self.serve_with(listener, Some(Arc::new(tls)))
    }

    fn serve_with(
        &self,
        listener: TcpListener,
        tls: Option<Arc<tls::SimTls>>,
    ) -> std::io::Result<SimulatorHandle> {
        let addr = listener.local_addr()?;
        self.shared.media.set_listener(addr, tls.is_some());
        let sim = Simulator {
            shared: Arc::clone(&self.shared),
            shutdown: Arc::new(watch::channel(false).0),
        };
        let this = sim.clone();
        let served_tls = tls.clone();
        let task = tokio::spawn(async move { sim.accept_loop(listener, served_tls).await });
        Ok(SimulatorHandle {
            addr,
            simulator: this,
            task,
            tls,
        })
    }

    /// A fresh simulator (random identity) served on `listener`.
    pub fn start(listener: TcpListener) -> std::io::Result<SimulatorHandle> {
        Simulator::default().serve(listener)
    }

    async fn accept_loop(self, listener: TcpListener, tls: Option<Arc<tls::SimTls>>) {
        let mut shutdown = self.shutdown.subscribe();
        loop {
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        log::warn!("simulator: accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = shut_down(&mut shutdown) => return,
            };
            let sim = self.clone();
            let conn_shutdown = self.shutdown.subscribe();
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    None => sim.serve_http(stream, conn_shutdown).await,
                    Some(tls) => match tls.accept(stream).await {
                        Ok(stream) => sim.serve_http(stream, conn_shutdown).await,
                        Err(e) => log::debug!("simulator: TLS handshake failed: {e}"),
                    },
                }
            });
        }
    }
}

impl Simulator {
    /// Serves HTTP/1.1 (with upgrades) on one accepted connection, plain or TLS.
    async fn serve_http<IO>(self, io: IO, mut shutdown: watch::Receiver<bool>)
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let service = hyper::service::service_fn(move |req| {
            let sim = self.clone();
            async move { Ok::<_, Infallible>(sim.handle(req).await) }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        tokio::select! {
            result = conn => if let Err(e) = result { log::debug!("simulator: http connection: {e}") },
            _ = shut_down(&mut shutdown) => {}
        }
    }
}

/// Resolves once the simulator is shutting down (or its state is gone).
pub(crate) async fn shut_down(rx: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not Send; drop it before returning.
    let _ = rx.wait_for(|down| *down).await.map(|_| ());
}

/// A running simulator.
pub struct SimulatorHandle {
    /// The address it listens on.
    pub addr: SocketAddr,
    simulator: Simulator,
    task: JoinHandle<()>,
    /// Set when served over TLS.
    tls: Option<Arc<tls::SimTls>>,
}

impl SimulatorHandle {
    /// `ws://ADDR/ws/chat` (`wss://` when served over TLS), the URL to point a client at.
    pub fn ws_url(&self) -> String {
        let scheme = if self.tls.is_some() { "wss" } else { "ws" };
        format!("{scheme}://{}{WS_PATH}", self.addr)
    }

    /// `http://ADDR` (`https://` over TLS), the base of the control API.
    pub fn http_base(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The self-signed TLS certificate (DER) a client must trust, when served over TLS.
    pub fn tls_certificate(&self) -> Option<Vec<u8>> {
        self.tls.as_ref().map(|t| t.certificate_der().to_vec())
    }

    /// The same certificate as PEM text.
    pub fn tls_certificate_pem(&self) -> Option<String> {
        self.tls.as_ref().map(|t| t.certificate_pem())
    }

    /// The root a client must trust.
    pub fn trusted_root(&self) -> TrustedRoot {
        self.simulator.trusted_root()
    }

    pub fn simulator(&self) -> &Simulator {
        &self.simulator
    }

    /// Stops accepting, drops every connection, and waits for the accept loop to end.
    pub async fn shutdown(self) {
        self.simulator.shutdown.send_replace(true);
        let _ = self.task.await;
    }
}

/// `chattu sim`: serves a simulator on `listen` until Ctrl-C / SIGTERM. Its keys come from
/// `$CHATTU_SIM_SEED` (64 hex digits) when set, so the root a Chattu instance trusts survives restarts;
/// otherwise they are fresh.
pub async fn run(listen: SocketAddr) -> std::io::Result<()> {
    let identity = match std::env::var("CHATTU_SIM_SEED") {
        Ok(hex) => match parse_seed(&hex) {
            Some(seed) => ServerIdentity::from_seed(&seed),
            None => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "CHATTU_SIM_SEED must be 64 hex digits",
                ))
            }
        },
        Err(_) => ServerIdentity::generate(),
    };
    run_with(listen, identity).await
}

/// Like [`run`], with the given server identity.
pub async fn run_with(listen: SocketAddr, identity: ServerIdentity) -> std::io::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    let handle = Simulator::new(identity).serve(listener)?;
    let root: String = handle
        .trusted_root()
        .public
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    log::info!(
        "simulator: WebSocket {}, control API {}/sim/",
        handle.ws_url(),
        handle.http_base()
    );
    log::info!("simulator root public key {root}");
    println!("listening on {}", handle.addr);
    wait_for_signal().await;
    handle.shutdown().await;
    Ok(())
}

fn parse_seed(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut seed = [0u8; 32];
    for (i, byte) in seed.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(seed)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_parsing() {
        let seed = parse_seed(&"0a".repeat(32)).unwrap();
        assert_eq!(seed, [10u8; 32]);
        assert!(parse_seed("0a").is_none());
        assert!(parse_seed(&"zz".repeat(32)).is_none());
        assert!(parse_seed(&"é".repeat(32)).is_none());
    }
}
