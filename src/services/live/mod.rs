//! The in-process live event bus behind `GET /ws`: services publish what just happened to a
//! client (a message, an ack, a reaction, a status or QR change) and every open socket of the
//! client's owner hears of it.
//!
//! One bounded `tokio::sync::broadcast` ring carries every event, serialised once at publish
//! time. Publishing never blocks and never fails (no subscriber is fine). A subscriber that falls
//! more than [`DEFAULT_CAPACITY`] events behind is told so ([`Received::Lagged`]) and the socket
//! closes; the dashboard then refetches and reconnects. Memory is bounded by the ring and by the
//! subscriber caps ([`MAX_SUBSCRIBERS_PER_USER`], [`MAX_SUBSCRIBERS`]).
//!
//! Events carry the owning username and client id; a subscription sees only its owner's events
//! (and, for a client API key, only that client's), the same rule as the services' ownership
//! checks: an admin, too, sees only their own clients.

mod event;

pub use event::{chat_id, LiveEvent, MAX_BODY_CHARS};

use super::time::{Clock, SystemClock};
use crate::store::Store;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{broadcast, watch, Notify};

/// Events the ring holds; a subscriber further behind than this is dropped.
pub const DEFAULT_CAPACITY: usize = 256;
/// Open subscriptions (sockets) per account.
pub const MAX_SUBSCRIBERS_PER_USER: usize = 16;
/// Open subscriptions in the whole process.
pub const MAX_SUBSCRIBERS: usize = 512;

/// Which events a subscription receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveFilter {
    /// Only this account's clients.
    pub owner: String,
    /// Only this client (a client API key); None: all the account's clients.
    pub client_id: Option<String>,
}

impl LiveFilter {
    pub fn accepts(&self, event: &LiveEvent) -> bool {
        event.owner() == self.owner
            && self
                .client_id
                .as_deref()
                .is_none_or(|own| own == event.client_id())
    }
}

/// What travels on the ring.
#[derive(Debug, Clone)]
enum Signal {
    Event(Arc<LiveEvent>),
    /// Credentials may have changed (a logout, a disabled user): every socket checks its own.
    Recheck,
}

/// What a subscription yields next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    Event(Arc<LiveEvent>),
    /// This many events were missed: the subscriber was too slow. It should resynchronise.
    Lagged(u64),
    /// Check that the subscriber's session or key is still valid.
    Recheck,
    /// The server is shutting down.
    Closed,
}

/// Why a subscription was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveError {
    TooManyForUser,
    TooMany,
    ShuttingDown,
}

impl std::fmt::Display for LiveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LiveError::TooManyForUser => "too many live connections for this account",
            LiveError::TooMany => "too many live connections",
            LiveError::ShuttingDown => "the server is shutting down",
        })
    }
}

impl std::error::Error for LiveError {}

struct Inner {
    tx: broadcast::Sender<Signal>,
    closing: watch::Sender<bool>,
    /// Open subscriptions per account.
    slots: Mutex<HashMap<String, usize>>,
    per_user: usize,
    total: usize,
    /// Woken whenever a subscription ends.
    ended: Notify,
}

impl Inner {
    fn slots(&self) -> MutexGuard<'_, HashMap<String, usize>> {
        // Only counters behind this lock: a panic elsewhere cannot leave them half-updated.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The bus. Cheap to clone (one shared ring).
#[derive(Clone)]
pub struct LiveEvents {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for LiveEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveEvents")
            .field("subscribers", &self.subscriber_count())
            .finish_non_exhaustive()
    }
}

impl Default for LiveEvents {
    fn default() -> Self {
        LiveEvents::with_limits(DEFAULT_CAPACITY, MAX_SUBSCRIBERS_PER_USER, MAX_SUBSCRIBERS)
    }
}

impl LiveEvents {
    pub fn new() -> LiveEvents {
        LiveEvents::default()
    }

    /// A bus holding `capacity` events, with at most `per_user` subscriptions per account and
    /// `total` overall.
    pub fn with_limits(capacity: usize, per_user: usize, total: usize) -> LiveEvents {
        let (tx, _) = broadcast::channel(capacity.max(1));
        let (closing, _) = watch::channel(false);
        LiveEvents {
            inner: Arc::new(Inner {
                tx,
                closing,
                slots: Mutex::new(HashMap::new()),
                per_user,
                total,
                ended: Notify::new(),
            }),
        }
    }

    /// Hands `event` to every current subscriber of its owner. Never blocks; call it after the
    /// transaction that recorded the event committed.
    pub fn publish(&self, event: LiveEvent) {
        // An error only means nobody is listening.
        let _ = self.inner.tx.send(Signal::Event(Arc::new(event)));
    }

    /// Publishes the event `make(owner)` builds for `client_id`, its owner looked up in `store`.
    /// While nobody listens it does nothing, not even the lookup. A failed lookup only costs the
    /// live event (the durable record and its webhook are already committed).
    pub fn publish_for_client(
        &self,
        store: &Store,
        client_id: &str,
        make: impl FnOnce(&str) -> LiveEvent,
    ) {
        if !self.has_subscribers() {
            return;
        }
        match store.client(client_id) {
            Ok(Some(client)) => self.publish(make(&client.owner)),
            Ok(None) => {}
            Err(e) => log::debug!("client {client_id}: live event dropped: {e}"),
        }
    }

    /// Whether any socket is listening.
    pub fn has_subscribers(&self) -> bool {
        self.inner.tx.receiver_count() > 0
    }

    /// Publishes a `qr` event (for the engine manager when a client shows a new QR code).
    pub fn publish_qr(
        &self,
        owner: &str,
        client_id: &str,
        qr_data_url: &str,
        pairing_code: Option<&str>,
    ) {
        let now = SystemClock.now_ms();
        self.publish(LiveEvent::qr(
            owner,
            client_id,
            qr_data_url,
            pairing_code,
            now,
        ));
    }

    /// Asks every subscriber to check its credentials now (after a logout, a disabled account,
    /// a key reset) instead of at its next periodic check.
    pub fn recheck_credentials(&self) {
        let _ = self.inner.tx.send(Signal::Recheck);
    }

    /// Opens a subscription (one per socket); refused beyond the caps or while shutting down.
    pub fn subscribe(&self, filter: LiveFilter) -> Result<LiveSubscription, LiveError> {
        if *self.inner.closing.borrow() {
            return Err(LiveError::ShuttingDown);
        }
        {
            let mut slots = self.inner.slots();
            let total: usize = slots.values().sum();
            if total >= self.inner.total {
                return Err(LiveError::TooMany);
            }
            let mine = slots.entry(filter.owner.clone()).or_insert(0);
            if *mine >= self.inner.per_user {
                return Err(LiveError::TooManyForUser);
            }
            *mine += 1;
        }
        Ok(LiveSubscription {
            rx: self.inner.tx.subscribe(),
            closing: self.inner.closing.subscribe(),
            slot: Slot {
                inner: self.inner.clone(),
                owner: filter.owner.clone(),
            },
            filter,
        })
    }

    /// Open subscriptions.
    pub fn subscriber_count(&self) -> usize {
        self.inner.slots().values().sum()
    }

    /// Tells every subscription to end (server shutdown) and refuses new ones.
    pub fn close_all(&self) {
        self.inner.closing.send_replace(true);
    }

    /// Waits until every subscription has ended, at most `timeout`; true when none is left.
    pub async fn wait_closed(&self, timeout: Duration) -> bool {
        let wait = async {
            loop {
                let ended = self.inner.ended.notified();
                if self.subscriber_count() == 0 {
                    return;
                }
                ended.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }
}

/// Counts a subscription against its account's cap until dropped.
struct Slot {
    inner: Arc<Inner>,
    owner: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        {
            let mut slots = self.inner.slots();
            if let Some(n) = slots.get_mut(&self.owner) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    slots.remove(&self.owner);
                }
            }
        }
        self.inner.ended.notify_waiters();
    }
}

/// One subscriber's view of the bus: only the events its filter accepts.
pub struct LiveSubscription {
    rx: broadcast::Receiver<Signal>,
    closing: watch::Receiver<bool>,
    filter: LiveFilter,
    slot: Slot,
}

impl LiveSubscription {
    pub fn filter(&self) -> &LiveFilter {
        &self.filter
    }

    /// The next thing this subscriber should act on. Cancel-safe.
    pub async fn next(&mut self) -> Received {
        loop {
            if *self.closing.borrow_and_update() {
                return Received::Closed;
            }
            let signal = tokio::select! {
                biased;
                changed = self.closing.changed() => {
                    if changed.is_err() {
                        return Received::Closed;
                    }
                    continue;
                }
                signal = self.rx.recv() => signal,
            };
            match signal {
                Ok(Signal::Event(event)) if self.filter.accepts(&event) => {
                    return Received::Event(event)
                }
                Ok(Signal::Event(_)) => {}
                Ok(Signal::Recheck) => return Received::Recheck,
                Err(broadcast::error::RecvError::Lagged(n)) => return Received::Lagged(n),
                Err(broadcast::error::RecvError::Closed) => return Received::Closed,
            }
        }
    }

    /// The account this subscription belongs to.
    pub fn owner(&self) -> &str {
        &self.slot.owner
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ClientStatus;

    fn filter(owner: &str, client: Option<&str>) -> LiveFilter {
        LiveFilter {
            owner: owner.into(),
            client_id: client.map(str::to_string),
        }
    }

    fn status(owner: &str, client: &str) -> LiveEvent {
        LiveEvent::client_status(owner, client, ClientStatus::Authenticated, None, 1)
    }

    async fn next_event(sub: &mut LiveSubscription) -> Received {
        tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .expect("an event in time")
    }

    #[tokio::test]
    async fn each_subscriber_sees_only_its_owners_clients() {
        let bus = LiveEvents::new();
        let mut alice = bus.subscribe(filter("alice", None)).unwrap();
        let mut a1_key = bus.subscribe(filter("alice", Some("a1"))).unwrap();
        let mut bob = bus.subscribe(filter("bob", None)).unwrap();
        bus.publish(status("bob", "b1"));
        bus.publish(status("alice", "a2"));
        bus.publish(status("alice", "a1"));
        let got = |r: Received| match r {
            Received::Event(e) => (e.owner().to_string(), e.client_id().to_string()),
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(
            got(next_event(&mut alice).await),
            ("alice".into(), "a2".into())
        );
        assert_eq!(
            got(next_event(&mut alice).await),
            ("alice".into(), "a1".into())
        );
        assert_eq!(
            got(next_event(&mut a1_key).await),
            ("alice".into(), "a1".into())
        );
        assert_eq!(got(next_event(&mut bob).await), ("bob".into(), "b1".into()));
        bus.recheck_credentials();
        assert_eq!(next_event(&mut bob).await, Received::Recheck);
    }

    #[tokio::test]
    async fn a_slow_subscriber_is_told_it_lagged_and_publishers_never_wait() {
        let bus = LiveEvents::with_limits(4, 2, 10);
        let mut slow = bus.subscribe(filter("alice", None)).unwrap();
        for _ in 0..10 {
            bus.publish(status("alice", "a1"));
        }
        assert_eq!(next_event(&mut slow).await, Received::Lagged(6));
    }

    #[tokio::test]
    async fn caps_and_shutdown() {
        let bus = LiveEvents::with_limits(4, 2, 3);
        let a = bus.subscribe(filter("alice", None)).unwrap();
        let _a2 = bus.subscribe(filter("alice", None)).unwrap();
        assert_eq!(
            bus.subscribe(filter("alice", None)).err(),
            Some(LiveError::TooManyForUser)
        );
        let mut b = bus.subscribe(filter("bob", None)).unwrap();
        assert_eq!(
            bus.subscribe(filter("carol", None)).err(),
            Some(LiveError::TooMany)
        );
        drop(a);
        assert_eq!(bus.subscriber_count(), 2);
        let _a3 = bus.subscribe(filter("alice", None)).unwrap();
        bus.close_all();
        assert_eq!(next_event(&mut b).await, Received::Closed);
        assert_eq!(
            bus.subscribe(filter("dave", None)).err(),
            Some(LiveError::ShuttingDown)
        );
        drop(b);
        assert!(!bus.wait_closed(Duration::from_millis(20)).await);
        drop(_a2);
        drop(_a3);
        assert!(bus.wait_closed(Duration::from_secs(1)).await);
    }
}
