//! Incoming calls of one client's engine into the client's history: a call the engine rejected is
//! recorded ended (which queues the `call_rejected` webhook in the same transaction, and the
//! webhook worker then sends the `rejectionMessage` to the caller); a call left ringing (auto-reject
//! off) is recorded open, without the webhook, and closed when the engine hears it ended.

use crate::engine::calls::{CallEvent, CallOffer};
use crate::engine::EngineHandle;
use crate::services::history::NewCall;
use crate::services::App;
use crate::store::CallRecord;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Weak};
use tokio::sync::broadcast::error::RecvError;

/// Call ids remembered against replays of the same offer (offline queue, redelivery).
const SEEN_CALLS: usize = 256;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Sets the engine's auto-reject from the configuration and records its calls until it ends.
pub(super) fn follow_calls(app: &Arc<App>, client_id: &str, handle: &EngineHandle) {
    let desk = handle.calls();
    desk.set_auto_reject(app.config.whatsapp.auto_reject_calls);
    log::debug!(
        "client {client_id}: incoming calls {}",
        if desk.auto_reject() {
            "rejected"
        } else {
            "left ringing"
        }
    );
    let mut events = desk.subscribe();
    let app = Arc::downgrade(app);
    let client_id = client_id.to_string();
    tokio::spawn(async move {
        let mut follower = CallFollower {
            app,
            client_id,
            open: HashMap::new(),
            seen: VecDeque::new(),
        };
        loop {
            match events.recv().await {
                Ok(event) => {
                    if !follower.on_event(event).await {
                        return;
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    log::warn!("client {}: {n} call event(s) missed", follower.client_id)
                }
                Err(RecvError::Closed) => return,
            }
        }
    });
}

struct CallFollower {
    app: Weak<App>,
    client_id: String,
    /// Ringing calls (call id → history row id), to close when they end.
    open: HashMap<String, u64>,
    seen: VecDeque<String>,
}

impl CallFollower {
    /// False once the server is shutting down.
    async fn on_event(&mut self, event: CallEvent) -> bool {
        let Some(app) = self.app.upgrade() else {
            return false;
        };
        let client_id = self.client_id.clone();
        match event {
            CallEvent::Offered { offer, rejected } => {
                if self.seen.contains(&offer.call_id) {
                    return true;
                }
                if self.seen.len() >= SEEN_CALLS {
                    self.seen.pop_front();
                }
                self.seen.push_back(offer.call_id.clone());
                let call_id = offer.call_id.clone();
                let recorded = tokio::task::spawn_blocking(move || {
                    record_offer(&app, client_id, &offer, rejected)
                })
                .await;
                match recorded {
                    Ok(Ok(row)) if !rejected => {
                        self.open.insert(call_id, row.id);
                    }
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => log::warn!("client {}: call not recorded: {e}", self.client_id),
                    Err(e) => log::warn!("client {}: call not recorded: {e}", self.client_id),
                }
            }
            CallEvent::Ended { call_id, .. } => {
                let Some(row) = self.open.remove(&call_id) else {
                    return true;
                };
                let finished =
                    tokio::task::spawn_blocking(move || app.history.finish_call(row, now_ms()))
                        .await;
                if !matches!(finished, Ok(Ok(_))) {
                    log::warn!("client {}: call {call_id} not marked ended", self.client_id);
                }
            }
        }
        true
    }
}

/// A rejected call is recorded ended with its webhook; a ringing one open and without webhook.
fn record_offer(
    app: &App,
    client_id: String,
    offer: &CallOffer,
    rejected: bool,
) -> Result<CallRecord, String> {
    let now = now_ms();
    let start_ms = match i64::try_from(offer.timestamp) {
        Ok(secs) if secs > 0 => secs.saturating_mul(1000),
        _ => now,
    };
    if rejected {
        let call = NewCall {
            client_id,
            call_from: offer.caller_c_us(),
            is_video: offer.video,
            start_ms,
            end_ms: Some(now.max(start_ms)),
            duration_secs: Some(0),
        };
        return app.history.record_call(call).map_err(|e| e.to_string());
    }
    let row = CallRecord {
        id: 0,
        client_id,
        call_from: offer.caller_c_us(),
        is_video: offer.video,
        start_ms,
        end_ms: None,
        duration_secs: None,
        created_ms: now,
    };
    let max_rows = app.config.storage.max_history_rows;
    app.store
        .append_history(row, max_rows)
        .map_err(|e| e.to_string())
}
