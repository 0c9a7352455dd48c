//! The auth matrix: every route × every kind of credential, each with the expected status, on the
//! real binary. Also checks that the matrix covers every route the server documents.

mod common_http;

use std::cell::RefCell;
use std::collections::BTreeSet;

use common_http::{cross_site, Fixture, Req, Server, WRONG_KEY};
use serde_json::json;

/// The credential a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cred {
    None,
    WrongKey,
    /// Another user's account key.
    OtherUserKey,
    /// A client key of a different client than the one the route targets.
    OtherClientKey,
    /// The owner's account key.
    AccountKey,
    /// The owner's session cookie.
    Session,
    /// The owner's session cookie on a request made by another site.
    CrossSite,
}

const CREDS: [Cred; 7] = [
    Cred::None,
    Cred::WrongKey,
    Cred::OtherUserKey,
    Cred::OtherClientKey,
    Cred::AccountKey,
    Cred::Session,
    Cred::CrossSite,
];

/// Whose resources a route is about: alice's (most routes) or the admin's (admin routes, logs).
#[derive(Clone, Copy)]
enum Owner {
    Alice,
    Admin,
}

struct World<'a> {
    server: &'a Server,
    fx: Fixture,
    counter: RefCell<u32>,
}

impl World<'_> {
    fn unique(&self, prefix: &str) -> String {
        let mut n = self.counter.borrow_mut();
        *n += 1;
        format!("{prefix}{n}")
    }

    /// Applies a header/cookie credential for `owner`.
    fn with(&self, req: Req, cred: Cred, owner: Owner) -> Req {
        let fx = &self.fx;
        let (account_key, cookie, other_user_key, other_client_key) = match owner {
            Owner::Alice => (&fx.alice_key, &fx.alice_cookie, &fx.bob_key, &fx.a2_key),
            Owner::Admin => (&fx.admin_key, &fx.admin_cookie, &fx.alice_key, &fx.a1_key),
        };
        match cred {
            Cred::None => req,
            Cred::WrongKey => req.key(WRONG_KEY),
            Cred::OtherUserKey => req.key(other_user_key),
            Cred::OtherClientKey => req.key(other_client_key),
            Cred::AccountKey => req.key(account_key),
            Cred::Session => req.cookie(cookie),
            Cred::CrossSite => cross_site(req.cookie(cookie)),
        }
    }

    /// A new client of alice's (for destructive routes).
    fn fresh_client(&self) -> String {
        let id = self.unique("tmp");
        self.server
            .add_client(&self.fx.alice_key, &id, "4915112345678");
        id
    }

    /// A new pending schedule on alice's a1; returns its id.
    fn fresh_schedule(&self) -> u64 {
        let res = self
            .server
            .post("/schedule-message")
            .cookie(&self.fx.alice_cookie)
            .json(&json!({"clientId": "a1", "number": "9721234567", "message": "hi", "scheduleTime": "2099-10-06T18:30:00Z"}))
            .send();
        assert_eq!(res.status, 201, "{}", res.text());
        res.json()["id"].as_u64().expect("schedule id")
    }
}

struct Case {
    method: &'static str,
    path: &'static str,
    expect: [u16; 7],
    build: fn(&World, Cred) -> Req,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            method: "GET",
            path: "/healthz",
            expect: [200; 7],
            build: |w, c| w.with(w.server.get("/healthz"), c, Owner::Alice),
        },
        Case {
            method: "GET",
            path: "/openapi.json",
            expect: [200; 7],
            build: |w, c| w.with(w.server.get("/openapi.json"), c, Owner::Alice),
        },
        Case {
            method: "POST",
            path: "/login",
            expect: [200, 200, 200, 200, 200, 200, 403],
            build: |w, c| {
                w.with(
                    w.server.post("/login").json(
                        &json!({"username": "alice", "password": common_http::ALICE_PASSWORD}),
                    ),
                    c,
                    Owner::Alice,
                )
            },
        },
        Case {
            method: "POST",
            path: "/logout",
            expect: [200, 200, 200, 200, 200, 200, 403],
            // A throw-away session, so that logging out does not end the fixture's.
            build: |w, c| {
                let cookie = w.server.login("alice", common_http::ALICE_PASSWORD);
                let req = w.server.post("/logout");
                match c {
                    Cred::Session => req.cookie(&cookie),
                    Cred::CrossSite => cross_site(req.cookie(&cookie)),
                    other => w.with(req, other, Owner::Alice),
                }
            },
        },
        Case {
            method: "GET",
            path: "/api/profile",
            expect: [401, 401, 200, 403, 200, 200, 200],
            build: |w, c| w.with(w.server.get("/api/profile"), c, Owner::Alice),
        },
        Case {
            method: "POST",
            path: "/api/reset-api-key",
            // Credentials travel in the body: none/cookie-only → 400 (field missing), wrong → 401;
            // a cross-site request carrying the cookie is refused before the body is looked at.
            expect: [400, 401, 401, 401, 200, 400, 403],
            build: |w, c| {
                let key = match c {
                    Cred::WrongKey => Some(WRONG_KEY.to_string()),
                    Cred::OtherUserKey => Some(w.fx.bob_key.clone()),
                    Cred::OtherClientKey => Some(w.fx.a1_key.clone()),
                    Cred::AccountKey => Some(carol_key(w)),
                    _ => None,
                };
                let mut body = json!({"username": "carol"});
                if let Some(k) = key {
                    body["currentApiKey"] = json!(k);
                }
                let req = w.server.post("/api/reset-api-key").json(&body);
                match c {
                    Cred::Session => req.cookie(&w.fx.alice_cookie),
                    Cred::CrossSite => cross_site(req.cookie(&w.fx.alice_cookie)),
                    _ => req,
                }
            },
        },
        Case {
            method: "POST",
            path: "/api/add-number",
            // Another user adding alice's clientId is a conflict; a client key may not add clients.
            expect: [401, 401, 409, 403, 200, 200, 403],
            build: |w, c| {
                let id = if c == Cred::OtherUserKey {
                    "a1".to_string()
                } else {
                    w.unique("new")
                };
                w.with(
                    w.server
                        .post("/api/add-number")
                        .json(&json!({"clientId": id, "phoneNumber": "12345678901"})),
                    c,
                    Owner::Alice,
                )
            },
        },
        Case {
            method: "GET",
            path: "/api/clients",
            expect: [401, 401, 200, 200, 200, 200, 200],
            build: |w, c| w.with(w.server.get("/api/clients"), c, Owner::Alice),
        },
        Case {
            method: "POST",
            path: "/api/update-webhook",
            expect: [401, 401, 403, 403, 200, 200, 403],
            build: |w, c| {
                w.with(
                    w.server.post("/api/update-webhook").json(
                        &json!({"clientId": "a1", "webhookUrl": "https://93.184.216.34/hook"}),
                    ),
                    c,
                    Owner::Alice,
                )
            },
        },
        Case {
            method: "DELETE",
            path: "/clients/{clientId}",
            expect: [401, 401, 401, 401, 401, 200, 403],
            build: |w, c| {
                let id = w.fresh_client();
                w.with(
                    w.server
                        .delete(&format!("/clients/{id}"))
                        .json(&json!({"password": common_http::ALICE_PASSWORD})),
                    c,
                    Owner::Alice,
                )
            },
        },
        Case {
            method: "POST",
            path: "/schedule-message",
            expect: [401, 401, 401, 401, 401, 201, 403],
            build: |w, c| {
                w.with(
                    w.server.post("/schedule-message").json(
                        &json!({"clientId": "a1", "number": "9721234567", "message": "Scheduled hello", "scheduleTime": "2099-10-06T18:30:00Z"}),
                    ),
                    c,
                    Owner::Alice,
                )
            },
        },
        Case {
            method: "GET",
            path: "/scheduled-messages",
            expect: [401, 401, 401, 401, 401, 200, 200],
            build: |w, c| w.with(w.server.get("/scheduled-messages"), c, Owner::Alice),
        },
        Case {
            method: "DELETE",
            path: "/scheduled-messages/{id}",
            expect: [401, 401, 401, 401, 401, 200, 403],
            build: |w, c| {
                let id = w.fresh_schedule();
                w.with(
                    w.server.delete(&format!("/scheduled-messages/{id}")),
                    c,
                    Owner::Alice,
                )
            },
        },
        Case {
            method: "GET",
            path: "/api/sent-messages",
            expect: [401, 401, 200, 200, 200, 200, 200],
            build: |w, c| w.with(w.server.get("/api/sent-messages"), c, Owner::Alice),
        },
        Case {
            method: "GET",
            path: "/api/received-messages/{clientId}",
            expect: [401, 401, 403, 403, 200, 200, 200],
            build: |w, c| w.with(w.server.get("/api/received-messages/a1"), c, Owner::Alice),
        },
        Case {
            method: "GET",
            path: "/api/incoming-calls/{clientId}",
            expect: [401, 401, 403, 403, 200, 200, 200],
            build: |w, c| w.with(w.server.get("/api/incoming-calls/a1"), c, Owner::Alice),
        },
        Case {
            method: "GET",
            path: "/api/call-logs",
            expect: [401, 401, 200, 200, 200, 200, 200],
            build: |w, c| w.with(w.server.get("/api/call-logs"), c, Owner::Alice),
        },
        // Admin-only: "other user" is alice (not admin), "other client key" is alice's a1 key.
        Case {
            method: "GET",
            path: "/api/logs",
            expect: [401, 401, 403, 403, 200, 200, 200],
            build: |w, c| w.with(w.server.get("/api/logs"), c, Owner::Admin),
        },
        Case {
            method: "GET",
            path: "/api/admin/users",
            expect: [401, 401, 403, 403, 200, 200, 200],
            build: |w, c| w.with(w.server.get("/api/admin/users"), c, Owner::Admin),
        },
        Case {
            method: "POST",
            path: "/api/admin/users",
            expect: [401, 401, 403, 403, 201, 201, 403],
            build: |w, c| {
                let name = w.unique("user");
                w.with(
                    w.server.post("/api/admin/users").json(
                        &json!({"username": name, "password": "a-long-password", "role": "user"}),
                    ),
                    c,
                    Owner::Admin,
                )
            },
        },
        Case {
            method: "POST",
            path: "/api/admin/users/{username}/disable",
            expect: [401, 401, 403, 403, 200, 200, 403],
            build: |w, c| {
                w.with(
                    w.server
                        .post("/api/admin/users/dave/disable")
                        .json(&json!({"disabled": false})),
                    c,
                    Owner::Admin,
                )
            },
        },
        Case {
            method: "POST",
            path: "/api/admin/users/{username}/plan",
            expect: [401, 401, 403, 403, 200, 200, 403],
            build: |w, c| {
                w.with(
                    w.server
                        .post("/api/admin/users/dave/plan")
                        .json(&json!({"maxClients": 7})),
                    c,
                    Owner::Admin,
                )
            },
        },
        Case {
            method: "GET",
            path: "/api/admin/security-events",
            expect: [401, 401, 403, 403, 200, 200, 200],
            build: |w, c| w.with(w.server.get("/api/admin/security-events"), c, Owner::Admin),
        },
        // Engine routes (later issues). The QR of alice's a1, pending in the sandbox.
        Case {
            method: "GET",
            path: "/api/qr/{clientId}",
            expect: [401, 401, 403, 403, 200, 200, 200],
            build: |w, c| w.with(w.server.get("/api/qr/a1"), c, Owner::Alice),
        },
        // Sending needs a connected client; alice's a1 is still waiting for its QR scan, so an
        // authorised caller gets 409 CLIENT_NOT_CONNECTED (the refusals come first).
        Case {
            method: "POST",
            path: "/api/send-message",
            expect: [401, 401, 403, 403, 409, 409, 403],
            build: |w, c| {
                w.with(
                    w.server
                        .post("/api/send-message")
                        .json(&json!({"clientId": "a1", "number": "12345678901", "message": "Hey! Its a test message"})),
                    c,
                    Owner::Alice,
                )
            },
        },
        // Chat interface: session only (keys get 401). a1 never linked: no chats, sending needs
        // the connection (409), nothing unread to mark (200), no media stored (404).
        Case {
            method: "GET",
            path: "/api/chats/{clientId}",
            expect: [401, 401, 401, 401, 401, 200, 200],
            build: |w, c| w.with(w.server.get("/api/chats/a1"), c, Owner::Alice),
        },
        Case {
            method: "GET",
            path: "/api/chats/{clientId}/{chatId}/messages",
            expect: [401, 401, 401, 401, 401, 200, 200],
            build: |w, c| {
                w.with(
                    w.server.get("/api/chats/a1/12345678901@c.us/messages"),
                    c,
                    Owner::Alice,
                )
            },
        },
        Case {
            method: "POST",
            path: "/api/chats/{clientId}/{chatId}/send",
            expect: [401, 401, 401, 401, 401, 409, 403],
            build: |w, c| {
                w.with(
                    w.server
                        .post("/api/chats/a1/12345678901@c.us/send")
                        .json(&json!({"message": "hi"})),
                    c,
                    Owner::Alice,
                )
            },
        },
        // Groups: a1 never linked, so an authorised caller gets 409 CLIENT_NOT_CONNECTED.
        Case {
            method: "GET",
            path: "/api/groups/{clientId}",
            expect: [401, 401, 403, 403, 409, 409, 409],
            build: |w, c| w.with(w.server.get("/api/groups/a1"), c, Owner::Alice),
        },
        Case {
            method: "POST",
            path: "/api/send-group-message",
            expect: [401, 401, 403, 403, 409, 409, 403],
            build: |w, c| {
                w.with(
                    w.server.post("/api/send-group-message").json(
                        &json!({"clientId": "a1", "groupId": "120363000000000001@g.us", "message": "hi"}),
                    ),
                    c,
                    Owner::Alice,
                )
            },
        },
        Case {
            method: "POST",
            path: "/api/groups/{clientId}/{groupId}/send",
            expect: [401, 401, 401, 401, 401, 409, 403],
            build: |w, c| {
                w.with(
                    w.server
                        .post("/api/groups/a1/120363000000000001@g.us/send")
                        .json(&json!({"message": "hi"})),
                    c,
                    Owner::Alice,
                )
            },
        },
        Case {
            method: "POST",
            path: "/api/chats/{clientId}/{chatId}/read",
            expect: [401, 401, 401, 401, 401, 200, 403],
            build: |w, c| {
                w.with(
                    w.server.post("/api/chats/a1/12345678901@c.us/read"),
                    c,
                    Owner::Alice,
                )
            },
        },
        Case {
            method: "GET",
            path: "/api/chats/{clientId}/media/{messageId}",
            expect: [401, 401, 401, 401, 401, 404, 404],
            build: |w, c| {
                w.with(
                    w.server.get("/api/chats/a1/media/3EB0C767F26AFC1F8B"),
                    c,
                    Owner::Alice,
                )
            },
        },
        // Live events: credentials are checked before the upgrade, so a plain GET shows the
        // refusals; an accepted caller without upgrade headers gets 426. The WebSocket origin
        // check refuses another site even for a GET.
        Case {
            method: "GET",
            path: "/api/webhooks/{clientId}/deliveries",
            expect: [401, 401, 403, 403, 200, 200, 200],
            build: |w, c| w.with(w.server.get("/api/webhooks/a1/deliveries"), c, Owner::Alice),
        },
        Case {
            method: "POST",
            path: "/api/webhooks/{clientId}/deliveries/{eventId}/replay",
            // Nothing is dead-lettered in this test: the owner gets 404 NOT_FOUND.
            expect: [401, 401, 403, 403, 404, 404, 403],
            build: |w, c| {
                w.with(
                    w.server.post(
                        "/api/webhooks/a1/deliveries/evt_00000000000000000000000000000000/replay",
                    ),
                    c,
                    Owner::Alice,
                )
            },
        },
        Case {
            method: "POST",
            path: "/api/webhooks/{clientId}/test",
            // a1's webhook URL is cleared first, so the owner gets 400 and nothing is queued.
            expect: [401, 401, 403, 403, 400, 400, 403],
            build: |w, c| {
                let cleared = w
                    .server
                    .post("/api/update-webhook")
                    .key(&w.fx.alice_key)
                    .json(&json!({"clientId": "a1", "webhookUrl": null}))
                    .send();
                assert_eq!(cleared.status, 200, "{}", cleared.text());
                w.with(w.server.post("/api/webhooks/a1/test"), c, Owner::Alice)
            },
        },
        Case {
            method: "GET",
            path: "/ws",
            expect: [401, 401, 426, 426, 426, 426, 403],
            build: |w, c| w.with(w.server.get("/ws"), c, Owner::Alice),
        },
    ]
}

/// carol's current account key (it changes with every successful reset).
fn carol_key(w: &World) -> String {
    let cookie = w.server.login("carol", "carol-password-1");
    w.server.api_key_for_cookie(&cookie)
}

/// The matrix needs a few hundred requests from one IP: lift the limits for this test only
/// (the limits themselves are tested at their documented values in http_limits.rs).
fn unlimited_server() -> Server {
    Server::start_with(&[
        ("CHATTU_RATE_LIMITS_API_PER_15MIN", "100000"),
        ("CHATTU_RATE_LIMITS_SENSITIVE_PER_HOUR", "100000"),
        ("CHATTU_RATE_LIMITS_DELETES_PER_15MIN", "100000"),
    ])
}

#[test]
fn every_route_answers_every_credential_as_documented() {
    let server = unlimited_server();
    let fx = Fixture::new(&server);
    server.create_user(&fx.admin_cookie, "carol", "carol-password-1");
    server.create_user(&fx.admin_cookie, "dave", "dave-password-1");
    let world = World {
        server: &server,
        fx,
        counter: RefCell::new(0),
    };

    let mut failures = Vec::new();
    for case in cases() {
        for (cred, expected) in CREDS.iter().zip(case.expect) {
            let res = (case.build)(&world, *cred).send();
            if res.status != expected {
                failures.push(format!(
                    "{} {} with {:?}: got {} want {expected}: {}",
                    case.method,
                    case.path,
                    cred,
                    res.status,
                    res.text()
                ));
                continue;
            }
            // Every refusal is the JSON error shape with the matching code.
            let code = match expected {
                401 => Some("AUTH_ERROR"),
                403 if *cred == Cred::CrossSite => Some("CROSS_SITE_REQUEST"),
                403 => Some("ACCESS_DENIED"),
                409 if case.path == "/api/add-number" => Some("CONFLICT"),
                400 => Some("VALIDATION_ERROR"),
                _ => None,
            };
            if let Some(code) = code {
                if res.code() != code {
                    failures.push(format!(
                        "{} {} with {:?}: code {} want {code}",
                        case.method,
                        case.path,
                        cred,
                        res.code()
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "auth matrix mismatches:\n{}",
        failures.join("\n")
    );

    // The matrix covers every route the server documents (and so every route of the table).
    let spec = server.get("/openapi.json").send().json();
    let mut documented = BTreeSet::new();
    for (path, methods) in spec["paths"].as_object().expect("paths") {
        for method in methods.as_object().expect("methods").keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let tested: BTreeSet<(String, String)> = cases()
        .iter()
        .map(|c| (c.method.to_string(), c.path.to_string()))
        .collect();
    assert_eq!(
        documented, tested,
        "the auth matrix must cover exactly the documented routes"
    );
}

#[test]
fn ownership_and_scope_of_keys() {
    let server = unlimited_server();
    let fx = Fixture::new(&server);

    // A client key works for its own client, and only sees that client.
    let res = server
        .post("/api/update-webhook")
        .key(&fx.a1_key)
        .json(&json!({"clientId": "a1", "webhookUrl": ""}))
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
    let list = server.get("/api/clients").key(&fx.a1_key).send().json();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["clientId"].as_str())
        .collect();
    assert_eq!(ids, vec!["a1"]);

    // Another user's list never contains alice's clients.
    let list = server.get("/api/clients").key(&fx.bob_key).send().json();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["clientId"].as_str())
        .collect();
    assert_eq!(ids, vec!["b1"]);

    // Unknown client → 404; another user's → 403, for every client-scoped route.
    for path in ["/api/received-messages/nope", "/api/incoming-calls/nope"] {
        let res = server.get(path).key(&fx.alice_key).send();
        assert_eq!(
            (res.status, res.code().as_str()),
            (404, "CLIENT_NOT_FOUND"),
            "{path}"
        );
    }
    let res = server
        .get("/api/received-messages/b1")
        .key(&fx.alice_key)
        .send();
    assert_eq!((res.status, res.code().as_str()), (403, "ACCESS_DENIED"));

    // Another user's session cannot delete alice's client or cancel her schedule.
    let res = server
        .delete("/clients/a1")
        .cookie(&fx.bob_cookie)
        .json(&json!({"password": common_http::BOB_PASSWORD}))
        .send();
    assert_eq!((res.status, res.code().as_str()), (403, "ACCESS_DENIED"));
    let res = server
        .delete("/clients/nope")
        .cookie(&fx.bob_cookie)
        .json(&json!({"password": common_http::BOB_PASSWORD}))
        .send();
    assert_eq!((res.status, res.code().as_str()), (404, "CLIENT_NOT_FOUND"));
    let res = server
        .post("/schedule-message")
        .cookie(&fx.bob_cookie)
        .json(&json!({"clientId": "a1", "number": "9721234567", "message": "x", "scheduleTime": "2099-01-01T00:00:00Z"}))
        .send();
    assert_eq!((res.status, res.code().as_str()), (403, "ACCESS_DENIED"));

    // Delete-client password rules: 400 without, 403 when wrong.
    let res = server
        .delete("/clients/a2")
        .cookie(&fx.alice_cookie)
        .json(&json!({}))
        .send();
    assert_eq!(
        (res.status, res.code().as_str()),
        (400, "PASSWORD_REQUIRED")
    );
    let res = server
        .delete("/clients/a2")
        .cookie(&fx.alice_cookie)
        .json(&json!({"password": "wrong"}))
        .send();
    assert_eq!((res.status, res.code().as_str()), (403, "INVALID_PASSWORD"));

    // A disabled account's key and session stop working at once.
    let res = server
        .post("/api/admin/users/bob/disable")
        .cookie(&fx.admin_cookie)
        .json(&json!({"disabled": true}))
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        server.get("/api/profile").key(&fx.bob_key).send().status,
        401
    );
    assert_eq!(
        server
            .get("/api/profile")
            .cookie(&fx.bob_cookie)
            .send()
            .status,
        401
    );
    assert_eq!(
        server.get("/api/clients").key(&fx.b1_key).send().status,
        401
    );

    // Logging out ends the session.
    let cookie = server.login("alice", common_http::ALICE_PASSWORD);
    assert_eq!(
        server.get("/api/profile").cookie(&cookie).send().status,
        200
    );
    let res = server.post("/logout").cookie(&cookie).send();
    assert!(res
        .header("set-cookie")
        .is_some_and(|c| c.contains("Max-Age=0")));
    assert_eq!(
        server.get("/api/profile").cookie(&cookie).send().status,
        401
    );
}

#[test]
fn login_cookie_attributes_and_form_login() {
    let server = Server::start_with(&[("CHATTU_SERVER_TRUSTED_PROXIES", "127.0.0.1")]);
    let res = server
        .post("/login")
        .raw(
            "application/x-www-form-urlencoded",
            b"username=admin&password=admin-test-password-1".to_vec(),
        )
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
    let cookie = res.header("set-cookie").unwrap().to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP: no Secure: {cookie}"
    );

    // Over TLS according to a trusted proxy: Secure.
    let res = server
        .post("/login")
        .header("x-forwarded-proto", "https")
        .json(&json!({"username": "admin", "password": common_http::ADMIN_PASSWORD}))
        .send();
    assert!(res.header("set-cookie").unwrap().contains("Secure"));

    // Wrong password and unknown user look the same.
    for (u, p) in [("admin", "nope"), ("ghost", "nope")] {
        let res = server
            .post("/login")
            .json(&json!({"username": u, "password": p}))
            .send();
        assert_eq!((res.status, res.code().as_str()), (401, "AUTH_ERROR"));
        assert!(res.session_cookie().is_none());
    }

    // Same-origin browser POSTs with the cookie are fine.
    let cookie = server.admin_cookie();
    let host = server.addr.to_string();
    let res = server
        .post("/api/add-number")
        .cookie(&cookie)
        .header("origin", &format!("http://{host}"))
        .header("sec-fetch-site", "same-origin")
        .json(&json!({"clientId": "c1", "phoneNumber": "12345678901"}))
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
}
