//! The one JSON error shape, `{"error": "<message>", "code": "<STABLE_CODE>", "field"?: "<name>"}`,
//! and the single place where service errors become HTTP statuses.

use hyper::header::{HeaderValue, ALLOW, RETRY_AFTER};
use hyper::{Response, StatusCode};
use serde::Serialize;

use super::response::{self, Body};

/// An error answer: status, stable code, human message, and the extras some codes carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Seconds, for 429.
    pub retry_after: Option<u64>,
    /// Allowed methods, for 405.
    pub allow: Option<String>,
    /// The handler already stored a specific security event (e.g. `login_failed`), so the
    /// dispatcher does not add a generic one for this refusal.
    pub event_recorded: bool,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
            allow: None,
            event_recorded: false,
        }
    }

    /// Marks the refusal as already recorded as a security event.
    pub fn recorded(mut self) -> Self {
        self.event_recorded = true;
        self
    }

    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message);
        e.field = Some(field.to_owned());
        e
    }

    pub fn invalid_json(detail: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "INVALID_JSON",
            format!("Request body is not valid JSON: {detail}"),
        )
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "AUTH_ERROR", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "ACCESS_DENIED", message)
    }

    pub fn cross_site() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "CROSS_SITE_REQUEST",
            "Cross-site requests may not change state with a session cookie.",
        )
    }

    pub fn route_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "ROUTE_NOT_FOUND", "No such route.")
    }

    pub fn method_not_allowed(allow: String) -> Self {
        let mut e = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "Method not allowed on this route.",
        );
        e.allow = Some(allow);
        e
    }

    pub fn body_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "BODY_TOO_LARGE",
            format!("Request body exceeds the limit of {limit} bytes."),
        )
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "Send the body as application/json.",
        )
    }

    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            "Too many requests, please try again later.",
        );
        e.retry_after = Some(retry_after_secs);
        e
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "Internal server error.",
        )
    }

    pub fn into_response(self) -> Response<Body> {
        let body = ErrorBody {
            error: &self.message,
            code: self.code,
            field: self.field.as_deref(),
        };
        let mut res = response::json(self.status, &body);
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(allow) = self
            .allow
            .as_deref()
            .and_then(|a| HeaderValue::from_str(a).ok())
        {
            res.headers_mut().insert(ALLOW, allow);
        }
        res
    }
}

impl From<crate::services::Error> for ApiError {
    fn from(err: crate::services::Error) -> Self {
        use crate::services::Error as E;
        let (status, code) = match &err {
            E::AuthFailed => (StatusCode::UNAUTHORIZED, "AUTH_ERROR"),
            E::AccessDenied => (StatusCode::FORBIDDEN, "ACCESS_DENIED"),
            E::PlanLimitExceeded => (StatusCode::FORBIDDEN, "PLAN_LIMIT_EXCEEDED"),
            E::ReadOnlyChat => (StatusCode::FORBIDDEN, "READ_ONLY_CHAT"),
            E::ClientNotFound => (StatusCode::NOT_FOUND, "CLIENT_NOT_FOUND"),
            E::GroupNotFound => (StatusCode::NOT_FOUND, "GROUP_NOT_FOUND"),
            E::InvalidChatType => (StatusCode::BAD_REQUEST, "INVALID_CHAT_TYPE"),
            E::Media(_) => (StatusCode::BAD_REQUEST, "MEDIA_ERROR"),
            E::Validation { field, .. } => return ApiError::validation(field, err.to_string()),
            E::PasswordRequired => (StatusCode::BAD_REQUEST, "PASSWORD_REQUIRED"),
            E::InvalidPassword => (StatusCode::FORBIDDEN, "INVALID_PASSWORD"),
            E::NotFound(_) => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            E::Conflict(_) => (StatusCode::CONFLICT, "CONFLICT"),
            E::Internal(detail) => {
                // The detail is for the operator's log, never for the caller.
                log::error!("internal error: {detail}");
                return ApiError::internal();
            }
        };
        ApiError::new(status, code, err.to_string())
    }
}
