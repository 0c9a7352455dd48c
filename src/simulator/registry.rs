//! The simulator's state: accounts with their phones and linked devices, and the live connections.
//!
//! One mutex guards it all; every operation is short and never awaits while holding it. Connections get
//! their outbound stanzas through an unbounded channel so the registry can push to any of them
//! (pair-success from the control API, stream errors on unlink or a second login).

use super::keys::{DeviceKeys, SignedKey};
use super::phone::{parse_qr, LinkError, PendingLink, Phone, QrParseError, ScannedQr};
use crate::protocol::binary::Node;
use crate::protocol::crypto::random_bytes;
use crate::protocol::jid::Jid;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Mutex;
use tokio::sync::{mpsc, oneshot};

/// Identifies one WebSocket connection.
pub type ConnId = u64;

/// What the registry asks a connection task to do.
#[derive(Debug)]
pub enum ToConnection {
    /// Send this stanza.
    Send(Node),
    /// Send this stanza (a stream error), then close the connection.
    End(Node),
    /// Close the connection without a word (a network drop, for fault injection).
    Drop,
}

/// A companion linked to an account.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkedDevice {
    pub device: u16,
    #[serde(skip)]
    pub noise_public: [u8; 32],
    #[serde(skip)]
    pub identity_public: [u8; 32],
    pub registration_id: u32,
    pub key_index: u32,
    #[serde(skip)]
    pub signed_identity: Vec<u8>,
    pub push_name: Option<String>,
    pub linked_at: u64,
    /// One-time prekeys uploaded and not yet handed out (filled in for views).
    pub prekeys: usize,
    /// The device's Signal keys as the server holds them.
    #[serde(skip)]
    pub keys: DeviceKeys,
    /// Whether a connection is logged in as this device right now.
    pub connected: bool,
}

/// The registration data an unpaired companion sent in its ClientPayload.
#[derive(Debug, Clone)]
pub struct Registration {
    pub noise_public: [u8; 32],
    pub identity_public: [u8; 32],
    pub registration_id: u32,
    pub push_name: Option<String>,
    /// The signed prekey from the registration payload.
    pub signed_pre_key: Option<SignedKey>,
}

pub(super) struct LinkInProgress {
    phone: String,
    iq_id: String,
    pending: PendingLink,
    done: Option<oneshot::Sender<Result<LinkedDevice, String>>>,
}

pub(super) enum ConnRole {
    /// Connected, handshake not finished or payload not yet judged.
    New,
    Registering {
        registration: Box<Registration>,
        refs: Vec<String>,
        link: Option<Box<LinkInProgress>>,
        /// Pairing by phone code, when the companion asked for it.
        code: Option<Box<super::link_code::CodeState>>,
    },
    LoggedIn {
        phone: String,
        device: u16,
    },
}

pub(super) struct Connection {
    pub(super) tx: mpsc::UnboundedSender<ToConnection>,
    pub(super) role: ConnRole,
}

pub(super) struct Account {
    pub(super) phone: Phone,
    pub(super) devices: BTreeMap<u16, LinkedDevice>,
    next_device: u16,
    /// Failures injected for the next login of a device (fault injection).
    pending_failures: BTreeMap<u16, Node>,
}

/// Sends the scanner's result.
pub(super) type LinkWaiter = oneshot::Sender<Result<LinkedDevice, String>>;

/// Why a control or protocol operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimError {
    PhoneExists,
    PhoneNotFound,
    DeviceNotFound,
    BadQr(QrParseError),
    /// No connection shows this QR ref (expired, or never issued).
    UnknownRef,
    /// The QR's keys differ from those the connection registered with.
    QrKeysMismatch,
    /// That connection is already being linked.
    LinkInProgress,
    /// No companion asked to pair with this phone by code.
    NoCodePending,
    Link(LinkError),
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::PhoneExists => f.write_str("phone already exists"),
            SimError::PhoneNotFound => f.write_str("no such phone"),
            SimError::DeviceNotFound => f.write_str("no such device"),
            SimError::BadQr(e) => write!(f, "bad QR: {e}"),
            SimError::UnknownRef => f.write_str("no companion is showing this QR code"),
            SimError::QrKeysMismatch => {
                f.write_str("QR keys differ from the companion's registration")
            }
            SimError::LinkInProgress => f.write_str("this companion is already being linked"),
            SimError::NoCodePending => {
                f.write_str("no companion is waiting for a code for this phone")
            }
            SimError::Link(e) => write!(f, "link failed: {e}"),
        }
    }
}

impl std::error::Error for SimError {}

/// What a login attempt resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginDecision {
    /// Logged in; the account's LID user.
    Accepted { lid: String },
    /// `<failure reason="401"/>`: unknown device or wrong noise key.
    LoggedOut,
    /// An injected failure to send instead.
    Refused(Node),
}

/// What the connection should do with a pair-device-sign answer.
#[derive(Debug)]
pub enum LinkAnswer {
    /// Not a reply to our pair-success.
    NotOurs,
    /// Linked: send 515 and close.
    Linked,
    /// Refused; the companion is told nothing more (it times out), the scanner gets the error.
    Refused(SimError),
}

/// An account as the control API shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PhoneView {
    pub phone: String,
    pub name: String,
    pub lid: String,
    pub devices: Vec<LinkedDevice>,
}

/// All simulator state.
#[derive(Default)]
pub struct Registry {
    inner: Mutex<Inner>,
}

#[derive(Default)]
pub(super) struct Inner {
    pub(super) accounts: BTreeMap<String, Account>,
    pub(super) connections: HashMap<ConnId, Connection>,
    refs: HashMap<String, ConnId>,
    next_conn: ConnId,
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Six fresh QR refs (`2@` + base64 of random bytes, like the real server's).
fn new_refs() -> Vec<String> {
    use base64::Engine as _;
    (0..6)
        .map(|_| {
            let bytes: [u8; 33] = random_bytes();
            format!(
                "2@{}",
                base64::engine::general_purpose::STANDARD.encode(bytes)
            )
        })
        .collect()
}

impl Registry {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates an account with its primary phone.
    pub fn create_phone(&self, phone: &str, name: &str) -> Result<PhoneView, SimError> {
        let mut inner = self.lock();
        if inner.accounts.contains_key(phone) {
            return Err(SimError::PhoneExists);
        }
        let account = Account {
            phone: Phone::new(phone, name),
            devices: BTreeMap::new(),
            next_device: 1,
            pending_failures: BTreeMap::new(),
        };
        let view = view_of(&account, &inner.connections);
        inner.accounts.insert(phone.to_string(), account);
        Ok(view)
    }

    /// An account and its linked devices.
    pub fn phone(&self, phone: &str) -> Option<PhoneView> {
        let inner = self.lock();
        let account = inner.accounts.get(phone)?;
        Some(view_of(account, &inner.connections))
    }

    /// Every account.
    pub fn phones(&self) -> Vec<PhoneView> {
        let inner = self.lock();
        inner
            .accounts
            .values()
            .map(|a| view_of(a, &inner.connections))
            .collect()
    }

    /// Registers a new connection; returns its id.
    pub fn connect(&self, tx: mpsc::UnboundedSender<ToConnection>) -> ConnId {
        let mut inner = self.lock();
        inner.next_conn += 1;
        let id = inner.next_conn;
        inner.connections.insert(
            id,
            Connection {
                tx,
                role: ConnRole::New,
            },
        );
        id
    }

    /// Forgets a closed connection (its refs expire with it).
    pub fn disconnect(&self, conn: ConnId) {
        let mut inner = self.lock();
        if let Some(c) = inner.connections.remove(&conn) {
            if let ConnRole::Registering { refs, .. } = c.role {
                for r in refs {
                    inner.refs.remove(&r);
                }
            }
        }
    }

    /// An unpaired companion registered: returns the refs to send in `<pair-device>`.
    pub fn begin_registration(&self, conn: ConnId, registration: Registration) -> Vec<String> {
        let mut inner = self.lock();
        let refs = new_refs();
        for r in &refs {
            inner.refs.insert(r.clone(), conn);
        }
        if let Some(c) = inner.connections.get_mut(&conn) {
            c.role = ConnRole::Registering {
                registration: Box::new(registration),
                refs: refs.clone(),
                link: None,
                code: None,
            };
        }
        refs
    }

    /// The phone scans a QR: sends pair-success to the companion showing it. The receiver resolves when
    /// the companion answered (or the connection went away).
    pub fn scan(
        &self,
        phone: &str,
        qr: &str,
    ) -> Result<oneshot::Receiver<Result<LinkedDevice, String>>, SimError> {
        let scanned = parse_qr(qr).map_err(SimError::BadQr)?;
        let mut inner = self.lock();
        let conn_id = *inner
            .refs
            .get(&scanned.reference)
            .ok_or(SimError::UnknownRef)?;
        let Inner {
            accounts,
            connections,
            ..
        } = &mut *inner;
        let account = accounts.get_mut(phone).ok_or(SimError::PhoneNotFound)?;
        let conn = connections.get_mut(&conn_id).ok_or(SimError::UnknownRef)?;
        let ConnRole::Registering {
            registration, link, ..
        } = &mut conn.role
        else {
            return Err(SimError::UnknownRef);
        };
        if registration.noise_public != scanned.noise_public
            || registration.identity_public != scanned.identity_public
        {
            return Err(SimError::QrKeysMismatch);
        }
        if link.is_some() {
            return Err(SimError::LinkInProgress);
        }
        let (done_tx, done_rx) = oneshot::channel();
        begin_link(account, conn_id, &conn.tx, link, scanned, done_tx);
        Ok(done_rx)
    }

    /// The companion answered an iq while registering: if it answers our pair-success, check it.
    pub fn answer_link(&self, conn: ConnId, node: &Node) -> LinkAnswer {
        let mut inner = self.lock();
        let Inner {
            accounts,
            connections,
            refs,
            ..
        } = &mut *inner;
        let Some(c) = connections.get_mut(&conn) else {
            return LinkAnswer::NotOurs;
        };
        let ConnRole::Registering {
            registration,
            link,
            refs: conn_refs,
            ..
        } = &mut c.role
        else {
            return LinkAnswer::NotOurs;
        };
        let Some(progress) = link.as_mut() else {
            return LinkAnswer::NotOurs;
        };
        if node.attr("id") != Some(progress.iq_id.as_str()) {
            return LinkAnswer::NotOurs;
        }
        let outcome = link_outcome(accounts, registration, progress, node);
        if let Some(done) = progress.done.take() {
            let _ = done.send(outcome.clone().map_err(|e| e.to_string()));
        }
        let linked = outcome
            .as_ref()
            .ok()
            .map(|l| (progress.phone.clone(), l.device));
        let answer = match outcome {
            Ok(_) => {
                for r in conn_refs.drain(..) {
                    refs.remove(&r);
                }
                LinkAnswer::Linked
            }
            Err(e) => {
                *link = None;
                LinkAnswer::Refused(e)
            }
        };
        if let Some((phone, device)) = linked {
            notify_devices(connections, &phone, "add", device);
        }
        answer
    }

    /// Decides a login (§6.1). An older connection of the same device is told it was replaced.
    pub fn login(
        &self,
        conn: ConnId,
        phone: &str,
        device: u16,
        noise_public: &[u8; 32],
    ) -> LoginDecision {
        let mut inner = self.lock();
        let Some(account) = inner.accounts.get_mut(phone) else {
            return LoginDecision::LoggedOut;
        };
        let Some(linked) = account.devices.get(&device) else {
            return LoginDecision::LoggedOut;
        };
        if &linked.noise_public != noise_public {
            return LoginDecision::LoggedOut;
        }
        if let Some(failure) = account.pending_failures.remove(&device) {
            return LoginDecision::Refused(failure);
        }
        let lid = account.phone.lid.clone();
        let older: Vec<ConnId> = inner
            .connections
            .iter()
            .filter(|(id, c)| {
                **id != conn
                    && matches!(&c.role, ConnRole::LoggedIn { phone: p, device: d } if p == phone && *d == device)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in older {
            if let Some(old) = inner.connections.remove(&id) {
                let _ = old.tx.send(ToConnection::End(replaced_error()));
            }
        }
        if let Some(c) = inner.connections.get_mut(&conn) {
            c.role = ConnRole::LoggedIn {
                phone: phone.to_string(),
                device,
            };
        }
        LoginDecision::Accepted { lid }
    }

    pub(super) fn logged_in_as(&self, conn: ConnId) -> Option<(String, u16)> {
        match &self.lock().connections.get(&conn)?.role {
            ConnRole::LoggedIn { phone, device } => Some((phone.clone(), *device)),
            _ => None,
        }
    }

    /// Like [`Registry::logged_in_as`], plus the device's identity key: what a phone keys its
    /// once-per-companion work on (a relinked device gets a new identity, so it counts as new).
    pub(super) fn logged_in_identity(&self, conn: ConnId) -> Option<(String, u16, [u8; 32])> {
        let (phone, device) = self.logged_in_as(conn)?;
        let identity = self
            .lock()
            .accounts
            .get(&phone)?
            .devices
            .get(&device)?
            .identity_public;
        Some((phone, device, identity))
    }

    /// The companion on `conn` logs itself out (`remove-companion-device`).
    pub fn unlink_connection(&self, conn: ConnId) {
        if let Some((phone, device)) = self.logged_in_as(conn) {
            let _ = self.unlink(&phone, device);
        }
    }

    /// Fault injection: closes the device's live connections without a stream error, as a lost
    /// network would. Returns how many were closed.
    pub fn drop_connections(&self, phone: &str, device: u16) -> Result<usize, SimError> {
        let mut inner = self.lock();
        let account = inner.accounts.get(phone).ok_or(SimError::PhoneNotFound)?;
        if !account.devices.contains_key(&device) {
            return Err(SimError::DeviceNotFound);
        }
        let live: Vec<ConnId> = inner
            .connections
            .iter()
            .filter(|(_, c)| {
                matches!(&c.role, ConnRole::LoggedIn { phone: p, device: d } if p == phone && *d == device)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in &live {
            if let Some(c) = inner.connections.remove(id) {
                let _ = c.tx.send(ToConnection::Drop);
            }
        }
        Ok(live.len())
    }

    /// Fault injection: `failure` (a `<failure>` node) ends the device's live connection, or its next
    /// login when it is offline.
    pub fn inject_failure(&self, phone: &str, device: u16, failure: Node) -> Result<(), SimError> {
        let mut inner = self.lock();
        let account = inner
            .accounts
            .get_mut(phone)
            .ok_or(SimError::PhoneNotFound)?;
        if !account.devices.contains_key(&device) {
            return Err(SimError::DeviceNotFound);
        }
        let live: Vec<ConnId> = inner
            .connections
            .iter()
            .filter(|(_, c)| {
                matches!(&c.role, ConnRole::LoggedIn { phone: p, device: d } if p == phone && *d == device)
            })
            .map(|(id, _)| *id)
            .collect();
        if live.is_empty() {
            if let Some(account) = inner.accounts.get_mut(phone) {
                account.pending_failures.insert(device, failure);
            }
            return Ok(());
        }
        for id in live {
            if let Some(c) = inner.connections.remove(&id) {
                let _ = c.tx.send(ToConnection::End(failure.clone()));
            }
        }
        Ok(())
    }

    /// The phone unlinks a companion: forget it and end its connection with `device_removed`.
    pub fn unlink(&self, phone: &str, device: u16) -> Result<(), SimError> {
        let mut inner = self.lock();
        let account = inner
            .accounts
            .get_mut(phone)
            .ok_or(SimError::PhoneNotFound)?;
        account
            .devices
            .remove(&device)
            .ok_or(SimError::DeviceNotFound)?;
        let gone: Vec<ConnId> = inner
            .connections
            .iter()
            .filter(|(_, c)| {
                matches!(&c.role, ConnRole::LoggedIn { phone: p, device: d } if p == phone && *d == device)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            if let Some(c) = inner.connections.remove(&id) {
                let _ = c.tx.send(ToConnection::End(device_removed_error()));
            }
        }
        notify_devices(&inner.connections, phone, "remove", device);
        Ok(())
    }
}

/// Tells the account's other logged-in devices that `device` was added or removed
/// (`<notification type="devices">`, so they refresh their device lists).
fn notify_devices(
    connections: &HashMap<ConnId, Connection>,
    phone: &str,
    change: &str,
    device: u16,
) {
    let node = Node::new("notification")
        .with_attr("from", Jid::phone(phone))
        .with_attr("type", "devices")
        .with_attr("id", format!("dev-{device}-{}", unix_now()))
        .with_attr("t", unix_now())
        .with_child(Node::new(change).with_child(
            Node::new("device").with_attr("jid", Jid::phone(phone).with_device(device)),
        ));
    for c in connections.values() {
        if matches!(&c.role, ConnRole::LoggedIn { phone: p, device: d } if p == phone && *d != device)
        {
            let _ = c.tx.send(ToConnection::Send(node.clone()));
        }
    }
}

/// The phone vouches for the companion on `conn_id`: sends it pair-success and remembers what to check.
pub(super) fn begin_link(
    account: &mut Account,
    conn_id: ConnId,
    tx: &mpsc::UnboundedSender<ToConnection>,
    link: &mut Option<Box<LinkInProgress>>,
    scanned: ScannedQr,
    done: LinkWaiter,
) {
    let device = account.next_device;
    account.next_device = account.next_device.saturating_add(1);
    let iq_id = format!("pair-{conn_id}-{device}");
    let (node, pending) = account.phone.link(scanned, device, &iq_id, unix_now());
    *link = Some(Box::new(LinkInProgress {
        phone: account.phone.phone.clone(),
        iq_id,
        pending,
        done: Some(done),
    }));
    // A closed receiver means the connection is ending; the waiter then hears of it.
    let _ = tx.send(ToConnection::Send(node));
}

fn link_outcome(
    accounts: &mut BTreeMap<String, Account>,
    registration: &Registration,
    progress: &LinkInProgress,
    node: &Node,
) -> Result<LinkedDevice, SimError> {
    if node.attr("type") != Some("result") {
        return Err(SimError::Link(LinkError::Malformed(
            "companion refused pair-success",
        )));
    }
    let account = accounts
        .get_mut(&progress.phone)
        .ok_or(SimError::PhoneNotFound)?;
    let signed = Phone::signed_identity_of(node)
        .ok_or(SimError::Link(LinkError::Malformed("device-identity")))?;
    let signed_identity = account
        .phone
        .verify_device_sign(&progress.pending, signed)
        .map_err(SimError::Link)?;
    let linked = LinkedDevice {
        device: progress.pending.device,
        noise_public: registration.noise_public,
        identity_public: registration.identity_public,
        registration_id: registration.registration_id,
        key_index: progress.pending.key_index,
        signed_identity,
        push_name: registration.push_name.clone(),
        linked_at: unix_now(),
        prekeys: 0,
        keys: DeviceKeys::registered(
            registration.registration_id,
            registration.identity_public,
            registration.signed_pre_key.clone(),
        ),
        connected: false,
    };
    account.devices.insert(linked.device, linked.clone());
    Ok(linked)
}

fn view_of(account: &Account, connections: &HashMap<ConnId, Connection>) -> PhoneView {
    let online = |device: u16| {
        connections.values().any(|c| {
            matches!(&c.role, ConnRole::LoggedIn { phone, device: d } if *phone == account.phone.phone && *d == device)
        })
    };
    PhoneView {
        phone: account.phone.phone.clone(),
        name: account.phone.name.clone(),
        lid: account.phone.lid.clone(),
        devices: account
            .devices
            .values()
            .map(|d| LinkedDevice {
                connected: online(d.device),
                prekeys: d.keys.one_time.len(),
                ..d.clone()
            })
            .collect(),
    }
}

/// `<stream:error><conflict type="replaced"/></stream:error>`.
pub fn replaced_error() -> Node {
    Node::new("stream:error").with_child(Node::new("conflict").with_attr("type", "replaced"))
}

/// `<stream:error code="401"><conflict type="device_removed"/></stream:error>`.
pub fn device_removed_error() -> Node {
    Node::new("stream:error")
        .with_attr("code", "401")
        .with_child(Node::new("conflict").with_attr("type", "device_removed"))
}

/// `<stream:error code="515"/>`: restart required (after pairing).
pub fn restart_required_error() -> Node {
    Node::new("stream:error").with_attr("code", "515")
}
