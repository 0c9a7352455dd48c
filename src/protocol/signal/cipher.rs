//! Pairwise encryption and decryption (`<enc type="pkmsg|msg">`).
//!
//! Every function reads the record, works on copies of its states and writes the result back only
//! when the whole operation succeeded, so a failed decrypt leaves the store untouched; run against a
//! transactional store view, a dropped transaction leaves it untouched too.

use super::address::ProtocolAddress;
use super::builder::{check_trust, local_identity, state_from_pre_key_message};
use super::error::SignalError;
use super::keys::KeySource;
use super::ratchet::{MessageKeys, MAX_FORWARD_STEPS};
use super::session::{SessionRecord, SessionState, StatePosition};
use super::store::{IdentityStore, SessionStore, SignalStore};
use super::wire::{PreKeySignalMessage, SignalMessage};
use crate::protocol::crypto::{aes_cbc_decrypt, aes_cbc_encrypt};

/// Chain steps one decrypt may spend across all states it tries (the current one may use a full
/// [`MAX_FORWARD_STEPS`]; archived states share the rest).
const DECRYPT_STEP_BUDGET: u32 = 2 * MAX_FORWARD_STEPS;

/// The two pairwise message kinds, named as in `<enc type=…>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// PreKeySignalMessage (`pkmsg`): the initiator's messages until the peer answers.
    PreKey,
    /// SignalMessage (`msg`).
    Whisper,
}

impl MessageKind {
    /// The `<enc type>` value.
    pub fn enc_type(self) -> &'static str {
        match self {
            MessageKind::PreKey => "pkmsg",
            MessageKind::Whisper => "msg",
        }
    }

    /// Reads an `<enc type>` value (`skmsg` is not pairwise and gives `None`).
    pub fn from_enc_type(value: &str) -> Option<MessageKind> {
        match value {
            "pkmsg" => Some(MessageKind::PreKey),
            "msg" => Some(MessageKind::Whisper),
            _ => None,
        }
    }
}

/// An encrypted pairwise message ready for an `<enc>` node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiphertextMessage {
    /// Which `<enc type>` it goes out as.
    pub kind: MessageKind,
    /// The bytes (the `<enc>` content).
    pub bytes: Vec<u8>,
}

/// Whether a session with `remote` exists to encrypt with.
pub fn has_session<S: SessionStore + ?Sized>(
    store: &S,
    remote: &ProtocolAddress,
) -> Result<bool, SignalError> {
    Ok(store
        .load_session(remote)?
        .is_some_and(|r| r.current.is_some()))
}

/// Encrypts a (padded) plaintext for `remote`, advancing the sending chain.
pub fn encrypt<S: IdentityStore + SessionStore + ?Sized>(
    store: &mut S,
    remote: &ProtocolAddress,
    plaintext: &[u8],
) -> Result<CiphertextMessage, SignalError> {
    let mut record = store.load_session(remote)?.ok_or(SignalError::NoSession)?;
    let state = record.current.as_mut().ok_or(SignalError::NoSession)?;
    check_trust(store, remote, &state.remote_identity)?;
    let chain = state.sender_chain.clone();
    let keys = MessageKeys::from_seed(&chain.message_seed());
    let ciphertext = aes_cbc_encrypt(&keys.cipher_key, &keys.iv, plaintext);
    let message = SignalMessage::new(
        &keys.mac_key,
        &state.sender_ratchet.public,
        chain.index,
        state.previous_counter,
        ciphertext,
        &state.local_identity,
        &state.remote_identity,
    );
    state.sender_chain = chain
        .next()
        .ok_or(SignalError::Exhausted("sending chain"))?;
    let out = match &state.pending_pre_key {
        Some(pending) => CiphertextMessage {
            kind: MessageKind::PreKey,
            bytes: PreKeySignalMessage::new(
                state.local_registration_id,
                pending.pre_key_id,
                pending.signed_pre_key_id,
                &pending.base_key,
                &state.local_identity,
                message,
            )
            .serialized()
            .to_vec(),
        },
        None => CiphertextMessage {
            kind: MessageKind::Whisper,
            bytes: message.serialized().to_vec(),
        },
    };
    store.store_session(remote, &record)?;
    Ok(out)
}

/// Decrypts a pairwise message of either kind from `remote`; `rng` supplies the new ratchet key
/// when the peer has ratcheted. Returns the padded plaintext.
pub fn decrypt<S: SignalStore + ?Sized>(
    store: &mut S,
    remote: &ProtocolAddress,
    kind: MessageKind,
    bytes: &[u8],
    rng: &mut dyn KeySource,
) -> Result<Vec<u8>, SignalError> {
    match kind {
        MessageKind::PreKey => decrypt_pre_key_message(store, remote, bytes, rng),
        MessageKind::Whisper => decrypt_message(store, remote, bytes, rng),
    }
}

/// Decrypts a `msg` from `remote`.
pub fn decrypt_message<S: SessionStore + ?Sized>(
    store: &mut S,
    remote: &ProtocolAddress,
    bytes: &[u8],
    rng: &mut dyn KeySource,
) -> Result<Vec<u8>, SignalError> {
    let message = SignalMessage::parse(bytes)?;
    let mut record = store.load_session(remote)?.ok_or(SignalError::NoSession)?;
    let plaintext = decrypt_with_record(&mut record, &message, rng)?;
    store.store_session(remote, &record)?;
    Ok(plaintext)
}

/// Decrypts a `pkmsg` from `remote`. A new base key starts a new session (X3DH as responder; the
/// old one is archived) and consumes the named one-time prekey; a base key we know (the initiator
/// repeating pkmsgs) reuses its session. A changed identity key is refused with
/// [`SignalError::UntrustedIdentity`] (see [`accept_identity_change`]).
pub fn decrypt_pre_key_message<S: SignalStore + ?Sized>(
    store: &mut S,
    remote: &ProtocolAddress,
    bytes: &[u8],
    rng: &mut dyn KeySource,
) -> Result<Vec<u8>, SignalError> {
    let message = PreKeySignalMessage::parse(bytes)?;
    check_trust(store, remote, &message.identity_key)?;
    let mut record = store.load_session(remote)?.unwrap_or_default();
    let mut used_pre_key = None;
    match record.find_base_key(&message.base_key) {
        Some(StatePosition::Current) => {}
        Some(StatePosition::Archived(i)) => record.promote_archived(i),
        None => {
            let local = local_identity(store)?;
            let state = state_from_pre_key_message(store, &local, &message)?;
            record.promote(state);
            used_pre_key = message.pre_key_id;
        }
    }
    let plaintext = decrypt_with_record(&mut record, &message.message, rng)?;
    store.store_session(remote, &record)?;
    store.save_trusted_identity(remote, &message.identity_key)?;
    if let Some(id) = used_pre_key {
        store.remove_pre_key(id)?;
    }
    Ok(plaintext)
}

/// Trusts a new identity key for `remote` and archives its current session, so the next pkmsg (or a
/// bundle fetched again) starts afresh. Call it after showing the user that the identity changed.
pub fn accept_identity_change<S: IdentityStore + SessionStore + ?Sized>(
    store: &mut S,
    remote: &ProtocolAddress,
    identity: &[u8; 32],
) -> Result<(), SignalError> {
    store.save_trusted_identity(remote, identity)?;
    if let Some(mut record) = store.load_session(remote)? {
        record.archive_current();
        store.store_session(remote, &record)?;
    }
    Ok(())
}

/// Tries the current state, then each archived one (promoting the one that works).
fn decrypt_with_record(
    record: &mut SessionRecord,
    message: &SignalMessage,
    rng: &mut dyn KeySource,
) -> Result<Vec<u8>, SignalError> {
    let mut budget = DECRYPT_STEP_BUDGET;
    let mut first_error = None;
    let mut duplicate = false;
    if let Some(current) = &record.current {
        let mut state = current.clone();
        match decrypt_with_state(&mut state, message, rng, &mut budget) {
            Ok(plaintext) => {
                record.current = Some(state);
                record.enforce_skipped_bound();
                return Ok(plaintext);
            }
            Err(e) => {
                duplicate |= e == SignalError::DuplicateMessage;
                first_error = Some(e);
            }
        }
    }
    for i in 0..record.previous.len() {
        let Some(mut state) = record.previous.get(i).cloned() else {
            break;
        };
        match decrypt_with_state(&mut state, message, rng, &mut budget) {
            Ok(plaintext) => {
                if let Some(slot) = record.previous.get_mut(i) {
                    *slot = state;
                }
                record.promote_archived(i);
                record.enforce_skipped_bound();
                return Ok(plaintext);
            }
            Err(e) => {
                duplicate |= e == SignalError::DuplicateMessage;
                first_error.get_or_insert(e);
            }
        }
    }
    if duplicate {
        return Err(SignalError::DuplicateMessage);
    }
    Err(first_error.unwrap_or(SignalError::NoSession))
}

fn decrypt_with_state(
    state: &mut SessionState,
    message: &SignalMessage,
    rng: &mut dyn KeySource,
    budget: &mut u32,
) -> Result<Vec<u8>, SignalError> {
    let chain = match state.receiver_chain_index(&message.ratchet_key) {
        Some(chain) => chain,
        None => {
            // Refuse an absurd counter before paying for the DH ratchet.
            if message.counter > MAX_FORWARD_STEPS || message.counter > *budget {
                return Err(SignalError::TooFarInFuture);
            }
            state.ratchet_step(&message.ratchet_key, rng)?
        }
    };
    let seed = state.take_message_seed(chain, message.counter, budget)?;
    let keys = MessageKeys::from_seed(&seed);
    if !message.verify_mac(&keys.mac_key, &state.remote_identity, &state.local_identity) {
        return Err(SignalError::BadMac);
    }
    let plaintext = aes_cbc_decrypt(&keys.cipher_key, &keys.iv, &message.ciphertext)
        .map_err(|_| SignalError::DecryptFailed)?;
    state.pending_pre_key = None;
    Ok(plaintext)
}
