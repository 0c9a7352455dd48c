//! The native WhatsApp companion client: one engine per WhatsApp number (pairing, login, reconnect).
//!
//! - [`creds`]: the long-lived credentials a linked device keeps; [`cred_store`]: where they are persisted.
//! - [`qr_image`]: pairing QR codes as PNG images.

pub mod cred_store;
pub mod creds;
pub mod qr_image;

pub use cred_store::{CredentialStore, CredentialStoreError, MemoryCredentialStore};
pub use creds::{DeviceCreds, PairedDevice, SignedPreKey};
