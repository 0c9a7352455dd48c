//! The service layer: domain logic between the HTTP handlers (and the CLI, the engine, the
//! scheduler) and the store.
//!
//! [`App`] is built once at start-up and shared as `Arc<App>`. Every method that acts for a
//! request takes the authenticated [`Caller`] and checks ownership itself: a client id that does
//! not exist is [`Error::ClientNotFound`], another account's client (or another client's key) is
//! [`Error::AccessDenied`]. Methods without a caller are for trusted in-process callers (engine,
//! scheduler, CLI). All methods are blocking (redb, argon2): async code calls them through
//! `tokio::task::spawn_blocking`.

pub mod accounts;
pub mod app_log;
mod bootstrap;
pub mod chats;
pub mod clients;
mod error;
pub mod history;
pub mod live;
pub mod media_fetch;
pub mod scheduler;
pub mod schedules;
pub mod secrets;
pub mod security;
#[cfg(test)]
mod tests;
pub mod time;
pub mod validate;
pub mod webhook_url;
pub mod webhooks;
pub mod whatsapp;

pub use crate::store::{ClientRecord, ClientStatus, Role, ScheduleStatus};
pub use accounts::{Accounts, Profile, UserSummary};
pub use app_log::{AppLog, LogLine};
pub use clients::{ClientView, Clients};
pub use error::Error;
pub use history::{CallView, History, NewCall, ReceivedMessageView, SentMessageView};
pub use schedules::{ScheduledMessageView, Schedules};
pub use security::{Security, SecurityEvent, SecurityEventView};
pub use time::{Clock, SystemClock};

use crate::config::Config;
use crate::store::{Store, UserRecord};
use secrets::PasswordHashing;
use serde::Serialize;
use std::sync::Arc;

/// A WhatsApp client's id as the API names it (`clientId`).
pub type ClientId = String;

/// An account as the rest of the program sees it (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub username: String,
    pub role: Role,
    pub disabled: bool,
    pub max_clients: u32,
    pub created_ms: i64,
}

impl From<&UserRecord> for User {
    fn from(r: &UserRecord) -> Self {
        User {
            username: r.username.clone(),
            role: r.role,
            disabled: r.disabled,
            max_clients: r.max_clients,
            created_ms: r.created_ms,
        }
    }
}

/// How a request proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthVia {
    /// The account's API key: everything the account may do.
    AccountKey,
    /// A client's API key: only that client, and never account or admin operations.
    ClientKey(ClientId),
    /// A dashboard login session (cookie).
    Session,
}

/// The authenticated party of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user: User,
    pub via: AuthVia,
}

impl Caller {
    /// Admin rights need an admin account reached through its own key or a session.
    pub fn is_admin(&self) -> bool {
        self.user.role == Role::Admin && !matches!(self.via, AuthVia::ClientKey(_))
    }

    pub fn require_admin(&self) -> Result<(), Error> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(Error::AccessDenied)
        }
    }

    /// Account-level operations (profile, key reset, adding clients) refuse client keys.
    pub fn require_account(&self) -> Result<(), Error> {
        match self.via {
            AuthVia::ClientKey(_) => Err(Error::AccessDenied),
            _ => Ok(()),
        }
    }
}

/// What every service shares.
#[derive(Clone)]
pub(crate) struct Shared {
    pub store: Arc<Store>,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<Config>,
    pub hashing: PasswordHashing,
    pub live: live::LiveEvents,
}

impl Shared {
    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The client if the caller may act on it (see the module docs for the rules).
    fn owned_client(&self, caller: &Caller, client_id: &str) -> Result<ClientRecord, Error> {
        let client = self.store.client(client_id)?.ok_or(Error::ClientNotFound)?;
        if client.owner != caller.user.username {
            return Err(Error::AccessDenied);
        }
        if let AuthVia::ClientKey(own) = &caller.via {
            if own != client_id {
                return Err(Error::AccessDenied);
            }
        }
        Ok(client)
    }

    /// The clients the caller can see: all of the account's, or just the key's own client.
    fn visible_clients(&self, caller: &Caller) -> Result<Vec<ClientRecord>, Error> {
        let mut clients = self.store.clients_of(&caller.user.username)?;
        if let AuthVia::ClientKey(own) = &caller.via {
            clients.retain(|c| &c.client_id == own);
        }
        Ok(clients)
    }
}

/// Options for [`App::open_with`].
pub struct OpenOptions {
    pub clock: Arc<dyn Clock>,
    /// Password for the `admin` account created on an empty store; None → generated.
    pub initial_admin_password: Option<String>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            clock: Arc::new(SystemClock),
            initial_admin_password: std::env::var("CHATTU_ADMIN_PASSWORD")
                .ok()
                .filter(|p| !p.is_empty()),
        }
    }
}

/// The service container.
pub struct App {
    pub config: Arc<Config>,
    pub store: Arc<Store>,
    pub clock: Arc<dyn Clock>,
    pub accounts: Accounts,
    pub clients: Clients,
    pub schedules: Schedules,
    pub history: History,
    /// Chat list and per-chat messages (the chat interface).
    pub chats: chats::Chats,
    pub app_log: AppLog,
    pub security: Security,
    /// Real-time events for `/ws` (published after each commit; see [`live`]).
    pub live: live::LiveEvents,
    /// The WhatsApp engines (and sandbox simulator), filled in by `chattu serve`.
    pub whatsapp: whatsapp::WhatsApp,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// What [`App::run_maintenance`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MaintenanceReport {
    pub history_rows: u64,
    pub schedules: u64,
    pub security_events: u64,
    pub sessions: u64,
}

impl App {
    /// Opens `<data_dir>/chattu.redb` with the system clock; on an empty store creates `admin`
    /// (password from CHATTU_ADMIN_PASSWORD, else generated, logged once and written to
    /// `<data_dir>/initial-admin-password` with mode 0600).
    pub fn open(config: Config) -> Result<Arc<App>, Error> {
        App::open_with(config, OpenOptions::default())
    }

    pub fn open_with(config: Config, options: OpenOptions) -> Result<Arc<App>, Error> {
        let store = Arc::new(Store::open(&config.storage.data_dir)?);
        let hashing = PasswordHashing::new(
            config.accounts.argon2_memory_kib,
            config.accounts.argon2_iterations,
        )?;
        let config = Arc::new(config);
        let shared = Shared {
            store: store.clone(),
            clock: options.clock.clone(),
            config: config.clone(),
            hashing,
            live: live::LiveEvents::new(),
        };
        bootstrap::ensure_admin(&shared, options.initial_admin_password)?;
        let app = App {
            config,
            store,
            clock: options.clock,
            accounts: Accounts::new(shared.clone()),
            clients: Clients::new(shared.clone()),
            schedules: Schedules::new(shared.clone()),
            history: History::new(shared.clone()),
            chats: chats::Chats::new(shared.clone()),
            app_log: AppLog::new(shared.clone()),
            security: Security::new(shared.clone()),
            live: shared.live.clone(),
            whatsapp: whatsapp::WhatsApp::default(),
        };
        Ok(Arc::new(app))
    }

    /// Applies retention (age and row limits) to every history table, finished schedules,
    /// security events and expired sessions. Run at start and then hourly.
    pub fn run_maintenance(&self) -> Result<MaintenanceReport, Error> {
        let now = self.clock.now_ms();
        let days = i64::from(self.config.storage.retention_days);
        let cutoff = now.saturating_sub(days.saturating_mul(86_400_000));
        let max_rows = self.config.storage.max_history_rows;
        let mut report = MaintenanceReport::default();
        for kind in crate::store::HistoryKind::ALL {
            report.history_rows += self.store.prune_history(kind, cutoff, max_rows)?;
        }
        report.schedules = self.store.prune_schedules(cutoff, max_rows)?;
        report.security_events = self.store.prune_security_events(cutoff)?;
        report.sessions = self.store.prune_sessions(now)?;
        Ok(report)
    }
}
