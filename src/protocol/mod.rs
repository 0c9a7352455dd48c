//! The WhatsApp Web multi-device protocol. Nothing in here knows about HTTP or redb.

pub mod app_state;
pub mod binary;
pub mod crypto;
pub mod jid;
pub mod media;
pub mod noise;
pub mod proto;
pub mod signal;
pub mod socket;
