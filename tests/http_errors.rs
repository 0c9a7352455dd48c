//! Bad input on the real binary: malformed, mistyped and oversized bodies and bad ids are always
//! a 4xx JSON error with a stable code, never a 5xx; unknown routes and methods; the dashboard
//! fallback for other GETs.

mod common_http;

use common_http::{Fixture, Server, ALICE_PASSWORD};
use serde_json::json;

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
