//! Group encryption with sender keys: create and distribute our key, accept others', encrypt, decrypt.
//!
//! The caller pads the plaintext (WA's 1–16 byte padding) before [`group_encrypt`] and strips it after
//! [`group_decrypt`], as for pairwise messages. We send consecutive iterations 0, 1, 2, …; receivers
//! accept gaps (Baileys sends 0, 2, 4, …).

use super::address::SenderKeyName;
use super::error::SignalError;
use super::keys::{signature_nonce, KeySource};
use super::ratchet::{ChainKey, SenderMessageKeys};
use super::sender_key::{SenderKeyRecord, SenderKeyState};
use super::store::SenderKeyStore;
use super::wire::{SenderKeyDistributionMessage, SenderKeyMessage};
use crate::protocol::crypto::{aes_cbc_decrypt, aes_cbc_encrypt, KeyPair};

/// Installs our own sender key for `name` from explicit parts (replacing any we had) and returns
/// its distribution message. [`sender_key_distribution`] calls this with random parts.
pub fn create_sender_key<S: SenderKeyStore + ?Sized>(
    store: &mut S,
    name: &SenderKeyName,
    key_id: u32,
    chain_key: [u8; 32],
    signing_key: KeyPair,
) -> Result<SenderKeyDistributionMessage, SignalError> {
    let state = SenderKeyState {
        key_id,
        chain_key: ChainKey::new(chain_key),
        signing_public: signing_key.public,
        signing_private: Some(signing_key.private),
        skipped: Default::default(),
    };
    let skdm = distribution_of(&state);
    let mut record = SenderKeyRecord::default();
    record.add_state(state);
    store.store_sender_key(name, &record)?;
    Ok(skdm)
}

fn distribution_of(state: &SenderKeyState) -> SenderKeyDistributionMessage {
    SenderKeyDistributionMessage::new(
        state.key_id,
        state.chain_key.index,
        &state.chain_key.key,
        &state.signing_public,
    )
}

fn own_state(record: &mut SenderKeyRecord) -> Option<&mut SenderKeyState> {
    record
        .states
        .iter_mut()
        .find(|s| s.signing_private.is_some())
}

/// The distribution message for our sender key in `name`, creating the key (random 31-bit id, chain
/// key and signing key from `rng`) when there is none. Send its bytes to every device that lacks it.
pub fn sender_key_distribution<S: SenderKeyStore + ?Sized>(
    store: &mut S,
    name: &SenderKeyName,
    rng: &mut dyn KeySource,
) -> Result<SenderKeyDistributionMessage, SignalError> {
    if let Some(mut record) = store.load_sender_key(name)? {
        if let Some(state) = own_state(&mut record) {
            return Ok(distribution_of(state));
        }
    }
    let mut id = [0u8; 4];
    rng.fill_bytes(&mut id);
    let key_id = u32::from_be_bytes(id) & 0x7fff_ffff;
    let mut chain_key = [0u8; 32];
    rng.fill_bytes(&mut chain_key);
    let signing_key = rng.key_pair();
    create_sender_key(store, name, key_id, chain_key, signing_key)
}

/// Accepts a peer's sender key (the bytes of an SKDM). A key we already hold (same id and signing
/// key) is kept as it is: it already knows which iterations were seen.
pub fn process_sender_key_distribution<S: SenderKeyStore + ?Sized>(
    store: &mut S,
    name: &SenderKeyName,
    skdm: &[u8],
) -> Result<(), SignalError> {
    let skdm = SenderKeyDistributionMessage::parse(skdm)?;
    let mut record = store.load_sender_key(name)?.unwrap_or_default();
    if record
        .states
        .iter()
        .any(|s| s.key_id == skdm.key_id && s.signing_public == skdm.signing_key)
    {
        return Ok(());
    }
    record.add_state(SenderKeyState {
        key_id: skdm.key_id,
        chain_key: ChainKey {
            key: skdm.chain_key,
            index: skdm.iteration,
        },
        signing_public: skdm.signing_key,
        signing_private: None,
        skipped: Default::default(),
    });
    store.store_sender_key(name, &record)?;
    Ok(())
}

/// Encrypts a (padded) group plaintext with our sender key in `name`: the `skmsg` bytes.
pub fn group_encrypt<S: SenderKeyStore + ?Sized>(
    store: &mut S,
    name: &SenderKeyName,
    plaintext: &[u8],
    rng: &mut dyn KeySource,
) -> Result<Vec<u8>, SignalError> {
    let mut record = store
        .load_sender_key(name)?
        .ok_or(SignalError::NoSenderKey)?;
    let state = own_state(&mut record).ok_or(SignalError::NoSenderKey)?;
    let signing_private = state.signing_private.ok_or(SignalError::NoSenderKey)?;
    let iteration = state.chain_key.index;
    let keys = SenderMessageKeys::from_seed(&state.chain_key.message_seed());
    state.chain_key = state
        .chain_key
        .next()
        .ok_or(SignalError::Exhausted("sender chain iteration"))?;
    let ciphertext = aes_cbc_encrypt(&keys.cipher_key, &keys.iv, plaintext);
    let nonce = signature_nonce(rng);
    let message = SenderKeyMessage::new(
        state.key_id,
        iteration,
        ciphertext,
        &signing_private,
        &nonce,
    );
    store.store_sender_key(name, &record)?;
    Ok(message.serialized().to_vec())
}

/// Decrypts an `skmsg` from the sender in `name`: checks the signature, finds the iteration's key
/// (skipped iterations are kept, within the bounds), returns the padded plaintext.
pub fn group_decrypt<S: SenderKeyStore + ?Sized>(
    store: &mut S,
    name: &SenderKeyName,
    bytes: &[u8],
) -> Result<Vec<u8>, SignalError> {
    let message = SenderKeyMessage::parse(bytes)?;
    let mut record = store
        .load_sender_key(name)?
        .ok_or(SignalError::NoSenderKey)?;
    let state = record
        .state_mut(message.key_id)
        .ok_or(SignalError::NoSenderKey)?;
    if !message.verify_signature(&state.signing_public) {
        return Err(SignalError::BadSignature);
    }
    let seed = state.take_message_seed(message.iteration)?;
    let keys = SenderMessageKeys::from_seed(&seed);
    let plaintext = aes_cbc_decrypt(&keys.cipher_key, &keys.iv, &message.ciphertext)
        .map_err(|_| SignalError::DecryptFailed)?;
    store.store_sender_key(name, &record)?;
    Ok(plaintext)
}
