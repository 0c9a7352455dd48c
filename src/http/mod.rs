//! The HTTP layer: a hyper 1 server with one route table, auth, rate limits and handlers.
//!
//! No web framework. Reading order: [`routes`] (every path, method, access rule and limit),
//! [`dispatch`] (the pipeline a request goes through), `handlers/` (one file per API area),
//! [`error`] (the one JSON error shape), [`server`] (connections, timeouts, shutdown).

pub mod assets;
pub mod auth;
pub mod client_ip;
pub mod dispatch;
pub mod error;
pub mod handlers;
pub mod headers;
pub mod openapi;
pub mod rate_limit;
pub mod request;
pub mod response;
pub mod routes;
pub mod server;
pub mod ws;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::services::App;

/// How long in-flight requests may take to finish after SIGTERM/SIGINT.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Why the server could not start.
#[derive(Debug)]
pub enum ServeError {
    Bind { addr: String, error: std::io::Error },
    Config(String),
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeError::Bind { addr, error } => write!(f, "cannot listen on {addr}: {error}"),
            ServeError::Config(msg) => write!(f, "invalid server configuration: {msg}"),
        }
    }
}

impl std::error::Error for ServeError {}

/// Binds `[server] listen`, logs `listening on <addr>`, and serves until SIGTERM or SIGINT, then
/// shuts down gracefully.
pub async fn serve(app: Arc<App>) -> Result<(), ServeError> {
    let addr = app.config.server.listen.clone();
    let listener = TcpListener::bind(&addr)
        .await
        .map_err(|error| ServeError::Bind { addr, error })?;
    serve_on(listener, app, shutdown_signal()).await
}

/// Serves on an already-bound listener until `shutdown` resolves (for tests and embedding).
pub async fn serve_on(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let server = &app.config.server;
    let settings = server::ServerSettings {
        header_timeout: Duration::from_secs(server.header_timeout_secs.max(1)),
        idle_timeout: Duration::from_secs(server.idle_timeout_secs.max(1)),
        shutdown_grace: SHUTDOWN_GRACE,
    };
    let live = app.live.clone();
    let state = Arc::new(dispatch::HttpState::new(app).map_err(ServeError::Config)?);
    match listener.local_addr() {
        Ok(addr) => log::info!("listening on {addr}"),
        Err(e) => log::info!("listening on an unknown address ({e})"),
    }
    let connections = PerConnection(dispatch::ConnState::new(state));
    // The connection layer clones the handler once per connection.
    let handler = move |req, peer| dispatch::handle(connections.0.clone(), req, peer);
    server::run(listener, settings, handler, shutdown).await;
    // Upgraded /ws connections left the connection layer: close them with a Going Away frame.
    live.close_all();
    live.wait_closed(Duration::from_secs(2)).await;
    log::info!("server stopped");
    Ok(())
}

/// Gives each connection its own [`dispatch::ConnState`] when the handler is cloned for it.
struct PerConnection(dispatch::ConnState);

impl Clone for PerConnection {
    fn clone(&self) -> PerConnection {
        PerConnection(self.0.for_new_connection())
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            log::warn!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                log::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => log::info!("SIGINT received, shutting down"),
        _ = term => log::info!("SIGTERM received, shutting down"),
    }
}
