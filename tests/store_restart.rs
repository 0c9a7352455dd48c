//! Everything written through the App survives closing and reopening the data directory.

use chattu::config::Config;
use chattu::services::history::NewCall;
use chattu::services::{App, Clock, OpenOptions, Role, SecurityEvent};
use std::path::{Path, PathBuf};
use std::sync::Arc;

struct FixedClock(i64);

impl Clock for FixedClock {
    fn now_ms(&self) -> i64 {
        self.0
    }
}

/// A temporary data directory removed at the end of the test.
struct DataDir(PathBuf);

impl DataDir {
    fn new(name: &str) -> DataDir {
        let path =
            std::env::temp_dir().join(format!("chattu-restart-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        DataDir(path)
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn open(dir: &Path) -> Arc<App> {
    let mut config = Config::default();
    config.storage.data_dir = dir.to_path_buf();
    config.accounts.argon2_memory_kib = 1024;
    config.accounts.argon2_iterations = 1;
    // 2025-10-06T12:00:00Z
    let options = OpenOptions {
        clock: Arc::new(FixedClock(1_759_752_000_000)),
        initial_admin_password: Some("admin-password".into()),
    };
    App::open_with(config, options).unwrap()
}

#[test]
fn restart_keeps_every_record() {
    let dir = DataDir::new("all");
    let (bob_key, client_key, token, schedule_id) = {
        let app = open(&dir.0);
        let admin = app.accounts.login("admin", "admin-password").unwrap().0;
        let (_, bob_key) = app
            .accounts
            .create_user(&admin, "bob", Role::User, "bob-password")
            .unwrap();
        app.accounts.set_plan(&admin, "bob", 3).unwrap();
        let bob = app.accounts.authenticate_api_key(&bob_key).unwrap();
        let (client, _) = app.clients.create(&bob, "c1", "9721234567").unwrap();
        app.clients
            .update_webhook(&bob, "c1", "https://8.8.8.8/hook")
            .unwrap();
        app.clients
            .set_status(
                "c1",
                chattu::services::ClientStatus::Authenticated,
                Some("9721234567@c.us"),
            )
            .unwrap();
        let schedule = app
            .schedules
            .create(&bob, "c1", "+9721234567", "later", "2025-10-07T00:00:00Z")
            .unwrap();
        app.history
            .record_sent("c1", "1234567", "sent text", "sent")
            .unwrap();
        app.history
            .record_received("c1", "1234567", "received text")
            .unwrap();
        app.history
            .record_call(NewCall {
                client_id: "c1".into(),
                call_from: "1234567@c.us".into(),
                is_video: true,
                start_ms: 1_759_752_000_000,
                end_ms: None,
                duration_secs: None,
            })
            .unwrap();
        app.security
            .record(SecurityEvent {
                kind: "login_failed".into(),
                ip: Some("192.0.2.7".into()),
                username: None,
                detail: "x".into(),
            })
            .unwrap();
        let (_, token) = app.accounts.login("bob", "bob-password").unwrap();
        (bob_key, client.api_key, token, schedule.id)
    };

    let app = open(&dir.0);
    let bob = app.accounts.authenticate_api_key(&bob_key).unwrap();
    assert_eq!(bob.user.max_clients, 3);
    assert!(app.accounts.authenticate_api_key(&client_key).is_ok());
    assert_eq!(
        app.accounts
            .authenticate_session(&token)
            .unwrap()
            .user
            .username,
        "bob"
    );
    let clients = app.clients.list(&bob).unwrap();
    assert_eq!(clients.len(), 1);
    assert_eq!(clients[0].status, "Authenticated");
    assert_eq!(
        clients[0].webhook_url.as_deref(),
        Some("https://8.8.8.8/hook")
    );
    let schedules = app.schedules.list(&bob).unwrap();
    assert_eq!(
        schedules.iter().map(|s| s.id).collect::<Vec<_>>(),
        [schedule_id]
    );
    assert_eq!(app.history.sent(&bob).unwrap()[0].message, "sent text");
    assert_eq!(
        app.history.received(&bob, "c1").unwrap()[0].message,
        "received text"
    );
    assert!(app.history.calls(&bob, "c1").unwrap()[0].is_video);
    let admin = app.accounts.login("admin", "admin-password").unwrap().0;
    assert_eq!(
        app.security.list(&admin).unwrap()[0].ip.as_deref(),
        Some("192.0.2.7")
    );
    assert_eq!(
        app.accounts.list_users(&admin).unwrap().len(),
        2,
        "no second admin on restart"
    );

    // Counters continue after a restart: new ids never reuse old ones.
    let next = app
        .schedules
        .create(&bob, "c1", "+9721234567", "again", "2025-10-07T00:00:00Z")
        .unwrap();
    assert!(next.id > schedule_id);
}

#[test]
fn a_running_instance_holds_the_data_directory() {
    let dir = DataDir::new("lock");
    let _first = open(&dir.0);
    let mut config = Config::default();
    config.storage.data_dir = dir.0.clone();
    match App::open(config) {
        Err(chattu::services::Error::Internal(detail)) => {
            assert!(detail.contains("already open"), "{detail}")
        }
        other => panic!("second open gave {other:?}"),
    }
}
