//! Crash simulation: a child process (this test binary, run again) claims due schedules and is
//! aborted either between the `sending` commit and the send, or between the send and the `sent`
//! commit. After a restart every scheduled message has reached the phone exactly once.
//!
//! The phone is a file both processes share: one line per delivered message id, written and
//! synced before `send_text` returns, the way WhatsApp's server ack makes a send durable.

mod scheduler_support;

use chattu::services::scheduler::{Reconciled, ScheduledSender, ScheduledText, SendError, SentRef};
use chattu::store::{ScheduleStatus, Store};
use scheduler_support::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const MODE_VAR: &str = "CHATTU_SCHEDULER_CRASH_MODE";
const DIR_VAR: &str = "CHATTU_SCHEDULER_CRASH_DIR";
const CHILD_TEST: &str = "crash_child_entry_point";

/// Where the child aborts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CrashPoint {
    /// After the claim committed `sending` + message id, before anything reached WhatsApp.
    BeforeSend,
    /// After WhatsApp has the message, before `sent` is committed.
    AfterSend,
    Never,
}

struct FilePhone {
    log: PathBuf,
    crash: CrashPoint,
    attempts: Mutex<Vec<String>>,
}

impl FilePhone {
    fn new(dir: &Path, crash: CrashPoint) -> Arc<FilePhone> {
        Arc::new(FilePhone {
            log: dir.join("phone.log"),
            crash,
            attempts: Mutex::new(Vec::new()),
        })
    }

    /// (message id, text) per delivery, in order.
    fn deliveries(&self) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .filter_map(|line| line.split_once('\t'))
            .map(|(id, text)| (id.to_string(), text.to_string()))
            .collect()
    }
}

impl ScheduledSender for FilePhone {
    fn send_text(&self, message: &ScheduledText) -> Result<SentRef, SendError> {
        self.attempts
            .lock()
            .unwrap()
            .push(message.message_id.clone());
        if self.crash == CrashPoint::BeforeSend {
            std::process::abort();
        }
        // WhatsApp drops a repeated message id from the same device.
        if !self
            .deliveries()
            .iter()
            .any(|(id, _)| *id == message.message_id)
        {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log)
                .unwrap();
            writeln!(file, "{}\t{}", message.message_id, message.text).unwrap();
            file.sync_all().unwrap();
        }
        if self.crash == CrashPoint::AfterSend {
            std::process::abort();
        }
        Ok(SentRef::default())
    }

    fn reconcile(&self, _client_id: &str, message_id: &str) -> Reconciled {
        if self.deliveries().iter().any(|(id, _)| id == message_id) {
            Reconciled::Sent
        } else {
            Reconciled::NotSent
        }
    }
}

/// Not a test on its own: the body of the child process the crash tests start.
#[test]
#[ignore = "entry point of the crash tests' child process"]
fn crash_child_entry_point() {
    let (Ok(mode), Ok(dir)) = (std::env::var(MODE_VAR), std::env::var(DIR_VAR)) else {
        return;
    };
    let crash = match mode.as_str() {
        "before-send" => CrashPoint::BeforeSend,
        "after-send" => CrashPoint::AfterSend,
        _ => CrashPoint::Never,
    };
    let dir = PathBuf::from(dir);
    let store = Arc::new(Store::open(&dir).unwrap());
    let clock = ManualClock::at(START_MS + 1_000);
    let phone = FilePhone::new(&dir, crash);
    let mut scheduler =
        chattu::services::scheduler::Scheduler::new(store, clock, phone, settings());
    scheduler.start().unwrap();
    scheduler.tick().unwrap();
    if mode == "after-outcomes" {
        // Every send and outcome done, but outcomes are committed without an fsync of their
        // own: abort before anything else makes them durable.
        std::process::abort();
    }
}

fn run_child(dir: &Path, mode: &str) -> std::process::ExitStatus {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            CHILD_TEST,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(MODE_VAR, mode)
        .env(DIR_VAR, dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
}

fn crash_then_restart(mode: &str, sends_after_restart: usize) {
    let dir = TempDir::new();
    let texts = ["first", "second", "third"];
    {
        let store = open_store(&dir);
        for text in texts {
            schedule(&store, START_MS + 500, text);
        }
    }
    let exit = run_child(dir.path(), mode);
    assert!(!exit.success(), "the child was meant to crash: {exit:?}");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(exit.signal(), Some(6), "aborted (SIGABRT): {exit:?}");
    }

    // The crash left every claimed schedule in `sending` with its message id.
    let store = open_store(&dir);
    let in_flight = store.sending_schedules().unwrap();
    if mode != "after-outcomes" {
        assert_eq!(in_flight.len(), 3);
    }
    assert!(in_flight.iter().all(|s| s.message_id.is_some()));
    let before: Vec<_> = store.schedules_of(&["c1"]).unwrap();
    assert_eq!(before.len(), 3);

    let phone = FilePhone::new(dir.path(), CrashPoint::Never);
    let clock = ManualClock::at(START_MS + 60_000);
    let mut scheduler = chattu::services::scheduler::Scheduler::new(
        store.clone(),
        clock,
        phone.clone(),
        settings(),
    );
    scheduler.start().unwrap();
    scheduler.tick().unwrap();

    assert_eq!(phone.attempts.lock().unwrap().len(), sends_after_restart);
    let deliveries = phone.deliveries();
    let delivered: Vec<&str> = deliveries.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(delivered, texts, "each message exactly once, in order");
    for record in &before {
        let now = status(&store, record.id);
        assert_eq!(now.status, ScheduleStatus::Sent);
        assert_eq!(
            now.message_id, record.message_id,
            "sent under the stored id"
        );
        assert!(deliveries
            .iter()
            .any(|(id, _)| Some(id) == record.message_id.as_ref()));
    }
    assert!(store.sending_schedules().unwrap().is_empty());
}

#[test]
fn crash_between_the_sending_commit_and_the_send() {
    // Nothing reached the phone: all three are sent after the restart.
    crash_then_restart("before-send", 3);
}

#[test]
fn crash_between_the_send_and_the_sent_commit() {
    // The first reached the phone: reconciliation records it; only the other two are sent.
    crash_then_restart("after-send", 2);
}

#[test]
fn crash_after_the_outcomes_before_they_are_durable() {
    // All three reached the phone; whatever outcomes survived, nothing is sent again.
    crash_then_restart("after-outcomes", 0);
}
