//! Sender-key state for groups: one chain per (group, sender device), plus its persisted form.

use super::error::{SignalError, StoreError};
use super::keys::array32;
use super::ratchet::{ChainKey, MAX_FORWARD_STEPS, MAX_SKIPPED_KEYS};
use prost::Message;
use std::collections::VecDeque;

/// At most this many sender-key states (distinct key ids) kept per (group, sender).
pub const MAX_SENDER_KEY_STATES: usize = 5;

/// One sender key: id, chain, signing key and keys of skipped iterations.
#[derive(Clone, PartialEq, Eq)]
pub struct SenderKeyState {
    /// The key id (31-bit random when we create it).
    pub key_id: u32,
    /// The chain; `index` is the next iteration it produces.
    pub chain_key: ChainKey,
    /// The sender's signing public key.
    pub signing_public: [u8; 32],
    /// The signing private key: only for our own sender keys.
    pub signing_private: Option<[u8; 32]>,
    /// (iteration, message-key seed) of skipped iterations, oldest first.
    pub skipped: VecDeque<(u32, [u8; 32])>,
}

// The signing private key and skipped message keys never go into logs.
impl std::fmt::Debug for SenderKeyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SenderKeyState")
            .field("key_id", &self.key_id)
            .field("chain_key", &self.chain_key)
            .field("signing_public", &self.signing_public)
            .field("own", &self.signing_private.is_some())
            .field("skipped", &self.skipped.len())
            .finish()
    }
}

impl SenderKeyState {
    /// The message-key seed for `iteration`: a stored skipped one for an old iteration, else the chain
    /// advances (bounded like pairwise chains).
    pub fn take_message_seed(&mut self, iteration: u32) -> Result<[u8; 32], SignalError> {
        let current = self.chain_key.index;
        if iteration < current {
            let pos = self
                .skipped
                .iter()
                .position(|(i, _)| *i == iteration)
                .ok_or(SignalError::DuplicateMessage)?;
            return self
                .skipped
                .remove(pos)
                .map(|(_, seed)| seed)
                .ok_or(SignalError::DuplicateMessage);
        }
        if iteration - current > MAX_FORWARD_STEPS {
            return Err(SignalError::TooFarInFuture);
        }
        let keep_from = iteration.saturating_sub(MAX_SKIPPED_KEYS as u32);
        let mut key = self.chain_key.clone();
        while key.index < iteration {
            if key.index >= keep_from {
                self.skipped.push_back((key.index, key.message_seed()));
            }
            key = key
                .next()
                .ok_or(SignalError::Exhausted("sender chain iteration"))?;
        }
        while self.skipped.len() > MAX_SKIPPED_KEYS {
            self.skipped.pop_front();
        }
        let seed = key.message_seed();
        self.chain_key = key
            .next()
            .ok_or(SignalError::Exhausted("sender chain iteration"))?;
        Ok(seed)
    }
}

/// All sender keys of one (group, sender), newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SenderKeyRecord {
    /// The states, newest first (at most [`MAX_SENDER_KEY_STATES`]).
    pub states: VecDeque<SenderKeyState>,
}

impl SenderKeyRecord {
    /// The state with `key_id`.
    pub fn state_mut(&mut self, key_id: u32) -> Option<&mut SenderKeyState> {
        self.states.iter_mut().find(|s| s.key_id == key_id)
    }

    /// Adds `state` as newest, replacing a state with the same key id; drops the oldest beyond the bound.
    pub fn add_state(&mut self, state: SenderKeyState) {
        self.states.retain(|s| s.key_id != state.key_id);
        self.states.push_front(state);
        self.states.truncate(MAX_SENDER_KEY_STATES);
    }

    /// The persisted bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        RecordProto {
            states: self
                .states
                .iter()
                .map(|s| StateProto {
                    key_id: s.key_id,
                    iteration: s.chain_key.index,
                    chain_key: s.chain_key.key.to_vec(),
                    signing_public: s.signing_public.to_vec(),
                    signing_private: s.signing_private.map(|k| k.to_vec()),
                    skipped: s
                        .skipped
                        .iter()
                        .map(|(iteration, seed)| SkippedProto {
                            iteration: *iteration,
                            seed: seed.to_vec(),
                        })
                        .collect(),
                })
                .collect(),
        }
        .encode_to_vec()
    }

    /// Reads [`SenderKeyRecord::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<SenderKeyRecord, StoreError> {
        let corrupt = || StoreError("corrupt sender key record".into());
        let key = |b: &[u8]| array32(b).ok_or_else(corrupt);
        let proto = RecordProto::decode(bytes).map_err(|_| corrupt())?;
        let mut states = VecDeque::with_capacity(proto.states.len());
        for s in proto.states {
            states.push_back(SenderKeyState {
                key_id: s.key_id,
                chain_key: ChainKey {
                    key: key(&s.chain_key)?,
                    index: s.iteration,
                },
                signing_public: key(&s.signing_public)?,
                signing_private: s.signing_private.as_deref().map(key).transpose()?,
                skipped: s
                    .skipped
                    .iter()
                    .map(|k| Ok((k.iteration, key(&k.seed)?)))
                    .collect::<Result<_, StoreError>>()?,
            });
        }
        Ok(SenderKeyRecord { states })
    }
}

#[derive(Clone, PartialEq, Message)]
struct RecordProto {
    #[prost(message, repeated, tag = "1")]
    states: Vec<StateProto>,
}

#[derive(Clone, PartialEq, Message)]
struct StateProto {
    #[prost(uint32, tag = "1")]
    key_id: u32,
    #[prost(uint32, tag = "2")]
    iteration: u32,
    #[prost(bytes = "vec", tag = "3")]
    chain_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    signing_public: Vec<u8>,
    #[prost(bytes = "vec", optional, tag = "5")]
    signing_private: Option<Vec<u8>>,
    #[prost(message, repeated, tag = "6")]
    skipped: Vec<SkippedProto>,
}

#[derive(Clone, PartialEq, Message)]
struct SkippedProto {
    #[prost(uint32, tag = "1")]
    iteration: u32,
    #[prost(bytes = "vec", tag = "2")]
    seed: Vec<u8>,
}
