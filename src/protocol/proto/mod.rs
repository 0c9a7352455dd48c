//! WhatsApp protobuf messages (prost), generated from our own schema subset `whatsapp.proto`.
//!
//! The Rust code in `generated.rs` is checked in so that building needs no `protoc`;
//! `tests/proto_generated.rs` regenerates it with protox + prost-build and fails when it is stale
//! (`CHATTU_REGENERATE_PROTO=1 cargo test --test proto_generated` rewrites it).
//!
//! Every message is a plain prost struct: encode with [`prost::Message::encode_to_vec`], decode with
//! [`prost::Message::decode`]. The schema is proto2, so scalar fields are `Option`s and have getters
//! returning the default when absent.

/// Everything prost generated, laid out as in the schema (nested messages live in snake_case modules).
#[rustfmt::skip]
#[allow(clippy::all, clippy::pedantic, missing_docs, rustdoc::all)]
pub mod generated {
    include!("generated.rs");
}

pub use generated::cert_chain::noise_certificate::Details as NoiseCertificateDetails;
pub use generated::cert_chain::NoiseCertificate;
pub use generated::handshake_message::{ClientFinish, ClientHello, ServerHello};
pub use generated::{CertChain, HandshakeMessage};

/// prost's decode error.
pub use prost::DecodeError;
/// prost's message trait, re-exported so callers can `encode_to_vec` / `decode` without naming prost.
pub use prost::Message as ProtoMessage;
