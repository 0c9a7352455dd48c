//! Interop vectors made with third-party WhatsApp code (Baileys, libsignal).
//!
//! Reads every file from `$WA_VECTORS_DIR` (default `tests/vectors`). One test per file; each prints
//! how many cases it checked. A case the project cannot check fails rather than being skipped.

#[path = "vector_cases/common.rs"]
mod common;
