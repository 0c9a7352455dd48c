//! Webhook URLs may not reach loopback or private networks unless configured: checked when the URL
//! is set and again after DNS resolution at every delivery; redirects are never followed.

mod webhooks_support;

use chattu::services::webhooks::{self, policy};
use std::net::SocketAddr;
use std::sync::Arc;
use webhooks_support::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Resolves every name to the receiver's loopback address (a DNS answer pointing inside).
fn rebinding_lookup(target: SocketAddr) -> policy::Lookup {
    Arc::new(move |_netloc: &str| Ok(vec![target]))
}

fn last_error(env: &Env) -> String {
    env.app
        .store
        .webhook_attempts("client-1", 1)
        .unwrap()
        .first()
        .and_then(|a| a.error.clone())
        .unwrap_or_default()
}

#[test]
fn private_urls_are_refused_when_set_by_default() {
    let env = Env::new(false);
    let port = free_port();
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://localhost:{port}/hook"),
        format!("http://[::1]:{port}/"),
        "http://10.0.0.1/".to_string(),
        "http://169.254.169.254/latest".to_string(),
        "ftp://8.8.8.8/".to_string(),
    ] {
        let err = env
            .app
            .clients
            .update_webhook(&env.owner, "client-1", &url)
            .unwrap_err();
        assert_eq!(err.code(), "VALIDATION_ERROR", "{url}");
    }
    let allowed = Env::new(true);
    allowed.set_webhook(&format!("http://127.0.0.1:{port}/"));
}

#[test]
fn loopback_is_refused_at_delivery_unless_allowed() {
    let rt = runtime();
    let _guard = rt.enter();
    // The URL got in while private addresses were allowed (or DNS said otherwise back then).
    let env = Env::new(true);
    let receiver = Receiver::start();
    env.set_webhook(&format!("http://localhost:{}/hook", receiver.addr.port()));
    env.app
        .history
        .record_sent("client-1", "1", "m", "sent")
        .unwrap();
    let strict = env.start_worker(settings(false), Arc::new(RecordingReplies::default()));
    assert!(wait_until(&strict, || !last_error(&env).is_empty()));
    assert!(
        last_error(&env).contains(policy::REFUSED),
        "{}",
        last_error(&env)
    );
    assert!(receiver.hits().is_empty());
    rt.block_on(strict.shutdown());

    // The same URL is delivered when the configuration allows private addresses.
    env.clock.advance_ms(10_000);
    let lenient = env.start_worker(settings(true), Arc::new(RecordingReplies::default()));
    assert!(wait_until(&lenient, || receiver.hits().len() == 1));
    rt.block_on(lenient.shutdown());
}

#[test]
fn a_public_looking_name_resolving_to_loopback_is_refused() {
    let rt = runtime();
    let _guard = rt.enter();
    let env = Env::new(true);
    let receiver = Receiver::start();
    env.set_webhook(&format!(
        "http://hooks.example.test:{}/in",
        receiver.addr.port()
    ));
    env.app
        .history
        .record_received("client-1", "1@c.us", "x")
        .unwrap();
    let strict = webhooks::start_worker_with(
        env.app.store.clone(),
        env.clock.clone(),
        settings(false),
        Arc::new(RecordingReplies::default()),
        rebinding_lookup(receiver.addr),
    );
    assert!(wait_until(&strict, || !last_error(&env).is_empty()));
    assert!(
        last_error(&env).contains(policy::REFUSED),
        "{}",
        last_error(&env)
    );
    assert!(receiver.hits().is_empty());
    rt.block_on(strict.shutdown());

    env.clock.advance_ms(10_000);
    let lenient = webhooks::start_worker_with(
        env.app.store.clone(),
        env.clock.clone(),
        settings(true),
        Arc::new(RecordingReplies::default()),
        rebinding_lookup(receiver.addr),
    );
    assert!(wait_until(&lenient, || receiver.hits().len() == 1));
    assert_eq!(receiver.hits()[0].path, "/in");
    rt.block_on(lenient.shutdown());
}

#[test]
fn redirects_are_not_followed() {
    let rt = runtime();
    let _guard = rt.enter();
    let env = Env::new(true);
    let inner = Receiver::start();
    let outer = Receiver::start();
    outer.answer(Answer {
        status: 302,
        extra_headers: format!("Location: {}\r\n", inner.url("/internal")),
        ..Answer::ok("")
    });
    env.set_webhook(&outer.url("/"));
    env.app
        .history
        .record_sent("client-1", "1", "m", "sent")
        .unwrap();
    let worker = env.start_worker(settings(true), Arc::new(RecordingReplies::default()));
    assert!(wait_until(&worker, || !last_error(&env).is_empty()));
    assert!(last_error(&env).contains("302"), "{}", last_error(&env));
    assert_eq!(outer.hits().len(), 1);
    assert!(inner.hits().is_empty());
    assert_eq!(
        env.app.store.webhook_pending("client-1", 1).unwrap().len(),
        1,
        "a redirect is a failure: the event waits for a retry"
    );
    rt.block_on(worker.shutdown());
}
