//! THE route table: every path, method, access rule and rate limit of the HTTP API in one place.
//!
//! Paths use matchit syntax (`{param}`), which is also OpenAPI's. The dispatcher
//! ([`super::dispatch`]) applies, in order: the limits listed here (before authentication, so
//! guessing keys costs budget), then the access rule, then the cross-site check for state changes
//! made with a cookie, then the handler. [`super::openapi`] documents each route; a test checks that
//! the two agree.
//!
//! Adding a route: add a line here, write the handler in `handlers/`, describe it in `openapi.rs`.

use super::handlers::{
    accounts, admin, chats, clients, groups, history, messages, schedules, session, system,
    webhooks, whatsapp, Handler,
};

/// HTTP methods the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verb {
    Get,
    Post,
    Delete,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Delete => "DELETE",
        }
    }

    pub fn from_method(m: &hyper::Method) -> Option<Verb> {
        match *m {
            hyper::Method::GET | hyper::Method::HEAD => Some(Verb::Get),
            hyper::Method::POST => Some(Verb::Post),
            hyper::Method::DELETE => Some(Verb::Delete),
            _ => None,
        }
    }
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credentials (health, the spec, login).
    Public,
    /// Credentials travel in the JSON body (reset-api-key: `username` + `currentApiKey`).
    BodyCredentials,
    /// `x-api-key` (account or client key) or the session cookie.
    KeyOrSession,
    /// The session cookie only; an API key is refused (the API doc: "requires session authentication").
    SessionOnly,
    /// Key or session of an account with role `admin`.
    Admin,
}

/// Rate limiters from the API doc, per client IP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Global API limiter: every request counts.
    Api,
    /// Sensitive operations: every request counts.
    Sensitive,
    /// Sensitive operations, but only failures count (logins): refused once the budget is spent.
    SensitiveFailures,
    /// Delete operations: every request counts.
    Deletes,
    /// Chat limiter: sending to a chat and marking it read.
    Chat,
}

/// One line of the table.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub verb: Verb,
    pub path: &'static str,
    pub access: Access,
    pub limits: &'static [Limit],
    pub handler: Handler,
}

const fn route(
    verb: Verb,
    path: &'static str,
    access: Access,
    limits: &'static [Limit],
    handler: Handler,
) -> Route {
    Route {
        verb,
        path,
        access,
        limits,
        handler,
    }
}

use Access::*;
use Limit::*;
use Verb::*;

const API: &[Limit] = &[Api];
const NONE: &[Limit] = &[];

/// Every route of the server. Non-/api GETs that match nothing here go to the dashboard assets.
pub const ROUTES: &[Route] = &[
    // Service
    route(Get, "/healthz", Public, NONE, system::healthz),
    route(Get, "/openapi.json", Public, NONE, system::openapi),
    // Dashboard session
    route(Post, "/login", Public, &[SensitiveFailures], session::login),
    route(Post, "/logout", Public, NONE, session::logout),
    // Account
    route(Get, "/api/profile", KeyOrSession, API, accounts::profile),
    route(
        Post,
        "/api/reset-api-key",
        BodyCredentials,
        &[Api, Sensitive],
        accounts::reset_api_key,
    ),
    // WhatsApp clients
    route(
        Post,
        "/api/add-number",
        KeyOrSession,
        API,
        whatsapp::add_number,
    ),
    route(Get, "/api/qr/{clientId}", KeyOrSession, API, whatsapp::qr),
    route(Post, "/api/send-message", KeyOrSession, API, messages::send),
    route(Get, "/api/clients", KeyOrSession, API, clients::list),
    route(
        Post,
        "/api/update-webhook",
        KeyOrSession,
        API,
        clients::update_webhook,
    ),
    route(
        Delete,
        "/clients/{clientId}",
        SessionOnly,
        &[Sensitive, Deletes],
        whatsapp::delete,
    ),
    // Chat interface (session only; sends and read receipts also count against the chat limiter)
    route(Get, "/api/chats/{clientId}", SessionOnly, API, chats::list),
    route(
        Get,
        "/api/chats/{clientId}/{chatId}/messages",
        SessionOnly,
        API,
        chats::messages,
    ),
    route(
        Post,
        "/api/chats/{clientId}/{chatId}/send",
        SessionOnly,
        &[Api, Chat],
        chats::send,
    ),
    route(
        Post,
        "/api/chats/{clientId}/{chatId}/read",
        SessionOnly,
        &[Api, Chat],
        chats::read,
    ),
    route(
        Get,
        "/api/chats/{clientId}/media/{messageId}",
        SessionOnly,
        API,
        chats::media,
    ),
    // Groups and channels
    route(
        Get,
        "/api/groups/{clientId}",
        KeyOrSession,
        API,
        groups::list,
    ),
    route(
        Post,
        "/api/send-group-message",
        KeyOrSession,
        API,
        groups::send_api,
    ),
    route(
        Post,
        "/api/groups/{clientId}/{groupId}/send",
        SessionOnly,
        &[Api, Chat],
        groups::send_session,
    ),
    // Scheduled messages (stored here; the scheduler sends them)
    route(
        Post,
        "/schedule-message",
        SessionOnly,
        NONE,
        schedules::create,
    ),
    route(
        Get,
        "/scheduled-messages",
        SessionOnly,
        NONE,
        schedules::list,
    ),
    route(
        Delete,
        "/scheduled-messages/{id}",
        SessionOnly,
        &[Deletes],
        schedules::cancel,
    ),
    // History and logs
    route(Get, "/api/sent-messages", KeyOrSession, API, history::sent),
    route(
        Get,
        "/api/received-messages/{clientId}",
        KeyOrSession,
        API,
        history::received,
    ),
    route(
        Get,
        "/api/incoming-calls/{clientId}",
        KeyOrSession,
        API,
        history::incoming_calls,
    ),
    route(Get, "/api/call-logs", KeyOrSession, API, history::call_logs),
    route(Get, "/api/logs", KeyOrSession, API, history::logs),
    // Administration
    route(Get, "/api/admin/users", Admin, API, admin::list_users),
    route(Post, "/api/admin/users", Admin, API, admin::create_user),
    route(
        Post,
        "/api/admin/users/{username}/disable",
        Admin,
        API,
        admin::set_disabled,
    ),
    route(
        Post,
        "/api/admin/users/{username}/plan",
        Admin,
        API,
        admin::set_plan,
    ),
    route(
        Get,
        "/api/admin/security-events",
        Admin,
        API,
        admin::security_events,
    ),
    // Webhook deliveries (docs/webhooks.md)
    route(
        Get,
        "/api/webhooks/{clientId}/deliveries",
        KeyOrSession,
        API,
        webhooks::deliveries,
    ),
    route(
        Post,
        "/api/webhooks/{clientId}/deliveries/{eventId}/replay",
        KeyOrSession,
        API,
        webhooks::replay,
    ),
    route(
        Post,
        "/api/webhooks/{clientId}/test",
        KeyOrSession,
        API,
        webhooks::test,
    ),
    // Live events (WebSocket; docs/api.md "/ws")
    route(Get, "/ws", KeyOrSession, NONE, super::ws::upgrade),
];

/// The routes sharing one path, for matching and for the 405 `Allow` header.
#[derive(Debug)]
pub struct PathRoutes {
    pub path: &'static str,
    pub routes: Vec<&'static Route>,
}

impl PathRoutes {
    pub fn find(&self, verb: Verb) -> Option<&'static Route> {
        self.routes.iter().copied().find(|r| r.verb == verb)
    }

    pub fn allow_header(&self) -> String {
        let mut verbs: Vec<&str> = Vec::new();
        for r in &self.routes {
            verbs.push(r.verb.as_str());
            if r.verb == Verb::Get {
                verbs.push("HEAD");
            }
        }
        verbs.join(", ")
    }
}

/// The compiled table.
pub struct Router {
    inner: matchit::Router<usize>,
    paths: Vec<PathRoutes>,
}

/// A matched path: its routes and the decoded parameters.
pub struct Matched<'r> {
    pub routes: &'r PathRoutes,
    pub params: Vec<(String, String)>,
}

impl Router {
    /// Builds the router from [`ROUTES`]. Fails only on a malformed or conflicting table, which a
    /// unit test rules out.
    pub fn build(routes: &'static [Route]) -> Result<Router, String> {
        let mut paths: Vec<PathRoutes> = Vec::new();
        let mut inner = matchit::Router::new();
        for r in routes {
            if let Some(existing) = paths.iter_mut().find(|p| p.path == r.path) {
                if existing.find(r.verb).is_some() {
                    return Err(format!("duplicate route {} {}", r.verb.as_str(), r.path));
                }
                existing.routes.push(r);
                continue;
            }
            inner
                .insert(r.path, paths.len())
                .map_err(|e| format!("{}: {e}", r.path))?;
            paths.push(PathRoutes {
                path: r.path,
                routes: vec![r],
            });
        }
        Ok(Router { inner, paths })
    }

    pub fn lookup(&self, path: &str) -> Option<Matched<'_>> {
        let m = self.inner.at(path).ok()?;
        let routes = self.paths.get(*m.value)?;
        let params = m
            .params
            .iter()
            .map(|(k, v)| (k.to_owned(), percent_decode_path(v)))
            .collect();
        Some(Matched { routes, params })
    }
}

/// Percent-decodes one path segment (`+` stays a plus in paths).
fn percent_decode_path(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    super::request::percent_decode(&s.replace('+', "%2B"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_builds_and_matches() {
        let router = Router::build(ROUTES).unwrap();
        let m = router.lookup("/clients/abc%20d").unwrap();
        assert_eq!(m.params, vec![("clientId".to_owned(), "abc d".to_owned())]);
        assert!(m.routes.find(Verb::Delete).is_some());
        assert!(m.routes.find(Verb::Get).is_none());
        assert_eq!(m.routes.allow_header(), "DELETE");
        assert!(router.lookup("/nope").is_none());
        let admin_users = router.lookup("/api/admin/users").unwrap();
        assert_eq!(admin_users.routes.allow_header(), "GET, HEAD, POST");
    }

    #[test]
    fn every_api_route_counts_against_the_global_limiter() {
        for r in ROUTES {
            assert_eq!(
                r.path.starts_with("/api/"),
                r.limits.contains(&Limit::Api),
                "{} {}",
                r.verb.as_str(),
                r.path
            );
        }
    }

    #[test]
    fn api_doc_session_routes_refuse_keys() {
        for (verb, path) in [
            (Verb::Delete, "/clients/{clientId}"),
            (Verb::Post, "/schedule-message"),
            (Verb::Get, "/scheduled-messages"),
            (Verb::Delete, "/scheduled-messages/{id}"),
        ] {
            let r = ROUTES
                .iter()
                .find(|r| r.verb == verb && r.path == path)
                .unwrap();
            assert_eq!(r.access, Access::SessionOnly, "{path}");
        }
    }
}
