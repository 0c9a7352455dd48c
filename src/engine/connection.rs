//! One engine's life: connect, register (QR) or log in, keep the link alive, and decide after every
//! disconnect whether to reconnect (with backoff), restart at once (515), or stop for good.

use super::client_payload::{login_payload, registration_payload};
use super::cred_store::CredentialStore;
use super::creds::DeviceCreds;
use super::disconnect::{failure_end, stream_error_end, SessionEnd};
use super::pair::{self, handle_pair_success, iq_result, parse_pair_device};
use super::pair_code::{is_code_notification, CodePairing};
use super::prekeys::{upload_size, PreKeySource};
use super::qr_image::qr_data_url;
use super::status::{EngineStatus, StopReason};
use super::timing::{backoff, between};
use super::wire::{self, ClientConn};
use super::EngineConfig;
use crate::protocol::binary::Node;
use crate::protocol::crypto::random_bytes;
use crate::protocol::jid::Jid;
use crate::protocol::signal::prekeys::{parse_pre_key_count, pre_key_count_node};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

/// Requests from the handle to the running engine.
pub(super) enum Command {
    /// Start pairing by phone code with this phone number; answers with the code (`XXXX-XXXX`).
    PairCode {
        phone: String,
        reply: oneshot::Sender<Result<String, String>>,
    },
    /// Unlink this companion from the account (like "log out" on WhatsApp Web), wipe the credentials
    /// and stop. Answers once done.
    Logout { reply: oneshot::Sender<()> },
}

/// Everything the engine task owns.
pub(super) struct EngineTask {
    pub config: EngineConfig,
    pub commands: mpsc::UnboundedReceiver<Command>,
    pub store: std::sync::Arc<dyn CredentialStore>,
    pub status: watch::Sender<EngineStatus>,
    pub stop: watch::Receiver<bool>,
    pub last_frame_ms: std::sync::Arc<AtomicU64>,
    /// Where one-time prekeys come from; `None` skips the prekey upload.
    pub prekeys: Option<std::sync::Arc<dyn PreKeySource>>,
    /// Who waits for a requested logout to finish.
    pub logout_reply: Option<oneshot::Sender<()>>,
    /// Sending and receiving messages (`None`: pairing and presence only).
    pub messenger: Option<std::sync::Arc<super::messaging::Messenger>>,
    /// Incoming calls: acked, reported, rejected when auto-reject is on (`calls.rs`).
    pub calls: std::sync::Arc<super::calls::CallDesk>,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

async fn stop_requested(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not Send; drop it here. A dropped handle counts as a stop.
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}

/// The next stanza the messenger wants written, once one is attached.
async fn next_outbound(rx: &mut Option<mpsc::UnboundedReceiver<Node>>) -> Option<Node> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Iq ids in whatsmeow's shape: two random bytes, then a counter.
struct IdGen {
    prefix: String,
    next: u64,
}

impl IdGen {
    fn new() -> IdGen {
        let [a, b]: [u8; 2] = random_bytes();
        IdGen {
            prefix: format!("{a}.{b}-"),
            next: 1,
        }
    }

    fn next(&mut self) -> String {
        self.next += 1;
        format!("{}{}", self.prefix, self.next)
    }
}

/// The QR refs from `<pair-device>` and which one is on screen.
struct QrRotation {
    refs: Vec<String>,
    index: usize,
    deadline: Instant,
}

impl EngineTask {
    pub(super) async fn run(mut self) {
        let mut creds = match self.store.load() {
            Ok(Some(creds)) => creds,
            Ok(None) => {
                let creds = DeviceCreds::generate();
                if let Err(e) = self.store.save(&creds) {
                    return self.finish(EngineStatus::Stopped {
                        reason: StopReason::Store {
                            message: e.to_string(),
                        },
                    });
                }
                creds
            }
            Err(e) => {
                return self.finish(EngineStatus::Stopped {
                    reason: StopReason::Store {
                        message: e.to_string(),
                    },
                })
            }
        };
        let mut attempt = 0u32;
        loop {
            if *self.stop.borrow() {
                return self.finish(EngineStatus::Stopped {
                    reason: StopReason::Requested,
                });
            }
            self.status.send_replace(EngineStatus::Connecting);
            match self.session(&mut creds).await {
                SessionEnd::Restart => attempt = 0,
                SessionEnd::Lost {
                    reason,
                    was_connected,
                } => {
                    if was_connected {
                        attempt = 0;
                    }
                    let delay = backoff(attempt, self.config.backoff_base, self.config.backoff_max);
                    attempt = attempt.saturating_add(1);
                    log::info!("engine: connection lost ({reason}); retrying in {delay:?}");
                    self.status.send_replace(EngineStatus::Reconnecting {
                        reason,
                        retry_in_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    });
                    let wake = tokio::time::Instant::now() + delay;
                    loop {
                        tokio::select! {
                            _ = tokio::time::sleep_until(wake) => break,
                            _ = stop_requested(&mut self.stop) => {
                                return self.finish(EngineStatus::Stopped { reason: StopReason::Requested });
                            }
                            command = self.commands.recv() => match command {
                                Some(Command::Logout { reply }) => {
                                    self.logout_reply = Some(reply);
                                    return self.logged_out("logged out on request (offline)".into());
                                }
                                Some(Command::PairCode { reply, .. }) => {
                                    let _ = reply.send(Err("the engine is not connected".into()));
                                }
                                None => {
                                    tokio::time::sleep_until(wake).await;
                                    break;
                                }
                            },
                        }
                    }
                }
                SessionEnd::LoggedOut(reason) => return self.logged_out(reason),
                SessionEnd::Stopped(reason) => {
                    return self.finish(EngineStatus::Stopped { reason })
                }
            }
        }
    }

    fn logged_out(self, reason: String) {
        if let Err(e) = self.store.clear() {
            log::error!("engine: could not wipe credentials after logout: {e}");
        }
        self.finish(EngineStatus::LoggedOut { reason });
    }

    fn finish(mut self, status: EngineStatus) {
        log::info!("engine: {}", status.name());
        self.status.send_replace(status);
        if let Some(reply) = self.logout_reply.take() {
            let _ = reply.send(());
        }
    }

    async fn session(&mut self, creds: &mut DeviceCreds) -> SessionEnd {
        let push_name = self.config.push_name.as_deref();
        let payload = match &creds.paired {
            Some(paired) => match paired.phone.parse::<u64>() {
                Ok(phone) => login_payload(phone, paired.device, push_name),
                Err(_) => return SessionEnd::LoggedOut("stored credentials are invalid".into()),
            },
            None => registration_payload(creds, push_name),
        };
        let connecting = wire::connect_trusting(
            &self.config.url,
            self.config.tls_certificate.as_deref(),
            &creds.noise_key,
            self.config.trusted_root,
            &payload,
            self.config.connect_timeout,
        );
        let mut conn = tokio::select! {
            result = connecting => match result {
                Ok(conn) => conn,
                Err(e) => return SessionEnd::Lost { reason: e.to_string(), was_connected: false },
            },
            _ = stop_requested(&mut self.stop) => return SessionEnd::Stopped(StopReason::Requested),
        };
        self.last_frame_ms.store(unix_ms(), Ordering::Relaxed);
        let end = self.drive(&mut conn, creds).await;
        conn.close().await;
        end
    }

    async fn drive(&mut self, conn: &mut ClientConn, creds: &mut DeviceCreds) -> SessionEnd {
        let mut ids = IdGen::new();
        let mut state = LinkState::default();
        let mut commands_open = true;
        loop {
            let qr_deadline = state.qr.as_ref().map(|q| q.deadline);
            let ping_deadline = state.pending_ping.as_ref().map(|(_, at)| *at);
            tokio::select! {
                _ = stop_requested(&mut self.stop) => return SessionEnd::Stopped(StopReason::Requested),
                node = conn.recv() => {
                    let node = match node {
                        Ok(node) => node,
                        Err(e) => return state.lost(e.to_string()),
                    };
                    self.last_frame_ms.store(unix_ms(), Ordering::Relaxed);
                    if let Some(end) = self.on_node(conn, creds, &mut state, &mut ids, node).await {
                        return end;
                    }
                }
                _ = sleep_until(qr_deadline) => {
                    if let Some(end) = self.rotate_qr(creds, &mut state) {
                        return end;
                    }
                }
                _ = sleep_until(state.next_ping) => {
                    let id = ids.next();
                    let ping = Node::new("iq")
                        .with_attr("id", id.as_str())
                        .with_attr("xmlns", "w:p")
                        .with_attr("type", "get")
                        .with_attr("to", Jid::server_jid())
                        .with_child(Node::new("ping"));
                    if let Err(e) = conn.send(&ping).await {
                        return state.lost(e.to_string());
                    }
                    let now = Instant::now();
                    state.pending_ping = Some((id, now + self.config.keepalive_timeout));
                    state.next_ping = Some(now + between(self.config.keepalive_min, self.config.keepalive_max));
                }
                _ = sleep_until(ping_deadline) => return state.lost("keepalive timed out".into()),
                Some(out) = next_outbound(&mut state.outbound) => {
                    if let Err(e) = conn.send(&out).await {
                        return state.lost(e.to_string());
                    }
                }
                command = self.commands.recv(), if commands_open => match command {
                    Some(Command::PairCode { phone, reply }) => {
                        if let Err(e) = self.start_code_pairing(conn, creds, &mut state, &mut ids, &phone, reply).await {
                            return e;
                        }
                    }
                    Some(Command::Logout { reply }) => {
                        self.logout_reply = Some(reply);
                        if let Some(paired) = &creds.paired {
                            // Best effort: the phone forgets us; the credentials go either way.
                            let remove = Node::new("iq")
                                .with_attr("id", ids.next())
                                .with_attr("xmlns", "md")
                                .with_attr("type", "set")
                                .with_attr("to", Jid::server_jid())
                                .with_child(
                                    Node::new("remove-companion-device")
                                        .with_attr("jid", Jid::phone(paired.phone.clone()).with_device(paired.device))
                                        .with_attr("reason", "user_initiated"),
                                );
                            if let Err(e) = conn.send(&remove).await {
                                log::warn!("engine: could not tell the server about the logout: {e}");
                            }
                        }
                        return SessionEnd::LoggedOut("logged out on request".into());
                    }
                    None => commands_open = false,
                },
            }
        }
    }

    /// Shows the next QR ref, or gives up when none is left.
    fn rotate_qr(&mut self, creds: &DeviceCreds, state: &mut LinkState) -> Option<SessionEnd> {
        let rotation = state.qr.as_mut()?;
        rotation.index += 1;
        if rotation.index >= rotation.refs.len() {
            return Some(SessionEnd::Stopped(StopReason::QrTimeout));
        }
        rotation.deadline = Instant::now() + self.config.qr_next_timeout;
        let text = pair::qr_text(&rotation.refs[rotation.index], creds);
        self.show_qr(text, self.config.qr_next_timeout);
        None
    }

    fn show_qr(&self, text: String, lifetime: Duration) {
        let qr_png = match qr_data_url(&text) {
            Ok(url) => url,
            Err(e) => {
                log::error!("engine: cannot render QR: {e}");
                String::new()
            }
        };
        let expires_at = (unix_ms() / 1000).saturating_add(lifetime.as_secs());
        self.status.send_replace(EngineStatus::PendingAuth {
            qr: text,
            qr_png,
            expires_at,
        });
    }

    /// Answers the prekey count: uploads fresh one-time prekeys when the server runs low.
    async fn refill_prekeys(
        &mut self,
        conn: &mut ClientConn,
        creds: &DeviceCreds,
        state: &mut LinkState,
        ids: &mut IdGen,
        answer: &Node,
    ) -> Option<SessionEnd> {
        let source = self.prekeys.clone()?;
        let Some(count) = parse_pre_key_count(answer) else {
            log::warn!("engine: prekey count answer without a count");
            return None;
        };
        let wanted = upload_size(count);
        if wanted == 0 {
            return None;
        }
        match source.prekey_upload(creds, wanted) {
            Ok(upload) => {
                log::info!("engine: server holds {count} prekeys; uploading {wanted}");
                match conn.send(&upload.with_attr("id", ids.next())).await {
                    Ok(()) => None,
                    Err(e) => Some(state.lost(e.to_string())),
                }
            }
            Err(e) => {
                log::error!("engine: cannot make prekeys: {e}");
                None
            }
        }
    }

    /// Sends `companion_hello` for pairing by code with `phone` (only while showing QR codes).
    async fn start_code_pairing(
        &mut self,
        conn: &mut ClientConn,
        creds: &DeviceCreds,
        state: &mut LinkState,
        ids: &mut IdGen,
        phone: &str,
        reply: oneshot::Sender<Result<String, String>>,
    ) -> Result<(), SessionEnd> {
        if creds.paired.is_some() || state.qr.is_none() {
            let _ = reply.send(Err("the engine is not waiting to be paired".into()));
            return Ok(());
        }
        let pairing = match CodePairing::new(phone) {
            Ok(p) => p,
            Err(e) => {
                let _ = reply.send(Err(e.to_string()));
                return Ok(());
            }
        };
        let hello_id = ids.next();
        if let Err(e) = conn
            .send(&pairing.hello(&hello_id, &creds.noise_key.public))
            .await
        {
            let _ = reply.send(Err(e.to_string()));
            return Err(state.lost(e.to_string()));
        }
        state.code = Some(CodeInProgress {
            pairing,
            hello_id,
            reply: Some(reply),
        });
        Ok(())
    }

    /// The phone typed our code: acknowledge, send `companion_finish`, adopt the new adv secret.
    async fn finish_code_pairing(
        &mut self,
        conn: &mut ClientConn,
        creds: &mut DeviceCreds,
        state: &mut LinkState,
        ids: &mut IdGen,
        node: &Node,
    ) -> Option<SessionEnd> {
        if let Err(e) = conn.send(&ack_for(node)).await {
            return Some(state.lost(e.to_string()));
        }
        let code = state.code.as_ref()?;
        match code.pairing.finish(node, &creds.identity_key, &ids.next()) {
            Ok((finish, adv_secret)) => {
                creds.adv_secret = adv_secret;
                if let Err(e) = self.store.save(creds) {
                    return Some(SessionEnd::Stopped(StopReason::Store {
                        message: e.to_string(),
                    }));
                }
                if let Err(e) = conn.send(&finish).await {
                    return Some(state.lost(e.to_string()));
                }
                None
            }
            Err(e) => {
                log::warn!("engine: code pairing notification refused: {e}");
                None
            }
        }
    }

    async fn on_node(
        &mut self,
        conn: &mut ClientConn,
        creds: &mut DeviceCreds,
        state: &mut LinkState,
        ids: &mut IdGen,
        node: Node,
    ) -> Option<SessionEnd> {
        if self.messenger.as_ref().is_some_and(|m| m.offer(&node)) {
            return None;
        }
        match node.tag.as_str() {
            "iq" => self.on_iq(conn, creds, state, ids, &node).await,
            "success" => {
                let jid = creds.paired.as_ref().map(|p| p.jid()).unwrap_or_default();
                let lid = node.attr_jid("lid").map(|l| l.user);
                if let (Some(paired), Some(lid)) = (creds.paired.as_mut(), lid.clone()) {
                    if paired.lid.as_deref() != Some(lid.as_str()) {
                        paired.lid = Some(lid);
                        if let Err(e) = self.store.save(creds) {
                            log::warn!("engine: could not store LID: {e}");
                        }
                    }
                }
                state.connected = true;
                state.next_ping = Some(
                    Instant::now() + between(self.config.keepalive_min, self.config.keepalive_max),
                );
                // Attach the messenger first, so whoever sees Connected can send at once.
                if let Some(messenger) = &self.messenger {
                    state.outbound = messenger.attach(creds);
                }
                self.status
                    .send_replace(EngineStatus::Connected { jid, lid });
                let active = Node::new("iq")
                    .with_attr("id", ids.next())
                    .with_attr("xmlns", "passive")
                    .with_attr("type", "set")
                    .with_attr("to", Jid::server_jid())
                    .with_child(Node::new("active"));
                if let Err(e) = conn.send(&active).await {
                    return Some(state.lost(e.to_string()));
                }
                if let Some(name) = self.config.push_name.as_deref() {
                    // Without "available" the account's contacts see receipts as from an inactive device.
                    let presence = Node::new("presence")
                        .with_attr("type", "available")
                        .with_attr("name", name);
                    if let Err(e) = conn.send(&presence).await {
                        return Some(state.lost(e.to_string()));
                    }
                }
                if self.prekeys.is_some() {
                    let id = ids.next();
                    if let Err(e) = conn
                        .send(&pre_key_count_node().with_attr("id", id.as_str()))
                        .await
                    {
                        return Some(state.lost(e.to_string()));
                    }
                    state.prekey_count_id = Some(id);
                }
                None
            }
            "notification" if is_code_notification(&node) => {
                self.finish_code_pairing(conn, creds, state, ids, &node)
                    .await
            }
            "notification" => {
                // Not handled in this slice, but always acknowledged so the server does not resend.
                match conn.send(&ack_for(&node)).await {
                    Ok(()) => None,
                    Err(e) => Some(state.lost(e.to_string())),
                }
            }
            "call" => {
                let own = creds
                    .paired
                    .as_ref()
                    .and_then(|p| Jid::parse(&p.jid()).ok());
                for out in self.calls.answer(&node, own, || ids.next()) {
                    if let Err(e) = conn.send(&out).await {
                        return Some(state.lost(e.to_string()));
                    }
                }
                None
            }
            "failure" => Some(failure_end(&node, state.connected)),
            "stream:error" => Some(stream_error_end(&node, state.connected)),
            "xmlstreamend" => Some(state.lost("server ended the stream".into())),
            _ => None,
        }
    }

    async fn on_iq(
        &mut self,
        conn: &mut ClientConn,
        creds: &mut DeviceCreds,
        state: &mut LinkState,
        ids: &mut IdGen,
        node: &Node,
    ) -> Option<SessionEnd> {
        let kind = node.attr("type").unwrap_or_default();
        let id = node.attr("id").unwrap_or_default().to_string();
        if kind == "result" || kind == "error" {
            if state.pending_ping.as_ref().is_some_and(|(p, _)| *p == id) {
                state.pending_ping = None;
            }
            if state.prekey_count_id.as_deref() == Some(id.as_str()) {
                state.prekey_count_id = None;
                return self.refill_prekeys(conn, creds, state, ids, node).await;
            }
            if state.code.as_ref().is_some_and(|c| c.hello_id == id) {
                if let Some(mut code) = state.code.take() {
                    let answer = match (kind, code.pairing.read_hello_result(node)) {
                        ("result", Ok(())) => Ok(code.pairing.display_code()),
                        (_, Err(e)) => Err(e.to_string()),
                        _ => Err("the server refused the code pairing request".to_string()),
                    };
                    let ok = answer.is_ok();
                    if let Some(reply) = code.reply.take() {
                        let _ = reply.send(answer);
                    }
                    if ok {
                        state.code = Some(code);
                    }
                }
            }
            return None;
        }
        let reply = if let Some(request) = parse_pair_device(node) {
            if creds.paired.is_none() && !request.refs.is_empty() {
                let first = request.refs.first().map(|r| pair::qr_text(r, creds));
                state.qr = Some(QrRotation {
                    refs: request.refs,
                    index: 0,
                    deadline: Instant::now() + self.config.qr_first_timeout,
                });
                if let Some(text) = first {
                    self.show_qr(text, self.config.qr_first_timeout);
                }
            }
            Some(iq_result(&id))
        } else if pair::is_pair_success(node) {
            match handle_pair_success(creds, node) {
                Ok(accepted) => {
                    let jid = accepted.paired.jid();
                    creds.paired = Some(accepted.paired);
                    if let Err(e) = self.store.save(creds) {
                        return Some(SessionEnd::Stopped(StopReason::Store {
                            message: e.to_string(),
                        }));
                    }
                    state.qr = None;
                    log::info!("engine: paired as {jid}");
                    self.status.send_replace(EngineStatus::Paired { jid });
                    Some(accepted.reply)
                }
                Err(rejected) => {
                    log::warn!("engine: pair-success refused: {}", rejected.error);
                    rejected.reply
                }
            }
        } else if node.attr("xmlns") == Some("urn:xmpp:ping") {
            Some(iq_result(&id))
        } else {
            None
        };
        let reply = reply?;
        match conn.send(&reply).await {
            Ok(()) => None,
            Err(e) => Some(state.lost(e.to_string())),
        }
    }
}

/// A code pairing started on this connection.
struct CodeInProgress {
    pairing: CodePairing,
    /// Id of the `companion_hello` iq.
    hello_id: String,
    /// Who waits for the code (until the server answered the hello).
    reply: Option<oneshot::Sender<Result<String, String>>>,
}

/// Per-connection bookkeeping.
#[derive(Default)]
struct LinkState {
    connected: bool,
    qr: Option<QrRotation>,
    code: Option<CodeInProgress>,
    /// Id of the prekey count iq in flight.
    prekey_count_id: Option<String>,
    next_ping: Option<Instant>,
    pending_ping: Option<(String, Instant)>,
    /// Stanzas the messenger wants written (attached after login).
    outbound: Option<mpsc::UnboundedReceiver<Node>>,
}

impl LinkState {
    fn lost(&self, reason: String) -> SessionEnd {
        SessionEnd::Lost {
            reason,
            was_connected: self.connected,
        }
    }
}

/// `<ack id class=TAG [type] to=FROM [participant]/>` for a stanza the server expects acknowledged.
fn ack_for(node: &Node) -> Node {
    let mut ack = Node::new("ack")
        .with_attr("id", node.attr("id").unwrap_or_default())
        .with_attr("class", node.tag.as_str());
    if let Some(kind) = node.attr("type") {
        ack.set_attr("type", kind);
    }
    if let Some(from) = node.attr_jid("from") {
        ack.set_attr("to", from);
    }
    if let Some(participant) = node.attr_jid("participant") {
        ack.set_attr("participant", participant);
    }
    ack
}
