//! The persisted form of a [`SessionRecord`]: our own small protobuf (not libsignal's layout).

use super::error::StoreError;
use super::keys::array32;
use super::ratchet::ChainKey;
use super::session::{PendingPreKey, ReceiverChain, SessionRecord, SessionState};
use crate::protocol::crypto::KeyPair;
use prost::Message;

#[derive(Clone, PartialEq, Message)]
struct RecordProto {
    #[prost(message, optional, tag = "1")]
    current: Option<StateProto>,
    #[prost(message, repeated, tag = "2")]
    previous: Vec<StateProto>,
}

#[derive(Clone, PartialEq, Message)]
struct StateProto {
    #[prost(bytes = "vec", tag = "1")]
    local_identity: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    remote_identity: Vec<u8>,
    #[prost(uint32, tag = "3")]
    local_registration_id: u32,
    #[prost(uint32, tag = "4")]
    remote_registration_id: u32,
    #[prost(bytes = "vec", tag = "5")]
    root_key: Vec<u8>,
    #[prost(uint32, tag = "6")]
    previous_counter: u32,
    #[prost(bytes = "vec", tag = "7")]
    sender_ratchet_private: Vec<u8>,
    #[prost(bytes = "vec", tag = "8")]
    sender_ratchet_public: Vec<u8>,
    #[prost(message, optional, tag = "9")]
    sender_chain: Option<ChainProto>,
    #[prost(message, repeated, tag = "10")]
    receiver_chains: Vec<ReceiverProto>,
    #[prost(message, optional, tag = "11")]
    pending_pre_key: Option<PendingProto>,
    #[prost(bytes = "vec", tag = "12")]
    base_key: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
struct ChainProto {
    #[prost(bytes = "vec", tag = "1")]
    key: Vec<u8>,
    #[prost(uint32, tag = "2")]
    index: u32,
}

#[derive(Clone, PartialEq, Message)]
struct ReceiverProto {
    #[prost(bytes = "vec", tag = "1")]
    ratchet_key: Vec<u8>,
    #[prost(message, optional, tag = "2")]
    chain: Option<ChainProto>,
    #[prost(message, repeated, tag = "3")]
    skipped: Vec<SkippedProto>,
}

#[derive(Clone, PartialEq, Message)]
struct SkippedProto {
    #[prost(uint32, tag = "1")]
    index: u32,
    #[prost(bytes = "vec", tag = "2")]
    seed: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
struct PendingProto {
    #[prost(uint32, optional, tag = "1")]
    pre_key_id: Option<u32>,
    #[prost(uint32, tag = "2")]
    signed_pre_key_id: u32,
    #[prost(bytes = "vec", tag = "3")]
    base_key: Vec<u8>,
}

fn corrupt() -> StoreError {
    StoreError("corrupt session record".into())
}

fn key32(bytes: &[u8]) -> Result<[u8; 32], StoreError> {
    array32(bytes).ok_or_else(corrupt)
}

fn chain_to_proto(c: &ChainKey) -> ChainProto {
    ChainProto {
        key: c.key.to_vec(),
        index: c.index,
    }
}

fn chain_from_proto(c: Option<ChainProto>) -> Result<ChainKey, StoreError> {
    let c = c.ok_or_else(corrupt)?;
    Ok(ChainKey {
        key: key32(&c.key)?,
        index: c.index,
    })
}

fn state_to_proto(s: &SessionState) -> StateProto {
    StateProto {
        local_identity: s.local_identity.to_vec(),
        remote_identity: s.remote_identity.to_vec(),
        local_registration_id: s.local_registration_id,
        remote_registration_id: s.remote_registration_id,
        root_key: s.root_key.to_vec(),
        previous_counter: s.previous_counter,
        sender_ratchet_private: s.sender_ratchet.private.to_vec(),
        sender_ratchet_public: s.sender_ratchet.public.to_vec(),
        sender_chain: Some(chain_to_proto(&s.sender_chain)),
        receiver_chains: s
            .receiver_chains
            .iter()
            .map(|c| ReceiverProto {
                ratchet_key: c.ratchet_key.to_vec(),
                chain: Some(chain_to_proto(&c.chain_key)),
                skipped: c
                    .skipped
                    .iter()
                    .map(|(index, seed)| SkippedProto {
                        index: *index,
                        seed: seed.to_vec(),
                    })
                    .collect(),
            })
            .collect(),
        pending_pre_key: s.pending_pre_key.as_ref().map(|p| PendingProto {
            pre_key_id: p.pre_key_id,
            signed_pre_key_id: p.signed_pre_key_id,
            base_key: p.base_key.to_vec(),
        }),
        base_key: s.base_key.to_vec(),
    }
}

fn state_from_proto(p: StateProto) -> Result<SessionState, StoreError> {
    let receiver_chains = p
        .receiver_chains
        .into_iter()
        .map(|c| {
            Ok(ReceiverChain {
                ratchet_key: key32(&c.ratchet_key)?,
                chain_key: chain_from_proto(c.chain)?,
                skipped: c
                    .skipped
                    .into_iter()
                    .map(|s| Ok((s.index, key32(&s.seed)?)))
                    .collect::<Result<_, StoreError>>()?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let pending_pre_key = match p.pending_pre_key {
        Some(pp) => Some(PendingPreKey {
            pre_key_id: pp.pre_key_id,
            signed_pre_key_id: pp.signed_pre_key_id,
            base_key: key32(&pp.base_key)?,
        }),
        None => None,
    };
    Ok(SessionState {
        local_identity: key32(&p.local_identity)?,
        remote_identity: key32(&p.remote_identity)?,
        local_registration_id: p.local_registration_id,
        remote_registration_id: p.remote_registration_id,
        root_key: key32(&p.root_key)?,
        previous_counter: p.previous_counter,
        sender_ratchet: KeyPair {
            private: key32(&p.sender_ratchet_private)?,
            public: key32(&p.sender_ratchet_public)?,
        },
        sender_chain: chain_from_proto(p.sender_chain)?,
        receiver_chains,
        pending_pre_key,
        base_key: key32(&p.base_key)?,
    })
}

impl SessionRecord {
    /// The persisted bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        RecordProto {
            current: self.current.as_ref().map(state_to_proto),
            previous: self.previous.iter().map(state_to_proto).collect(),
        }
        .encode_to_vec()
    }

    /// Reads [`SessionRecord::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<SessionRecord, StoreError> {
        let proto = RecordProto::decode(bytes).map_err(|_| corrupt())?;
        Ok(SessionRecord {
            current: proto.current.map(state_from_proto).transpose()?,
            previous: proto
                .previous
                .into_iter()
                .map(state_from_proto)
                .collect::<Result<_, _>>()?,
        })
    }
}
