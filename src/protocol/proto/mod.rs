//! WhatsApp protobuf messages (prost), generated from our own schema subset `whatsapp.proto`.
//!
//! The Rust code in `generated.rs` is checked in so that building needs no `protoc`;
//! `tests/proto_generated.rs` regenerates it with protox + prost-build and fails when it is stale
//! (`CHATTU_REGENERATE_PROTO=1 cargo test --test proto_generated` rewrites it).
//!
//! Every message is a plain prost struct: encode with [`prost::Message::encode_to_vec`], decode with
//! [`prost::Message::decode`]. The schema is proto2, so scalar fields are `Option`s and have getters
//! returning the default when absent.

mod codec;
mod padding;

/// Everything prost generated, laid out as in the schema (nested messages live in snake_case modules).
#[rustfmt::skip]
#[allow(clippy::all, clippy::pedantic, missing_docs, rustdoc::all)]
pub mod generated {
    include!("generated.rs");
}

pub use generated::*;

pub use codec::{decode_message, decode_padded_message, encode_padded_message, ProtoError};
pub use padding::{pad, pad_random, unpad, PaddingError, MAX_PADDING};

/// Short names for nested types that the protocol code uses all the time.
pub use generated::cert_chain::noise_certificate::Details as NoiseCertificateDetails;
pub use generated::cert_chain::NoiseCertificate;
pub use generated::client_payload::user_agent::{
    AppVersion as UserAgentAppVersion, Platform, ReleaseChannel,
};
pub use generated::client_payload::web_info::WebSubPlatform;
pub use generated::client_payload::{
    ConnectReason, ConnectType, DevicePairingRegistrationData, DnsSource, UserAgent, WebInfo,
};
pub use generated::device_props::{
    AppVersion as DevicePropsAppVersion, HistorySyncConfig, PlatformType,
};
pub use generated::handshake_message::{ClientFinish, ClientHello, ServerHello};

/// prost's decode error.
pub use prost::DecodeError;
/// prost's message trait, re-exported so callers can `encode_to_vec` / `decode` without naming prost.
pub use prost::Message as ProtoMessage;
