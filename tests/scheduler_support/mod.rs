//! Shared by the scheduler tests: a hand-moved clock, a temporary store, schedule inserts, and
//! a recording "phone" that implements the engine's `ScheduledSender` the way WhatsApp behaves
//! (a repeated message id from the same device is dropped, not delivered twice).

#![allow(dead_code)]

use chattu::config::Config;
use chattu::services::scheduler::{
    Reconciled, ScheduledSender, ScheduledText, Scheduler, SchedulerSettings, SendError, SentRef,
};
use chattu::services::{App, Caller, Clock, OpenOptions, Role};
use chattu::store::{ScheduleRecord, ScheduleStatus, Store};
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// 2025-10-09T08:53:20Z.
pub const START_MS: i64 = 1_760_000_000_000;

/// A clock the test moves by hand.
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn at(ms: i64) -> Arc<ManualClock> {
        Arc::new(ManualClock(AtomicI64::new(ms)))
    }

    pub fn set_ms(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }

    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "chattu-scheduler-{}-{n}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn at(path: PathBuf) -> TempDir {
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn open_store(dir: &TempDir) -> Arc<Store> {
    Arc::new(Store::open(dir.path()).unwrap())
}

pub fn record(client_id: &str, due_ms: i64, text: &str) -> ScheduleRecord {
    ScheduleRecord {
        id: 0,
        client_id: client_id.into(),
        recipient: "+9721234567".into(),
        message: text.into(),
        due_ms,
        status: ScheduleStatus::Pending,
        created_ms: START_MS,
        sent_ms: None,
        failure: None,
        message_id: None,
        late_ms: None,
    }
}

/// Stores a pending schedule directly (as the service would) and returns its id.
pub fn schedule(store: &Store, due_ms: i64, text: &str) -> u64 {
    store
        .insert_schedule(record("c1", due_ms, text))
        .unwrap()
        .id
}

pub fn status(store: &Store, id: u64) -> ScheduleRecord {
    store.schedule(id).unwrap().unwrap()
}

/// Test settings: small pages, so paging is exercised, and a one-hour grace.
pub fn settings() -> SchedulerSettings {
    SchedulerSettings {
        missed_grace_ms: 3_600_000,
        horizon_ms: 60_000,
        max_resident: 1_000,
        page_size: 100,
        claim_batch: 32,
        ..SchedulerSettings::default()
    }
}

pub fn scheduler(
    store: &Arc<Store>,
    clock: &Arc<ManualClock>,
    phone: &Arc<Phone>,
    settings: SchedulerSettings,
) -> Scheduler {
    Scheduler::new(store.clone(), clock.clone(), phone.clone(), settings)
}

/// What the phone does with the next sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Deliver,
    Unavailable,
    Reject,
}

/// The recording double of the engine + WhatsApp: every `send_text` call is an attempt; the
/// first attempt of a message id is delivered, later ones are dropped as duplicates.
#[derive(Default)]
pub struct Phone {
    state: Mutex<PhoneState>,
}

#[derive(Default)]
struct PhoneState {
    attempts: Vec<ScheduledText>,
    /// message id → the delivered message, in delivery order.
    delivered: Vec<ScheduledText>,
    by_id: HashMap<String, usize>,
    next: VecDeque<Behaviour>,
    /// Overrides the answer of `reconcile` (None: answer from what was delivered).
    reconcile_answer: Option<Reconciled>,
    clock: Option<Arc<ManualClock>>,
    send_times: Vec<i64>,
}

impl Phone {
    pub fn new() -> Arc<Phone> {
        Arc::new(Phone::default())
    }

    /// Records the test clock's time at each delivery.
    pub fn with_clock(clock: &Arc<ManualClock>) -> Arc<Phone> {
        let phone = Phone::default();
        phone.state.lock().unwrap().clock = Some(clock.clone());
        Arc::new(phone)
    }

    /// Queues behaviours for the next sends (after them: deliver).
    pub fn then(&self, behaviours: &[Behaviour]) {
        self.state
            .lock()
            .unwrap()
            .next
            .extend(behaviours.iter().cloned());
    }

    pub fn answer_reconcile(&self, answer: Reconciled) {
        self.state.lock().unwrap().reconcile_answer = Some(answer);
    }

    /// Marks a message id as already delivered (as if sent before a crash).
    pub fn already_delivered(&self, message: ScheduledText) {
        let mut state = self.state.lock().unwrap();
        let index = state.delivered.len();
        state.by_id.insert(message.message_id.clone(), index);
        state.delivered.push(message);
    }

    pub fn attempts(&self) -> Vec<ScheduledText> {
        self.state.lock().unwrap().attempts.clone()
    }

    pub fn delivered(&self) -> Vec<ScheduledText> {
        self.state.lock().unwrap().delivered.clone()
    }

    pub fn delivered_texts(&self) -> Vec<String> {
        self.delivered().into_iter().map(|m| m.text).collect()
    }

    pub fn send_times(&self) -> Vec<i64> {
        self.state.lock().unwrap().send_times.clone()
    }
}

impl ScheduledSender for Phone {
    fn send_text(&self, message: &ScheduledText) -> Result<SentRef, SendError> {
        let mut state = self.state.lock().unwrap();
        state.attempts.push(message.clone());
        match state.next.pop_front().unwrap_or(Behaviour::Deliver) {
            Behaviour::Unavailable => return Err(SendError::Unavailable("offline".into())),
            Behaviour::Reject => return Err(SendError::Rejected("not on WhatsApp".into())),
            Behaviour::Deliver => {}
        }
        if !state.by_id.contains_key(&message.message_id) {
            let index = state.delivered.len();
            state.by_id.insert(message.message_id.clone(), index);
            state.delivered.push(message.clone());
            if let Some(clock) = state.clock.clone() {
                state.send_times.push(clock.now_ms());
            }
        }
        Ok(SentRef::default())
    }

    fn reconcile(&self, _client_id: &str, message_id: &str) -> Reconciled {
        let state = self.state.lock().unwrap();
        if let Some(answer) = state.reconcile_answer {
            return answer;
        }
        if state.by_id.contains_key(message_id) {
            Reconciled::Sent
        } else {
            Reconciled::NotSent
        }
    }
}

/// An app with one account and client "c1", for tests that go through the services.
pub struct AppEnv {
    pub app: Arc<App>,
    pub owner: Caller,
}

pub fn open_app(dir: &TempDir, clock: Arc<ManualClock>, grace_secs: u64) -> Arc<App> {
    let mut config = Config::default();
    config.storage.data_dir = dir.path().to_path_buf();
    config.accounts.argon2_memory_kib = 1024;
    config.accounts.argon2_iterations = 1;
    config.scheduler.missed_after_secs = grace_secs;
    let options = OpenOptions {
        clock,
        initial_admin_password: Some("admin-password-1".into()),
    };
    App::open_with(config, options).unwrap()
}

impl AppEnv {
    /// Opens the app; creates the account and client on first open.
    pub fn open(dir: &TempDir, clock: Arc<ManualClock>, grace_secs: u64) -> AppEnv {
        let app = open_app(dir, clock, grace_secs);
        let key = match app
            .accounts
            .create_user_local("owner", Role::User, "owner-password")
        {
            Ok((_, key)) => {
                let owner = app.accounts.authenticate_api_key(&key).unwrap();
                app.clients.create(&owner, "c1", "9721234567").unwrap();
                key
            }
            Err(_) => {
                let (caller, _) = app.accounts.login("owner", "owner-password").unwrap();
                return AppEnv { app, owner: caller };
            }
        };
        let owner = app.accounts.authenticate_api_key(&key).unwrap();
        AppEnv { app, owner }
    }
}
