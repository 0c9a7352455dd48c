//! Sandbox mode (`chattu serve --sandbox`): a simulator runs in-process on an ephemeral loopback
//! port, every engine talks to it, and its control API is reachable under `/sim/` on Chattu's own
//! listener (docs/sandbox.md). Its state lives in memory: phones and linked devices are gone after
//! a restart.

use crate::protocol::noise::TrustedRoot;
use crate::simulator::{Simulator, SimulatorHandle};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response};
use std::sync::Mutex;
use tokio::net::TcpListener;

/// The in-process simulator of a sandboxed server.
pub struct Sandbox {
    simulator: Simulator,
    ws_url: String,
    trusted_root: TrustedRoot,
    handle: Mutex<Option<SimulatorHandle>>,
}

impl Sandbox {
    /// Starts a fresh simulator (random root) on `127.0.0.1:0`.
    pub async fn start() -> std::io::Result<Sandbox> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let handle = Simulator::start(listener)?;
        Ok(Sandbox {
            simulator: handle.simulator().clone(),
            ws_url: handle.ws_url(),
            trusted_root: handle.trusted_root(),
            handle: Mutex::new(Some(handle)),
        })
    }

    /// Where engines connect: `ws://127.0.0.1:PORT/ws/chat`.
    pub fn ws_url(&self) -> String {
        self.ws_url.clone()
    }

    /// The simulator's root, the only one sandboxed engines trust.
    pub fn trusted_root(&self) -> TrustedRoot {
        self.trusted_root
    }

    /// The simulator's root public key in hex (also at `GET /sim/info`).
    pub fn root_public_key_hex(&self) -> String {
        self.trusted_root
            .public
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Simulated phones fetch a `mediaUrl` under Chattu's `[media]` address policy: the control API
    /// is on Chattu's own listener, so it must not reach addresses the send routes refuse.
    pub fn restrict_phone_fetches(&self, policy: crate::services::media_fetch::FetchPolicy) {
        self.simulator
            .set_url_fetcher(std::sync::Arc::new(move |url: &str| {
                crate::services::media_fetch::fetch_media(url, &policy)
                    .map(|file| crate::simulator::PhoneMediaFile {
                        bytes: file.bytes,
                        content_type: Some(file.mimetype),
                        name: Some(file.filename),
                    })
                    .map_err(|e| e.to_string())
            }));
    }

    /// Answers one control request (`/sim/...`), exactly as the standalone simulator would.
    pub async fn control(
        &self,
        method: Method,
        path_and_query: &str,
        body: Bytes,
    ) -> Response<Full<Bytes>> {
        let request = Request::builder()
            .method(method)
            .uri(path_and_query)
            .body(Full::new(body));
        match request {
            Ok(request) => self.simulator.handle(request).await,
            Err(_) => {
                let mut res = Response::new(Full::new(Bytes::from_static(
                    br#"{"error":"Malformed simulator path.","code":"VALIDATION_ERROR"}"#,
                )));
                *res.status_mut() = hyper::StatusCode::BAD_REQUEST;
                res
            }
        }
    }

    /// Stops the simulator's listener and connections (in the background).
    pub fn stop(&self) {
        let handle = self.handle.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle {
            tokio::spawn(handle.shutdown());
        }
    }
}
