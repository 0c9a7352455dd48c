//! The receive path of [`Messenger`]: one worker handles incoming messages in arrival order. Each
//! is decrypted and recorded (through [`InboundSink`]) in ONE Signal transaction, committed, and only
//! then acknowledged with the delivery receipt; a redelivery after the commit is recognised by the
//! seen-table and only acknowledged; a failure to decrypt gets a retry receipt. Retry receipts for
//! our own messages come through the same worker (the resend needs a key fetch).

use super::messaging::{unix_now, EngineEvent, MessagingSetup, Messenger, ReceivedMessage};
use super::receive::{
    decrypt_incoming, delivery_receipt, message_text, parse_incoming, retry_receipt, Incoming,
    ReceiveError,
};
use crate::protocol::binary::Node;
use crate::protocol::signal::{SignalError, StoreError};
use crate::store::seen_messages::{self, SeenKey};
use crate::store::signal::SignalTxn;
use tokio::sync::mpsc;

/// What handling one incoming message came to.
pub(super) enum Handled {
    Recorded(Box<ReceivedMessage>),
    Duplicate,
    /// The phone's history sync, seeded into the chat list and committed.
    History(super::history_sync::HistorySummary),
    /// The phone's app state keys, stored and committed (this many were new).
    AppStateKeys(usize),
    /// It carries a file: nothing was committed; fetch the file, then handle it again with it.
    NeedsMedia(Box<super::media::content::Attachment>),
}

fn seen_key(incoming: &Incoming) -> String {
    incoming.from.to_string()
}

/// Decrypts and records `incoming` in one transaction.
pub(super) fn handle_incoming(
    setup: &MessagingSetup,
    incoming: &Incoming,
) -> Result<Handled, ReceiveError> {
    handle_incoming_with(setup, incoming, None)
}

/// [`handle_incoming`] with the message's file already fetched (`media`); without it a message
/// carrying a file answers [`Handled::NeedsMedia`] and the transaction is dropped uncommitted.
pub(super) fn handle_incoming_with(
    setup: &MessagingSetup,
    incoming: &Incoming,
    media: Option<Box<super::media::ReceivedMedia>>,
) -> Result<Handled, ReceiveError> {
    let store_err = |e: String| ReceiveError::Decrypt(SignalError::Store(StoreError(e)));
    let mut txn = SignalTxn::begin(setup.db.database(), &setup.namespace)
        .map_err(|e| store_err(e.to_string()))?;
    let from = seen_key(incoming);
    let key = SeenKey {
        namespace: &setup.namespace,
        chat: "",
        sender: &from,
        id: &incoming.id,
    };
    let seen = seen_messages::was_seen(txn.txn(), key).map_err(|e| store_err(e.to_string()))?;
    if seen {
        return Ok(Handled::Duplicate);
    }
    let message = match decrypt_incoming(&mut txn, incoming) {
        Ok(m) => m,
        Err(ReceiveError::Decrypt(SignalError::DuplicateMessage)) => return Ok(Handled::Duplicate),
        Err(e) => return Err(e),
    };
    if incoming.from_me {
        let now = unix_now();
        // Only the phone (device 0) sends history; another companion of ours has none to give.
        let from_phone = incoming.from.device == 0;
        if from_phone && media.is_none() {
            if let Some(attachment) = super::history_sync::download_of(&message) {
                // As for any file: fetched outside the transaction, then decrypted again.
                drop(txn);
                return Ok(Handled::NeedsMedia(Box::new(attachment)));
            }
        }
        let downloaded = media.as_ref().and_then(|m| m.bytes.as_deref());
        let seeded = from_phone
            .then(|| {
                super::history_sync::apply_in(
                    txn.txn(),
                    &setup.namespace,
                    &message,
                    now,
                    downloaded,
                )
            })
            .flatten();
        if let Some(seeded) = seeded {
            let summary = seeded.map_err(store_err)?;
            seen_messages::mark_seen(txn.txn(), key, now).map_err(|e| store_err(e.to_string()))?;
            txn.commit().map_err(|e| store_err(e.to_string()))?;
            return Ok(Handled::History(summary));
        }
        if let Some(stored) =
            super::app_state::store_key_share_in(txn.txn(), &setup.namespace, incoming, &message)
        {
            let new_keys = stored.map_err(store_err)?;
            seen_messages::mark_seen(txn.txn(), key, now).map_err(|e| store_err(e.to_string()))?;
            txn.commit().map_err(|e| store_err(e.to_string()))?;
            return Ok(Handled::AppStateKeys(new_keys));
        }
    }
    let (media, reaction) = match super::media::content::attachment_of(&message) {
        Some(attachment) if media.is_none() => {
            // Downloads happen outside the transaction; the message decrypts again afterwards.
            drop(txn);
            return Ok(Handled::NeedsMedia(Box::new(attachment)));
        }
        Some(_) => (media, None),
        None => (
            None,
            super::media::content::reaction_of(&message).map(Box::new),
        ),
    };
    let mut received = ReceivedMessage {
        id: incoming.id.clone(),
        from: incoming.from.clone(),
        chat: incoming.chat.clone(),
        from_me: incoming.from_me,
        text: message_text(&message),
        timestamp: incoming.timestamp,
        push_name: incoming.push_name.clone(),
        offline: incoming.offline,
        media,
        reaction,
        sender_pn: None,
        sender_lid: None,
    };
    super::lid::identify_sender(
        txn.txn(),
        &setup.namespace,
        incoming.alternate.as_ref(),
        &mut received,
    )
    .map_err(store_err)?;
    seen_messages::mark_seen(txn.txn(), key, unix_now()).map_err(|e| store_err(e.to_string()))?;
    setup.sink.record(txn.txn(), &received).map_err(store_err)?;
    txn.commit().map_err(|e| store_err(e.to_string()))?;
    Ok(Handled::Recorded(Box::new(received)))
}

/// Handles incoming messages one at a time, in arrival order.
pub(super) async fn receive_worker(
    messenger: std::sync::Weak<Messenger>,
    mut rx: mpsc::UnboundedReceiver<Node>,
) {
    while let Some(node) = rx.recv().await {
        let Some(m) = messenger.upgrade() else {
            return;
        };
        let Some(own) = m.own() else { continue };
        if node.tag == "receipt" {
            if let Err(e) = m.resend(&node).await {
                log::warn!("engine: cannot resend after a retry receipt: {e}");
            }
            continue;
        }
        if super::groups::is_group_message(&node) {
            super::groups::receive_group(&m, &node, &own.phone).await;
            continue;
        }
        let Some(incoming) = parse_incoming(&node, &own.phone) else {
            continue;
        };
        let setup = m.setup.clone();
        let job = incoming.clone();
        let mut outcome = tokio::task::spawn_blocking(move || handle_incoming(&setup, &job)).await;
        if let Ok(Ok(Handled::NeedsMedia(attachment))) = &outcome {
            let media = m.fetch_attachment(&incoming.id, attachment).await;
            let (setup, job) = (m.setup.clone(), incoming.clone());
            outcome = tokio::task::spawn_blocking(move || {
                handle_incoming_with(&setup, &job, Some(media))
            })
            .await;
        }
        let reply = match outcome {
            Ok(Ok(Handled::Recorded(received))) => {
                m.emit(EngineEvent::MessageReceived(*received));
                Some(delivery_receipt(&incoming))
            }
            Ok(Ok(Handled::Duplicate)) => Some(delivery_receipt(&incoming)),
            Ok(Ok(Handled::History(summary))) => {
                m.emit(EngineEvent::HistorySynced(summary));
                let _ = m.write(super::history_sync::peer_receipt(
                    &incoming.id,
                    &incoming.from,
                ));
                Some(super::history_sync::hist_sync_receipt(
                    &incoming.id,
                    &own.phone,
                ))
            }
            Ok(Ok(Handled::AppStateKeys(new_keys))) => {
                if new_keys > 0 {
                    m.app_state.fetch_all();
                }
                Some(super::history_sync::peer_receipt(
                    &incoming.id,
                    &incoming.from,
                ))
            }
            Ok(Ok(Handled::NeedsMedia(_))) => None,
            Ok(Err(ReceiveError::Decrypt(SignalError::Store(e)))) => {
                // Not acknowledged: the server delivers it again after the next login.
                log::error!("engine: cannot record message {}: {e}", incoming.id);
                None
            }
            Ok(Err(ReceiveError::Unsupported(what))) => {
                log::info!("engine: ignoring message {}: {what}", incoming.id);
                Some(
                    Node::new("ack")
                        .with_attr("class", "message")
                        .with_attr("id", incoming.id.as_str())
                        .with_attr("to", incoming.from.clone()),
                )
            }
            Ok(Err(e)) => {
                log::warn!(
                    "engine: message {} from {}: {e}",
                    incoming.id,
                    incoming.from
                );
                m.emit(EngineEvent::UndecryptableMessage {
                    id: incoming.id.clone(),
                    from: incoming.from.clone(),
                });
                Some(retry_receipt(&incoming, own.registration_id, 1, unix_now()))
            }
            Err(e) => {
                log::error!("engine: message worker failed: {e}");
                None
            }
        };
        if let Some(reply) = reply {
            let _ = m.write(reply);
        }
    }
}

/// How long the seen-table remembers a message (the server never redelivers older ones).
const SEEN_KEEP_SECS: u64 = 30 * 24 * 3600;

/// Forgets seen-table entries of `setup`'s namespace older than [`SEEN_KEEP_SECS`].
pub(super) fn prune_seen(setup: &MessagingSetup) -> Result<(), String> {
    let cutoff = unix_now().saturating_sub(SEEN_KEEP_SECS);
    seen_messages::prune_seen(setup.db.database(), &setup.namespace, cutoff)
        .map_err(|e| e.to_string())
}
