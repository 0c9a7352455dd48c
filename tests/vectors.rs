//! Interop vectors made with third-party WhatsApp code (Baileys, libsignal).
//!
//! Reads every file from `$WA_VECTORS_DIR` (default `tests/vectors`). One test per file; each prints
//! how many cases it checked. A case the project cannot check fails rather than being skipped.

#[path = "vector_cases/common.rs"]
mod common;

#[path = "vector_cases/binary.rs"]
mod binary;

#[path = "vector_cases/crypto.rs"]
mod crypto;

#[path = "vector_cases/media.rs"]
mod media;

#[path = "vector_cases/noise.rs"]
mod noise;

#[path = "vector_cases/message_proto.rs"]
mod message_proto;

#[path = "vector_cases/signal.rs"]
mod signal;

#[path = "vector_cases/qr.rs"]
mod qr;
