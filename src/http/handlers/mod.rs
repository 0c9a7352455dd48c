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
pub type HandlerFuture = Pin<Box<dyn Future<Output = HandlerResult> + Send>>;
/// A route's handler, as stored in the route table.
pub type Handler = fn(Ctx) -> HandlerFuture;

/// Declares table-friendly `fn(Ctx) -> HandlerFuture` wrappers around async handler bodies.
macro_rules! boxed_handlers {
    ($($name:ident => $body:ident;)*) => {
        $(
            pub fn $name(ctx: $crate::http::dispatch::Ctx) -> $crate::http::handlers::HandlerFuture {
                Box::pin($body(ctx))
            }
        )*
    };
}
pub(crate) use boxed_handlers;
