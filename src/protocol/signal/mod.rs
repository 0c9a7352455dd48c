//! The Signal protocol as WhatsApp uses it: identities and prekeys, X3DH, the double ratchet,
//! sender keys for groups, and the storage seam the rest of the client implements.
//!
//! Layout (one concern per file):
//! - [`keys`]: injectable randomness ([`KeySource`]), the local identity, signed and one-time prekeys.
//! - [`wire`]: the four wire messages (version byte `0x33`, 8-byte MAC, 64-byte signature).
//! - [`ratchet`], [`session`]: key derivation and the per-peer ratchet state, with the bounds that keep
//!   a hostile peer from exhausting memory or CPU.
//! - [`builder`]: X3DH as initiator (from a bundle) and responder (from a pkmsg).
//! - [`cipher`]: pairwise encrypt / decrypt; [`group`] + [`sender_key`]: sender keys.
//! - [`store`]: the small store traits and [`MemoryStore`]; the redb implementation is
//!   `chattu::store::signal`.
//! - [`prekeys`]: WhatsApp's key nodes: the bundle parser, the upload and rotate nodes, the digest check.
//!
//! Plaintexts here are the padded WA `Message` bytes: padding is the caller's job.
//!
//! # How the client uses it
//! - Device creation: [`LocalIdentity::generate`] + `set_local_identity`, then
//!   [`rotate_signed_pre_key`] (first signed prekey), [`generate_pre_keys`] and
//!   [`upload_pre_keys_node`]. Later: [`pre_key_count_node`] / [`parse_pre_key_count`], the digest check
//!   [`verify_key_digest`], rotation with [`rotate_signed_pre_key_node`].
//! - Sending 1:1: for devices without [`has_session`], fetch bundles ([`key_fetch_node`] →
//!   [`parse_key_bundles`] → [`process_bundle`]); then [`encrypt`] gives `<enc type>` + bytes.
//! - Receiving: [`decrypt`] (`pkmsg`/`msg`) or [`group_decrypt`] (`skmsg`), inside one store transaction
//!   that also records the message; an SKDM found in a decrypted `Message` goes to
//!   [`process_sender_key_distribution`]. [`SignalError::UntrustedIdentity`] means the peer reinstalled:
//!   report it, call [`accept_identity_change`], decrypt again.
//! - Sending to a group: [`sender_key_distribution`] (encrypt its bytes pairwise to devices lacking it),
//!   then [`group_encrypt`].

pub mod address;
pub mod builder;
pub mod cipher;
pub mod error;
pub mod group;
pub mod keys;
pub mod prekeys;
pub mod ratchet;
pub mod sender_key;
pub mod session;
mod session_codec;
pub mod store;
pub mod wire;

pub use address::{ProtocolAddress, SenderKeyName};
pub use builder::{process_bundle, PreKeyBundle};
pub use cipher::{
    accept_identity_change, decrypt, decrypt_message, decrypt_pre_key_message, encrypt,
    has_session, CiphertextMessage, MessageKind,
};
pub use error::{SignalError, StoreError};
pub use group::{
    create_sender_key, group_decrypt, group_encrypt, process_sender_key_distribution,
    sender_key_distribution,
};
pub use keys::{KeySource, LocalIdentity, OsRandom, PreKeyRecord, SignedPreKeyRecord};
pub use prekeys::{
    current_signed_pre_key, generate_pre_keys, key_fetch_node, parse_key_bundles,
    parse_pre_key_count, pre_key_count_node, rotate_signed_pre_key, rotate_signed_pre_key_node,
    upload_pre_keys_node, verify_key_digest,
};
pub use sender_key::SenderKeyRecord;
pub use session::SessionRecord;
pub use store::{
    IdentityStore, MemoryStore, PreKeyStore, SenderKeyStore, SessionStore, SignalStore,
    SignedPreKeyStore,
};
pub use wire::{
    PreKeySignalMessage, SenderKeyDistributionMessage, SenderKeyMessage, SignalMessage,
};

#[cfg(test)]
mod tests;
