//! GET /openapi.json: an OpenAPI 3.0 description of every route, with request and response
//! schemas. Written by hand (next to, not generated from, the route table) so it can carry real
//! schemas; a test checks that it lists exactly the routes of [`super::routes::ROUTES`], and the
//! security requirements are derived from each route's access rule.

use std::sync::OnceLock;

use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::routes::{Access, Verb, ROUTES};

/// The documented operations: method, path (table syntax), summary, request schema, success
/// status, success schema and the error statuses a caller should expect.
struct Op {
    verb: Verb,
    path: &'static str,
    summary: &'static str,
    tag: &'static str,
    request: Option<&'static str>,
    ok: u16,
    response: &'static str,
    errors: &'static [u16],
}

// One row of the OPS table; positional arguments keep each row on a glance-able line.
#[allow(clippy::too_many_arguments)]
const fn op(
    verb: Verb,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    request: Option<&'static str>,
    ok: u16,
    response: &'static str,
    errors: &'static [u16],
) -> Op {
    Op {
        verb,
        path,
        summary,
        tag,
        request,
        ok,
        response,
        errors,
    }
}

use Verb::*;

const OPS: &[Op] = &[
    op(Get, "/healthz", "service", "Liveness check.", None, 200, "Health", &[]),
    op(Get, "/openapi.json", "service", "This document.", None, 200, "OpenApiDocument", &[]),
    op(Post, "/login", "session", "Log in to the dashboard (JSON or form); sets the chattu_session cookie.", Some("LoginRequest"), 200, "LoginResponse", &[400, 401, 403, 429]),
    op(Post, "/logout", "session", "End the dashboard session and clear the cookie.", None, 200, "MessageResponse", &[403]),
    op(Get, "/api/profile", "account", "Username, role, account API key and client count.", None, 200, "Profile", &[401, 429]),
    op(Post, "/api/reset-api-key", "account", "Replace the account API key, authenticated by username and current key in the body.", Some("ResetApiKeyRequest"), 200, "ResetApiKeyResponse", &[400, 401, 429]),
    op(Post, "/api/add-number", "clients", "Add a WhatsApp client and start its session: the first QR code as a PNG data URL (or connected), and a pairing code with pairingMethod \"code\" (docs/api.md).", Some("AddNumberRequest"), 200, "AddNumberResponse", &[400, 401, 403, 409, 429, 502]),
    op(Get, "/api/qr/{clientId}", "clients", "The QR code the client shows now, as image/png (409 NOT_PENDING_AUTH when it is not waiting for a scan).", None, 200, "QrImage", &[401, 403, 404, 409, 429]),
    op(Post, "/api/send-message", "messages", "Send a text, or a file by mediaUrl (message is then its caption), to a phone number through the client's WhatsApp session: the WhatsApp message id and its ack level (server); receipts later raise the sent-history status. Chattu fetches mediaUrl itself: http/https only, no loopback/private/link-local address unless [media] allows it, redirects limited, size-capped, and only .jpg .jpeg .png .gif .webp .pdf .mp4 .mp3 whose content matches the extension; any fetch or validation failure is 400 MEDIA_ERROR (502 MEDIA_ERROR when WhatsApp's media host refuses the upload).", Some("SendMessageRequest"), 200, "SendMessageResponse", &[400, 401, 403, 404, 409, 429, 502, 504]),
    op(Get, "/api/clients", "clients", "All clients of the account (a client key sees its own client).", None, 200, "ClientList", &[401, 429]),
    op(Post, "/api/update-webhook", "clients", "Set (or clear with null/\"\") the webhook URL of a client.", Some("UpdateWebhookRequest"), 200, "UpdateWebhookResponse", &[400, 401, 403, 404, 429]),
    op(Delete, "/clients/{clientId}", "clients", "Delete a client permanently (session and password required).", Some("DeleteClientRequest"), 200, "MessageResponse", &[400, 401, 403, 404, 429]),
    op(Get, "/api/chats/{clientId}", "chats", "Private chats of a client, most recent activity first (session only).", None, 200, "ChatList", &[401, 403, 404, 429]),
    op(Get, "/api/chats/{clientId}/{chatId}/messages", "chats", "The newest messages of a private chat, oldest first; ?limit= 1..500 (default 50, larger values are capped). ack: -1 failed, 0 pending, 1 sent, 2 delivered, 3 read, 4 played.", None, 200, "ChatMessages", &[400, 401, 403, 404, 429]),
    op(Post, "/api/chats/{clientId}/{chatId}/send", "chats", "Send a text to a private chat (<number>@c.us, <number>@s.whatsapp.net or the number) through the client's WhatsApp session; chat limiter.", Some("ChatSendRequest"), 200, "ChatSendResponse", &[400, 401, 403, 404, 409, 429, 502, 504]),
    op(Post, "/api/chats/{clientId}/{chatId}/read", "chats", "Send read receipts for the chat's unread incoming messages and reset its unread count; chat limiter.", None, 200, "SuccessResponse", &[400, 401, 403, 404, 409, 429]),
    op(Get, "/api/chats/{clientId}/media/{messageId}", "chats", "The stored media of a message, with its Content-Type and Content-Disposition (404 MEDIA_NOT_FOUND when none is stored).", None, 200, "MediaFile", &[401, 403, 404, 429]),
    op(Get, "/api/groups/{clientId}", "groups", "The client's WhatsApp groups (UTF-8 names, participant count, owner, createdAt, isReadOnly) and its channels (newsletters; isReadOnly unless owner or admin), each with lastMessage {body, timestamp, fromMe}, timestamp (of the last message, else creation) and unreadCount (messages received since the client last sent there), most recent activity first.", None, 200, "GroupList", &[401, 403, 404, 409, 429, 502, 504]),
    op(Post, "/api/send-group-message", "groups", "Send a text (max 4096 characters) or a file by mediaUrl with mediaType (image, video, audio or document; required with mediaUrl; the text becomes the caption) to a group or channel after a random 2-5 s delay; 400 MEDIA_ERROR when the file cannot be fetched or is not what mediaType says (any file may go as document); 403 READ_ONLY_CHAT for announcement groups where the client is not admin or channels it only follows, 400 INVALID_CHAT_TYPE for an id that is neither <id>@g.us nor <id>@newsletter, 404 GROUP_NOT_FOUND.", Some("SendGroupMessageRequest"), 200, "GroupSendResponse", &[400, 401, 403, 404, 409, 429, 502, 504]),
    op(Post, "/api/groups/{clientId}/{groupId}/send", "groups", "Send a text or a file (mediaUrl with mediaType, as /api/send-group-message) to a group or channel from the dashboard (session only, no delay); chat limiter.", Some("GroupSendRequest"), 200, "GroupSendResponse", &[400, 401, 403, 404, 409, 429, 502, 504]),
    op(Post, "/schedule-message", "schedules", "Schedule a message (scheduleTime in ISO-8601 UTC).", Some("ScheduleMessageRequest"), 201, "ScheduleCreated", &[400, 401, 403, 404]),
    op(Get, "/scheduled-messages", "schedules", "Scheduled messages of the logged-in user.", None, 200, "ScheduledMessageList", &[401]),
    op(Delete, "/scheduled-messages/{id}", "schedules", "Cancel a pending scheduled message.", None, 200, "MessageResponse", &[400, 401, 403, 404, 409, 429]),
    op(Get, "/api/sent-messages", "history", "The last 100 sent messages of the caller's clients.", None, 200, "SentMessageList", &[401, 429]),
    op(Get, "/api/received-messages/{clientId}", "history", "The last 100 received messages of a client.", None, 200, "ReceivedMessages", &[401, 403, 404, 429]),
    op(Get, "/api/incoming-calls/{clientId}", "history", "The last 100 incoming calls of a client.", None, 200, "CallList", &[401, 403, 404, 429]),
    op(Get, "/api/call-logs", "history", "The last 50 calls across the caller's clients.", None, 200, "CallList", &[401, 429]),
    op(Get, "/api/logs", "history", "Recent application log lines.", None, 200, "LogList", &[401, 403, 429]),
    op(Get, "/api/admin/users", "admin", "All users (admin).", None, 200, "UserList", &[401, 403, 429]),
    op(Post, "/api/admin/users", "admin", "Create a user (admin); returns its account API key once.", Some("CreateUserRequest"), 201, "CreatedUser", &[400, 401, 403, 409, 429]),
    op(Post, "/api/admin/users/{username}/disable", "admin", "Disable or re-enable a user (admin).", Some("DisableUserRequest"), 200, "DisableUserResponse", &[400, 401, 403, 404, 429]),
    op(Post, "/api/admin/users/{username}/plan", "admin", "Set a user's plan: the maximum number of clients (admin).", Some("SetPlanRequest"), 200, "SetPlanResponse", &[400, 401, 403, 404, 429]),
    op(Get, "/api/admin/security-events", "admin", "Recent security events (admin).", None, 200, "SecurityEventList", &[401, 403, 429]),
    op(Get, "/api/webhooks/{clientId}/deliveries", "webhooks", "Pending webhook events, dead letters and recent delivery attempts of a client (docs/webhooks.md).", None, 200, "WebhookDeliveries", &[401, 403, 404, 429]),
    op(Post, "/api/webhooks/{clientId}/deliveries/{eventId}/replay", "webhooks", "Queue a dead-lettered webhook event again (same event id, end of the client's queue).", None, 200, "WebhookQueued", &[401, 403, 404, 429]),
    op(Post, "/api/webhooks/{clientId}/test", "webhooks", "Queue a webhook_test event for the client's webhook.", None, 200, "WebhookQueued", &[400, 401, 403, 404, 429]),
    op(Get, "/ws", "live", "WebSocket of live events for the caller's clients (JSON text frames; docs/api.md). Same-origin only.", None, 101, "LiveEvent", &[400, 401, 403, 426, 429]),
];

/// The (method, path) pairs the document describes, for the route-table consistency test.
pub fn documented_routes() -> Vec<(&'static str, &'static str)> {
    OPS.iter().map(|o| (o.verb.as_str(), o.path)).collect()
}

/// The document, serialised once.
pub fn document_bytes() -> Bytes {
    static DOC: OnceLock<Bytes> = OnceLock::new();
    DOC.get_or_init(|| Bytes::from(serde_json::to_vec(&document()).unwrap_or_default()))
        .clone()
}

pub fn document() -> Value {
    let mut paths = Map::new();
    for o in OPS {
        let entry = paths.entry(o.path.to_owned()).or_insert_with(|| json!({}));
        if let Value::Object(methods) = entry {
            methods.insert(o.verb.as_str().to_ascii_lowercase(), operation(o));
        }
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Chattu API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "WhatsApp automation API. Errors are {\"error\", \"code\", \"field\"?}; see docs/api.md for every code, auth rule and rate limit."
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "session": {"type": "apiKey", "in": "cookie", "name": "chattu_session"}
            },
            "schemas": schemas(),
            "headers": {
                "RetryAfter": {"description": "Seconds until the rate-limit window reopens.", "schema": {"type": "integer"}}
            }
        }
    })
}

fn operation(o: &Op) -> Value {
    let access = ROUTES
        .iter()
        .find(|r| r.verb == o.verb && r.path == o.path)
        .map(|r| r.access);
    let security = match access {
        Some(Access::KeyOrSession) | Some(Access::Admin) => {
            json!([{"apiKey": []}, {"session": []}])
        }
        Some(Access::SessionOnly) => json!([{"session": []}]),
        _ => json!([]),
    };
    let mut responses = Map::new();
    let media = if o.response == "QrImage" {
        "image/png"
    } else if o.response == "MediaFile" {
        "application/octet-stream"
    } else {
        "application/json"
    };
    responses.insert(
        o.ok.to_string(),
        json!({"description": "Success.", "content": {media: {"schema": schema_ref(o.response)}}}),
    );
    for status in o.errors {
        let mut r = json!({"description": error_description(*status), "content": {"application/json": {"schema": schema_ref("Error")}}});
        if *status == 429 {
            r["headers"] = json!({"Retry-After": {"$ref": "#/components/headers/RetryAfter"}});
        }
        responses.insert(status.to_string(), r);
    }
    let mut v = json!({
        "tags": [o.tag],
        "summary": o.summary,
        "operationId": format!("{}{}", o.verb.as_str().to_ascii_lowercase(), o.path.replace(['/', '{', '}', '.', '-'], "_")),
        "security": security,
        "responses": responses,
    });
    let params: Vec<Value> = path_params(o.path)
        .into_iter()
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": if name == "id" { "integer" } else { "string" }}}))
        .collect();
    if !params.is_empty() {
        v["parameters"] = Value::Array(params);
    }
    if let Some(req) = o.request {
        let mut content = Map::new();
        content.insert(
            "application/json".into(),
            json!({"schema": schema_ref(req)}),
        );
        if o.path == "/login" {
            content.insert(
                "application/x-www-form-urlencoded".into(),
                json!({"schema": schema_ref(req)}),
            );
        }
        v["requestBody"] = json!({"required": true, "content": content});
    }
    v
}

fn path_params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect()
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn error_description(status: u16) -> &'static str {
    match status {
        400 => "Invalid request: INVALID_JSON, VALIDATION_ERROR (with field), PASSWORD_REQUIRED.",
        401 => "AUTH_ERROR: missing or invalid credentials.",
        403 => "ACCESS_DENIED, PLAN_LIMIT_EXCEEDED, INVALID_PASSWORD or CROSS_SITE_REQUEST.",
        404 => "CLIENT_NOT_FOUND or NOT_FOUND.",
        409 => "CONFLICT, or NOT_PENDING_AUTH (no QR code: the client is not waiting for a scan).",
        502 => "WHATSAPP_ERROR: WhatsApp refused or did not answer (e.g. a pairing-code request).",
        429 => "RATE_LIMITED.",
        _ => "Error.",
    }
}

fn string() -> Value {
    json!({"type": "string"})
}

fn nullable_string() -> Value {
    json!({"type": "string", "nullable": true})
}

fn object(required: &[&str], props: Value) -> Value {
    json!({"type": "object", "required": required, "properties": props})
}

fn array_of(name: &str) -> Value {
    json!({"type": "array", "items": schema_ref(name)})
}

fn schemas() -> Value {
    let s = string;
    let mut m = Map::new();
    m.insert(
        "Error".into(),
        object(
            &["error", "code"],
            json!({"error": s(), "code": s(), "field": s()}),
        ),
    );
    m.insert(
        "Health".into(),
        object(
            &["status"],
            json!({"status": {"type": "string", "enum": ["ok"]}, "version": s(), "sandbox": {"type": "boolean", "description": "True when serving with --sandbox (simulated WhatsApp, control API under /sim/)."}}),
        ),
    );
    m.insert("OpenApiDocument".into(), json!({"type": "object"}));
    m.insert(
        "MessageResponse".into(),
        object(&["message"], json!({"message": s()})),
    );
    m.insert(
        "LoginRequest".into(),
        object(
            &["username", "password"],
            json!({"username": s(), "password": {"type": "string", "format": "password"}}),
        ),
    );
    m.insert("LoginResponse".into(), object(&["message", "username", "role"], json!({"message": s(), "username": s(), "role": {"type": "string", "enum": ["admin", "user"]}})));
    m.insert("Profile".into(), object(&["username", "role", "apiKey", "clientCount"], json!({"username": s(), "role": {"type": "string", "enum": ["admin", "user"]}, "apiKey": s(), "clientCount": {"type": "integer"}})));
    m.insert(
        "ResetApiKeyRequest".into(),
        object(
            &["username", "currentApiKey"],
            json!({"username": s(), "currentApiKey": s()}),
        ),
    );
    m.insert(
        "ResetApiKeyResponse".into(),
        object(
            &["message", "newApiKey"],
            json!({"message": s(), "newApiKey": s()}),
        ),
    );
    m.insert("SendMessageRequest".into(), object(&["clientId", "number"], json!({"clientId": s(), "number": {"type": "string", "description": "Recipient phone number with country code (digits; +, spaces and dashes are ignored)."}, "message": {"type": "string", "description": "The text; the caption when mediaUrl is given. Either message or mediaUrl is required."}, "mediaUrl": {"type": "string", "description": "http(s) URL of a .jpg .jpeg .png .gif .webp .pdf .mp4 or .mp3 file, fetched by Chattu (400 MEDIA_ERROR on any failure)."}, "mediaType": {"type": "string", "enum": ["image", "video", "audio", "document"], "description": "Optional: taken from the file when absent; document sends any accepted file as a document."}})));
    m.insert("GroupSendRequest".into(), object(&[], json!({"message": {"type": "string", "description": "The text (max 4096 characters); the caption when mediaUrl is given."}, "mediaUrl": {"type": "string", "description": "http(s) URL of a .jpg .jpeg .png .gif .webp .pdf .mp4 or .mp3 file, fetched by Chattu."}, "mediaType": {"type": "string", "enum": ["image", "video", "audio", "document"], "description": "Required with mediaUrl."}})));
    m.insert("ChatList".into(), object(&["chats"], json!({"chats": {"type": "array", "items": {"type": "object", "required": ["id", "name", "profilePic", "lastMessage", "timestamp", "unreadCount", "isMuted", "pinned"], "properties": {"id": {"type": "object", "properties": {"_serialized": s()}}, "name": s(), "profilePic": nullable_string(), "lastMessage": {"type": "object", "nullable": true, "properties": {"body": s(), "timestamp": {"type": "integer"}, "fromMe": {"type": "boolean"}}}, "timestamp": {"type": "integer"}, "unreadCount": {"type": "integer"}, "isMuted": {"type": "boolean"}, "pinned": {"type": "boolean"}}}}})));
    m.insert("ChatMessages".into(), object(&["messages"], json!({"messages": {"type": "array", "items": {"type": "object", "required": ["id", "body", "fromMe", "timestamp", "type", "hasMedia", "hasReaction", "reactions", "ack", "filename"], "properties": {"id": {"type": "object", "properties": {"_serialized": s()}}, "body": s(), "fromMe": {"type": "boolean"}, "timestamp": {"type": "integer"}, "type": s(), "hasMedia": {"type": "boolean"}, "hasReaction": {"type": "boolean"}, "reactions": {"type": "array", "nullable": true, "items": {"type": "object", "properties": {"reaction": s(), "senderId": s()}}}, "ack": {"type": "integer", "minimum": -1, "maximum": 4}, "filename": nullable_string()}}}})));
    m.insert(
        "ChatSendRequest".into(),
        object(&["message"], json!({"message": s()})),
    );
    m.insert("ChatSendResponse".into(), object(&["success", "message"], json!({"success": {"type": "boolean"}, "message": {"type": "object", "properties": {"id": {"type": "object", "properties": {"_serialized": s()}}, "body": s(), "timestamp": {"type": "integer"}}}})));
    m.insert("GroupList".into(), object(&["groups", "channels", "total"], json!({"groups": {"type": "array", "items": {"type": "object", "required": ["id", "name", "participants", "isReadOnly", "type"], "properties": {"id": s(), "name": s(), "description": nullable_string(), "profilePic": nullable_string(), "participants": {"type": "integer"}, "owner": nullable_string(), "createdAt": {"type": "integer", "nullable": true}, "lastMessage": {"type": "object", "nullable": true}, "timestamp": {"type": "integer"}, "unreadCount": {"type": "integer"}, "isMuted": {"type": "boolean"}, "pinned": {"type": "boolean"}, "isReadOnly": {"type": "boolean"}, "type": {"type": "string", "enum": ["group", "channel"]}}}}, "channels": {"type": "array", "items": {"type": "object"}}, "total": {"type": "integer"}})));
    m.insert("SendGroupMessageRequest".into(), object(&["clientId", "groupId"], json!({"clientId": s(), "groupId": s(), "message": s(), "mediaUrl": s(), "mediaType": {"type": "string", "enum": ["image", "video", "audio", "document"], "description": "Required with mediaUrl."}})));
    m.insert("GroupSendResponse".into(), object(&["success", "message", "groupId", "groupName"], json!({"success": {"type": "boolean"}, "message": {"type": "object", "properties": {"id": {"type": "object", "properties": {"_serialized": s()}}, "body": s(), "timestamp": {"type": "integer"}, "type": s()}}, "groupId": s(), "groupName": s()})));
    m.insert(
        "SuccessResponse".into(),
        object(&["success"], json!({"success": {"type": "boolean"}})),
    );
    m.insert(
        "MediaFile".into(),
        json!({"type": "string", "format": "binary"}),
    );
    m.insert("SendMessageResponse".into(), object(&["success", "messageId", "ack", "message"], json!({"success": {"type": "boolean"}, "messageId": {"type": "string", "description": "WhatsApp message id (3EB0…)."}, "ack": {"type": "string", "enum": ["server", "delivered", "read", "played"]}, "message": {"type": "object", "properties": {"id": {"type": "object", "properties": {"_serialized": s(), "id": s()}}, "to": s(), "body": s(), "timestamp": {"type": "integer"}, "type": s(), "ack": s()}}})));
    m.insert("AddNumberRequest".into(), object(&["clientId", "phoneNumber"], json!({"clientId": s(), "phoneNumber": {"type": "string", "description": "Digits, without +."}, "pairingMethod": {"type": "string", "enum": ["qr", "code"], "description": "\"code\": also return a pairing code to type on the phone (Link with phone number)."}})));
    m.insert(
        "QrImage".into(),
        json!({"type": "string", "format": "binary"}),
    );
    m.insert("AddNumberResponse".into(), object(&["status", "message", "qrCode", "apiKey"], json!({"status": {"type": "string", "enum": ["pending_auth", "connected"]}, "message": s(), "qrCode": {"type": "string", "nullable": true, "description": "data:image/png;base64,... or null"}, "apiKey": s(), "pairingCode": {"type": "string", "description": "With pairingMethod \"code\": 8 characters as ABCD-EFGH, to type on the phone."}, "qrText": {"type": "string", "description": "Sandbox mode only: the text the QR code encodes (for POST /sim/phones/{phone}/scan)."}})));
    m.insert("Client".into(), object(&["clientId", "phoneNumber", "apiKey", "connectedNumber", "status"], json!({"clientId": s(), "phoneNumber": s(), "apiKey": s(), "connectedNumber": {"type": "string", "description": "e.g. 9721234567@c.us, or \"Not Connected\""}, "status": {"type": "string", "enum": ["Pending Authentication", "Connecting", "Authenticated", "Disconnected", "Logged Out"]}, "webhookUrl": nullable_string()})));
    m.insert("ClientList".into(), array_of("Client"));
    m.insert("UpdateWebhookRequest".into(), object(&["clientId", "webhookUrl"], json!({"clientId": s(), "webhookUrl": {"type": "string", "nullable": true, "format": "uri"}})));
    m.insert(
        "UpdateWebhookResponse".into(),
        object(
            &["message", "clientId", "webhookUrl"],
            json!({"message": s(), "clientId": s(), "webhookUrl": nullable_string()}),
        ),
    );
    m.insert(
        "DeleteClientRequest".into(),
        object(
            &["password"],
            json!({"password": {"type": "string", "format": "password"}}),
        ),
    );
    m.insert("ScheduleMessageRequest".into(), object(&["clientId", "number", "message", "scheduleTime"], json!({"clientId": s(), "number": s(), "message": s(), "scheduleTime": {"type": "string", "format": "date-time"}})));
    m.insert("ScheduledMessage".into(), object(&["id", "clientId", "recipient", "message", "scheduleTime", "status", "createdAt", "sentTime"], json!({"id": {"type": "integer"}, "clientId": s(), "recipient": s(), "message": s(), "scheduleTime": {"type": "string", "format": "date-time"}, "status": {"type": "string", "enum": ["pending", "sent", "cancelled", "failed", "missed"]}, "createdAt": {"type": "string", "format": "date-time"}, "sentTime": {"type": "string", "format": "date-time", "nullable": true}})));
    m.insert("ScheduledMessageList".into(), array_of("ScheduledMessage"));
    m.insert("ScheduleCreated".into(), object(&["message", "id", "scheduled"], json!({"message": s(), "id": {"type": "integer"}, "scheduled": schema_ref("ScheduledMessage")})));
    m.insert("SentMessage".into(), object(&["id", "clientId", "senderNumber", "recipient", "message", "status", "sentAt"], json!({"id": {"type": "integer"}, "clientId": s(), "senderNumber": s(), "recipient": s(), "message": s(), "status": s(), "sentAt": {"type": "string", "format": "date-time"}})));
    m.insert("SentMessageList".into(), array_of("SentMessage"));
    m.insert("ReceivedMessage".into(), object(&["id", "client_id", "sender", "message", "received_at"], json!({"id": {"type": "integer"}, "client_id": s(), "sender": s(), "message": s(), "received_at": {"type": "string", "format": "date-time"}})));
    m.insert("ReceivedMessages".into(), object(&["status", "messages"], json!({"status": {"type": "string", "enum": ["success"]}, "messages": array_of("ReceivedMessage")})));
    m.insert("Call".into(), object(&["id", "client_id", "call_from", "is_video", "start_time", "end_time", "duration", "created_at"], json!({"id": {"type": "integer"}, "client_id": s(), "call_from": s(), "is_video": {"type": "boolean"}, "start_time": {"type": "string", "format": "date-time"}, "end_time": {"type": "string", "format": "date-time", "nullable": true}, "duration": {"type": "integer", "nullable": true}, "created_at": {"type": "string", "format": "date-time"}})));
    m.insert(
        "CallList".into(),
        object(
            &["status", "calls"],
            json!({"status": {"type": "string", "enum": ["success"]}, "calls": array_of("Call")}),
        ),
    );
    m.insert("LogLine".into(), object(&["time", "level", "target", "message"], json!({"time": {"type": "string", "format": "date-time"}, "level": s(), "target": s(), "message": s()})));
    m.insert(
        "LogList".into(),
        object(
            &["status", "logs"],
            json!({"status": {"type": "string", "enum": ["success"]}, "logs": array_of("LogLine")}),
        ),
    );
    m.insert("User".into(), object(&["username", "role", "disabled", "maxClients", "createdAt"], json!({"username": s(), "role": {"type": "string", "enum": ["admin", "user"]}, "disabled": {"type": "boolean"}, "maxClients": {"type": "integer"}, "clientCount": {"type": "integer", "description": "In GET /api/admin/users only."}, "createdAt": {"type": "string", "format": "date-time"}})));
    m.insert("UserList".into(), array_of("User"));
    m.insert("CreateUserRequest".into(), object(&["username", "password"], json!({"username": s(), "password": {"type": "string", "format": "password"}, "role": {"type": "string", "enum": ["admin", "user"], "default": "user"}})));
    m.insert(
        "CreatedUser".into(),
        json!({"allOf": [schema_ref("User"), object(&["apiKey"], json!({"apiKey": s()}))]}),
    );
    m.insert(
        "DisableUserRequest".into(),
        object(&["disabled"], json!({"disabled": {"type": "boolean"}})),
    );
    m.insert(
        "DisableUserResponse".into(),
        object(
            &["message", "username", "disabled"],
            json!({"message": s(), "username": s(), "disabled": {"type": "boolean"}}),
        ),
    );
    m.insert(
        "SetPlanRequest".into(),
        object(
            &["maxClients"],
            json!({"maxClients": {"type": "integer", "minimum": 0}}),
        ),
    );
    m.insert(
        "SetPlanResponse".into(),
        object(
            &["message", "username", "maxClients"],
            json!({"message": s(), "username": s(), "maxClients": {"type": "integer"}}),
        ),
    );
    m.insert("SecurityEvent".into(), object(&["id", "kind", "ip", "username", "detail", "at"], json!({"id": {"type": "integer"}, "kind": s(), "ip": nullable_string(), "username": nullable_string(), "detail": s(), "at": {"type": "string", "format": "date-time"}})));
    m.insert("SecurityEventList".into(), array_of("SecurityEvent"));
    let int = || json!({"type": "integer"});
    let nullable_int = || json!({"type": "integer", "nullable": true});
    m.insert("WebhookDelivery".into(), object(&["eventId", "seq", "event", "state", "attempts", "createdAt", "payload"], json!({"eventId": s(), "seq": int(), "event": s(), "state": {"type": "string", "enum": ["pending", "dead"]}, "attempts": int(), "createdAt": s(), "nextAttemptAt": nullable_string(), "lastError": nullable_string(), "deadAt": nullable_string(), "payload": {"type": "object"}})));
    m.insert("WebhookAttempt".into(), object(&["eventId", "seq", "event", "attempt", "at", "durationMs", "outcome"], json!({"eventId": s(), "seq": int(), "event": s(), "attempt": int(), "at": s(), "durationMs": int(), "statusCode": nullable_int(), "error": nullable_string(), "outcome": {"type": "string", "enum": ["delivered", "retrying", "dead_lettered"]}})));
    m.insert("WebhookDeliveries".into(), object(&["clientId", "pending", "deadLetters", "recentAttempts"], json!({"clientId": s(), "webhookUrl": nullable_string(), "pending": array_of("WebhookDelivery"), "deadLetters": array_of("WebhookDelivery"), "recentAttempts": array_of("WebhookAttempt")})));
    m.insert(
        "WebhookQueued".into(),
        object(
            &["status", "message", "delivery"],
            json!({"status": s(), "message": s(), "delivery": schema_ref("WebhookDelivery")}),
        ),
    );
    m.insert("LiveEvent".into(), object(&["type"], json!({"type": {"type": "string", "enum": ["hello", "client_status", "qr", "message", "ack", "reaction", "webhook_test", "lagged"]}, "clientId": nullable_string(), "status": s(), "qrCode": s(), "pairingCode": nullable_string(), "chatId": s(), "messageId": nullable_string(), "fromMe": {"type": "boolean"}, "ack": s(), "reaction": s(), "timestamp": {"type": "integer"}})));
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn spec_and_route_table_list_the_same_routes() {
        let table: BTreeSet<(&str, &str)> =
            ROUTES.iter().map(|r| (r.verb.as_str(), r.path)).collect();
        let spec: BTreeSet<(&str, &str)> = documented_routes().into_iter().collect();
        let missing_in_spec: Vec<_> = table.difference(&spec).collect();
        let missing_in_table: Vec<_> = spec.difference(&table).collect();
        assert!(
            missing_in_spec.is_empty(),
            "routes without OpenAPI description: {missing_in_spec:?}"
        );
        assert!(
            missing_in_table.is_empty(),
            "OpenAPI describes routes the server lacks: {missing_in_table:?}"
        );
        assert_eq!(spec.len(), OPS.len(), "an operation is described twice");
    }

    #[test]
    fn every_schema_reference_resolves() {
        let doc = document();
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for piece in text.split("#/components/schemas/").skip(1) {
            let name: String = piece
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            assert!(schemas.contains_key(&name), "dangling $ref {name}");
        }
    }
}
