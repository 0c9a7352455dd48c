//! X3DH: starting a session from a peer's prekey bundle (initiator) or from a pkmsg (responder).

use super::address::ProtocolAddress;
use super::error::SignalError;
use super::keys::{KeySource, LocalIdentity, SignedPreKeyRecord};
use super::ratchet::{derive_initial, dh, root_step};
use super::session::{PendingPreKey, ReceiverChain, SessionState};
use super::store::{IdentityStore, PreKeyStore, SessionStore, SignedPreKeyStore};
use super::wire::PreKeySignalMessage;
use std::collections::VecDeque;

/// A peer device's published keys, as the server hands them out (`<user>` in the key fetch result).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreKeyBundle {
    /// The peer's registration id.
    pub registration_id: u32,
    /// The peer's identity public key.
    pub identity_key: [u8; 32],
    /// The signed prekey id.
    pub signed_pre_key_id: u32,
    /// The signed prekey.
    pub signed_pre_key: [u8; 32],
    /// Its signature by the identity key.
    pub signed_pre_key_signature: [u8; 64],
    /// A one-time prekey (id, key), when the server had one left.
    pub pre_key: Option<(u32, [u8; 32])>,
}

/// Refuses `identity` for `remote` when a different one is trusted.
pub(crate) fn check_trust<S: IdentityStore + ?Sized>(
    store: &S,
    remote: &ProtocolAddress,
    identity: &[u8; 32],
) -> Result<(), SignalError> {
    match store.trusted_identity(remote)? {
        Some(trusted) if &trusted != identity => Err(SignalError::UntrustedIdentity {
            address: remote.to_string(),
            identity: *identity,
        }),
        _ => Ok(()),
    }
}

/// The local identity, or [`SignalError::NoLocalIdentity`].
pub(crate) fn local_identity<S: IdentityStore + ?Sized>(
    store: &S,
) -> Result<LocalIdentity, SignalError> {
    store.local_identity()?.ok_or(SignalError::NoLocalIdentity)
}

/// Starts a session with `remote` from its bundle (we are the initiator). Takes two key pairs from
/// `rng`: the base key, then the first ratchet key. The old session, if any, is archived. Until the
/// peer answers, [`super::encrypt`] produces pkmsgs.
pub fn process_bundle<S: IdentityStore + SessionStore + ?Sized>(
    store: &mut S,
    remote: &ProtocolAddress,
    bundle: &PreKeyBundle,
    rng: &mut dyn KeySource,
) -> Result<(), SignalError> {
    let local = local_identity(store)?;
    check_trust(store, remote, &bundle.identity_key)?;
    if !SignedPreKeyRecord::verify(
        &bundle.identity_key,
        &bundle.signed_pre_key,
        &bundle.signed_pre_key_signature,
    ) {
        return Err(SignalError::BadSignature);
    }
    let base = rng.key_pair();
    let ratchet = rng.key_pair();
    let mut dhs = vec![
        dh(&local.key_pair.private, &bundle.signed_pre_key)?,
        dh(&base.private, &bundle.identity_key)?,
        dh(&base.private, &bundle.signed_pre_key)?,
    ];
    if let Some((_, one_time)) = &bundle.pre_key {
        dhs.push(dh(&base.private, one_time)?);
    }
    let (root, receiving) = derive_initial(&dhs);
    let (root, sending) = root_step(&root, &bundle.signed_pre_key, &ratchet.private)?;
    let state = SessionState {
        local_identity: local.key_pair.public,
        remote_identity: bundle.identity_key,
        local_registration_id: local.registration_id,
        remote_registration_id: bundle.registration_id,
        root_key: root,
        previous_counter: 0,
        sender_ratchet: ratchet,
        sender_chain: sending,
        receiver_chains: vec![ReceiverChain {
            ratchet_key: bundle.signed_pre_key,
            chain_key: receiving,
            skipped: VecDeque::new(),
        }],
        pending_pre_key: Some(PendingPreKey {
            pre_key_id: bundle.pre_key.map(|(id, _)| id),
            signed_pre_key_id: bundle.signed_pre_key_id,
            base_key: base.public,
        }),
        base_key: base.public,
    };
    let mut record = store.load_session(remote)?.unwrap_or_default();
    record.promote(state);
    store.store_session(remote, &record)?;
    store.save_trusted_identity(remote, &bundle.identity_key)?;
    Ok(())
}

/// The responder's new session state for an incoming pkmsg (nothing is stored here).
pub(crate) fn state_from_pre_key_message<S: PreKeyStore + SignedPreKeyStore + ?Sized>(
    store: &S,
    local: &LocalIdentity,
    message: &PreKeySignalMessage,
) -> Result<SessionState, SignalError> {
    let signed = store
        .load_signed_pre_key(message.signed_pre_key_id)?
        .ok_or(SignalError::UnknownSignedPreKey(message.signed_pre_key_id))?;
    let mut dhs = vec![
        dh(&signed.key_pair.private, &message.identity_key)?,
        dh(&local.key_pair.private, &message.base_key)?,
        dh(&signed.key_pair.private, &message.base_key)?,
    ];
    if let Some(id) = message.pre_key_id {
        let one_time = store
            .load_pre_key(id)?
            .ok_or(SignalError::UnknownPreKey(id))?;
        dhs.push(dh(&one_time.key_pair.private, &message.base_key)?);
    }
    let (root, sending) = derive_initial(&dhs);
    Ok(SessionState {
        local_identity: local.key_pair.public,
        remote_identity: message.identity_key,
        local_registration_id: local.registration_id,
        remote_registration_id: message.registration_id,
        root_key: root,
        previous_counter: 0,
        sender_ratchet: signed.key_pair,
        sender_chain: sending,
        receiver_chains: Vec::new(),
        pending_pre_key: None,
        base_key: message.base_key,
    })
}
