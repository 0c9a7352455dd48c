//! Route handlers, one file per area of the API. Each takes the request context and returns a
//! response or an [`ApiError`]; the dispatcher has already applied limits and access rules.

use std::future::Future;
use std::pin::Pin;

use hyper::Response;

use super::dispatch::Ctx;
use super::error::ApiError;
use super::response::Body;

pub mod accounts;
pub mod admin;
pub mod chats;
pub mod clients;
pub mod groups;
pub mod history;
pub mod messages;
pub mod schedules;
pub mod session;
pub mod system;
pub mod webhooks;
pub mod whatsapp;

pub type HandlerResult = Result<Response<Body>, ApiError>;
/// A route's handler, as stored in the route table.
pub type Handler = fn(Ctx) -> Answer;

/// What a handler returns: its answer, or a boxed future for a handler that waits (for the
/// blocking pool, the engine, a body). The answer itself costs no allocation, which matters for
/// the routes API clients poll.
pub enum Answer {
    Ready(HandlerResult),
    Waiting(Pin<Box<dyn Future<Output = HandlerResult> + Send>>),
}

/// Declares table-friendly `fn(Ctx) -> Answer` wrappers around async handler bodies.
macro_rules! boxed_handlers {
    ($($name:ident => $body:ident;)*) => {
        $(
            pub fn $name(ctx: $crate::http::dispatch::Ctx) -> $crate::http::handlers::Answer {
                $crate::http::handlers::Answer::Waiting(Box::pin($body(ctx)))
            }
        )*
    };
}
pub(crate) use boxed_handlers;

/// The same for handler bodies that never wait: plain functions returning their answer.
macro_rules! ready_handlers {
    ($($name:ident => $body:ident;)*) => {
        $(
            pub fn $name(ctx: $crate::http::dispatch::Ctx) -> $crate::http::handlers::Answer {
                $crate::http::handlers::Answer::Ready($body(ctx))
            }
        )*
    };
}
pub(crate) use ready_handlers;
