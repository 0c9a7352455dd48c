//! One client connection on the simulator: handshake, the registration-or-login decision (§5.2, §6.1),
//! then stanzas until either side ends it.

use super::iq::{answer_iq, error_reply, result_reply};
use super::keys::SignedKey;
use super::link_code::answer_code_iq;
use super::registry::{
    restart_required_error, unix_now, ConnId, LinkAnswer, LoginDecision, Registration, ToConnection,
};
use super::wire::{accept, ServerConn, WireError};
use super::Shared;
use crate::protocol::binary::Node;
use crate::protocol::jid::Jid;
use crate::protocol::proto::generated::client_payload::DevicePairingRegistrationData;
use crate::protocol::proto::generated::ClientPayload;
use crate::protocol::proto::ProtoMessage;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;

/// Pause between the handshake and the first stanza (see `serve`).
const FIRST_STANZA_DELAY: std::time::Duration = std::time::Duration::from_millis(100);

/// What kind of session the ClientPayload asked for.
enum Opening {
    Login { phone: String, device: u16 },
    Register(Registration),
    Refused(&'static str),
}

fn opening(payload: &[u8], client_static: [u8; 32]) -> Opening {
    let Ok(payload) = ClientPayload::decode(payload) else {
        return Opening::Refused("undecodable ClientPayload");
    };
    if let Some(username) = payload.username {
        let device = payload
            .device
            .and_then(|d| u16::try_from(d).ok())
            .unwrap_or(0);
        return Opening::Login {
            phone: username.to_string(),
            device,
        };
    }
    let Some(data) = payload.device_pairing_data else {
        return Opening::Refused("neither username nor pairing data");
    };
    let identity: Option<[u8; 32]> = data.e_ident.as_deref().and_then(|k| k.try_into().ok());
    let reg_id: Option<[u8; 4]> = data.e_regid.as_deref().and_then(|r| r.try_into().ok());
    match (identity, reg_id) {
        (Some(identity_public), Some(reg_id)) => Opening::Register(Registration {
            noise_public: client_static,
            identity_public,
            registration_id: u32::from_be_bytes(reg_id),
            push_name: payload.push_name,
            signed_pre_key: signed_pre_key(&data),
        }),
        _ => Opening::Refused("pairing data lacks identity or registration id"),
    }
}

/// The signed prekey in a registration payload (`eSkeyId` u24, `eSkeyVal`, `eSkeySig`).
fn signed_pre_key(data: &DevicePairingRegistrationData) -> Option<SignedKey> {
    let id = data
        .e_skey_id
        .as_deref()
        .filter(|b| !b.is_empty() && b.len() <= 4)?;
    Some(SignedKey {
        id: id.iter().fold(0u32, |n, b| (n << 8) | u32::from(*b)),
        public: data.e_skey_val.as_deref()?.try_into().ok()?,
        signature: data.e_skey_sig.as_deref()?.try_into().ok()?,
    })
}

/// What an unpaired companion's own iqs get: a ping is answered, anything else needs a login first
/// (`501`, never silence); results and errors need no answer.
fn answer_unpaired_iq(node: &Node) -> Option<Node> {
    let kind = node.attr("type")?;
    if kind != "get" && kind != "set" {
        return None;
    }
    let id = node.attr("id")?;
    Some(match node.attr("xmlns") {
        Some("w:p") => result_reply(id),
        _ => error_reply(id, 501, "feature-not-implemented"),
    })
}

fn failure(reason: u16) -> Node {
    Node::new("failure")
        .with_attr("reason", reason)
        .with_attr("location", "sim")
}

fn pair_device(refs: &[String], id: &str) -> Node {
    Node::new("iq")
        .with_attr("from", Jid::server_jid())
        .with_attr("type", "set")
        .with_attr("id", id)
        .with_attr("xmlns", "md")
        .with_child(
            Node::new("pair-device").with_children(
                refs.iter()
                    .map(|r| Node::new("ref").with_bytes(r.as_bytes().to_vec())),
            ),
        )
}

/// Serves one WebSocket until it closes, the registry ends it, or the simulator shuts down.
pub(super) async fn serve<S>(
    ws: WebSocketStream<S>,
    shared: Arc<Shared>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut conn, hello) = match accept(ws, &shared.identity).await {
        Ok(ok) => ok,
        Err(e) => {
            log::debug!("simulator: handshake failed: {e}");
            return;
        }
    };
    // Baileys switches its socket to transport mode only after its ClientFinish write completes; a
    // stanza arriving before that is dropped. Over a real network the server's answer never wins that
    // race, on loopback it sometimes does, so leave the client a moment.
    tokio::time::sleep(FIRST_STANZA_DELAY).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let conn_id = shared.registry.connect(tx);
    let outcome = tokio::select! {
        r = drive(&mut conn, conn_id, hello.client_static, &hello.payload, &shared, &mut rx) => r,
        _ = super::shut_down(&mut shutdown) => Ok(()),
    };
    if let Err(e) = outcome {
        log::debug!("simulator: connection {conn_id} ended: {e}");
    }
    super::presence::connection_ended(&shared, conn_id);
    shared.registry.disconnect(conn_id);
    conn.close().await;
}

async fn drive<S>(
    conn: &mut ServerConn<S>,
    conn_id: ConnId,
    client_static: [u8; 32],
    payload: &[u8],
    shared: &Shared,
    rx: &mut mpsc::UnboundedReceiver<ToConnection>,
) -> Result<(), WireError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let registering = match opening(payload, client_static) {
        Opening::Refused(why) => {
            log::debug!("simulator: refusing connection {conn_id}: {why}");
            return conn.send(&failure(400)).await;
        }
        Opening::Login { phone, device } => {
            match shared
                .registry
                .login(conn_id, &phone, device, &client_static)
            {
                LoginDecision::LoggedOut => return conn.send(&failure(401)).await,
                LoginDecision::Refused(node) => return conn.send(&node).await,
                LoginDecision::Accepted { lid } => {
                    let success = Node::new("success")
                        .with_attr("t", unix_now())
                        .with_attr("lid", Jid::lid(lid).with_device(device))
                        .with_attr("location", "sim")
                        .with_attr("creation", unix_now());
                    conn.send(&success).await?;
                    // Queued stanzas, then the `<ib><offline count>` marker.
                    for node in super::routing::offline_replay(shared, &phone, device) {
                        conn.send(&node).await?;
                    }
                }
            }
            false
        }
        Opening::Register(registration) => {
            let refs = shared.registry.begin_registration(conn_id, registration);
            conn.send(&pair_device(&refs, &format!("pd-{conn_id}")))
                .await?;
            true
        }
    };
    loop {
        tokio::select! {
            node = conn.recv() => {
                let node = node?;
                super::faults::hold(shared, conn_id).await;
                if registering && node.tag == "iq" {
                    if let Some(reply) = answer_code_iq(&shared.registry, conn_id, &node) {
                        conn.send(&reply).await?;
                        continue;
                    }
                    match shared.registry.answer_link(conn_id, &node) {
                        LinkAnswer::Linked => {
                            conn.send(&restart_required_error()).await?;
                            return Ok(());
                        }
                        LinkAnswer::Refused(e) => log::info!("simulator: pairing refused: {e}"),
                        LinkAnswer::NotOurs => {
                            if let Some(reply) = answer_unpaired_iq(&node) {
                                conn.send(&reply).await?;
                            }
                        }
                    }
                    continue;
                }
                super::presence::observe(shared, conn_id, &node);
                if let Some(reply) = super::group_delivery::on_stanza(shared, conn_id, &node) {
                    conn.send(&reply).await?;
                    continue;
                }
                if let Some(reply) = super::groups::on_stanza(shared, conn_id, &node) {
                    conn.send(&reply).await?;
                    continue;
                }
                if let Some(reply) = super::routing::on_stanza(shared, conn_id, &node) {
                    conn.send(&reply).await?;
                    continue;
                }
                if let Some(reply) = answer_iq(shared, conn_id, &node) {
                    conn.send(&reply).await?;
                }
            }
            command = rx.recv() => match command {
                Some(ToConnection::Send(node)) => {
                    super::faults::hold(shared, conn_id).await;
                    conn.send(&node).await?
                }
                Some(ToConnection::End(node)) => {
                    conn.send(&node).await?;
                    return Ok(());
                }
                Some(ToConnection::Drop) => return Ok(()),
                None => return Ok(()),
            },
        }
    }
}
