//! Security events (failed logins, bad keys, rate limiting, key resets...) for the admin audit view.

use super::time::format_rfc3339;
use super::{Caller, Error, Shared};
use crate::store::SecurityEventRecord;
use serde::Serialize;

/// How many events the admin list shows.
pub const LIST_LIMIT: usize = 200;
/// Longest detail text kept.
const MAX_DETAIL_CHARS: usize = 500;

/// An event to record. `kind` is a stable short name such as "login_failed",
/// "api_key_invalid", "rate_limited", "api_key_reset", "client_deleted", "cross_site_request".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityEvent {
    pub kind: String,
    pub ip: Option<String>,
    pub username: Option<String>,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityEventView {
    pub id: u64,
    pub kind: String,
    pub ip: Option<String>,
    pub username: Option<String>,
    pub detail: String,
    pub at: String,
}

pub struct Security {
    shared: Shared,
}

impl Security {
    pub(super) fn new(shared: Shared) -> Security {
        Security { shared }
    }

    /// Stores the event (bounded by `[storage] max_history_rows`, pruned by retention) and logs it.
    pub fn record(&self, event: SecurityEvent) -> Result<(), Error> {
        let detail: String = event.detail.chars().take(MAX_DETAIL_CHARS).collect();
        log::warn!(
            "security: {} ip={} user={} {}",
            event.kind,
            event.ip.as_deref().unwrap_or("-"),
            event.username.as_deref().unwrap_or("-"),
            detail
        );
        let record = SecurityEventRecord {
            id: 0,
            kind: event.kind,
            ip: event.ip,
            username: event.username,
            detail,
            at_ms: self.shared.now_ms(),
        };
        self.shared
            .store
            .insert_security_event(record, self.shared.config.storage.max_history_rows)?;
        Ok(())
    }

    /// The newest events, newest first (admins only).
    pub fn list(&self, caller: &Caller) -> Result<Vec<SecurityEventView>, Error> {
        caller.require_admin()?;
        let events = self.shared.store.security_events(LIST_LIMIT)?;
        Ok(events
            .into_iter()
            .map(|e| SecurityEventView {
                id: e.id,
                at: format_rfc3339(e.at_ms),
                kind: e.kind,
                ip: e.ip,
                username: e.username,
                detail: e.detail,
            })
            .collect())
    }
}
