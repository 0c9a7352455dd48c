//! Rate limits at the API doc's numbers (the defaults): the request after the documented count
//! gets 429 RATE_LIMITED with Retry-After. Each test runs its own server, so budgets start full.

mod common_http;

use common_http::{Res, Server, ADMIN_PASSWORD, WRONG_KEY};
use serde_json::json;

fn assert_limited(res: &Res, window_secs: u64) {
    assert_eq!(res.status, 429, "{}", res.text());
    assert_eq!(res.code(), "RATE_LIMITED");
    let retry: u64 = res
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!(
        retry >= 1 && retry <= window_secs,
        "Retry-After {retry} outside 1..={window_secs}"
    );
    assert!(
        retry > window_secs - 60,
        "the window just opened: Retry-After {retry} should be near {window_secs}"
    );
}

/// The stored security events, newest first, as the admin sees them.
fn security_events(server: &Server) -> Vec<serde_json::Value> {
    let cookie = server.admin_cookie();
    let events = server
        .get("/api/admin/security-events")
        .cookie(&cookie)
        .send()
        .json();
    events.as_array().cloned().unwrap_or_default()
}

fn reset_with(server: &Server, key: &str) -> Res {
    server
        .post("/api/reset-api-key")
        .json(&json!({"username": "admin", "currentApiKey": key}))
        .send()
}

#[test]
fn reset_api_key_allows_five_attempts_per_hour() {
    let server = Server::start();
    let cookie = server.admin_cookie();
    let key = server.api_key_for_cookie(&cookie);
    for i in 1..=5 {
        let res = reset_with(&server, WRONG_KEY);
        assert_eq!(res.status, 401, "attempt {i}: {}", res.text());
    }
    assert_limited(&reset_with(&server, WRONG_KEY), 3600);
    // Even the right key waits now, and so does a login (the budget is shared).
    assert_limited(
        &server
            .post("/login")
            .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
            .send(),
        3600,
    );
    assert_limited(&reset_with(&server, &key), 3600);
}

#[test]
fn only_failed_logins_count_and_five_failures_lock_the_ip_out() {
    let server = Server::start();
    let good = json!({"username": "admin", "password": ADMIN_PASSWORD});
    let bad = json!({"username": "admin", "password": "wrong"});
    for _ in 0..7 {
        assert_eq!(
            server.post("/login").json(&good).send().status,
            200,
            "successful logins are free"
        );
    }
    for i in 1..=5 {
        assert_eq!(
            server.post("/login").json(&bad).send().status,
            401,
            "failure {i}"
        );
    }
    assert_limited(&server.post("/login").json(&bad).send(), 3600);
    assert_limited(&server.post("/login").json(&good).send(), 3600);

    // The refusals are security events.
    let mut server = server;
    server.restart(); // limits are in memory: a restart clears them, records stay
    let events = security_events(&server);
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "login_failed").count(),
        5,
        "{kinds:?}"
    );
    assert!(kinds.contains(&"rate_limited"), "{kinds:?}");
    // A failed login is one event (login_failed), not also a generic auth_failed.
    let generic_login_refusals = events
        .iter()
        .filter(|e| {
            e["kind"] == "auth_failed" && e["detail"].as_str().is_some_and(|d| d.contains("/login"))
        })
        .count();
    assert_eq!(generic_login_refusals, 0);
}

#[test]
fn sensitive_budget_is_shared_by_resets_failed_logins_and_client_deletion() {
    let server = Server::start();
    let cookie = server.admin_cookie();
    let key = server.api_key_for_cookie(&cookie);
    for id in ["d1", "d2", "d3"] {
        server.add_client(&key, id, "12345678901");
    }
    assert_eq!(reset_with(&server, WRONG_KEY).status, 401);
    assert_eq!(
        server
            .post("/login")
            .json(&json!({"username": "admin", "password": "x"}))
            .send()
            .status,
        401
    );
    let delete = |id: &str| {
        server
            .delete(&format!("/clients/{id}"))
            .cookie(&cookie)
            .json(&json!({"password": ADMIN_PASSWORD}))
            .send()
    };
    assert_eq!(delete("d1").status, 200);
    assert_eq!(delete("d2").status, 200);
    assert_eq!(delete("nope").status, 404, "a failed delete counts too");
    // 5 sensitive operations spent: the 6th is refused.
    assert_limited(&delete("d3"), 3600);
}

#[test]
fn deletes_allow_ten_per_fifteen_minutes() {
    let server = Server::start();
    let cookie = server.admin_cookie();
    let key = server.api_key_for_cookie(&cookie);
    server.add_client(&key, "c1", "12345678901");
    let mut ids = Vec::new();
    for _ in 0..11 {
        let res = server
            .post("/schedule-message")
            .cookie(&cookie)
            .json(&json!({"clientId": "c1", "number": "12345678901", "message": "m", "scheduleTime": "2099-01-01T00:00:00Z"}))
            .send();
        assert_eq!(res.status, 201, "{}", res.text());
        ids.push(res.json()["id"].as_u64().unwrap());
    }
    // A client deletion counts against the same budget (and the sensitive one).
    server.add_client(&key, "c2", "12345678901");
    let res = server
        .delete("/clients/c2")
        .cookie(&cookie)
        .json(&json!({"password": ADMIN_PASSWORD}))
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
    for (i, id) in ids.iter().take(9).enumerate() {
        let res = server
            .delete(&format!("/scheduled-messages/{id}"))
            .cookie(&cookie)
            .send();
        assert_eq!(res.status, 200, "delete {}: {}", i + 2, res.text());
    }
    let last = ids.last().copied().unwrap();
    assert_limited(
        &server
            .delete(&format!("/scheduled-messages/{last}"))
            .cookie(&cookie)
            .send(),
        900,
    );
    // The refused cancellation did not happen.
    let list = server
        .get("/scheduled-messages")
        .cookie(&cookie)
        .send()
        .json();
    let item = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"].as_u64() == Some(last))
        .cloned()
        .unwrap();
    assert_eq!(item["status"], "pending");
}

#[test]
fn api_routes_allow_one_hundred_per_fifteen_minutes() {
    let server = Server::start();
    let cookie = server.admin_cookie(); // /login is not under /api
    for i in 1..=100 {
        let res = server.get("/api/profile").cookie(&cookie).send();
        assert_eq!(res.status, 200, "request {i}");
    }
    assert_limited(&server.get("/api/profile").cookie(&cookie).send(), 900);
    // Unauthenticated /api requests are refused by the limiter too (it runs first).
    assert_eq!(server.get("/api/clients").send().status, 429);
    // Routes outside /api are not counted by the global limiter.
    assert_eq!(
        server
            .get("/scheduled-messages")
            .cookie(&cookie)
            .send()
            .status,
        200
    );
    assert_eq!(server.get("/healthz").send().status, 200);
}

#[test]
fn limits_are_per_client_ip_behind_a_trusted_proxy_only() {
    let server = Server::start_with(&[("CHATTU_SERVER_TRUSTED_PROXIES", "127.0.0.1")]);
    let attempt = |ip: &str| {
        server
            .post("/api/reset-api-key")
            .header("x-forwarded-for", &format!("198.51.100.1, {ip}"))
            .json(&json!({"username": "admin", "currentApiKey": WRONG_KEY}))
            .send()
    };
    for _ in 0..5 {
        assert_eq!(attempt("203.0.113.5").status, 401);
    }
    assert_eq!(attempt("203.0.113.5").status, 429);
    assert_eq!(
        attempt("203.0.113.6").status,
        401,
        "another client behind the proxy has its own budget"
    );

    // Without trust, X-Forwarded-For is ignored: every request is the socket peer's.
    let direct = Server::start();
    for i in 0..5 {
        let res = direct
            .post("/api/reset-api-key")
            .header("x-forwarded-for", &format!("203.0.113.{i}"))
            .json(&json!({"username": "admin", "currentApiKey": WRONG_KEY}))
            .send();
        assert_eq!(res.status, 401);
    }
    let res = direct
        .post("/api/reset-api-key")
        .header("x-forwarded-for", "203.0.113.99")
        .json(&json!({"username": "admin", "currentApiKey": WRONG_KEY}))
        .send();
    assert_eq!(res.status, 429);
}

#[test]
fn at_most_thirty_refusals_per_ip_and_minute_are_stored_as_events() {
    let server = Server::start();
    for i in 1..=40 {
        let res = server.get("/api/profile").key(WRONG_KEY).send();
        assert_eq!(res.status, 401, "request {i}");
    }
    let events = security_events(&server);
    let stored = events.iter().filter(|e| e["kind"] == "auth_failed").count();
    assert_eq!(stored, 30, "{events:?}");
}
