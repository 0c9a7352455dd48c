//! The native WhatsApp companion client: one engine per WhatsApp number (pairing, login, reconnect).
//!
//! Start one with [`start`]; it runs as a tokio task, reports through an [`EngineHandle`] (the current
//! [`EngineStatus`] and the time of the last frame), and keeps its credentials in a
//! [`CredentialStore`].
//!
//! - [`creds`]: the long-lived credentials a linked device keeps; [`cred_store`]: where they are persisted.
//! - [`pair`]: QR texts and the pair-success checks; [`qr_image`]: QR codes as PNG images.
//! - [`client_payload`]: the ClientPayload sent in the Noise handshake (registration or login).
//! - [`status`]: what the engine reports; `connection`: the task itself; `wire`: the socket.

mod app_state;
pub mod calls;
pub mod channels;
pub mod client_payload;
mod connection;
pub mod cred_store;
pub mod creds;
mod disconnect;
pub mod group_notifications;
mod group_receipts;
pub mod groups;
pub mod history_sync;
mod inbox;
pub mod lid;
pub mod media;
pub mod message_id;
pub mod messaging;
pub mod pair;
pub mod pair_code;
pub mod prekeys;
pub mod qr_image;
mod read;
pub mod receive;
mod retry;
pub mod send;
pub mod signal_prekeys;
pub mod status;
mod timing;
pub mod usync;
pub mod wire;

pub use cred_store::{CredentialStore, CredentialStoreError, MemoryCredentialStore};
pub use creds::{DeviceCreds, PairedDevice, SignedPreKey};
pub use prekeys::{MemoryPreKeys, PreKeySource};
pub use status::{EngineStatus, StopReason};

use crate::protocol::noise::TrustedRoot;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// WhatsApp's WebSocket endpoint.
pub const WHATSAPP_URL: &str = "wss://web.whatsapp.com/ws/chat";

/// How an engine connects and how patient it is.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// `wss://web.whatsapp.com/ws/chat`, or a simulator's `ws://…/ws/chat`.
    pub url: String,
    /// The certificate root the server must chain to (WhatsApp's, or a simulator's).
    pub trusted_root: TrustedRoot,
    /// Push name sent in the ClientPayload.
    pub push_name: Option<String>,
    /// Bound on connect + handshake.
    pub connect_timeout: Duration,
    /// How long the first QR code is shown (60 s, as WhatsApp Web does).
    pub qr_first_timeout: Duration,
    /// How long each following QR code is shown (20 s).
    pub qr_next_timeout: Duration,
    /// Keepalive pings are sent at a random interval in this range.
    pub keepalive_min: Duration,
    pub keepalive_max: Duration,
    /// A ping not answered within this time drops the connection.
    pub keepalive_timeout: Duration,
    /// Reconnect backoff: first delay and ceiling (each with jitter).
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// How media hosts are reached: https for WhatsApp; a simulator's own scheme (http for `ws://`).
    pub media_scheme: media::MediaScheme,
    /// Largest media file sent or downloaded, in bytes.
    pub media_max_bytes: u64,
    /// For a `wss://` simulator: the only TLS certificate (DER) to trust, its self-signed one
    /// (`SimulatorHandle::tls_certificate`). `None` (the default): the webpki roots, as for WhatsApp.
    pub tls_certificate: Option<Vec<u8>>,
}

impl EngineConfig {
    /// Talks to WhatsApp itself, trusting only WhatsApp's root.
    pub fn whatsapp() -> EngineConfig {
        EngineConfig::new(WHATSAPP_URL.to_string(), TrustedRoot::whatsapp())
    }

    /// Talks to a simulator at `url`, trusting its `root`.
    pub fn simulator(url: impl Into<String>, root: TrustedRoot) -> EngineConfig {
        EngineConfig::new(url.into(), root)
    }

    fn new(url: String, trusted_root: TrustedRoot) -> EngineConfig {
        EngineConfig {
            media_scheme: media::MediaScheme::for_socket_url(&url),
            media_max_bytes: media::DEFAULT_MAX_MEDIA_BYTES,
            url,
            trusted_root,
            push_name: None,
            connect_timeout: Duration::from_secs(20),
            qr_first_timeout: Duration::from_secs(60),
            qr_next_timeout: Duration::from_secs(20),
            keepalive_min: Duration::from_secs(20),
            keepalive_max: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(10),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(120),
            tls_certificate: None,
        }
    }
}

/// Controls and observes one running engine. Dropping the handle stops the engine.
pub struct EngineHandle {
    status: watch::Receiver<EngineStatus>,
    stop: watch::Sender<bool>,
    last_frame_ms: Arc<AtomicU64>,
    commands: mpsc::UnboundedSender<connection::Command>,
    task: JoinHandle<()>,
    /// Messaging, when started with [`start_messaging`].
    messenger: Option<Arc<messaging::Messenger>>,
    /// Incoming calls (auto-reject on until the owner says otherwise).
    calls: Arc<calls::CallDesk>,
}

/// Starts an engine for the credentials in `store` (fresh ones are generated and saved when empty).
/// It does not upload prekeys (see [`start_with_prekeys`]). Must be called inside a tokio runtime.
pub fn start(config: EngineConfig, store: Arc<dyn CredentialStore>) -> EngineHandle {
    launch(config, store, None, None)
}

/// Like [`start`], and after each login tops up the server's one-time prekeys from `prekeys`.
pub fn start_with_prekeys(
    config: EngineConfig,
    store: Arc<dyn CredentialStore>,
    prekeys: Arc<dyn PreKeySource>,
) -> EngineHandle {
    launch(config, store, Some(prekeys), None)
}

/// Like [`start_with_prekeys`], and also sends and receives messages with its Signal state in
/// `setup.db` (see [`messaging`]). `prekeys` should be a [`signal_prekeys::RedbPreKeys`] on the same
/// database and namespace, so that messages to the uploaded prekeys decrypt.
pub fn start_messaging(
    config: EngineConfig,
    store: Arc<dyn CredentialStore>,
    prekeys: Arc<dyn PreKeySource>,
    setup: messaging::MessagingSetup,
) -> EngineHandle {
    launch(
        config,
        store,
        Some(prekeys),
        Some(messaging::Messenger::start(setup)),
    )
}

fn launch(
    config: EngineConfig,
    store: Arc<dyn CredentialStore>,
    prekeys: Option<Arc<dyn PreKeySource>>,
    messenger: Option<Arc<messaging::Messenger>>,
) -> EngineHandle {
    let (status_tx, status) = watch::channel(EngineStatus::Connecting);
    let (stop, stop_rx) = watch::channel(false);
    let last_frame_ms = Arc::new(AtomicU64::new(0));
    let (commands, commands_rx) = mpsc::unbounded_channel();
    let calls = calls::CallDesk::new(true);
    if let Some(m) = &messenger {
        let settings = media::MediaSettings {
            scheme: config.media_scheme,
            max_bytes: config.media_max_bytes,
        };
        m.media
            .configure(settings, config.tls_certificate.as_deref());
    }
    let task = connection::EngineTask {
        config,
        commands: commands_rx,
        store,
        status: status_tx,
        stop: stop_rx,
        last_frame_ms: Arc::clone(&last_frame_ms),
        prekeys,
        logout_reply: None,
        messenger: messenger.clone(),
        calls: Arc::clone(&calls),
    };
    EngineHandle {
        status,
        stop,
        last_frame_ms,
        commands,
        task: tokio::spawn(task.run()),
        messenger,
        calls,
    }
}

impl EngineHandle {
    /// The current status.
    pub fn status(&self) -> EngineStatus {
        self.status.borrow().clone()
    }

    /// A receiver that sees every status change (intermediate states may be skipped when slow).
    pub fn subscribe(&self) -> watch::Receiver<EngineStatus> {
        self.status.clone()
    }

    /// Waits until the status satisfies `pred` (or the engine ended) and returns it.
    pub async fn wait_for(&self, mut pred: impl FnMut(&EngineStatus) -> bool) -> EngineStatus {
        let mut rx = self.status.clone();
        let result = rx
            .wait_for(|s| pred(s) || s.is_final())
            .await
            .map(|s| s.clone());
        result.unwrap_or_else(|_| self.status())
    }

    /// When the last frame arrived from the server, if one ever did.
    pub fn last_frame_at(&self) -> Option<SystemTime> {
        match self.last_frame_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(UNIX_EPOCH + Duration::from_millis(ms)),
        }
    }

    /// True when connected and a frame arrived within `max_silence` (the socket as it is now).
    pub fn is_live(&self, max_silence: Duration) -> bool {
        let connected = matches!(*self.status.borrow(), EngineStatus::Connected { .. });
        connected
            && self
                .last_frame_at()
                .and_then(|at| at.elapsed().ok())
                .is_some_and(|quiet| quiet <= max_silence)
    }

    /// Starts pairing by phone number instead of QR (§5.4): returns the code to type on the phone
    /// (`XXXX-XXXX`). Only while the engine shows QR codes (status `pending_auth`); the QR codes keep
    /// rotating and their timeout also ends the code's validity.
    pub async fn pair_with_code(&self, phone: &str) -> Result<String, String> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(connection::Command::PairCode {
                phone: phone.to_string(),
                reply,
            })
            .map_err(|_| "the engine has stopped".to_string())?;
        match tokio::time::timeout(Duration::from_secs(30), answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err("the connection ended before the server answered".into()),
            Err(_) => Err("the server did not answer the code pairing request".into()),
        }
    }

    /// Logs this companion out: tells the server to unlink it (when connected), wipes the credentials
    /// and ends the engine with status `logged_out`. Returns once that happened (bounded wait).
    pub async fn logout(&self) -> Result<(), String> {
        let (reply, done) = oneshot::channel();
        self.commands
            .send(connection::Command::Logout { reply })
            .map_err(|_| "the engine has stopped".to_string())?;
        match tokio::time::timeout(Duration::from_secs(30), done).await {
            Ok(Ok(())) => Ok(()),
            _ => Err("the engine did not confirm the logout".into()),
        }
    }

    /// Asks the engine to stop (it closes its socket; credentials are kept).
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// Stops the engine and waits until its task ended.
    pub async fn shutdown(self) {
        self.stop.send_replace(true);
        let _ = self.task.await;
    }

    /// Waits until the engine reached a final status (logged out, stopped) without asking it to stop.
    pub async fn finished(&self) -> EngineStatus {
        self.wait_for(EngineStatus::is_final).await
    }
}
