//! The documented routes of issue 2 on the real binary: every request/response example of the API
//! doc with its field names, bad input (always a 4xx JSON error, never a 5xx), unknown routes and
//! methods, persistence across restarts and concurrent writers.

mod common_http;

use std::collections::BTreeSet;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use chattu::config::Config;
use chattu::services::{App, NewCall};
use common_http::{Fixture, Server, ADMIN_PASSWORD, ALICE_PASSWORD};
use serde_json::{json, Value};

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Opens the server's data dir in-process (the server must be stopped) to add history the
/// engine would record, so the history routes have something to show.
fn with_app(data: &std::path::Path, f: impl FnOnce(&Arc<App>)) {
    let mut env = HashMap::new();
    env.insert("CHATTU_DATA_DIR".to_string(), data.display().to_string());
    let config = Config::load_with(None, &env, &[PathBuf::from("/nonexistent/chattu.toml")])
        .expect("config");
    let app = App::open(config).expect("open store");
    f(&app);
}

#[test]
fn documented_examples_round_trip_with_the_docs_field_names() {
    let mut server = Server::start();
    let fx = Fixture::new(&server);

    // POST /api/add-number
    let res = server
        .post("/api/add-number")
        .key(&fx.alice_key)
        .json(&json!({"clientId": "client-id", "phoneNumber": "12345678901"}))
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
    let body = res.json();
    assert_eq!(keys(&body), set(&["status", "message", "qrCode", "apiKey"]));
    assert_eq!(body["status"], "pending_auth");
    assert!(body["qrCode"].is_null(), "no QR before the engine exists");
    let client_key = body["apiKey"].as_str().unwrap().to_string();
    assert!(
        client_key.len() >= 32,
        "client keys carry at least 128 bits"
    );

    // GET /api/clients
    let list = server.get("/api/clients").key(&fx.alice_key).send().json();
    let item = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["clientId"] == "client-id")
        .cloned()
        .expect("listed");
    assert!(keys(&item).is_superset(&set(&[
        "clientId",
        "phoneNumber",
        "apiKey",
        "connectedNumber",
        "status"
    ])));
    assert_eq!(item["phoneNumber"], "12345678901");
    assert_eq!(item["apiKey"], client_key.as_str());
    assert_eq!(item["connectedNumber"], "Not Connected");
    assert_eq!(item["status"], "Pending Authentication");

    // GET /api/profile
    let profile = server.get("/api/profile").key(&fx.alice_key).send().json();
    assert_eq!(
        keys(&profile),
        set(&["username", "role", "apiKey", "clientCount"])
    );
    assert_eq!(profile["username"], "alice");
    assert_eq!(profile["role"], "user");
    assert_eq!(profile["apiKey"], fx.alice_key.as_str());
    assert_eq!(profile["clientCount"], 3);

    // POST /api/update-webhook
    let res = server
        .post("/api/update-webhook")
        .key(&fx.alice_key)
        .json(&json!({"clientId": "client-id", "webhookUrl": "https://93.184.216.34/webhook.php"}))
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        res.json()["webhookUrl"],
        "https://93.184.216.34/webhook.php"
    );
    let res = server
        .post("/api/update-webhook")
        .key(&fx.alice_key)
        .json(&json!({"clientId": "client-id", "webhookUrl": "http://127.0.0.1/x"}))
        .send();
    assert_eq!(
        (res.status, res.json()["field"].as_str()),
        (400, Some("webhookUrl")),
        "private targets refused"
    );

    // POST /schedule-message, GET /scheduled-messages, DELETE /scheduled-messages/:id
    let res = server
        .post("/schedule-message")
        .cookie(&fx.alice_cookie)
        .json(&json!({"clientId": "client-id", "number": "9721234567", "message": "Scheduled hello", "scheduleTime": "2099-10-06T18:30:00Z"}))
        .send();
    assert_eq!(res.status, 201, "{}", res.text());
    let id = res.json()["id"].as_u64().unwrap();
    let list = server
        .get("/scheduled-messages")
        .cookie(&fx.alice_cookie)
        .send()
        .json();
    let item = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"].as_u64() == Some(id))
        .cloned()
        .expect("listed");
    assert_eq!(
        keys(&item),
        set(&[
            "id",
            "clientId",
            "recipient",
            "message",
            "scheduleTime",
            "status",
            "createdAt",
            "sentTime"
        ])
    );
    assert_eq!(item["clientId"], "client-id");
    assert_eq!(item["recipient"], "+9721234567");
    assert_eq!(item["message"], "Scheduled hello");
    assert_eq!(item["scheduleTime"], "2099-10-06T18:30:00Z");
    assert_eq!(item["status"], "pending");
    assert!(item["sentTime"].is_null());
    let res = server
        .delete(&format!("/scheduled-messages/{id}"))
        .cookie(&fx.alice_cookie)
        .send();
    assert_eq!(res.json(), json!({"message": "Schedule cancelled."}));
    let res = server
        .delete(&format!("/scheduled-messages/{id}"))
        .cookie(&fx.alice_cookie)
        .send();
    assert_eq!(
        (res.status, res.code().as_str()),
        (409, "CONFLICT"),
        "already cancelled"
    );

    // POST /api/reset-api-key
    let res = server
        .post("/api/reset-api-key")
        .json(&json!({"username": "alice", "currentApiKey": fx.alice_key}))
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
    let body = res.json();
    assert_eq!(keys(&body), set(&["message", "newApiKey"]));
    assert_eq!(body["message"], "API key reset successfully.");
    let new_key = body["newApiKey"].as_str().unwrap().to_string();
    assert_eq!(
        server.get("/api/profile").key(&fx.alice_key).send().status,
        401,
        "old key is dead"
    );
    assert_eq!(
        server.get("/api/profile").key(&new_key).send().json()["apiKey"],
        new_key.as_str()
    );

    // DELETE /clients/:clientId
    let res = server
        .delete("/clients/client-id")
        .cookie(&fx.alice_cookie)
        .json(&json!({"password": ALICE_PASSWORD}))
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        res.json(),
        json!({"message": "Client deleted successfully."})
    );
    assert_eq!(
        server.get("/api/clients").key(&client_key).send().status,
        401,
        "the client key died with it"
    );

    // History: stop, record what the engine would, start again.
    assert!(server.stop());
    with_app(&server.data.0, |app| {
        app.history
            .record_sent("a1", "1234567890", "Hello from WhatsApp!", "sent")
            .unwrap();
        app.history
            .record_received("a1", "1234567890", "Hello!")
            .unwrap();
        app.history
            .record_call(NewCall {
                client_id: "a1".into(),
                call_from: "1234567890@c.us".into(),
                is_video: false,
                start_ms: 1_761_998_400_000,
                end_ms: None,
                duration_secs: None,
            })
            .unwrap();
    });
    server.restart_stopped();

    let sent = server.get("/api/sent-messages").key(&new_key).send().json();
    let m = &sent[0];
    assert_eq!(
        keys(m),
        set(&[
            "id",
            "clientId",
            "senderNumber",
            "recipient",
            "message",
            "status",
            "sentAt"
        ])
    );
    assert_eq!(
        (
            m["clientId"].as_str(),
            m["senderNumber"].as_str(),
            m["status"].as_str()
        ),
        (Some("a1"), Some("9721234567"), Some("sent"))
    );

    let received = server
        .get("/api/received-messages/a1")
        .key(&new_key)
        .send()
        .json();
    assert_eq!(keys(&received), set(&["status", "messages"]));
    assert_eq!(received["status"], "success");
    let m = &received["messages"][0];
    assert_eq!(
        keys(m),
        set(&["id", "client_id", "sender", "message", "received_at"])
    );
    assert_eq!(
        (m["client_id"].as_str(), m["message"].as_str()),
        (Some("a1"), Some("Hello!"))
    );

    let calls = server
        .get("/api/incoming-calls/a1")
        .key(&fx.a1_key)
        .send()
        .json();
    assert_eq!(calls["status"], "success");
    let c = &calls["calls"][0];
    assert_eq!(
        keys(c),
        set(&[
            "id",
            "client_id",
            "call_from",
            "is_video",
            "start_time",
            "end_time",
            "duration",
            "created_at"
        ])
    );
    assert_eq!(c["call_from"], "1234567890@c.us");
    assert_eq!(c["start_time"], "2025-11-01T12:00:00Z");
    assert!(c["end_time"].is_null() && c["duration"].is_null());
    let logs = server.get("/api/call-logs").key(&new_key).send().json();
    assert_eq!(logs["calls"].as_array().map(Vec::len), Some(1));

    // GET /api/logs (admin): recent lines include this server's request log.
    let logs = server.get("/api/logs").key(&fx.admin_key).send().json();
    assert_eq!(logs["status"], "success");
    let lines = logs["logs"].as_array().unwrap();
    assert!(
        lines.iter().any(|l| l["message"]
            .as_str()
            .is_some_and(|m| m.contains("GET /api/call-logs 200"))),
        "{lines:?}"
    );

    // GET /healthz and GET /openapi.json
    assert_eq!(server.get("/healthz").send().json()["status"], "ok");
    let spec = server.get("/openapi.json").send().json();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    let add = &spec["paths"]["/api/add-number"]["post"];
    assert_eq!(
        add["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/AddNumberRequest"
    );
    let required = &spec["components"]["schemas"]["AddNumberResponse"]["required"];
    assert_eq!(required, &json!(["status", "message", "qrCode", "apiKey"]));
}

/// Every JSON route with bad bodies: always 4xx JSON with a code, never 5xx.
#[test]
fn bad_input_is_a_4xx_json_error_never_a_5xx() {
    let server = Server::start_with(&[
        ("CHATTU_RATE_LIMITS_API_PER_15MIN", "100000"),
        ("CHATTU_RATE_LIMITS_DELETES_PER_15MIN", "100000"),
        ("CHATTU_RATE_LIMITS_SENSITIVE_PER_HOUR", "100000"),
    ]);
    let fx = Fixture::new(&server);
    let cookie = &fx.alice_cookie;
    let admin = &fx.admin_cookie;
    let posts: Vec<(&str, &str, &String)> = vec![
        ("POST", "/api/add-number", cookie),
        ("POST", "/api/update-webhook", cookie),
        ("POST", "/api/reset-api-key", cookie),
        ("POST", "/schedule-message", cookie),
        ("DELETE", "/clients/a1", cookie),
        ("POST", "/login", cookie),
        ("POST", "/api/admin/users", admin),
        ("POST", "/api/admin/users/alice/disable", admin),
        ("POST", "/api/admin/users/alice/plan", admin),
    ];
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("malformed", b"{\"clientId\": ".to_vec()),
        ("not an object", b"[1, 2]".to_vec()),
        ("null", b"null".to_vec()),
        ("invalid utf-8", vec![b'{', b'"', 0xff, 0xfe, b'"', b':', b'1', b'}']),
        ("wrong types", br#"{"clientId": {}, "phoneNumber": [], "username": 1, "password": true, "webhookUrl": 5, "number": null, "message": 7, "scheduleTime": 1, "disabled": "yes", "maxClients": -1, "currentApiKey": []}"#.to_vec()),
        ("empty strings", br#"{"clientId": "", "phoneNumber": "", "username": "", "password": "", "webhookUrl": "ftp://x", "number": "", "message": "", "scheduleTime": "", "maxClients": 1e300}"#.to_vec()),
        ("huge numbers", br#"{"clientId": "a1", "phoneNumber": 123456789012345678901234567890, "maxClients": 99999999999999}"#.to_vec()),
        ("deep nesting", format!("{}{}", "[".repeat(5000), "]".repeat(5000)).into_bytes()),
    ];
    for (method, path, cookie) in &posts {
        for (what, body) in &bodies {
            let res = server
                .req(method, path)
                .cookie(cookie)
                .raw("application/json", body.clone())
                .send();
            assert!(
                (400..500).contains(&res.status),
                "{method} {path} {what}: {} {}",
                res.status,
                res.text()
            );
            let json = res.json();
            assert!(
                json["code"].is_string() && json["error"].is_string(),
                "{method} {path} {what}: {json}"
            );
        }
    }

    // Specific codes and fields.
    let res = server
        .post("/api/add-number")
        .key(&fx.alice_key)
        .raw("application/json", b"{oops".to_vec())
        .send();
    assert_eq!((res.status, res.code().as_str()), (400, "INVALID_JSON"));
    let res = server
        .post("/api/add-number")
        .key(&fx.alice_key)
        .json(&json!({"phoneNumber": "12345678901"}))
        .send();
    assert_eq!(
        (
            res.status,
            res.code().as_str(),
            res.json()["field"].as_str()
        ),
        (400, "VALIDATION_ERROR", Some("clientId"))
    );
    let res = server
        .post("/api/add-number")
        .key(&fx.alice_key)
        .json(&json!({"clientId": 5, "phoneNumber": "12345678901"}))
        .send();
    assert_eq!(res.json()["field"], "clientId");
    let res = server
        .post("/api/add-number")
        .key(&fx.alice_key)
        .json(&json!({"clientId": "ok", "phoneNumber": "12ab"}))
        .send();
    assert_eq!(res.json()["field"], "phoneNumber");
    let res = server.post("/schedule-message").cookie(cookie).json(&json!({"clientId": "a1", "number": "9721234567", "message": "x", "scheduleTime": "tomorrow"})).send();
    assert_eq!(
        (res.status, res.json()["field"].as_str()),
        (400, Some("scheduleTime"))
    );
    let res = server
        .post("/api/add-number")
        .key(&fx.alice_key)
        .raw("text/plain", b"clientId=x".to_vec())
        .send();
    assert_eq!(
        (res.status, res.code().as_str()),
        (415, "UNSUPPORTED_MEDIA_TYPE")
    );

    // Bad ids.
    for (path, status) in [
        ("/scheduled-messages/abc", 400),
        ("/scheduled-messages/0", 400),
        ("/scheduled-messages/-1", 400),
        ("/scheduled-messages/99999999999999999999999", 400),
        ("/scheduled-messages/424242", 404),
    ] {
        let res = server.delete(path).cookie(cookie).send();
        assert_eq!(res.status, status, "{path}: {}", res.text());
    }
    let long = "x".repeat(5000);
    for path in [
        format!("/api/received-messages/{long}"),
        "/api/incoming-calls/%00%ff".to_string(),
        "/api/received-messages/%E2%9C%93".to_string(),
    ] {
        let res = server.get(&path).key(&fx.alice_key).send();
        assert_eq!(
            (res.status, res.code().as_str()),
            (404, "CLIENT_NOT_FOUND"),
            "{path}"
        );
    }
    let res = server
        .delete(&format!("/clients/{long}"))
        .cookie(cookie)
        .json(&json!({"password": ALICE_PASSWORD}))
        .send();
    assert_eq!(res.status, 404);

    // Oversized bodies: declared and chunked.
    let big = vec![b' '; 1_048_577];
    let res = server
        .post("/api/add-number")
        .key(&fx.alice_key)
        .raw("application/json", big)
        .send();
    assert_eq!((res.status, res.code().as_str()), (413, "BODY_TOO_LARGE"));
    let mut chunked = format!(
        "POST /api/add-number HTTP/1.1\r\nhost: x\r\nx-api-key: {}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
        fx.alice_key
    )
    .into_bytes();
    for _ in 0..20 {
        chunked.extend_from_slice(format!("{:x}\r\n", 65536).as_bytes());
        chunked.extend_from_slice(&[b' '; 65536]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let res = common_http::send_raw(server.addr, &chunked);
    assert_eq!((res.status, res.code().as_str()), (413, "BODY_TOO_LARGE"));
}

#[test]
fn unknown_routes_and_methods_and_the_dashboard() {
    let server = Server::start();
    let res = server.get("/api/nope").send();
    assert_eq!((res.status, res.code().as_str()), (404, "ROUTE_NOT_FOUND"));
    let res = server.post("/nope").send();
    assert_eq!((res.status, res.code().as_str()), (404, "ROUTE_NOT_FOUND"));
    let res = server.get("/definitely/not/a/page.txt").send();
    assert_eq!((res.status, res.code().as_str()), (404, "ROUTE_NOT_FOUND"));
    let res = server.req("PUT", "/api/profile").send();
    assert_eq!(
        (res.status, res.code().as_str()),
        (405, "METHOD_NOT_ALLOWED")
    );
    assert_eq!(res.header("allow"), Some("GET, HEAD"));
    let res = server.delete("/api/clients").send();
    assert_eq!(res.status, 405);
    let res = server.get("/schedule-message").send();
    assert_eq!((res.status, res.header("allow")), (405, Some("POST")));
    let res = server.req("HEAD", "/healthz").send();
    assert_eq!(res.status, 200);
    assert!(res.body.is_empty());

    // Non-/api GETs are the dashboard's.
    let res = server.get("/").send();
    assert_eq!(res.status, 200);
    assert!(res
        .header("content-type")
        .unwrap_or("")
        .starts_with("text/html"));
    let res = server.get("/login").send();
    assert_eq!(res.status, 200, "the login page (GET) beside POST /login");
    assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
}

#[test]
fn restart_keeps_every_record() {
    let mut server = Server::start();
    let fx = Fixture::new(&server);
    server
        .post("/api/update-webhook")
        .key(&fx.alice_key)
        .json(&json!({"clientId": "a1", "webhookUrl": "https://93.184.216.34/h"}))
        .send();
    let res = server
        .post("/schedule-message")
        .cookie(&fx.alice_cookie)
        .json(&json!({"clientId": "a2", "number": "+9721234567", "message": "later", "scheduleTime": "2099-01-01T00:00:00Z"}))
        .send();
    assert_eq!(res.status, 201);
    let before_clients = server.get("/api/clients").key(&fx.alice_key).send().json();
    let before_schedules = server
        .get("/scheduled-messages")
        .cookie(&fx.alice_cookie)
        .send()
        .json();
    let before_users = server
        .get("/api/admin/users")
        .key(&fx.admin_key)
        .send()
        .json();

    server.restart();

    assert_eq!(
        server.get("/api/clients").key(&fx.alice_key).send().json(),
        before_clients
    );
    assert_eq!(
        server
            .get("/scheduled-messages")
            .cookie(&fx.alice_cookie)
            .send()
            .json(),
        before_schedules,
        "sessions survive too"
    );
    assert_eq!(
        server
            .get("/api/admin/users")
            .key(&fx.admin_key)
            .send()
            .json(),
        before_users
    );
    assert_eq!(
        server.get("/api/profile").key(&fx.b1_key).send().status,
        403,
        "client keys still resolve"
    );
    assert_eq!(
        server.get("/api/clients").key(&fx.b1_key).send().status,
        200
    );
    // The admin password is not re-generated or reset by a restart.
    assert_eq!(
        server
            .post("/login")
            .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
            .send()
            .status,
        200
    );
}

#[test]
fn concurrent_writers_lose_no_update() {
    let server = Server::start_with(&[("CHATTU_RATE_LIMITS_API_PER_15MIN", "100000")]);
    let fx = Fixture::new(&server);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let server_req = server.post("/api/add-number").key(&fx.alice_key);
            let schedule_req = server.post("/schedule-message").cookie(&fx.alice_cookie);
            std::thread::spawn(move || {
                let mut ok = 0;
                for i in 0..10 {
                    let res = server_req.clone().json(&json!({"clientId": format!("t{t}-{i}"), "phoneNumber": "12345678901"})).send();
                    assert_eq!(res.status, 200, "{}", res.text());
                    let res = schedule_req
                        .clone()
                        .json(&json!({"clientId": "a1", "number": "12345678901", "message": format!("{t}-{i}"), "scheduleTime": "2099-01-01T00:00:00Z"}))
                        .send();
                    assert_eq!(res.status, 201, "{}", res.text());
                    ok += 1;
                }
                ok
            })
        })
        .collect();
    let total: i32 = threads
        .into_iter()
        .map(|t| t.join().expect("writer thread"))
        .sum();
    assert_eq!(total, 80);
    let clients = server.get("/api/clients").key(&fx.alice_key).send().json();
    assert_eq!(
        clients.as_array().unwrap().len(),
        82,
        "a1, a2 and 80 new clients"
    );
    let keys: BTreeSet<&str> = clients
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["apiKey"].as_str())
        .collect();
    assert_eq!(keys.len(), 82, "every client has its own key");
    let schedules = server
        .get("/scheduled-messages")
        .cookie(&fx.alice_cookie)
        .send()
        .json();
    let ids: BTreeSet<u64> = schedules
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["id"].as_u64())
        .collect();
    assert_eq!(ids.len(), 80, "80 schedules with distinct ids");
    assert_eq!(
        server.get("/api/profile").key(&fx.alice_key).send().json()["clientCount"],
        82
    );
}

/// Checks `value` against an OpenAPI schema (types, required properties, nullability, enums);
/// pushes what does not match onto `errors`.
fn check_schema(spec: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap_or("");
        return check_schema(
            spec,
            &spec["components"]["schemas"][name],
            value,
            at,
            errors,
        );
    }
    if let Some(parts) = schema["allOf"].as_array() {
        for part in parts {
            check_schema(spec, part, value, at, errors);
        }
        return;
    }
    if value.is_null() {
        if schema["nullable"] != true {
            errors.push(format!("{at}: null but not nullable"));
        }
        return;
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(value) {
            errors.push(format!("{at}: {value} not in {allowed:?}"));
        }
    }
    match schema["type"].as_str() {
        Some("object") => {
            let Some(obj) = value.as_object() else {
                return errors.push(format!("{at}: not an object"));
            };
            for key in schema["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !obj.contains_key(key) {
                    errors.push(format!("{at}: missing required {key}"));
                }
            }
            if let Some(props) = schema["properties"].as_object() {
                for (key, sub) in props {
                    if let Some(v) = obj.get(key) {
                        check_schema(spec, sub, v, &format!("{at}.{key}"), errors);
                    }
                }
            }
        }
        Some("array") => match value.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    check_schema(spec, &schema["items"], item, &format!("{at}[{i}]"), errors);
                }
            }
            None => errors.push(format!("{at}: not an array")),
        },
        Some("string") if !value.is_string() => errors.push(format!("{at}: not a string")),
        Some("integer") if !(value.is_u64() || value.is_i64()) => {
            errors.push(format!("{at}: not an integer"))
        }
        Some("boolean") if !value.is_boolean() => errors.push(format!("{at}: not a boolean")),
        _ => {}
    }
}

/// Every documented route's actual answer matches the response schema /openapi.json gives for it.
#[test]
fn answers_match_the_openapi_schemas() {
    let mut server = Server::start_with(&[("CHATTU_RATE_LIMITS_API_PER_15MIN", "100000")]);
    let fx = Fixture::new(&server);
    // Some history, so that list items are checked too.
    assert!(server.stop());
    with_app(&server.data.0, |app| {
        app.history
            .record_sent("a1", "1234567890", "hi", "sent")
            .unwrap();
        app.history
            .record_received("a1", "1234567890", "hello")
            .unwrap();
        let call = NewCall {
            client_id: "a1".into(),
            call_from: "1@c.us".into(),
            is_video: true,
            start_ms: 0,
            end_ms: Some(5000),
            duration_secs: Some(5),
        };
        app.history.record_call(call).unwrap();
    });
    server.restart_stopped();
    let spec = server.get("/openapi.json").send().json();
    let scheduled = server
        .post("/schedule-message")
        .cookie(&fx.alice_cookie)
        .json(&json!({"clientId": "a1", "number": "9721234567", "message": "x", "scheduleTime": "2099-01-01T00:00:00Z"}))
        .send();
    let sid = scheduled.json()["id"].as_u64().unwrap();
    let reset_key = server.create_user(&fx.admin_cookie, "erin", "erin-password-1");
    server.add_client(&fx.alice_key, "gone", "12345678901");

    let alice = |req: common_http::Req| req.key(&fx.alice_key);
    let alice_session = |req: common_http::Req| req.cookie(&fx.alice_cookie);
    let admin = |req: common_http::Req| req.key(&fx.admin_key);
    let cases: Vec<(&str, &str, common_http::Req)> = vec![
        ("GET", "/healthz", server.get("/healthz")),
        (
            "POST",
            "/login",
            server
                .post("/login")
                .json(&json!({"username": "alice", "password": ALICE_PASSWORD})),
        ),
        ("GET", "/api/profile", alice(server.get("/api/profile"))),
        (
            "POST",
            "/api/add-number",
            alice(
                server
                    .post("/api/add-number")
                    .json(&json!({"clientId": "s1", "phoneNumber": "12345678901"})),
            ),
        ),
        ("GET", "/api/clients", alice(server.get("/api/clients"))),
        (
            "POST",
            "/api/update-webhook",
            alice(
                server
                    .post("/api/update-webhook")
                    .json(&json!({"clientId": "a1", "webhookUrl": null})),
            ),
        ),
        (
            "POST",
            "/schedule-message",
            scheduled_req(&server, &fx.alice_cookie),
        ),
        (
            "GET",
            "/scheduled-messages",
            alice_session(server.get("/scheduled-messages")),
        ),
        (
            "DELETE",
            "/scheduled-messages/{id}",
            alice_session(server.delete(&format!("/scheduled-messages/{sid}"))),
        ),
        (
            "GET",
            "/api/sent-messages",
            alice(server.get("/api/sent-messages")),
        ),
        (
            "GET",
            "/api/received-messages/{clientId}",
            alice(server.get("/api/received-messages/a1")),
        ),
        (
            "GET",
            "/api/incoming-calls/{clientId}",
            alice(server.get("/api/incoming-calls/a1")),
        ),
        ("GET", "/api/call-logs", alice(server.get("/api/call-logs"))),
        ("GET", "/api/logs", admin(server.get("/api/logs"))),
        (
            "GET",
            "/api/admin/users",
            admin(server.get("/api/admin/users")),
        ),
        (
            "POST",
            "/api/admin/users",
            admin(
                server
                    .post("/api/admin/users")
                    .json(&json!({"username": "frank", "password": "frank-password-1"})),
            ),
        ),
        (
            "POST",
            "/api/admin/users/{username}/disable",
            admin(
                server
                    .post("/api/admin/users/frank/disable")
                    .json(&json!({"disabled": true})),
            ),
        ),
        (
            "POST",
            "/api/admin/users/{username}/plan",
            admin(
                server
                    .post("/api/admin/users/frank/plan")
                    .json(&json!({"maxClients": 2})),
            ),
        ),
        (
            "GET",
            "/api/admin/security-events",
            admin(server.get("/api/admin/security-events")),
        ),
        (
            "POST",
            "/api/reset-api-key",
            server
                .post("/api/reset-api-key")
                .json(&json!({"username": "erin", "currentApiKey": reset_key})),
        ),
        (
            "DELETE",
            "/clients/{clientId}",
            alice_session(
                server
                    .delete("/clients/gone")
                    .json(&json!({"password": ALICE_PASSWORD})),
            ),
        ),
        (
            "POST",
            "/logout",
            server.post("/logout").cookie(&fx.bob_cookie),
        ),
    ];
    let mut errors = Vec::new();
    for (method, path, req) in cases {
        let res = req.send();
        let op = &spec["paths"][path][method.to_ascii_lowercase()];
        let schema =
            &op["responses"][res.status.to_string()]["content"]["application/json"]["schema"];
        if schema.is_null() {
            errors.push(format!(
                "{method} {path}: status {} is not documented: {}",
                res.status,
                res.text()
            ));
            continue;
        }
        check_schema(
            &spec,
            schema,
            &res.json(),
            &format!("{method} {path}"),
            &mut errors,
        );
    }
    // Error answers follow the Error schema.
    let res = server.get("/api/profile").send();
    check_schema(
        &spec,
        &json!({"$ref": "#/components/schemas/Error"}),
        &res.json(),
        "401",
        &mut errors,
    );
    assert!(
        errors.is_empty(),
        "answers that do not match /openapi.json:\n{}",
        errors.join("\n")
    );
}

fn scheduled_req(server: &Server, cookie: &str) -> common_http::Req {
    server
        .post("/schedule-message")
        .cookie(cookie)
        .json(&json!({"clientId": "a2", "number": "9721234567", "message": "y", "scheduleTime": "2099-01-01T00:00:00Z"}))
}
