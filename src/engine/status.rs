//! What an engine reports about its connection. The HTTP layer shows it as a client's status.

use serde::Serialize;

/// Why an engine stopped for good (it does not reconnect by itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum StopReason {
    /// [`EngineHandle::stop`](super::EngineHandle::stop) was called.
    Requested,
    /// Every QR ref expired without a scan; start the engine again for new codes.
    QrTimeout,
    /// Another connection logged in as this device (`conflict type="replaced"`).
    Replaced,
    /// The account is temporarily banned (failure 402); `expire` seconds when the server said.
    TemporarilyBanned {
        code: Option<String>,
        expire: Option<u64>,
    },
    /// The server says this client version is too old (failure 405).
    ClientOutdated,
    /// Any other failure the server said is final (403 main device gone, 406 banned, …).
    Failure { reason: u16 },
    /// The credential store failed; running on would lose a pairing.
    Store { message: String },
}

/// The engine's state, as it is now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum EngineStatus {
    /// Opening the socket and running the handshake.
    Connecting,
    /// Waiting for a phone to scan this QR code (unpaired).
    PendingAuth {
        /// The text the QR code encodes.
        qr: String,
        /// The QR code as `data:image/png;base64,…`.
        qr_png: String,
        /// Unix seconds after which this code is replaced by the next one.
        expires_at: u64,
    },
    /// The phone scanned the code and we countersigned; the server restarts the stream next.
    Paired { jid: String },
    /// Logged in and online.
    Connected { jid: String, lid: Option<String> },
    /// The connection dropped; it is retried after `retry_in_ms`.
    Reconnecting { reason: String, retry_in_ms: u64 },
    /// The phone unlinked us or the server logged us out; credentials were wiped.
    LoggedOut { reason: String },
    /// Stopped for good.
    Stopped { reason: StopReason },
}

impl EngineStatus {
    /// A short name for the state (`connecting`, `pending_auth`, `connected`, …).
    pub fn name(&self) -> &'static str {
        match self {
            EngineStatus::Connecting => "connecting",
            EngineStatus::PendingAuth { .. } => "pending_auth",
            EngineStatus::Paired { .. } => "paired",
            EngineStatus::Connected { .. } => "connected",
            EngineStatus::Reconnecting { .. } => "reconnecting",
            EngineStatus::LoggedOut { .. } => "logged_out",
            EngineStatus::Stopped { .. } => "stopped",
        }
    }

    /// True for states the engine never leaves by itself.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            EngineStatus::LoggedOut { .. } | EngineStatus::Stopped { .. }
        )
    }
}
