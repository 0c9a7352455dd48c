//! A local stand-in for WhatsApp's servers: the server side of the protocol plus simulated phones.
//!
//! - [`phone`]: a simulated primary phone (scans QR codes, signs companions).
//! - [`registry`]: accounts, linked devices and live connections.

pub mod phone;
pub mod registry;
