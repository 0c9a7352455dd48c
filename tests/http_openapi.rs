//! /openapi.json against reality: every documented route's actual answer (on the real binary)
//! matches the response schema the document gives for it.

mod common_http;

use chattu::services::NewCall;
use common_http::{Fixture, Server, ALICE_PASSWORD};
use serde_json::{json, Value};

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
    common_http::with_app(&server.data.0, |app| {
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
