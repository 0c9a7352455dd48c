//! Service behaviour through the public `App` API, with a hand-driven clock and cheap hashing.

mod accounts;
mod clients;
mod concurrency;
mod schedules_history;

use super::*;
use crate::store::test_dir::TempDir;
use std::sync::atomic::{AtomicI64, Ordering};

/// A clock the test moves by hand.
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn advance_secs(&self, secs: i64) {
        self.0.fetch_add(secs * 1000, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

pub const START: &str = "2025-10-06T12:00:00Z";
pub const ADMIN_PASSWORD: &str = "admin-password-1";

pub struct Harness {
    pub app: Arc<App>,
    pub clock: Arc<ManualClock>,
    pub dir: TempDir,
}

pub fn test_config(dir: &TempDir) -> Config {
    let mut config = Config::default();
    config.storage.data_dir = dir.path().to_path_buf();
    // Cheap hashing keeps the tests fast; the parameters are still argon2id.
    config.accounts.argon2_memory_kib = 1024;
    config.accounts.argon2_iterations = 1;
    config
}

pub fn harness_with(change: impl FnOnce(&mut Config)) -> Harness {
    let dir = TempDir::new();
    let mut config = test_config(&dir);
    change(&mut config);
    let start = time::parse_rfc3339(START).unwrap();
    let clock = Arc::new(ManualClock(AtomicI64::new(start)));
    let options = OpenOptions {
        clock: clock.clone(),
        initial_admin_password: Some(ADMIN_PASSWORD.into()),
    };
    let app = App::open_with(config, options).unwrap();
    Harness { app, clock, dir }
}

pub fn harness() -> Harness {
    harness_with(|_| {})
}

impl Harness {
    pub fn admin(&self) -> Caller {
        self.app.accounts.login("admin", ADMIN_PASSWORD).unwrap().0
    }

    /// A new account (role user) and its account-key caller.
    pub fn user(&self, name: &str) -> (Caller, String) {
        let (_, key) = self
            .app
            .accounts
            .create_user_local(name, Role::User, &format!("{name}-password"))
            .unwrap();
        (self.app.accounts.authenticate_api_key(&key).unwrap(), key)
    }

    /// Adds a client and returns the caller authenticated by its client key.
    pub fn client(&self, owner: &Caller, id: &str) -> (ClientView, Caller) {
        let (view, created) = self.app.clients.create(owner, id, "9721234567").unwrap();
        assert!(created);
        let caller = self
            .app
            .accounts
            .authenticate_api_key(&view.api_key)
            .unwrap();
        (view, caller)
    }
}
