//! WhatsApp protobuf messages (prost), generated from our own schema subset `whatsapp.proto`.
//!
//! The Rust code in `generated.rs` is checked in so that building needs no `protoc`;
//! `tests/proto_generated.rs` regenerates it with protox + prost-build and fails when it is stale
//! (`CHATTU_REGENERATE_PROTO=1 cargo test --test proto_generated` rewrites it).
//!
//! How the generated types look:
//! - The schema is proto2: every scalar is an `Option` with a getter that returns the default when
//!   absent (`msg.conversation` / `msg.conversation()`); enum fields are `Option<i32>` with a typed
//!   getter (`payload.connect_type()`) and setter (`payload.set_connect_type(ConnectType::WifiUnknown)`).
//! - Field names are snake_case of the upstream camelCase names (`fileSha256` → `file_sha256`); the
//!   Noise `static` field is `r#static`. There are no oneofs: `Message` has one optional field per content
//!   kind, exactly as upstream.
//! - Nested messages live in snake_case modules named after their parent, as upstream nests them:
//!   `message::ImageMessage`, `message::protocol_message::Type`, `client_payload::user_agent::Platform`.
//!   Fields that can contain a `Message` again are boxed (`Option<Box<_>>`).
//! - Two messages share the name SenderKeyDistributionMessage: the top-level one is libsignal's wire
//!   message (`id`, `iteration`, `chainKey`, `signingKey`); `message::SenderKeyDistributionMessage` is the
//!   WhatsApp wrapper (`groupId`, `axolotlSenderKeyDistributionMessage` = 0x33 || libsignal bytes).
//!   The Signal wire messages exclude the version byte, MAC and signature around them.
//!
//! Encode with [`ProtoMessage::encode_to_vec`], decode with [`ProtoMessage::decode`] (the prost trait,
//! re-exported). Fields are encoded in ascending tag order, as protobufjs and libsignal do.

mod codec;
mod content;
mod padding;

/// Everything prost generated, laid out as in the schema (nested messages live in snake_case modules).
#[rustfmt::skip]
#[allow(clippy::all, clippy::pedantic, missing_docs, rustdoc::all)]
pub mod generated {
    include!("generated.rs");
}

pub use generated::*;

pub use codec::{decode_message, decode_padded_message, encode_padded_message, ProtoError};
pub use content::ContentKind;
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
