//! App state sync ("syncd", §12 of the protocol notes): account settings such as mute, pin, archive and
//! read marks, kept by the server as collections of encrypted, MAC'd records that every device of the
//! account reads and writes. Pure code, no I/O: key expansion ([`keys`]), the integrity hash
//! ([`lthash`]), record and patch encoding and verification ([`patch`]), and the chat actions we act on
//! ([`actions`]). The engine's side is `engine::app_state`, the simulator's `simulator::app_state`.

pub mod actions;
pub mod keys;
pub mod lthash;
pub mod patch;

pub use actions::{chat_setting, ChatSetting, MutationSpec};
pub use keys::{MutationKeys, Operation};
pub use lthash::LtHash;
pub use patch::{
    decode_patch, decode_snapshot, encode_patch, AppStateError, CollectionState, DecodedMutation,
    DecodedPatch,
};

/// The five collections (whatsmeow's `AllPatchNames`, in its order).
pub const COLLECTIONS: [&str; 5] = [
    "critical_block",
    "critical_unblock_low",
    "regular_high",
    "regular",
    "regular_low",
];

/// True for a collection name WhatsApp uses.
pub fn is_collection(name: &str) -> bool {
    COLLECTIONS.contains(&name)
}
