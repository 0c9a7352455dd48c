//! How the server ends a session (§6.2): failures and stream errors, and what the engine does about
//! each (reconnect, restart at once, log out, or stop).

use super::status::StopReason;
use crate::protocol::binary::Node;

/// How a session ended, and so what the engine does next.
pub(super) enum SessionEnd {
    /// Reconnect at once (stream error 515 after pairing).
    Restart,
    /// The connection was lost; reconnect after a backoff.
    Lost { reason: String, was_connected: bool },
    /// Logged out by the server or the phone: wipe credentials, stop.
    LoggedOut(String),
    /// Stop without wiping anything.
    Stopped(StopReason),
}

/// `<failure reason=…>` (§6.2).
pub(super) fn failure_end(node: &Node, was_connected: bool) -> SessionEnd {
    let reason: u16 = node.attr_parse("reason").unwrap_or(0);
    match reason {
        401 => SessionEnd::LoggedOut("logged out by the server (401)".into()),
        402 => SessionEnd::Stopped(StopReason::TemporarilyBanned {
            code: node.attr("code").map(str::to_string),
            expire: node.attr_parse("expire"),
        }),
        405 => SessionEnd::Stopped(StopReason::ClientOutdated),
        403 | 406 | 409 => SessionEnd::Stopped(StopReason::Failure { reason }),
        _ => SessionEnd::Lost {
            reason: format!("server failure {reason}"),
            was_connected,
        },
    }
}

/// `<stream:error>` (§6.2).
pub(super) fn stream_error_end(node: &Node, was_connected: bool) -> SessionEnd {
    let conflict = node.child("conflict").and_then(|c| c.attr("type"));
    let code = node.attr("code").unwrap_or_default();
    match (conflict, code) {
        (Some("replaced"), _) => SessionEnd::Stopped(StopReason::Replaced),
        (Some("device_removed"), _) => {
            SessionEnd::LoggedOut("device removed from the phone".into())
        }
        (_, "515") => SessionEnd::Restart,
        (_, "401") => SessionEnd::LoggedOut("logged out by the server (stream error 401)".into()),
        _ => SessionEnd::Lost {
            reason: format!("stream error {code}"),
            was_connected,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(reason: &str) -> Node {
        Node::new("failure").with_attr("reason", reason)
    }

    #[test]
    fn failures_map_to_their_outcomes() {
        assert!(matches!(
            failure_end(&failure("401"), true),
            SessionEnd::LoggedOut(_)
        ));
        assert!(matches!(
            failure_end(&failure("402").with_attr("code", "103").with_attr("expire", "60"), true),
            SessionEnd::Stopped(StopReason::TemporarilyBanned { code: Some(ref c), expire: Some(60) }) if c == "103"
        ));
        assert!(matches!(
            failure_end(&failure("405"), false),
            SessionEnd::Stopped(StopReason::ClientOutdated)
        ));
        assert!(matches!(
            failure_end(&failure("403"), false),
            SessionEnd::Stopped(StopReason::Failure { reason: 403 })
        ));
        assert!(matches!(
            failure_end(&failure("503"), true),
            SessionEnd::Lost {
                was_connected: true,
                ..
            }
        ));
    }

    #[test]
    fn stream_errors_map_to_their_outcomes() {
        let conflict = |kind: &str| {
            Node::new("stream:error").with_child(Node::new("conflict").with_attr("type", kind))
        };
        assert!(matches!(
            stream_error_end(&conflict("replaced"), true),
            SessionEnd::Stopped(StopReason::Replaced)
        ));
        assert!(matches!(
            stream_error_end(&conflict("device_removed").with_attr("code", "401"), true),
            SessionEnd::LoggedOut(_)
        ));
        let coded = |code: &str| Node::new("stream:error").with_attr("code", code);
        assert!(matches!(
            stream_error_end(&coded("515"), false),
            SessionEnd::Restart
        ));
        assert!(matches!(
            stream_error_end(&coded("401"), true),
            SessionEnd::LoggedOut(_)
        ));
        assert!(matches!(
            stream_error_end(&coded("503"), true),
            SessionEnd::Lost { .. }
        ));
    }
}
