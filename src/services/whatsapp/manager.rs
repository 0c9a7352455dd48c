//! One engine per WhatsApp client: started at boot and when a number is added, watched so that the
//! client's stored status (and the `client_status` webhook) follows the connection, stopped and
//! wiped when the client is deleted.
//!
//! Each engine is its own tokio task with its own watcher task; nothing is shared between two
//! clients' engines but this map, which is only locked for lookups and inserts. An engine that
//! fails (stops, panics, loses its store) marks only its own client `Disconnected`.

mod calls;

use super::super::chats::{self, ChatSink};
use super::super::live::LiveEvent;
use super::super::webhooks::Webhooks;
use super::super::{App, ClientStatus, Error};
use super::status::stored_status;
use crate::engine::messaging::{InboundSink, MessagingSetup, NoSink};
use crate::engine::signal_prekeys::RedbPreKeys;
use crate::engine::{self, EngineConfig, EngineHandle, EngineStatus};
use crate::store::signal::with_signal_txn;
use crate::store::ClientCredentialStore;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long a deleted client's engine gets to unlink itself from the phone.
const LOGOUT_WAIT: Duration = Duration::from_secs(10);
/// How long a stopping engine gets to close its socket.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// Why an engine operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManagerError {
    /// The server is shutting down (the App is gone).
    ShuttingDown,
    /// No engine runs for this client.
    NotRunning,
    /// The engine is not showing QR codes (state name: `connected`, `connecting`, …).
    NotPendingAuth(&'static str),
    /// The engine refused or failed (message for logs and the caller).
    Engine(String),
}

impl fmt::Display for ManagerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManagerError::ShuttingDown => f.write_str("the server is shutting down"),
            ManagerError::NotRunning => f.write_str("no WhatsApp session runs for this client"),
            ManagerError::NotPendingAuth(state) => {
                write!(f, "the client is not waiting for a QR scan (it is {state})")
            }
            ManagerError::Engine(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for ManagerError {}

struct Running {
    handle: Arc<EngineHandle>,
    watcher: JoinHandle<()>,
}

impl Running {
    /// True while the engine task runs and has not reached a final state.
    fn is_alive(&self) -> bool {
        // `has_changed` fails once the engine task dropped its status sender (it ended).
        !self.handle.status().is_final() && self.handle.subscribe().has_changed().is_ok()
    }
}

/// The engines of a running server.
pub struct EngineManager {
    app: Weak<App>,
    config: EngineConfig,
    /// Where engines record the messages they decrypt (in the decrypting transaction); None:
    /// each client's history and chats ([`ChatSink`]).
    inbound: Option<Arc<dyn InboundSink>>,
    engines: Mutex<HashMap<String, Running>>,
}

impl EngineManager {
    /// A manager whose engines use `config` (URL and trusted root) and record what they receive
    /// in the client's history and chats. Starts nothing.
    pub fn new(app: &Arc<App>, config: EngineConfig) -> EngineManager {
        let mut manager = EngineManager::with_inbound(app, config, Arc::new(NoSink));
        manager.inbound = None;
        manager
    }

    /// Like [`EngineManager::new`]; received messages go to `inbound`.
    pub fn with_inbound(
        app: &Arc<App>,
        config: EngineConfig,
        inbound: Arc<dyn InboundSink>,
    ) -> EngineManager {
        EngineManager {
            app: Arc::downgrade(app),
            config,
            inbound: Some(inbound),
            engines: Mutex::new(HashMap::new()),
        }
    }

    /// The engine settings every client uses.
    pub fn engine_config(&self) -> &EngineConfig {
        &self.config
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Running>> {
        // A poisoned map only means a panic between two plain map operations; keep serving.
        self.engines.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts an engine for every stored client except those logged out (they get a fresh QR
    /// when their number is added again). Clients with credentials log in without a QR.
    pub async fn start_all(&self) {
        let Some(app) = self.app.upgrade() else {
            return;
        };
        let clients = match tokio::task::spawn_blocking(move || app.clients.all()).await {
            Ok(Ok(clients)) => clients,
            Ok(Err(e)) => return log::error!("cannot list clients to start their engines: {e}"),
            Err(e) => return log::error!("cannot list clients to start their engines: {e}"),
        };
        let mut started = 0;
        for client in clients {
            if client.status == ClientStatus::LoggedOut {
                continue;
            }
            if self.ensure_running(&client.client_id).is_ok() {
                started += 1;
            }
        }
        log::info!("started {started} WhatsApp engine(s)");
    }

    /// The client's engine, started now unless one is running (a stopped, logged-out or crashed
    /// one is replaced). Must be called on the tokio runtime.
    pub fn ensure_running(&self, client_id: &str) -> Result<Arc<EngineHandle>, ManagerError> {
        let app = self.app.upgrade().ok_or(ManagerError::ShuttingDown)?;
        let mut engines = self.lock();
        if let Some(running) = engines.get(client_id) {
            if running.is_alive() {
                return Ok(running.handle.clone());
            }
        }
        if let Some(old) = engines.remove(client_id) {
            old.watcher.abort();
            old.handle.stop();
        }
        let store = Arc::new(ClientCredentialStore::new(app.store.clone(), client_id));
        // Signal state (prekeys, sessions) lives in the app's redb under the client id.
        let prekeys = Arc::new(RedbPreKeys::new(app.store.clone(), client_id));
        let setup = MessagingSetup {
            db: app.store.clone(),
            namespace: client_id.to_string(),
            sink: (self.inbound.clone())
                .unwrap_or_else(|| Arc::new(ChatSink::new(&app, client_id))),
        };
        let handle = Arc::new(engine::start_messaging(
            self.config.clone(),
            store,
            prekeys,
            setup,
        ));
        let watcher = tokio::spawn(watch_status(
            self.app.clone(),
            client_id.to_string(),
            handle.subscribe(),
            Arc::downgrade(&handle),
        ));
        chats::follow_engine(&app, client_id, &handle);
        calls::follow_calls(&app, client_id, &handle);
        log::info!("client {client_id}: WhatsApp engine started");
        engines.insert(
            client_id.to_string(),
            Running {
                handle: handle.clone(),
                watcher,
            },
        );
        Ok(handle)
    }

    /// The engine's current state, if one was started for this client.
    pub fn status(&self, client_id: &str) -> Option<EngineStatus> {
        self.lock().get(client_id).map(|r| r.handle.status())
    }

    /// The client's engine (to send messages, subscribe to its events), if one was started.
    pub fn handle(&self, client_id: &str) -> Option<Arc<EngineHandle>> {
        self.lock().get(client_id).map(|r| r.handle.clone())
    }

    /// Waits (at most `wait`) until the engine shows a QR code, is connected, or has failed to
    /// connect, and returns its state then.
    pub async fn settled_status(
        &self,
        client_id: &str,
        wait: Duration,
    ) -> Result<EngineStatus, ManagerError> {
        let handle = self.handle(client_id).ok_or(ManagerError::NotRunning)?;
        let settled = |s: &EngineStatus| !matches!(s, EngineStatus::Connecting);
        match tokio::time::timeout(wait, handle.wait_for(settled)).await {
            Ok(status) => Ok(status),
            Err(_) => Ok(handle.status()),
        }
    }

    /// Asks for a pairing code for `phone` (digits with country code): the code to type on the
    /// phone under Linked devices → Link with phone number (`ABCD-EFGH`).
    pub async fn pair_with_code(
        &self,
        client_id: &str,
        phone: &str,
    ) -> Result<String, ManagerError> {
        let handle = self.handle(client_id).ok_or(ManagerError::NotRunning)?;
        match handle.status() {
            EngineStatus::PendingAuth { .. } => {}
            other => return Err(ManagerError::NotPendingAuth(other.name())),
        }
        let code = handle
            .pair_with_code(phone)
            .await
            .map_err(ManagerError::Engine)?;
        // The owner's open `/ws` sockets see the code too, on a `qr` frame with the current image.
        if let EngineStatus::PendingAuth { qr_png, .. } = handle.status() {
            publish_qr(&self.app, client_id, &qr_png, Some(&code));
        }
        Ok(code)
    }

    /// The QR text the client shows now.
    pub fn current_qr(&self, client_id: &str) -> Result<String, ManagerError> {
        match self.status(client_id) {
            Some(EngineStatus::PendingAuth { qr, .. }) => Ok(qr),
            Some(other) => Err(ManagerError::NotPendingAuth(other.name())),
            None => Err(ManagerError::NotRunning),
        }
    }

    /// For a deleted client: unlinks the companion from the phone (when connected), stops the
    /// engine and wipes its credentials. Waits a bounded time; never fails.
    pub async fn remove(&self, client_id: &str) {
        let running = self.lock().remove(client_id);
        if let Some(running) = running {
            running.watcher.abort();
            // Only a logged-in companion can tell the server to unlink it; otherwise stopping is
            // enough (the keys are wiped below) and a delete never waits on a dialling socket.
            let online = matches!(
                running.handle.status(),
                EngineStatus::Connected { .. } | EngineStatus::Paired { .. }
            );
            if online {
                match tokio::time::timeout(LOGOUT_WAIT, running.handle.logout()).await {
                    Ok(Ok(())) => log::info!("client {client_id}: unlinked from WhatsApp"),
                    Ok(Err(e)) => log::warn!("client {client_id}: logout: {e}"),
                    Err(_) => log::warn!("client {client_id}: logout did not finish in time"),
                }
            }
            running.handle.stop();
            let _ = tokio::time::timeout(STOP_WAIT, running.handle.finished()).await;
        }
        // The delete transaction removed the credentials and Signal keys; an engine that saved
        // some again while stopping (a pairing or prekey upload in flight) must not leave keys behind.
        if let Some(app) = self.app.upgrade() {
            let id = client_id.to_string();
            let cleared = tokio::task::spawn_blocking(move || {
                app.store
                    .clear_device_creds(&id)
                    .map_err(|e| e.to_string())?;
                with_signal_txn(app.store.database(), &id, |signal| signal.clear_account())
                    .map_err(|e| e.to_string())
            });
            if let Ok(Err(e)) = cleared.await {
                log::error!("client {client_id}: cannot wipe credentials: {e}");
            }
        }
    }

    /// Stops every engine (credentials kept, so they log in again at the next start).
    pub async fn stop_all(&self) {
        let all: Vec<Running> = self.lock().drain().map(|(_, r)| r).collect();
        for running in &all {
            running.watcher.abort();
            running.handle.stop();
        }
        for running in &all {
            let _ = tokio::time::timeout(STOP_WAIT, running.handle.finished()).await;
        }
    }
}

/// Follows one engine's states into its client record until the engine ends.
async fn watch_status(
    app: Weak<App>,
    client_id: String,
    mut rx: watch::Receiver<EngineStatus>,
    engine: Weak<EngineHandle>,
) {
    let mut last: Option<(ClientStatus, Option<String>)> = None;
    let mut last_qr: Option<String> = None;
    let mut paired = is_paired(&app, &client_id).await;
    loop {
        let status = rx.borrow_and_update().clone();
        match status {
            EngineStatus::Paired { .. } | EngineStatus::Connected { .. } => paired = true,
            EngineStatus::LoggedOut { .. } => paired = false,
            _ => {}
        }
        log::debug!("client {client_id}: engine {}", status.name());
        if let EngineStatus::Stopped { reason } = &status {
            log::warn!("client {client_id}: engine stopped: {reason:?}");
        }
        if let Some(target) = stored_status(&status, paired) {
            if last.as_ref() != Some(&target) {
                if !record(&app, &client_id, &target).await {
                    return unlink_orphan(&app, &client_id, &engine).await;
                }
                log::info!("client {client_id}: {}", target.0.label());
                last = Some(target);
            }
        }
        if let EngineStatus::PendingAuth { qr_png, .. } = &status {
            if last_qr.as_deref() != Some(qr_png.as_str()) {
                publish_qr(&app, &client_id, qr_png, None);
                last_qr = Some(qr_png.clone());
            }
        }
        if status.is_final() {
            return;
        }
        if rx.changed().await.is_err() {
            // The engine task ended without a final state: it crashed. Only this client is affected.
            log::error!("client {client_id}: WhatsApp engine ended unexpectedly");
            let status = if paired {
                ClientStatus::Disconnected
            } else {
                ClientStatus::PendingAuthentication
            };
            record(&app, &client_id, &(status, None)).await;
            return;
        }
    }
}

/// Tells the owner's open `/ws` sockets about a new QR code (each rotation) or a pairing code
/// just issued for it.
fn publish_qr(app: &Weak<App>, client_id: &str, qr_png: &str, pairing_code: Option<&str>) {
    if let Some(app) = app.upgrade() {
        let now = app.clock.now_ms();
        app.live.publish_for_client(&app.store, client_id, |owner| {
            LiveEvent::qr(owner, client_id, qr_png, pairing_code, now)
        });
    }
}

/// The client vanished without going through [`EngineManager::remove`] (its account was deleted):
/// unlink the companion so the phone forgets it, which also ends the engine.
async fn unlink_orphan(app: &Weak<App>, client_id: &str, engine: &Weak<EngineHandle>) {
    if app.strong_count() == 0 {
        return;
    }
    if let Some(engine) = engine.upgrade() {
        log::warn!("client {client_id}: deleted while its engine ran; unlinking it");
        if tokio::time::timeout(LOGOUT_WAIT, engine.logout())
            .await
            .is_err()
        {
            engine.stop();
        }
    }
}

/// Whether the client's stored credentials belong to a linked device.
async fn is_paired(app: &Weak<App>, client_id: &str) -> bool {
    let Some(app) = app.upgrade() else {
        return false;
    };
    let id = client_id.to_string();
    let creds = tokio::task::spawn_blocking(move || app.store.device_creds(&id)).await;
    matches!(creds, Ok(Ok(Some(creds))) if creds.paired.is_some())
}

/// Stores a status and queues `client_status`; false when the client is gone (stop watching).
async fn record(app: &Weak<App>, client_id: &str, target: &(ClientStatus, Option<String>)) -> bool {
    let Some(app) = app.upgrade() else {
        return false;
    };
    let (status, number) = target.clone();
    let id = client_id.to_string();
    let result = tokio::task::spawn_blocking(move || {
        Webhooks::new(&app).set_client_status(&id, status, number.as_deref())
    })
    .await;
    match result {
        Ok(Ok(_)) => true,
        Ok(Err(Error::ClientNotFound)) => false,
        Ok(Err(e)) => {
            log::error!("client {client_id}: cannot record status: {e}");
            true
        }
        Err(e) => {
            log::error!("client {client_id}: cannot record status: {e}");
            true
        }
    }
}
