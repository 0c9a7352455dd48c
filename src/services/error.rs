//! The one error type of the service layer; the HTTP layer maps each variant to a status and a
//! stable code exactly once.

use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Missing, unknown or disabled credentials (401 AUTH_ERROR).
    AuthFailed,
    /// Authenticated, but not allowed: another user's client, another client's key, not admin
    /// (403 ACCESS_DENIED).
    AccessDenied,
    /// The account's plan allows no more clients (403 PLAN_LIMIT_EXCEEDED).
    PlanLimitExceeded,
    /// The group or channel does not accept messages from us (403 READ_ONLY_CHAT).
    ReadOnlyChat,
    /// No client with that id (404 CLIENT_NOT_FOUND).
    ClientNotFound,
    /// No group or channel with that id (404 GROUP_NOT_FOUND).
    GroupNotFound,
    /// The chat is not a group or channel (400 INVALID_CHAT_TYPE).
    InvalidChatType,
    /// The media could not be fetched or processed (400 MEDIA_ERROR).
    Media(String),
    /// A request field is invalid (400 VALIDATION_ERROR, with "field").
    Validation { field: &'static str, msg: String },
    /// A destructive operation was attempted without a password (400 PASSWORD_REQUIRED).
    PasswordRequired,
    /// The confirmation password is wrong (403 INVALID_PASSWORD).
    InvalidPassword,
    /// Something else does not exist; the text names what (404 NOT_FOUND).
    NotFound(String),
    /// The request conflicts with the current state (409 CONFLICT).
    Conflict(String),
    /// A fault on our side; the text is for the log only, never for the client (500 INTERNAL_ERROR).
    Internal(String),
}

impl Error {
    pub fn validation(field: &'static str, msg: impl Into<String>) -> Error {
        Error::Validation {
            field,
            msg: msg.into(),
        }
    }

    /// The stable code of the JSON error body.
    pub fn code(&self) -> &'static str {
        match self {
            Error::AuthFailed => "AUTH_ERROR",
            Error::AccessDenied => "ACCESS_DENIED",
            Error::PlanLimitExceeded => "PLAN_LIMIT_EXCEEDED",
            Error::ReadOnlyChat => "READ_ONLY_CHAT",
            Error::ClientNotFound => "CLIENT_NOT_FOUND",
            Error::GroupNotFound => "GROUP_NOT_FOUND",
            Error::InvalidChatType => "INVALID_CHAT_TYPE",
            Error::Media(_) => "MEDIA_ERROR",
            Error::Validation { .. } => "VALIDATION_ERROR",
            Error::PasswordRequired => "PASSWORD_REQUIRED",
            Error::InvalidPassword => "INVALID_PASSWORD",
            Error::NotFound(_) => "NOT_FOUND",
            Error::Conflict(_) => "CONFLICT",
            Error::Internal(_) => "INTERNAL_ERROR",
        }
    }
}

impl std::fmt::Display for Error {
    /// The human message of the JSON error body (Internal's detail is withheld).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::AuthFailed => f.write_str("Authentication failed."),
            Error::AccessDenied => f.write_str("Access denied."),
            Error::PlanLimitExceeded => f.write_str("Your plan does not allow more clients."),
            Error::ReadOnlyChat => f.write_str("This chat is read-only."),
            Error::ClientNotFound => f.write_str("Client not found."),
            Error::GroupNotFound => f.write_str("Group not found."),
            Error::InvalidChatType => f.write_str("The chat is not a group or channel."),
            Error::Media(msg) => write!(f, "Media error: {msg}"),
            Error::Validation { field, msg } => write!(f, "{field}: {msg}"),
            Error::PasswordRequired => f.write_str("Password is required."),
            Error::InvalidPassword => f.write_str("Invalid password."),
            Error::NotFound(what) => write!(f, "{what} not found."),
            Error::Conflict(msg) => f.write_str(msg),
            Error::Internal(_) => f.write_str("Internal server error."),
        }
    }
}

impl std::error::Error for Error {}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        log::error!("store: {e}");
        Error::Internal(e.to_string())
    }
}
