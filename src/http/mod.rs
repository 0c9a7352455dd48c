//! The HTTP layer: hyper 1 server, one route table, auth, rate limits and handlers.
//!
//! No web framework: [`server`] runs connections, `routes` holds every path, method and auth rule.

pub mod client_ip;
pub mod error;
pub mod rate_limit;
pub mod request;
pub mod response;
pub mod server;
