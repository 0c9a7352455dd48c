//! Chattu: a WhatsApp automation appliance.
//!
//! The layers, from the wire up (each only uses the ones above it in this list):
//! - [`protocol`]: the WhatsApp Web multi-device protocol (binary nodes, JIDs, Noise, protobufs,
//!   crypto, Signal). Pure code: no HTTP, no redb.
//! - [`simulator`]: the server side of the same protocol plus simulated phones, for tests and sandbox mode.
//! - [`engine`]: the native companion client, one per WhatsApp number (pairing, login, send, receive).
//! - [`store`]: the only module that touches redb.
//! - [`services`]: domain logic (accounts, clients, messaging, webhooks, scheduler, rate limits).
//! - [`http`]: the hyper server, route table, auth and handlers; the dashboard assets it serves.
//! - [`config`]: typed configuration from file and environment.

pub mod cli;
pub mod config;
pub mod engine;
pub mod http;
pub mod protocol;
pub mod services;
pub mod simulator;
pub mod store;
