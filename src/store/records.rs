//! The records kept in redb. Values are stored as serde_json bytes: self-describing, so a field can
//! be added later with `#[serde(default)]` without a migration, and readable with any JSON tool when
//! debugging a Pi. Timestamps are Unix milliseconds (UTC).

use serde::{Deserialize, Serialize};

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    User,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "admin" => Some(Role::Admin),
            "user" => Some(Role::User),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub username: String,
    /// PHC string (argon2id with its parameters and salt).
    pub password_hash: String,
    /// Kept in clear because GET /api/profile returns it; looked up through its SHA-256 index.
    pub api_key: String,
    pub role: Role,
    pub disabled: bool,
    /// Plan: how many WhatsApp clients this account may have.
    pub max_clients: u32,
    pub created_ms: i64,
}

/// Who an API key belongs to (the value of the key index).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum KeyOwner {
    Account { username: String },
    Client { client_id: String },
}

/// Connection state of a WhatsApp client, as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientStatus {
    PendingAuthentication,
    Connecting,
    Authenticated,
    Disconnected,
    LoggedOut,
}

impl ClientStatus {
    /// The wording of GET /api/clients.
    pub fn label(self) -> &'static str {
        match self {
            ClientStatus::PendingAuthentication => "Pending Authentication",
            ClientStatus::Connecting => "Connecting",
            ClientStatus::Authenticated => "Authenticated",
            ClientStatus::Disconnected => "Disconnected",
            ClientStatus::LoggedOut => "Logged Out",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRecord {
    pub client_id: String,
    pub owner: String,
    pub phone_number: String,
    /// Kept in clear because GET /api/clients returns it; looked up through its SHA-256 index.
    pub api_key: String,
    pub webhook_url: Option<String>,
    pub status: ClientStatus,
    /// The paired WhatsApp account, e.g. "9721234567@c.us", once authenticated.
    pub connected_number: Option<String>,
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub username: String,
    pub created_ms: i64,
    pub expires_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentRecord {
    pub id: u64,
    pub client_id: String,
    pub sender_number: String,
    pub recipient: String,
    pub message: String,
    /// "sent", "delivered", "read", "failed", ...
    pub status: String,
    pub sent_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedRecord {
    pub id: u64,
    pub client_id: String,
    pub sender: String,
    pub message: String,
    pub received_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    pub id: u64,
    pub client_id: String,
    /// Caller JID, e.g. "1234567890@c.us".
    pub call_from: String,
    pub is_video: bool,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    pub duration_secs: Option<u64>,
    pub created_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleStatus {
    Pending,
    /// Claimed by the scheduler, message id stored, send in flight (see src/services/scheduler).
    Sending,
    Sent,
    Cancelled,
    Failed,
    Missed,
}

impl ScheduleStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleStatus::Pending => "pending",
            ScheduleStatus::Sending => "sending",
            ScheduleStatus::Sent => "sent",
            ScheduleStatus::Cancelled => "cancelled",
            ScheduleStatus::Failed => "failed",
            ScheduleStatus::Missed => "missed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleRecord {
    pub id: u64,
    pub client_id: String,
    /// Normalised "+<digits>".
    pub recipient: String,
    pub message: String,
    pub due_ms: i64,
    pub status: ScheduleStatus,
    pub created_ms: i64,
    pub sent_ms: Option<i64>,
    /// Why a failed schedule failed (not shown by the API; for logs and the dashboard).
    #[serde(default)]
    pub failure: Option<String>,
    /// The WhatsApp message id, chosen and stored before the send (exactly-once; the scheduler).
    #[serde(default)]
    pub message_id: Option<String>,
    /// How late the scheduler sent it (or found it, when missed), in ms.
    #[serde(default)]
    pub late_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityEventRecord {
    pub id: u64,
    /// Stable short name: "login_failed", "api_key_invalid", "rate_limited", "api_key_reset", ...
    pub kind: String,
    pub ip: Option<String>,
    pub username: Option<String>,
    pub detail: String,
    pub at_ms: i64,
}
