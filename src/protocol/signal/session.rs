//! Session state: the double ratchet for one peer device, and the record of current + archived states.

use super::error::SignalError;
use super::keys::KeySource;
use super::ratchet::{
    root_step, ChainKey, MAX_ARCHIVED_STATES, MAX_FORWARD_STEPS, MAX_RECEIVER_CHAINS,
    MAX_SKIPPED_KEYS,
};
use crate::protocol::crypto::KeyPair;
use std::collections::VecDeque;

/// What the initiator still has to send in every message until the peer answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingPreKey {
    /// The peer's one-time prekey used, if any.
    pub pre_key_id: Option<u32>,
    /// The peer's signed prekey used.
    pub signed_pre_key_id: u32,
    /// Our X3DH base key.
    pub base_key: [u8; 32],
}

/// One receiving chain: the peer's ratchet key, the chain, and keys of messages not yet seen.
#[derive(Clone, PartialEq, Eq)]
pub struct ReceiverChain {
    /// The peer's ratchet public key this chain belongs to.
    pub ratchet_key: [u8; 32],
    /// The next key of the chain.
    pub chain_key: ChainKey,
    /// (index, message-key seed) of skipped messages, oldest first.
    pub skipped: VecDeque<(u32, [u8; 32])>,
}

/// The ratchet state of one session with one peer device.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionState {
    /// Our identity public key.
    pub local_identity: [u8; 32],
    /// The peer's identity public key.
    pub remote_identity: [u8; 32],
    /// Our registration id.
    pub local_registration_id: u32,
    /// The peer's registration id.
    pub remote_registration_id: u32,
    /// The root key.
    pub root_key: [u8; 32],
    /// Index of the last message in our previous sending chain.
    pub previous_counter: u32,
    /// Our current ratchet key pair.
    pub sender_ratchet: KeyPair,
    /// Our sending chain.
    pub sender_chain: ChainKey,
    /// Receiving chains, oldest first (at most [`MAX_RECEIVER_CHAINS`]).
    pub receiver_chains: Vec<ReceiverChain>,
    /// Set on the initiator until the first reply arrives.
    pub pending_pre_key: Option<PendingPreKey>,
    /// The initiator's base key: identifies this session (a repeated pkmsg finds it again).
    pub base_key: [u8; 32],
}

// Secrets (root key, skipped message keys) never go into logs.
impl std::fmt::Debug for ReceiverChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiverChain")
            .field("ratchet_key", &self.ratchet_key)
            .field("chain_key", &self.chain_key)
            .field("skipped", &self.skipped.len())
            .finish()
    }
}

impl std::fmt::Debug for SessionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionState")
            .field("remote_identity", &self.remote_identity)
            .field("remote_registration_id", &self.remote_registration_id)
            .field("sender_ratchet", &self.sender_ratchet)
            .field("sender_chain", &self.sender_chain)
            .field("receiver_chains", &self.receiver_chains)
            .field("pending_pre_key", &self.pending_pre_key.is_some())
            .finish_non_exhaustive()
    }
}

impl SessionState {
    /// Position of the receiving chain for `ratchet_key`, if we have one.
    pub fn receiver_chain_index(&self, ratchet_key: &[u8; 32]) -> Option<usize> {
        self.receiver_chains
            .iter()
            .position(|c| &c.ratchet_key == ratchet_key)
    }

    /// Adds a receiving chain, dropping the oldest beyond the bound. Returns its position.
    pub fn add_receiver_chain(&mut self, ratchet_key: [u8; 32], chain_key: ChainKey) -> usize {
        self.receiver_chains.push(ReceiverChain {
            ratchet_key,
            chain_key,
            skipped: VecDeque::new(),
        });
        while self.receiver_chains.len() > MAX_RECEIVER_CHAINS {
            self.receiver_chains.remove(0);
        }
        self.receiver_chains.len() - 1
    }

    /// The DH ratchet on a new peer ratchet key: a receiving chain for it, then a fresh own ratchet
    /// key (one key from `rng`) and a new sending chain. Returns the new receiving chain's position.
    pub fn ratchet_step(
        &mut self,
        their_ratchet: &[u8; 32],
        rng: &mut dyn KeySource,
    ) -> Result<usize, SignalError> {
        let (root, receiving) =
            root_step(&self.root_key, their_ratchet, &self.sender_ratchet.private)?;
        let ours = rng.key_pair();
        let (root, sending) = root_step(&root, their_ratchet, &ours.private)?;
        self.previous_counter = self.sender_chain.index.max(1) - 1;
        self.root_key = root;
        self.sender_ratchet = ours;
        self.sender_chain = sending;
        Ok(self.add_receiver_chain(*their_ratchet, receiving))
    }

    /// The message-key seed for `counter` on receiving chain `chain`: a stored skipped key for an old
    /// counter, else the chain is advanced (storing the keys it passes, within the bounds).
    /// `budget` is the number of chain steps this decrypt may still spend; it is reduced.
    pub fn take_message_seed(
        &mut self,
        chain: usize,
        counter: u32,
        budget: &mut u32,
    ) -> Result<[u8; 32], SignalError> {
        let receiver = self
            .receiver_chains
            .get_mut(chain)
            .ok_or(SignalError::NoSession)?;
        let current = receiver.chain_key.index;
        if counter < current {
            let pos = receiver
                .skipped
                .iter()
                .position(|(i, _)| *i == counter)
                .ok_or(SignalError::DuplicateMessage)?;
            return receiver
                .skipped
                .remove(pos)
                .map(|(_, seed)| seed)
                .ok_or(SignalError::DuplicateMessage);
        }
        let jump = counter - current;
        if jump > MAX_FORWARD_STEPS || jump > *budget {
            return Err(SignalError::TooFarInFuture);
        }
        *budget -= jump;
        // Keys that the session-wide bound would evict at once are never stored (or even derived).
        let keep_from = counter.saturating_sub(MAX_SKIPPED_KEYS as u32);
        let mut key = receiver.chain_key.clone();
        while key.index < counter {
            if key.index >= keep_from {
                receiver.skipped.push_back((key.index, key.message_seed()));
            }
            key = key.next().ok_or(SignalError::Exhausted("chain index"))?;
        }
        let seed = key.message_seed();
        receiver.chain_key = key.next().ok_or(SignalError::Exhausted("chain index"))?;
        self.enforce_skipped_bound();
        Ok(seed)
    }

    /// Drops the oldest skipped keys (oldest chains first) beyond [`MAX_SKIPPED_KEYS`].
    fn enforce_skipped_bound(&mut self) {
        let mut total = self.skipped_key_count();
        self.drop_skipped_while_over(&mut total);
    }

    /// Drops this state's oldest skipped keys while `total` exceeds the bound, counting `total` down.
    fn drop_skipped_while_over(&mut self, total: &mut usize) {
        for chain in &mut self.receiver_chains {
            while *total > MAX_SKIPPED_KEYS && chain.skipped.pop_front().is_some() {
                *total -= 1;
            }
        }
    }

    /// Number of stored skipped message keys in this state.
    pub fn skipped_key_count(&self) -> usize {
        self.receiver_chains.iter().map(|c| c.skipped.len()).sum()
    }
}

/// All states of the session with one address: the current one and up to 40 archived ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionRecord {
    /// The state used for sending.
    pub current: Option<SessionState>,
    /// Archived states, newest first; tried on decrypt when the current one fails.
    pub previous: VecDeque<SessionState>,
}

impl SessionRecord {
    /// A record holding `state` as current.
    pub fn new(state: SessionState) -> SessionRecord {
        SessionRecord {
            current: Some(state),
            previous: VecDeque::new(),
        }
    }

    /// Makes `state` current, archiving the old current state (bounded).
    pub fn promote(&mut self, state: SessionState) {
        if let Some(old) = self.current.replace(state) {
            self.previous.push_front(old);
            self.previous.truncate(MAX_ARCHIVED_STATES);
        }
    }

    /// Keeps the skipped keys of the whole record (current and archived states together) within
    /// [`MAX_SKIPPED_KEYS`], dropping the oldest archived states' keys first, so a peer cannot grow a
    /// record to 41 × 2,000 keys by starting new sessions.
    pub fn enforce_skipped_bound(&mut self) {
        let mut total = self.skipped_key_count();
        for state in self.previous.iter_mut().rev() {
            state.drop_skipped_while_over(&mut total);
        }
        if let Some(current) = &mut self.current {
            current.drop_skipped_while_over(&mut total);
        }
    }

    /// Skipped keys stored across all states.
    pub fn skipped_key_count(&self) -> usize {
        self.current
            .iter()
            .chain(self.previous.iter())
            .map(SessionState::skipped_key_count)
            .sum()
    }

    /// Makes archived state `index` current (the old current one is archived).
    pub fn promote_archived(&mut self, index: usize) {
        if let Some(state) = self.previous.remove(index) {
            self.promote(state);
        }
    }

    /// Whether some state (current or archived) was started with `base_key`; returns where.
    pub fn find_base_key(&self, base_key: &[u8; 32]) -> Option<StatePosition> {
        if self
            .current
            .as_ref()
            .is_some_and(|s| &s.base_key == base_key)
        {
            return Some(StatePosition::Current);
        }
        self.previous
            .iter()
            .position(|s| &s.base_key == base_key)
            .map(StatePosition::Archived)
    }

    /// Archives the current state (the peer's identity changed or a reset was asked for).
    pub fn archive_current(&mut self) {
        if let Some(old) = self.current.take() {
            self.previous.push_front(old);
            self.previous.truncate(MAX_ARCHIVED_STATES);
        }
    }
}

/// Where in a [`SessionRecord`] a state lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatePosition {
    /// The current state.
    Current,
    /// Archived state at this index.
    Archived(usize),
}
