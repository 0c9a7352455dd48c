//! How an engine's state shows in the client record (`GET /api/clients`, `client_status` events).

use super::super::ClientStatus;
use crate::engine::{EngineStatus, StopReason};

/// `15550001111:3@s.whatsapp.net` → `15550001111@c.us` (the API's account form).
pub fn account_number(jid: &str) -> String {
    let user = jid.split('@').next().unwrap_or(jid);
    let user = user.split([':', '.']).next().unwrap_or(user);
    format!("{user}@c.us")
}

/// What the client record should say for an engine state; None leaves it as it is. `paired`:
/// the engine has a linked account. An unpaired client stays `Pending Authentication` whatever
/// its connection does (it needs a scan either way); a paired one shows its connection.
pub(super) fn stored_status(
    status: &EngineStatus,
    paired: bool,
) -> Option<(ClientStatus, Option<String>)> {
    Some(match status {
        EngineStatus::Connecting if paired => (ClientStatus::Connecting, None),
        EngineStatus::Connecting => return None,
        EngineStatus::PendingAuth { .. } => (ClientStatus::PendingAuthentication, None),
        EngineStatus::Paired { jid } => (ClientStatus::Connecting, Some(account_number(jid))),
        EngineStatus::Connected { jid, .. } => {
            (ClientStatus::Authenticated, Some(account_number(jid)))
        }
        EngineStatus::Reconnecting { .. } if paired => (ClientStatus::Disconnected, None),
        EngineStatus::Reconnecting { .. } => (ClientStatus::PendingAuthentication, None),
        EngineStatus::LoggedOut { .. } => (ClientStatus::LoggedOut, None),
        // A requested stop is a shutdown or a deletion: the record keeps its last state.
        EngineStatus::Stopped {
            reason: StopReason::Requested,
        } => return None,
        EngineStatus::Stopped { .. } if paired => (ClientStatus::Disconnected, None),
        EngineStatus::Stopped { .. } => (ClientStatus::PendingAuthentication, None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_numbers_drop_device_and_server() {
        assert_eq!(
            account_number("15550001111:3@s.whatsapp.net"),
            "15550001111@c.us"
        );
        assert_eq!(
            account_number("15550001111@s.whatsapp.net"),
            "15550001111@c.us"
        );
        assert_eq!(
            account_number("15550001111.0:2@s.whatsapp.net"),
            "15550001111@c.us"
        );
    }

    #[test]
    fn engine_states_map_to_client_states() {
        let connected = EngineStatus::Connected {
            jid: "972500000000:2@s.whatsapp.net".into(),
            lid: None,
        };
        assert_eq!(
            stored_status(&connected, true),
            Some((
                ClientStatus::Authenticated,
                Some("972500000000@c.us".into())
            ))
        );
        assert_eq!(stored_status(&EngineStatus::Connecting, false), None);
        assert_eq!(
            stored_status(&EngineStatus::Connecting, true),
            Some((ClientStatus::Connecting, None))
        );
        let lost = EngineStatus::Reconnecting {
            reason: "dns".into(),
            retry_in_ms: 1000,
        };
        assert_eq!(
            stored_status(&lost, true),
            Some((ClientStatus::Disconnected, None))
        );
        assert_eq!(
            stored_status(&lost, false),
            Some((ClientStatus::PendingAuthentication, None)),
            "an unpaired client still needs a scan"
        );
        let requested = EngineStatus::Stopped {
            reason: StopReason::Requested,
        };
        assert_eq!(stored_status(&requested, true), None);
        let timeout = EngineStatus::Stopped {
            reason: StopReason::QrTimeout,
        };
        assert_eq!(
            stored_status(&timeout, true),
            Some((ClientStatus::Disconnected, None))
        );
        assert_eq!(
            stored_status(&timeout, false),
            Some((ClientStatus::PendingAuthentication, None))
        );
        let out = EngineStatus::LoggedOut {
            reason: "device_removed".into(),
        };
        assert_eq!(
            stored_status(&out, true),
            Some((ClientStatus::LoggedOut, None))
        );
    }
}
