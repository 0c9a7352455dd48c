//! The native WhatsApp companion client: one engine per WhatsApp number (pairing, login, reconnect).
//!
//! - [`creds`]: the long-lived credentials a linked device keeps; [`cred_store`]: where they are persisted.
//! - [`pair`]: QR texts and the pair-success checks; [`qr_image`]: QR codes as PNG images.
//! - [`client_payload`]: the ClientPayload sent in the Noise handshake (registration or login).

pub mod client_payload;
pub mod cred_store;
pub mod creds;
pub mod pair;
pub mod qr_image;

pub use cred_store::{CredentialStore, CredentialStoreError, MemoryCredentialStore};
pub use creds::{DeviceCreds, PairedDevice, SignedPreKey};
