//! The documented routes of issue 2 on the real binary: every request/response example of the API
//! doc with its field names, persistence across restarts and concurrent writers.

mod common_http;

use std::collections::BTreeSet;

use chattu::services::NewCall;
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
    assert!(
        keys(&body).is_superset(&set(&["status", "message", "qrCode", "apiKey"])),
        "{body}"
    );
    assert_eq!(body["status"], "pending_auth");
    assert!(
        body["qrCode"]
            .as_str()
            .is_some_and(|q| q.starts_with("data:image/png;base64,")),
        "a QR code for the new client (sandbox engine): {body}"
    );
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
    assert!(keys(&item).is_superset(&set(&[
        "id",
        "clientId",
        "recipient",
        "message",
        "scheduleTime",
        "status",
        "createdAt",
        "sentTime"
    ])));
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
    common_http::with_app(&server.data.0, |app| {
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

/// The persistent fields of a client list (not its live connection status).
fn stored_fields(clients: &Value) -> Vec<Value> {
    clients
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            json!([
                c["clientId"],
                c["phoneNumber"],
                c["apiKey"],
                c["webhookUrl"]
            ])
        })
        .collect()
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

    // The stored fields survive; the connection state is the engine's (sandbox phones are gone).
    assert_eq!(
        stored_fields(&server.get("/api/clients").key(&fx.alice_key).send().json()),
        stored_fields(&before_clients)
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
